import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BASE_FORMAT, manifestWalRanges, parseBackupLabel, parseBaseRecord, type BaseRecord } from '../../../../../src/ops/backup/pitr/base-record.ts';
import { archiveRestoreCommand, baseOnLineage, chooseBase, planWal, recoverySettings } from '../../../../../src/ops/backup/pitr/plan.ts';
import { parseLsn } from '../../../../../src/ops/backup/pitr/wal.ts';
import { parseTargetTime } from '../../../../../src/ops/backup/pitr/target-time.ts';
import { checkReplayVersion, checkToolVersion, toolMajor } from '../../../../../src/ops/backup/pitr/versions.ts';
import { judgeRehearsal } from '../../../../../src/ops/backup/pitr/rehearsal.ts';
import { checkSqlPassed } from '../../../../../src/ops/backup/pitr/restore-local.ts';

function rec(name: string, finishedAt: string, o: Partial<BaseRecord> = {}): BaseRecord {
  return {
    format: BASE_FORMAT, name, startedAt: finishedAt, finishedAt, timeline: 1, startLsn: '0/2000028', endLsn: '0/2000100', startWalFile: '000000010000000000000002',
    walSegmentSize: 16 * 1024 * 1024, serverVersion: '15.20', serverVersionNum: 150020, toolVersion: 'pg_basebackup (PostgreSQL) 15.20', sizeBytes: 1, durationMs: 1,
    manifestSha256: 'a'.repeat(64), verified: true, walParsed: true, ...o,
  };
}

test('--to-time: a zone is required; offsets, fractions and the PostgreSQL form come out in UTC', () => {
  const a = parseTargetTime('2026-12-01 10:14:05+00');
  assert.ok(a.ok);
  assert.equal(a.date.toISOString(), '2026-12-01T10:14:05.000Z');
  assert.equal(a.postgres, '2026-12-01 10:14:05.000000+00');
  const b = parseTargetTime('2026-12-01T11:14:05.250123+01:00');
  assert.ok(b.ok);
  assert.equal(b.postgres, '2026-12-01 10:14:05.250123+00');
  assert.equal(b.date.toISOString(), '2026-12-01T10:14:05.250Z');
  const c = parseTargetTime('2026-12-01T10:14:05.5Z');
  assert.ok(c.ok && c.postgres === '2026-12-01 10:14:05.500000+00');
  const d = parseTargetTime('2026-12-01 05:14-0500');
  assert.ok(d.ok && d.postgres === '2026-12-01 10:14:00.000000+00');
  const noZone = parseTargetTime('2026-12-01 10:14:05');
  assert.ok(!noZone.ok && /no time zone/.test(noZone.error));
  for (const bad of ['2026-02-30 10:00:00Z', '2026-12-01 24:00:00Z', 'yesterday', '2026-12-01 10:00:00+16']) assert.equal(parseTargetTime(bad).ok, false, bad);
});

test('base choice: the newest verified one finished by the target; unverified ones never; a clear error before the first', () => {
  const bases = [
    { name: 'a', record: rec('a', '2026-11-20T01:00:00.000Z') },
    { name: 'b', record: rec('b', '2026-11-27T01:00:00.000Z') },
    { name: 'c', record: rec('c', '2026-11-29T01:00:00.000Z', { verified: false }), problem: 'checksum mismatch' },
    { name: 'd', record: null, problem: 'no base.json' },
  ];
  const at = (s: string) => { const t = parseTargetTime(s); assert.ok(t.ok); return { kind: 'time' as const, date: t.date, postgres: t.postgres }; };
  const pick = (t: Parameters<typeof chooseBase>[1]) => { const r = chooseBase(bases, t); return r.ok ? r.base.name : r.error; };
  assert.equal(pick({ kind: 'latest' }), 'b');
  assert.equal(pick(at('2026-11-30 00:00:00+00')), 'b');
  assert.equal(pick(at('2026-11-27 00:59:59+00')), 'a');
  assert.equal(pick(at('2026-11-27 01:00:00+00')), 'b', 'finished exactly at the target counts');
  assert.match(pick(at('2026-11-01 00:00:00+00')), /no base backup was complete at 2026-11-01 00:00:00\.000000\+00: the oldest verified one finished at 2026-11-20T01:00:00\.000Z/);
  const none = chooseBase([bases[2]!, bases[3]!], { kind: 'latest' });
  assert.ok(!none.ok && /no verified base backup \(c: checksum mismatch; d: no base\.json\)/.test(none.error));
});

