/**
 * Real remotes for the off-site tests: an S3-compatible server (s3rver, in this process, on
 * 127.0.0.1, stoppable and restartable on the same port and data) and an sshd with the SFTP
 * subsystem on a free port (own host key, own authorized key).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import S3rver from 's3rver';
import { freePort } from '../pitr/cluster.ts';

export const SSHD = '/usr/sbin/sshd';
export const SFTP_SERVER = ['/usr/lib/openssh/sftp-server', '/usr/lib/sftp-server', '/usr/libexec/openssh/sftp-server'].find((p) => existsSync(p));

export interface S3Server {
  port: number;
  endpoint: string;
  bucket: string;
  dir: string;
  /** The file s3rver keeps an object's bytes in. */
  objectFile(key: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

export async function startS3(dir: string, bucket: string): Promise<S3Server> {
  const port = await freePort();
  let srv: S3rver | null = null;
  const start = async () => {
    srv = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [] }] });
    await srv.run();
  };
  await start();
  return {
    port,
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    dir,
    objectFile: (key) => path.join(dir, bucket, `${key}._S3rver_object`),
    stop: async () => {
      await srv?.close();
      srv = null;
    },
    start,
  };
}

export interface SshServer {
  port: number;
  clientKey: string;
  strangerKey: string;
  hostFingerprint: string;
  stop(): void;
}

async function listening(port: number, host: string): Promise<boolean> {
  return new Promise((r) => {
    const s = net.connect(port, host);
    s.once('connect', () => {
      s.destroy();
      r(true);
    });
    s.once('error', () => r(false));
  });
}

/** `listen`: a host-local address only (127.0.0.1, or a Docker bridge's gateway that containers reach). */
export async function startSshd(keys: string, listen = '127.0.0.1'): Promise<SshServer> {
  mkdirSync(keys, { recursive: true });
  for (const k of ['host', 'client', 'stranger']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(keys, k)]);
  execFileSync('cp', [path.join(keys, 'client.pub'), path.join(keys, 'authorized_keys')]);
  const port = await freePort();
  mkdirSync('/run/sshd', { recursive: true });
  writeFileSync(
    path.join(keys, 'sshd_config'),
    [
      `Port ${port}`,
      `ListenAddress ${listen}`,
      `HostKey ${path.join(keys, 'host')}`,
      `AuthorizedKeysFile ${path.join(keys, 'authorized_keys')}`,
      `PidFile ${path.join(keys, 'sshd.pid')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      `Subsystem sftp ${SFTP_SERVER}`,
    ].join('\n'),
  );
  const sshd: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', path.join(keys, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 15_000;
  while (!(await listening(port, listen))) {
    if (Date.now() > end || sshd.exitCode !== null) throw new Error(`sshd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const fp = execFileSync('ssh-keygen', ['-lf', path.join(keys, 'host.pub')], { encoding: 'utf8' }).split(' ')[1]!;
  return { port, clientKey: path.join(keys, 'client'), strangerKey: path.join(keys, 'stranger'), hostFingerprint: fp, stop: () => sshd.kill() };
}
