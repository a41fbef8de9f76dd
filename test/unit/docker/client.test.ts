import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { dockerOptions } from '../../../src/docker/client.ts';
import { sshArgv } from '../../../src/docker/ssh-transport.ts';

test('DOCKER_HOST selects the engine like the docker CLI', () => {
  assert.deepEqual(dockerOptions({}), { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(dockerOptions({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }), { socketPath: '/run/user/1000/docker.sock' });
  assert.deepEqual(dockerOptions({ DOCKER_HOST: 'tcp://10.0.0.5:2375' }), { host: '10.0.0.5', port: 2375, protocol: 'http' });
  const ssh = dockerOptions({ DOCKER_HOST: 'ssh://deploy@server.example.com' }) as { protocol: string; agent?: unknown };
  assert.equal(ssh.protocol, 'http'); // HTTP over the ssh pipe (ssh-transport.ts)
  assert.ok(ssh.agent instanceof http.Agent);
  assert.throws(() => dockerOptions({ DOCKER_HOST: 'ftp://x' }), /unsupported scheme/);
});

test('DOCKER_TLS_VERIFY uses https and the client certificates from DOCKER_CERT_PATH', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'certs-'));
  for (const f of ['ca.pem', 'cert.pem', 'key.pem']) writeFileSync(path.join(dir, f), `-----${f}-----`);
  const o = dockerOptions({ DOCKER_HOST: 'tcp://engine:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: dir }) as { protocol: string; ca: Buffer; cert: Buffer; key: Buffer; port: number };
  assert.equal(o.protocol, 'https');
  assert.equal(o.port, 2376);
  assert.equal(o.ca.toString(), '-----ca.pem-----');
  assert.equal(o.key.toString(), '-----key.pem-----');
});

test('ssh:// runs the system ssh like the docker CLI: no prompt, port and user from the URL, MODELSHIP_SSH_COMMAND', () => {
  assert.deepEqual(sshArgv({ host: 'server.example.com', port: 2222, username: 'deploy' }, {}), [
    'ssh', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=15', '-o', 'ServerAliveInterval=15', '-p', '2222', '-l', 'deploy', '--', 'server.example.com', 'docker', 'system', 'dial-stdio',
  ]);
  const own = sshArgv({ host: 'h' }, { MODELSHIP_SSH_COMMAND: 'ssh -i /keys/deploy -F /dev/null' });
  assert.deepEqual(own.slice(0, 4), ['ssh', '-i', '/keys/deploy', '-F']);
  assert.deepEqual(own.slice(-5), ['--', 'h', 'docker', 'system', 'dial-stdio']);
});
