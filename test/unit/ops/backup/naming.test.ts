import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backupFileName,
  cronLine,
  manifestFileFor,
  parseBackupFileName,
  parseShaLine,
  parseTempFileName,
  parseUtcStamp,
  shaFileFor,
  shaLine,
  tempFileFor,
  utcStamp,
} from '../../../../src/ops/backup/naming.ts';
import { interpolate, quoteIdent, quoteLiteral } from '../../../../src/postgres/quote.ts';
import { redactUrl, splitPassword, withDatabase, databaseOf } from '../../../../src/postgres/url.ts';
import { hintFor } from '../../../../src/postgres/errors.ts';
import { parseDurationMs } from '../../../../src/util/duration.ts';
import { resolveDatabaseUrl } from '../../../../src/ops/backup/context.ts';
import { derivedDbName } from '../../../../src/ops/backup/restore.ts';
import { parseMigrationName } from '../../../../src/db/migrate.ts';
import { describeHolder } from '../../../../src/ops/backup/lock.ts';

test('backup names use the UTC timestamp and round-trip', () => {
  const at = new Date('2026-03-09T02:05:07.900Z');
  assert.equal(utcStamp(at), '20260309T020507Z');
  const name = backupFileName('modelship', at);
  assert.equal(name, 'modelship-20260309T020507Z.dump');
  const p = parseBackupFileName(`/x/${name}`);
  assert.equal(p?.database, 'modelship');
  assert.equal(p?.at.toISOString(), '2026-03-09T02:05:07.000Z');
  // database names with dashes
  assert.equal(parseBackupFileName('my-app-db-20260101T000000Z.dump')?.database, 'my-app-db');
});

test('non-backups and invalid stamps are not backups', () => {
  for (const f of ['x.dump', 'db-20261301T000000Z.dump', 'db-20260230T000000Z.dump', 'db-20260101T250000Z.dump', '.db-20260101T000000Z.dump.host.1.tmp', 'db-20260101T000000Z.sql', 'db-20260101T000000Z.manifest.json']) {
    assert.equal(parseBackupFileName(f), null, f);
  }
  assert.equal(parseUtcStamp('20260101T000000'), null);
});

test('sidecar and temp names', () => {
  assert.equal(shaFileFor('/b/db-20260101T000000Z.dump'), '/b/db-20260101T000000Z.sha256');
  assert.equal(manifestFileFor('/b/db-20260101T000000Z.dump'), '/b/db-20260101T000000Z.manifest.json');
  const tmp = tempFileFor('/b/db-20260101T000000Z.dump', 'host.example', 4242);
  assert.equal(tmp, '/b/.db-20260101T000000Z.dump.host_example.4242.tmp');
  assert.deepEqual(parseTempFileName(tmp), { final: 'db-20260101T000000Z.dump', host: 'host_example', pid: 4242 });
  assert.equal(parseBackupFileName(tmp), null);
  assert.equal(parseTempFileName(tempFileFor('/b/x-20260101T000000Z.dump', 'h', 7, 'ab12'))?.pid, 7);
});

test('sha256 lines are sha256sum-compatible', () => {
  const hex = 'a'.repeat(64);
  const line = shaLine(hex, '/b/db-20260101T000000Z.dump');
  assert.equal(line, `${hex}  db-20260101T000000Z.dump\n`);
  assert.equal(parseShaLine(line), hex);
  assert.equal(parseShaLine('nonsense'), null);
});

test('--wait durations', () => {
  assert.equal(parseDurationMs('0s'), 0);
  assert.equal(parseDurationMs('30'), 30_000);
  assert.equal(parseDurationMs('1.5s'), 1500);
  assert.equal(parseDurationMs('10m'), 600_000);
  assert.equal(parseDurationMs('1h'), 3_600_000);
  assert.equal(parseDurationMs('250ms'), 250);
  assert.equal(parseDurationMs('soon'), null);
  assert.equal(parseDurationMs('-1s'), null);
});