test('base choice follows the timelines: a base backup of a timeline a later restore abandoned is skipped', () => {
  // 1 → 2 (to-latest at 0/5000000), a base backup on 2, then 1 → 3 (to-time at 0/3000000, before 2 existed).
  const b1 = rec('b1', '2026-12-01T01:00:00.000Z', { timeline: 1, endLsn: '0/2000100' });
  const b2 = rec('b2', '2026-12-01T02:00:00.000Z', { timeline: 2, startLsn: '0/6000028', endLsn: '0/6000100' });
  const bases = [{ name: 'b1', record: b1 }, { name: 'b2', record: b2 }];
  const tl3 = { timeline: 3, history: [{ timeline: 1, switchLsn: parseLsn('0/3000000'), reason: '' }] };
  const tl2 = { timeline: 2, history: [{ timeline: 1, switchLsn: parseLsn('0/5000000'), reason: '' }] };
  const pick = (l: Parameters<typeof chooseBase>[2]) => { const r = chooseBase(bases, { kind: 'latest' }, l); return r.ok ? r.base.name : r.error; };
  assert.equal(pick(null), 'b2');
  assert.equal(pick(tl2), 'b2');
  assert.equal(pick(tl3), 'b1');
  assert.equal(baseOnLineage(rec('late', '2026-12-01T03:00:00.000Z', { timeline: 1, endLsn: '0/3000001' }), tl3), false, 'consistent only after the fork');
  assert.match(pick({ timeline: 4, history: [{ timeline: 3, switchLsn: parseLsn('0/9000000'), reason: '' }] }), /no verified base backup \(.*b2: timeline 2, not an ancestor of the latest timeline 4/);
});

test('WAL plan warns about a hole after the base backup; recovery settings for time and latest', () => {
  const base = rec('b', '2026-11-27T01:00:00.000Z', { startLsn: '0/2000028', endLsn: '0/3000100' });
  assert.equal(planWal(base, ['000000010000000000000002', '000000010000000000000003', '000000010000000000000004.partial']).warning, undefined);
  assert.match(planWal(base, ['000000010000000000000002', '000000010000000000000003', '000000010000000000000005']).warning ?? '', /hole at 000000010000000000000004/);
  assert.deepEqual(recoverySettings({ target: { kind: 'latest' }, restoreCommand: 'x' }), { restore_command: 'x', recovery_target_timeline: 'latest', recovery_target_action: 'promote' });
  const t = recoverySettings({ target: { kind: 'time', date: new Date(0), postgres: '1970-01-01 00:00:00.000000+00' }, restoreCommand: 'x' });
  assert.equal(t.recovery_target_time, '1970-01-01 00:00:00.000000+00');
  assert.equal(t.recovery_target_inclusive, 'true');
  assert.equal(archiveRestoreCommand("/var/it's/wal/"), `cp '/var/it'\\''s/wal'/%f "%p"`);
});

test('backup_label, backup_manifest and base.json parse strictly', () => {
  const label = 'START WAL LOCATION: 0/2000028 (file 000000010000000000000002)\nCHECKPOINT LOCATION: 0/2000060\nBACKUP METHOD: streamed\nSTART TIMELINE: 1\n';
  assert.deepEqual(parseBackupLabel(label), { startLsn: '0/2000028', startWalFile: '000000010000000000000002', timeline: 1 });
  assert.throws(() => parseBackupLabel('nothing'), /START WAL LOCATION/);
  assert.deepEqual(manifestWalRanges(JSON.stringify({ 'WAL-Ranges': [{ Timeline: 1, 'Start-LSN': '0/2000028', 'End-LSN': '0/2000100' }] })), [{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000100' }]);
  assert.throws(() => manifestWalRanges('{}'), /no WAL-Ranges/);
  assert.ok(parseBaseRecord(JSON.stringify(rec('x', '2026-11-27T01:00:00.000Z'))).ok);
  const bad = parseBaseRecord(JSON.stringify({ ...rec('x', '2026-11-27T01:00:00.000Z'), startLsn: 'zz' }));
  assert.ok(!bad.ok && /startLsn/.test(bad.error));
  assert.ok(!parseBaseRecord('{').ok);
});

test('versions: tools the server\'s major or newer; replay exactly the data directory\'s major', () => {
  assert.equal(toolMajor('pg_basebackup (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)'), 15);
  assert.equal(toolMajor('postgres (PostgreSQL) 17.2'), 17);
  assert.ok(checkToolVersion('pg_basebackup', 'pg_basebackup (PostgreSQL) 17.2', 160004, 'x').ok);
  assert.ok(checkToolVersion('pg_basebackup', 'pg_basebackup (PostgreSQL) 15.20', 150020, 'x').ok);
  const old = checkToolVersion('pg_receivewal', 'pg_receivewal (PostgreSQL) 15.20', 160004, 'the db-backup image');
  assert.ok(!old.ok && /pg_receivewal 15 \(on the db-backup image\) is older than the PostgreSQL 16 server/.test(old.error) && /postgresql-client-16/.test(old.hint));
  assert.ok(!checkToolVersion('pg_basebackup', 'garbage', 150020, 'x').ok);
  assert.ok(checkReplayVersion(15, 'postgres (PostgreSQL) 15.20', 'x').ok);
  const mism = checkReplayVersion(15, 'postgres (PostgreSQL) 16.4', 'the scratch server');
  assert.ok(!mism.ok && /PostgreSQL 15 data directory but the scratch server runs PostgreSQL 16/.test(mism.error));
});

test('rehearsal age: none warns, old warns, failed fails, recent passes; --check-sql truthiness', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const r = { at: '2026-11-30T00:00:00.000Z', ok: true, base: 'b', target: 'latest', recoveredTo: '2026-11-29 23:59:59+00', tables: 3, durationMs: 1 };
  assert.equal(judgeRehearsal(null, 8, now).status, 'warn');
  assert.equal(judgeRehearsal(r, 8, now).status, 'pass');
  assert.equal(judgeRehearsal({ ...r, at: '2026-11-01T00:00:00.000Z' }, 8, now).status, 'warn');
  assert.equal(judgeRehearsal({ ...r, ok: false, error: 'boom' }, 8, now).status, 'fail');
  assert.equal(checkSqlPassed([]), true);
  assert.equal(checkSqlPassed([{ ok: true }]), true);
  assert.equal(checkSqlPassed([{ n: 5 }]), true);
  for (const v of [false, null, 0, '0', 'f']) assert.equal(checkSqlPassed([{ v }]), false, String(v));
});

test('doctor: the PITR rehearsal check passes when off, judges the recorded rehearsal when on', async () => {
  const { checkPitrRehearsal } = await import('../../../../../src/ops/doctor/checks.ts');
  const { ConfigSchema } = await import('../../../../../src/config/schema.ts');
  const base = { now: '2026-12-01T00:00:00.000Z' } as Parameters<typeof checkPitrRehearsal>[0];
  assert.equal(checkPitrRehearsal({ ...base, config: ConfigSchema.parse({ tls: { mode: 'off' } }) }), null, 'not a check while PITR is off');
  const on = ConfigSchema.parse({ tls: { mode: 'off' }, backups: { pitr: { enabled: true, rehearsalMaxAgeDays: 3 } } });
  assert.equal(checkPitrRehearsal({ ...base, config: on, pitr: { rehearsal: null } })?.status, 'warn');
  const old = checkPitrRehearsal({ ...base, config: on, pitr: { rehearsal: { at: '2026-11-20T00:00:00.000Z', ok: true, base: 'b', target: 'latest', recoveredTo: null, tables: 1, durationMs: 1 } } });
  assert.equal(old?.status, 'warn');
  assert.match(old?.fix ?? '', /restore --to-latest --verify-only/);
});

test('--timeline N: replay along that timeline; the number is checked; its history file is named', async () => {
  const { recoverySettings, historyFileName } = await import('../../../../../src/ops/backup/pitr/plan.ts');
  const { timelineOf } = await import('../../../../../src/cli/commands/pitr.ts');
  assert.equal(recoverySettings({ target: { kind: 'latest' }, restoreCommand: 'cp' }).recovery_target_timeline, 'latest');
  assert.equal(recoverySettings({ target: { kind: 'latest' }, restoreCommand: 'cp', timeline: 2 }).recovery_target_timeline, '2');
  assert.equal(historyFileName(10), '0000000A.history');
  assert.equal(timelineOf({ timeline: '3' }), 3);
  assert.equal(timelineOf({ timeline: '0000000A' }), 10);
  assert.equal(timelineOf({}), undefined);
  assert.throws(() => timelineOf({ timeline: '0' }), /not a timeline number/);
  assert.throws(() => timelineOf({ timeline: 'two' }), /not a timeline number/);
});
