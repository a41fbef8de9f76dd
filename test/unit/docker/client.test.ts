import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { dockerOptions } from '../../../src/docker/client.ts';

test('DOCKER_HOST selects the engine like the docker CLI', () => {
  assert.deepEqual(dockerOptions({}), { socketPath: '/var/run/docker.sock' });
  assert.deepEqual(dockerOptions({ DOCKER_HOST: 'unix:///run/user/1000/docker.sock' }), { socketPath: '/run/user/1000/docker.sock' });
  assert.deepEqual(dockerOptions({ DOCKER_HOST: 'tcp://10.0.0.5:2375' }), { host: '10.0.0.5', port: 2375, protocol: 'http' });
  assert.deepEqual(dockerOptions({ DOCKER_HOST: 'ssh://deploy@server.example.com' }), { host: 'server.example.com', port: 22, protocol: 'ssh', username: 'deploy' });
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
