/**
 * DOCKER_HOST=ssh:// end to end: a real sshd on 127.0.0.1 (own host key, own authorized key, no
 * password), the real `modelship` executable deploying a stack through it with the system ssh,
 * and a wrong key failing at once with ssh's reason instead of prompting or hanging.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { BIN, cleanup, e2eSkip, stackDir } from './helpers.ts';

const SSHD = '/usr/sbin/sshd';
const skip = (await e2eSkip()) || (existsSync(SSHD) ? false : 'SKIPPED: no sshd (scripts/test-all.sh installs openssh-server)');
const s = await stackDir('ssh');
const keys = mkdtempSync(path.join(os.tmpdir(), 'modelship-ssh-'));
let sshd: ChildProcess | undefined;
let port = 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(p));
    });
  });
}

function sshCommand(key: string): string {
  return `ssh -F /dev/null -i ${key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR`;
}

function viaSsh(args: string[], key = path.join(keys, 'client')) {
  return execa(process.execPath, [BIN, ...args], {
    reject: false,
    cwd: s.dir,
    env: { NO_COLOR: '1', MODELSHIP_CONFIG: s.config, DOCKER_HOST: `ssh://root@127.0.0.1:${port}`, MODELSHIP_SSH_COMMAND: sshCommand(key), SSH_AUTH_SOCK: '' },
    timeout: 240_000,
    all: true,
  });
}

before(async () => {
  if (skip) return;
  await cleanup(s);
  for (const k of ['host', 'client', 'stranger']) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', path.join(keys, k)]);
  execFileSync('cp', [path.join(keys, 'client.pub'), path.join(keys, 'authorized_keys')]);
  port = await freePort();
  mkdirSync('/run/sshd', { recursive: true }); // privilege separation directory
  writeFileSync(path.join(keys, 'sshd_config'), [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${path.join(keys, 'host')}`,
    `AuthorizedKeysFile ${path.join(keys, 'authorized_keys')}`,
    `PidFile ${path.join(keys, 'sshd.pid')}`,
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'PermitRootLogin prohibit-password',
    'StrictModes no',
    'UsePAM no',
    // dial-stdio runs `docker`: the same PATH as this process
    `SetEnv PATH=${process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin'}`,
  ].join('\n'));
  sshd = spawn(SSHD, ['-D', '-e', '-f', path.join(keys, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  sshd.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const end = Date.now() + 10_000;
  while (!(await new Promise<boolean>((r) => net.connect(port, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false))))) {
    if (Date.now() > end || sshd.exitCode !== null) throw new Error(`sshd did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
});

after(async () => {
  if (!skip) await cleanup(s);
  sshd?.kill();
  rmSync(keys, { recursive: true, force: true });
});

test('deploy, ps and down through DOCKER_HOST=ssh:// with the system ssh', { skip, timeout: 300_000 }, async () => {
  const plan = await viaSsh(['plan', '--json']);
  assert.equal(plan.exitCode, 0, plan.all);
  assert.ok((JSON.parse(plan.stdout) as { containers: { action: string }[] }).containers.every((c) => c.action === 'create'));
  const deploy = await viaSsh(['deploy', '--timeout', '180s']);
  assert.equal(deploy.exitCode, 0, deploy.all);
  const ps = await viaSsh(['ps', '--json']);
  assert.equal(ps.exitCode, 0, ps.all);
  const containers = (JSON.parse(ps.stdout) as { containers: { service: string; state: string }[] }).containers;
  assert.ok(containers.length >= 5, ps.stdout);
  for (const c of containers) assert.equal(c.state, 'running', `${c.service} ${c.state}`);
  const down = await viaSsh(['down', '--volumes', '--yes']);
  assert.equal(down.exitCode, 0, down.all);
});

test('a key the server does not accept fails at once with ssh\'s reason (no prompt, no hang)', { skip, timeout: 60_000 }, async () => {
  const t0 = Date.now();
  const r = await viaSsh(['ps'], path.join(keys, 'stranger'));
  assert.notEqual(r.exitCode, 0);
  assert.match(r.all, /ssh to the Docker host failed: .*Permission denied/);
  assert.doesNotMatch(r.all, /^\s+at /m, 'no stack trace');
  assert.ok(Date.now() - t0 < 30_000);
});
