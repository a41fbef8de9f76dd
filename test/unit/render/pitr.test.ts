import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema } from '../../../src/config/schema.ts';
import { pitrServerArgs, renderPgHba, renderPostgresInit } from '../../../src/render/postgres.ts';
import { buildStack } from '../../../src/stack/build.ts';
import { renderPrometheus } from '../../../src/render/prometheus.ts';

const cfg = (pitr: Record<string, unknown>) => ConfigSchema.parse({ tls: { mode: 'off' }, backups: { pitr } });

test('backups.pitr.enabled renders the WAL settings, the slot limit and a pg_hba that lets the replication role in', () => {
  assert.deepEqual(pitrServerArgs(cfg({})), []);
  assert.equal(renderPostgresInit(cfg({})).length, 1);
  const c = cfg({ enabled: true, maxSlotLag: '2GiB', replicationUser: 'repl' });
  assert.deepEqual(pitrServerArgs(c), ['-c', 'wal_level=replica', '-c', 'max_wal_senders=10', '-c', 'max_replication_slots=10', '-c', 'max_slot_wal_keep_size=2048MB', '-c', 'hba_file=/etc/modelship/pg_hba.conf']);
  const hba = renderPgHba(c);
  assert.match(hba, /^host\s+replication\s+repl\s+all\s+scram-sha-256$/m);
  assert.match(hba, /^host\s+all\s+all\s+all\s+scram-sha-256$/m);
  assert.ok(!/^host\s+replication\s+all\s+all/m.test(hba), 'only the named role replicates from the network');
  const pg = buildStack(c).services.find((s) => s.name === 'postgres')!;
  assert.ok(pg.command!.includes('hba_file=/etc/modelship/pg_hba.conf'));
  assert.ok(pg.mounts.some((m) => m.target === '/etc/modelship/pg_hba.conf' && m.readOnly));
  const files = renderPostgresInit(c).map((f) => f.path);
  assert.ok(files.includes('postgres/pg_hba.conf'));
});

test('PITR alerts only when enabled, with the configured thresholds', () => {
  const off = renderPrometheus(cfg({})).find((f) => f.path.endsWith('alerts.yml'))!.content;
  assert.doesNotMatch(off, /WalReceiverDown/);
  const on = renderPrometheus(cfg({ enabled: true, lagAlertSeconds: 30 })).find((f) => f.path.endsWith('alerts.yml'))!.content;
  for (const a of ['WalReceiverDown', 'WalArchiveLagging', 'ReplicationSlotFilling', 'ReplicationSlotLost', 'BaseBackupTooOld', 'RestoreRehearsalTooOld']) assert.match(on, new RegExp(`alert: ${a}`));
  assert.match(on, /max\(modelship_pitr_wal_lag_seconds\) > 30/);
});

test('off-site alerts only with backups.remote.url, with the configured lag', () => {
  const off = renderPrometheus(cfg({})).find((f) => f.path.endsWith('alerts.yml'))!.content;
  assert.doesNotMatch(off, /RemoteBackup/);
  const c = ConfigSchema.parse({ tls: { mode: 'off' }, backups: { remote: { url: 's3://bucket/prod', lagAlertSeconds: 900 } } });
  const on = renderPrometheus(c).find((f) => f.path.endsWith('alerts.yml'))!.content;
  assert.match(on, /alert: RemoteBackupLagging/);
  assert.match(on, /max\(modelship_backup_remote_lag_seconds\) > 900/);
  assert.match(on, /alert: RemoteBackupFailing/);
  assert.match(on, /max\(modelship_backup_remote_up\) == 0/);
});

test('backups.remote and backups.encryption are validated', () => {
  assert.throws(() => ConfigSchema.parse({ tls: { mode: 'off' }, backups: { remote: { url: 'sftp://u@h/srv' } } }), /needs identityFile/);
  assert.throws(() => ConfigSchema.parse({ tls: { mode: 'off' }, backups: { remote: { url: 'ftp://h/x' } } }), /s3:\/\/bucket\/prefix or sftp/);
  assert.throws(() => ConfigSchema.parse({ tls: { mode: 'off' }, backups: { encryption: { recipients: ['ssh-ed25519 AAAA'] } } }), /an age public key/);
  const ok = ConfigSchema.parse({ tls: { mode: 'off' }, backups: { remote: { url: 's3://b/p', endpoint: 'http://127.0.0.1:9000' }, encryption: { recipients: ['age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'] } } });
  assert.equal(ok.backups.remote.region, 'us-east-1');
  assert.equal(ok.backups.encryption.recipients.length, 1);
});
