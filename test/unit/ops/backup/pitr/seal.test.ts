import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateIdentity } from 'age-encryption';
import { parseSealTemp, recipientOf, requireIdentities, sealFile } from '../../../../../src/ops/backup/encryption.ts';
import { plainManifestOf, type Manifest } from '../../../../../src/ops/backup/manifest.ts';
import { pitrLayout } from '../../../../../src/ops/backup/pitr/layout.ts';
import { materializeWal, planStageWal } from '../../../../../src/ops/backup/pitr/restore-local.ts';
import { parseSegmentName, plainWalName, walCoverage } from '../../../../../src/ops/backup/pitr/wal.ts';
import { planSeal, sealCompletedWal } from '../../../../../src/ops/backup/pitr/wal-seal.ts';
import type { BaseRecord } from '../../../../../src/ops/backup/pitr/base-record.ts';
import { UserError } from '../../../../../src/util/errors.ts';

const SEG = (n: number) => `00000001000000000000000${n}`;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('sealed WAL names: `<segment>.age` is the segment, encrypted; the planner and coverage read through it', () => {
  assert.deepEqual(parseSegmentName(`${SEG(3)}.age`), { timeline: 1, segNo: 3n, partial: false, encrypted: true, file: `${SEG(3)}.age` });
  assert.equal(parseSegmentName(`${SEG(3)}.partial.age`), null, 'the segment being filled is never sealed');
  assert.equal(plainWalName(`${SEG(3)}.age`), SEG(3));
  assert.equal(plainWalName(`${SEG(3)}.partial`), SEG(3));
  const c = walCoverage([`${SEG(2)}.age`, `${SEG(3)}.age`, `${SEG(4)}.partial`], 1, 2n);
  assert.deepEqual(c.files, [`${SEG(2)}.age`, `${SEG(3)}.age`, `${SEG(4)}.partial`]);
  assert.equal(c.gap, null);
});

test('seal plan: complete plain segments only; a plain one beside its finished .age is dropped', () => {
  const plan = planSeal([SEG(1), `${SEG(2)}.age`, SEG(2), `${SEG(3)}.partial`, '00000002.history', `${SEG(4)}.age`, 'junk']);
  assert.deepEqual(plan, { seal: [SEG(1)], drop: [SEG(2)] });
  assert.deepEqual(parseSealTemp(`.${SEG(1)}.age.4242.tmp`), { pid: 4242 });
  assert.equal(parseSealTemp(SEG(1)), null);
});

test('sealing the archive: the plain segment is replaced by its ciphertext; restore staging decrypts it back byte-identical', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ms-seal-'));
  try {
    const id = await generateIdentity();
    const layout = pitrLayout(root);
    mkdirSync(layout.wal, { recursive: true });
    const seg2 = Buffer.concat([Buffer.from('ROWS-IN-PLAIN'), randomBytes(200_000)]);
    writeFileSync(path.join(layout.wal, SEG(2)), seg2);
    writeFileSync(path.join(layout.wal, SEG(3)), randomBytes(1000));
    writeFileSync(path.join(layout.wal, `${SEG(4)}.partial`), Buffer.from('still being filled'));
    writeFileSync(path.join(layout.wal, '00000001.history'), '');
    writeFileSync(path.join(layout.wal, `.${SEG(9)}.age.999999999.tmp`), 'left by a dead sealer');
    assert.deepEqual(await sealCompletedWal(layout.wal, []), [], 'no recipients: nothing is sealed');
    const sealed = await sealCompletedWal(layout.wal, [await recipientOf(id)]);
    assert.deepEqual(sealed, [SEG(2), SEG(3)]);
    assert.deepEqual(readdirSync(layout.wal).sort(), ['00000001.history', `${SEG(2)}.age`, `${SEG(3)}.age`, `${SEG(4)}.partial`]);
    assert.ok(!readFileSync(path.join(layout.wal, `${SEG(2)}.age`)).includes('ROWS-IN-PLAIN'));

    const base = { timeline: 1, startLsn: '0/2000028', walSegmentSize: 16 * 1024 * 1024 } as BaseRecord;
    const copies = await planStageWal(layout, base);
    assert.deepEqual(copies.map((c) => c.name).sort(), ['00000001.history', SEG(2), SEG(3), SEG(4)]);
    const stage = path.join(root, 'stage');
    await assert.rejects(materializeWal(copies, stage, []), (e: unknown) => e instanceof UserError && /no identity was given/.test(e.message));
    rmSync(stage, { recursive: true, force: true });
    // The partial completes (and is sealed) between planning and staging: the sealed full segment is used.
    await sealFile(await (async () => {
      const full = path.join(layout.wal, SEG(4));
      writeFileSync(full, Buffer.from('now complete'));
      rmSync(path.join(layout.wal, `${SEG(4)}.partial`));
      return full;
    })(), [await recipientOf(id)]);
    await materializeWal(copies, stage, [id]);
    assert.equal(sha(readFileSync(path.join(stage, SEG(2)))), sha(seg2), 'byte-identical');
    assert.equal(readFileSync(path.join(stage, SEG(4)), 'utf8'), 'now complete');
    assert.ok(!existsSync(path.join(stage, `${SEG(2)}.age`)));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a sealed dump manifest: checksums of the encrypted bytes, the plain ones beside; the decrypted copy gets the plain ones', () => {
  const m = { format: 'modelship-backup/1', file: 'db-20261202T000000Z.dump', database: 'db', createdAt: '2026-12-02T00:00:00.000Z', sizeBytes: 900, durationMs: 1, serverVersion: '15', pgDumpVersion: '15', tableCount: 1, sha256: 'a'.repeat(64), mode: 'direct', verified: true, encryption: { recipients: ['age1x'], plainSizeBytes: 700, plainSha256: 'b'.repeat(64) } } as Manifest;
  const p = plainManifestOf(m);
  assert.equal(p.sha256, 'b'.repeat(64));
  assert.equal(p.sizeBytes, 700);
  assert.equal(p.encryption, undefined);
  const { encryption: _e, ...plainOne } = m;
  assert.deepEqual(plainManifestOf(plainOne as Manifest), plainOne, 'a plain manifest is unchanged');
  assert.throws(() => requireIdentities([], 'backup x.dump'), (e: unknown) => e instanceof UserError && e.exitCode === 2 && /--identity FILE/.test(e.hint ?? ''));
  requireIdentities(['AGE-SECRET-KEY-1X'], 'backup x.dump');
});

test('a complete segment sealed between planning and staging is decrypted from its .age', async () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'ms-seal-race-'));
  try {
    const id = await generateIdentity();
    const wal = path.join(root, 'wal');
    mkdirSync(wal);
    writeFileSync(path.join(wal, SEG(5)), 'segment five');
    const copies = [{ from: path.join(wal, SEG(5)), name: SEG(5) }];
    await sealFile(path.join(wal, SEG(5)), [await recipientOf(id)]);
    await materializeWal(copies, path.join(root, 'stage'), [id]);
    assert.equal(readFileSync(path.join(root, 'stage', SEG(5)), 'utf8'), 'segment five');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