test('the crontab line runs the backup with the config, UTC, and logs', () => {
  const text = cronLine({ schedule: '0  2 * * *', configFile: '/srv/app/modelship.config.yaml', bin: '/usr/local/bin/modelship', logFile: '/srv/app/backups/backup.log' });
  const lines = text.split('\n');
  assert.match(lines[0]!, /^# .*UTC/);
  assert.equal(lines[1], 'CRON_TZ=UTC');
  assert.equal(lines[2], '0 2 * * * /usr/local/bin/modelship backup --config /srv/app/modelship.config.yaml >> /srv/app/backups/backup.log 2>&1');
  const q = cronLine({ schedule: '15 3 * * 1', configFile: "/srv/my app/it's.yaml", bin: 'modelship', direct: true, dir: '/mnt/b', logFile: '/tmp/l' });
  assert.equal(q.split('\n')[2], `15 3 * * 1 modelship backup --config '/srv/my app/it'\\''s.yaml' --direct --dir /mnt/b >> /tmp/l 2>&1`);
});

test('URLs: password split, redaction, database swap', () => {
  const url = 'postgres://app:p%40ss@db.example:6543/appdb?sslmode=require';
  assert.deepEqual(splitPassword(url), { url: 'postgres://app@db.example:6543/appdb?sslmode=require', password: 'p@ss' });
  assert.equal(redactUrl(url), 'postgres://app:***@db.example:6543/appdb?sslmode=require');
  assert.equal(withDatabase(url, 'postgres'), 'postgres://app:p%40ss@db.example:6543/postgres?sslmode=require');
  assert.equal(databaseOf(url), 'appdb');
  assert.equal(databaseOf('postgres://bob@h/'), 'bob');
});

test('DATABASE_URL resolution: flag, then env, then config + .env', () => {
  const loaded = {
    config: { postgres: { user: 'ms', database: 'msdb' }, secrets: { postgresPassword: 'PG_PW' } },
    env: { PG_PW: 's3cr:t' },
  } as unknown as Parameters<typeof resolveDatabaseUrl>[2];
  assert.equal(resolveDatabaseUrl({ databaseUrl: 'postgres://a@b/c' }, { DATABASE_URL: 'postgres://x@y/z' }, loaded), 'postgres://a@b/c');
  assert.equal(resolveDatabaseUrl({}, { DATABASE_URL: 'postgres://x@y/z' }, loaded), 'postgres://x@y/z');
  assert.equal(resolveDatabaseUrl({}, {}, loaded), 'postgres://ms:s3cr%3At@127.0.0.1:5432/msdb');
  assert.equal(resolveDatabaseUrl({}, { DATABASE_HOST: 'postgres' }, loaded), 'postgres://ms:s3cr%3At@postgres:5432/msdb');
  assert.equal(resolveDatabaseUrl({}, {}, null), null);
});

test('SQL quoting for the container psql session', () => {
  assert.equal(quoteIdent('we"ird'), '"we""ird"');
  assert.equal(quoteLiteral("it's"), "'it''s'");
  assert.equal(quoteLiteral(null), 'NULL');
  assert.equal(interpolate('select $1, $2, $10', ['a', 2]), "select 'a', 2, NULL");
});

test('derived database names stay within 63 bytes', () => {
  const long = 'x'.repeat(80);
  const n = derivedDbName(long, 'pre_restore_20260101t000000z');
  assert.ok(Buffer.byteLength(n) <= 63);
  assert.ok(n.endsWith('_pre_restore_20260101t000000z'));
  assert.equal(derivedDbName('app', 'restore_1'), 'app_restore_1');
});

test('migration file names', () => {
  assert.deepEqual(parseMigrationName('0001_initial.sql'), { version: '0001', name: 'initial' });
  assert.equal(parseMigrationName('initial.sql'), null);
  assert.equal(parseMigrationName('0001_initial.sql.bak'), null);
});

test('human hints for the usual failures', () => {
  assert.match(hintFor('FATAL:  password authentication failed for user "x"')!, /password/);
  assert.match(hintFor('pg_dump: error: aborting because of server version mismatch')!, /pg_dump/);
  assert.match(hintFor('could not write to output file: No space left on device')!, /disk is full/);
  assert.equal(hintFor('something else'), undefined);
  assert.match(describeHolder({ pid: 42, applicationName: 'modelship backup (h pid 1)', startedAt: '2026-01-01T00:00:00Z', clientAddr: null }), /pid 42.*started 2026/);
});
