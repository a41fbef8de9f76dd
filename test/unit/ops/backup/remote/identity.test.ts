/**
 * The SFTP key in the deployed stack: deploy's check of the host file (real files, real
 * ssh-keygen keys), and how the key reaches db-backup in each form the stack takes (engine
 * container, Compose file, swarm service) without its bytes in any spec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkIdentityFile, keyFileProblem } from '../../../../../src/config/identity-file.ts';
import type { LoadedConfig } from '../../../../../src/config/load.ts';
import { renderAll } from '../../../../../src/render/index.ts';
import { buildStack } from '../../../../../src/stack/build.ts';
import { MOUNT, REMOTE_IDENTITY_ENV } from '../../../../../src/stack/names.ts';
import { buildSwarmStack } from '../../../../../src/swarm/spec.ts';
import { configFrom } from '../../../../helpers/config.ts';

const REMOTE = 'backups:\n  remote:\n    url: sftp://backup@10.0.0.5:22/srv/backups\n    identityFile: keys/backup\n';
const BASE = 'project: shop\ndomains: [localhost]\nenvironment: development\ntls: {mode: "off"}\n';

function keyDir(): { dir: string; key: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'ms-identity-'));
  mkdirSync(path.join(dir, 'keys'));
  const key = path.join(dir, 'keys', 'backup');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  return { dir, key };
}

function loadedAt(dir: string, yaml: string): LoadedConfig {
  const file = path.join(dir, 'modelship.config.yaml');
  writeFileSync(file, yaml);
  return { config: configFrom(yaml), file, dir, envFile: path.join(dir, '.env'), env: {}, warnings: [] };
}

test('deploy refuses a missing, open, passphrase-protected or public key before changing anything, and says where it is named', async () => {
  const { dir, key } = keyDir();
  const loaded = loadedAt(dir, BASE + REMOTE);
  const ok = await checkIdentityFile(loaded);
  assert.equal(ok?.file, key);

  chmodSync(key, 0o644);
  await assert.rejects(checkIdentityFile(loaded), (e: Error & { hint?: string; exitCode?: number }) => {
    assert.match(e.message, /modelship\.config\.yaml:8:\d+: backups\.remote\.identityFile .* is readable by others \(mode 644\).*nothing was changed/);
    assert.match(e.hint ?? '', /chmod 600/);
    assert.equal(e.exitCode, 2);
    return true;
  });
  chmodSync(key, 0o600);

  const pub = loadedAt(dir, BASE + REMOTE.replace('keys/backup', 'keys/backup.pub'));
  chmodSync(`${key}.pub`, 0o600);
  await assert.rejects(checkIdentityFile(pub), /is a public key/);

  const missing = loadedAt(dir, BASE + REMOTE.replace('keys/backup', 'keys/nope'));
  await assert.rejects(checkIdentityFile(missing), (e: Error & { hint?: string }) => {
    assert.match(e.message, /keys\/nope does not exist; nothing was changed/);
    assert.match(e.hint ?? '', /ssh-keygen -t ed25519/);
    return true;
  });

  // What the engine leaves after mounting a missing file: a directory.
  mkdirSync(path.join(dir, 'keys', 'dir'));
  await assert.rejects(checkIdentityFile(loadedAt(dir, BASE + REMOTE.replace('keys/backup', 'keys/dir'))), /not a regular file/);

  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret-pass', '-f', path.join(dir, 'keys', 'locked')]);
  await assert.rejects(checkIdentityFile(loadedAt(dir, BASE + REMOTE.replace('keys/backup', 'keys/locked'))), /passphrase/);

  // No SFTP remote: nothing to check.
  assert.equal(await checkIdentityFile(loadedAt(dir, BASE)), null);
  assert.equal(keyFileProblem({ isFile: true, mode: 0o100400, bytes: readFileSync(key) }), null);
});

test('db-backup gets the key as a read-only mount and a path in its environment, never its bytes (engine and Compose)', () => {
  const config = configFrom(BASE + REMOTE);
  const db = buildStack(config).services.find((s) => s.name === 'db-backup')!;
  const m = db.mounts.find((x) => x.target === MOUNT.remoteIdentity);
  assert.deepEqual(m, { type: 'bind', base: 'config', source: 'keys/backup', target: MOUNT.remoteIdentity, readOnly: true, secret: true });
  assert.ok(!MOUNT.remoteIdentity.startsWith('/run/secrets/'), 'not where the swarm wrapper exports files as env vars');
  assert.equal(db.environment[REMOTE_IDENTITY_ENV], MOUNT.remoteIdentity);
  assert.equal(db.user, '0', 'starts as root: reads the key, then drops to node');

  const compose = renderAll(config, { configDir: '..', envFile: '../.env' }).find((f) => f.path === 'docker-compose.production.yml')!;
  assert.ok(compose, 'a Compose file is rendered');
  assert.match(compose.content, new RegExp(`\\.\\./keys/backup:${MOUNT.remoteIdentity}:ro`));

  // S3, or no remote: nothing mounted.
  for (const y of [BASE, `${BASE}backups:\n  remote: {url: "s3://bucket/prefix"}\n`]) {
    const d = buildStack(configFrom(y)).services.find((s) => s.name === 'db-backup')!;
    assert.equal(d.mounts.some((x) => x.target === MOUNT.remoteIdentity), false);
    assert.equal(d.environment[REMOTE_IDENTITY_ENV], undefined);
  }
});

test('on a swarm the key is a secret of mode 0400 owned by root at the same path, outside the env-exporting wrapper', () => {
  const config = configFrom(`${BASE}orchestrator: swarm\n${REMOTE}`);
  const keyText = '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA-not-a-real-key\n-----END OPENSSH PRIVATE KEY-----\n';
  const input = {
    config,
    files: renderAll(config, { configDir: '..', envFile: '../.env' }),
    envValues: { POSTGRES_PASSWORD: 'pg', REDIS_PASSWORD: 'rd', SECRET_KEY: 'k-0123456789abcdef0123' },
    activeColor: 'blue' as const,
    imageDefaults: {},
    configDir: '/srv/shop',
    profiles: ['backup'],
  };
  const s = buildSwarmStack(buildStack(config), { ...input, secretFiles: { '/srv/shop/keys/backup': keyText } });
  const db = s.services.find((x) => x.service === 'db-backup')!;
  const ref = db.spec.TaskTemplate.ContainerSpec.Secrets.find((x) => x.File.Name === MOUNT.remoteIdentity)!;
  assert.deepEqual(ref.File, { Name: MOUNT.remoteIdentity, UID: '0', GID: '0', Mode: 0o400 });
  assert.equal(s.secrets.find((x) => x.name === ref.SecretName)?.data, keyText);
  assert.equal(db.spec.TaskTemplate.ContainerSpec.Mounts.some((x) => x.Target === MOUNT.remoteIdentity), false, 'no bind: the file need not exist on the node');
  assert.ok(!JSON.stringify(db.spec).includes('not-a-real-key'), 'the key is in no service spec');
  // A new key is a new secret name: the service is updated.
  const rotated = buildSwarmStack(buildStack(config), { ...input, secretFiles: { '/srv/shop/keys/backup': keyText.replace('AAAA', 'BBBB') } });
  assert.notEqual(rotated.services.find((x) => x.service === 'db-backup')!.aspects.secrets, db.aspects.secrets);
  assert.throws(() => buildSwarmStack(buildStack(config), input), /no contents given for the secret file \/srv\/shop\/keys\/backup/);
});
