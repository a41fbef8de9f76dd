/**
 * The stack restore's volume steps: the swap and the repair of what a killed restore left, run by
 * the real `sh` on a directory laid out like the data volume, in every state a kill can leave.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildScript, parseRepair, proveScript, repairScript, scratchServerArgs, swapScript, volumeNames } from '../../../../../src/ops/backup/pitr/volume-swap.ts';
import { demuxLogs } from '../../../../../src/ops/backup/pitr/restore-stack.ts';
import { pitrLine } from '../../../../../src/cli/format/status.ts';
import { pitrFactsOf } from '../../../../../src/ops/backup/pitr/service.ts';

const TS = '20261202T010203Z';

function volume(entries: Record<string, string>): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ms-volswap-'));
  for (const [p, content] of Object.entries(entries)) {
    const f = path.join(root, p);
    mkdirSync(path.dirname(f), { recursive: true });
    writeFileSync(f, content);
  }
  return root;
}

function sh(script: string): { code: number | null; out: string; err: string } {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

const read = (root: string, p: string) => readFileSync(path.join(root, p), 'utf8');

test('the swap keeps the live data directory whole and puts the proven one in its place', () => {
  const n = volumeNames(TS);
  const root = volume({ 'pgdata/PG_VERSION': 'old', [`${n.dir}/PG_VERSION`]: 'new', [`${n.wal}/000000010000000000000001`]: 'w', [n.hba]: 'h' });
  try {
    assert.equal(sh(proveScript(TS, root)).code, 0);
    const r = sh(swapScript(TS, root));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /kept pre-restore-/);
    assert.equal(read(root, 'pgdata/PG_VERSION'), 'new');
    assert.equal(read(root, `${n.previous}/PG_VERSION`), 'old');
    assert.deepEqual(readdirSync(root).sort(), [n.previous, 'pgdata'].sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the swap refuses a cluster that was never proven, and works without a live directory (the volume was destroyed)', () => {
  const n = volumeNames(TS);
  const root = volume({ [`${n.dir}/PG_VERSION`]: 'new' });
  try {
    assert.notEqual(sh(swapScript(TS, root)).code, 0);
    assert.ok(existsSync(path.join(root, n.dir)));
    sh(proveScript(TS, root));
    const r = sh(swapScript(TS, root));
    assert.equal(r.code, 0, r.err);
    assert.doesNotMatch(r.out, /kept/);
    assert.equal(read(root, 'pgdata/PG_VERSION'), 'new');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('repair: killed between the two renames of the swap → the proven cluster is put in place, the old one stays kept', () => {
  const n = volumeNames(TS);
  const root = volume({ [`${n.previous}/PG_VERSION`]: 'old', [`${n.dir}/PG_VERSION`]: 'new', [n.proven]: '', [`${n.wal}/x`]: '' });
  try {
    const r = sh(repairScript(root));
    assert.equal(r.code, 0, r.err);
    const rep = parseRepair(r.out);
    assert.deepEqual(rep.finished, [n.dir]);
    assert.equal(rep.hadPendingSwap, true);
    assert.equal(rep.live, true);
    assert.deepEqual(rep.kept, [n.previous]);
    assert.equal(read(root, 'pgdata/PG_VERSION'), 'new');
    assert.deepEqual(readdirSync(root).sort(), [n.previous, 'pgdata'].sort());
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('repair: killed while building or replaying → the half-built cluster goes, the live one is not touched', () => {
  const n = volumeNames(TS);
  const root = volume({ 'pgdata/PG_VERSION': 'live', [`${n.dir}/PG_VERSION`]: 'half', [`${n.wal}/x`]: '', [n.hba]: '' });
  try {
    const rep = parseRepair(sh(repairScript(root)).out);
    assert.deepEqual(rep.finished, []);
    assert.deepEqual(rep.removed, [n.dir]);
    assert.equal(rep.hadPendingSwap, false);
    assert.equal(read(root, 'pgdata/PG_VERSION'), 'live');
    assert.deepEqual(readdirSync(root), ['pgdata']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('repair: proven but the swap never began → the live directory stays, postgres is to be started again', () => {
  const n = volumeNames(TS);
  const root = volume({ 'pgdata/PG_VERSION': 'live', [`${n.dir}/PG_VERSION`]: 'new', [n.proven]: '' });
  try {
    const rep = parseRepair(sh(repairScript(root)).out);
    assert.deepEqual(rep.finished, []);
    assert.equal(rep.hadPendingSwap, true);
    assert.equal(read(root, 'pgdata/PG_VERSION'), 'live');
    assert.deepEqual(readdirSync(root), ['pgdata']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('repair of a clean volume changes nothing', () => {
  const root = volume({ 'pgdata/PG_VERSION': 'live' });
  try {
    const rep = parseRepair(sh(repairScript(root)).out);
    assert.deepEqual(rep, { finished: [], hadPendingSwap: false, removed: [], live: true, kept: [] });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('the build script quotes archive paths and never reuses a directory; the scratch server has no network', () => {
  const s = buildScript(TS, "/pitr/base/it's/data", [{ from: '/pitr/wal/000000010000000000000002.partial', name: '000000010000000000000002' }]);
  assert.match(s, /cp -a '\/pitr\/base\/it'\\''s\/data'\/\. restore-20261202T010203Z\//);
  assert.match(s, /^mkdir restore-20261202T010203Z restore-20261202T010203Z\.wal$/m);
  assert.match(s, /cp '\/pitr\/wal\/000000010000000000000002\.partial' restore-20261202T010203Z\.wal\/'000000010000000000000002'/);
  // Completed (renamed) by the receiver between the plan and the copy: the full segment is taken.
  const root = volume({ 'pitr/wal/000000010000000000000002': 'full' });
  try {
    const copy = s.split('\n').find((l) => l.includes('000000010000000000000002.partial'))!.replaceAll("'/pitr/", `'${root}/pitr/`).replaceAll('restore-20261202T010203Z.wal/', `${root}/staged/`);
    mkdirSync(path.join(root, 'staged'));
    assert.equal(sh(copy).code, 0);
    assert.equal(read(root, 'staged/000000010000000000000002'), 'full');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const args = scratchServerArgs(TS, { restore_command: 'cp x %p' });
  assert.ok(args.includes("listen_addresses="));
  assert.ok(args.includes('restore_command=cp x %p'));
  assert.throws(() => volumeNames('../x'));
});

test('container logs are demultiplexed by stream', () => {
  const frame = (stream: number, text: string) => {
    const b = Buffer.from(text);
    const h = Buffer.alloc(8);
    h[0] = stream;
    h.writeUInt32BE(b.length, 4);
    return Buffer.concat([h, b]);
  };
  const buf = Buffer.concat([frame(1, 'out1\n'), frame(2, 'err\n'), frame(1, 'out2\n')]);
  assert.equal(demuxLogs(buf, 1), 'out1\nout2\n');
  assert.equal(demuxLogs(buf, 2), 'err\n');
  assert.equal(demuxLogs(Buffer.from('plain text')), 'plain text');
});

test('status: the PITR line says base backup age, archive lag in seconds and bytes, the rehearsal', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  const facts = pitrFactsOf(
    {
      enabled: true,
      lastBase: { name: 'b', finishedAt: '2026-12-02T10:00:00Z', verified: true, sizeBytes: 1 },
      baseBackups: 1,
      archive: { segments: 1, bytes: 1, newest: null, newestAt: null },
      slot: null,
      lag: { connected: true, bytes: 2048, seconds: 0.25 },
      rehearsal: { at: '2026-12-01T12:00:00Z', ok: true, base: 'b', target: 'latest', recoveredTo: null, tables: 1, durationMs: 1 },
    },
    true,
  );
  const line = pitrLine(facts, now)!;
  assert.match(line, /base backup 2(\.0)?h ago, verified|base backup .* verified/);
  assert.match(line, /WAL archive 250ms \/ 2\.0KiB behind/);
  assert.match(line, /rehearsed/);
  assert.match(pitrLine({ ...facts, archive: { connected: false, lagSeconds: null, lagBytes: null } }, now)!, /NOT streaming/);
  assert.equal(pitrLine(undefined, now), null);
});
