/**
 * DOCKER_HOST=ssh://user@host the way the docker CLI does it: the system `ssh` runs
 * `docker system dial-stdio` on the server and the Engine API goes over that pipe. So
 * ~/.ssh/config, the user's keys and agent, known_hosts, ProxyJump and ControlMaster all apply,
 * as they do for `docker -H ssh://…` and for Kamal. Connections are kept alive and reused: one
 * ssh session serves many API calls instead of one handshake per call.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { Duplex } from 'node:stream';

/** ssh itself failed (not the Engine): the caller's hint is about ssh, not about dockerd. */
export class SshTransportError extends Error {}

export interface SshTarget {
  host: string;
  port?: number | undefined;
  username?: string | undefined;
}

/** The ssh command line: MODELSHIP_SSH_COMMAND (like GIT_SSH_COMMAND) or plain `ssh`, then the target. */
export function sshArgv(target: SshTarget, env: NodeJS.ProcessEnv): string[] {
  const base = (env.MODELSHIP_SSH_COMMAND?.trim() || 'ssh').split(/\s+/);
  return [
    ...base,
    // never prompt: a deploy run from cron or CI must fail with a message, not hang on a password
    '-o', 'BatchMode=yes',
    '-o', 'ConnectTimeout=15',
    '-o', 'ServerAliveInterval=15',
    ...(target.port ? ['-p', String(target.port)] : []),
    ...(target.username ? ['-l', target.username] : []),
    '--', target.host,
    'docker', 'system', 'dial-stdio',
  ];
}

/** One ssh child process as a socket for node's http client. */
function sshSocket(argv: string[]): Duplex {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4000) stderr += d.toString();
  });
  const sock = new Duplex({
    read() {
      child.stdout.resume();
    },
    write(chunk: Buffer, _enc, done) {
      // a write into an ssh that already exited fails with EPIPE: the exit reason follows in 'close'
      child.stdin.write(chunk, () => done());
    },
    final(done) {
      child.stdin.end();
      done();
    },
    destroy(err, done) {
      if (child.exitCode === null) child.kill();
      done(err);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!sock.push(d)) child.stdout.pause();
  });
  child.stdin.on('error', () => undefined);
  child.on('error', (err) => sock.destroy(new SshTransportError(`cannot run ssh (${argv[0]}): ${err.message}`, { cause: err })));
  // The end of the stream waits for ssh's exit status: a refused login must reach the caller as
  // ssh's own reason, not as the http client's "socket hang up".
  child.on('close', (code) => {
    if (code === 0 || code === null) {
      sock.push(null);
      return;
    }
    const why = stderr.trim().split('\n').filter(Boolean).pop() ?? `exited with code ${code}`;
    sock.destroy(new SshTransportError(`ssh to the Docker host failed: ${why}`));
  });
  // What the http agent calls on a net.Socket. An idle kept-alive connection is unref'd: it must
  // not keep the CLI process alive after its last API call.
  const pipes = [child.stdin, child.stdout, child.stderr] as unknown as { ref?: () => void; unref?: () => void }[];
  Object.assign(sock, {
    setKeepAlive: () => sock,
    setNoDelay: () => sock,
    setTimeout: () => sock,
    ref: () => {
      child.ref();
      for (const p of pipes) p.ref?.();
      return sock;
    },
    unref: () => {
      child.unref();
      for (const p of pipes) p.unref?.();
      return sock;
    },
  });
  return sock;
}

export function sshAgent(target: SshTarget, env: NodeJS.ProcessEnv): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const argv = sshArgv(target, env);
  (agent as unknown as { createConnection: () => Duplex }).createConnection = () => sshSocket(argv);
  return agent;
}
