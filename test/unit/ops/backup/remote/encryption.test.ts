import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync, symlinkSync, statSync, readlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generateIdentity } from 'age-encryption';
import { AGE_MAGIC, decryptFile, encryptFile, isAgeFile, loadIdentities, parseIdentities, recipientOf } from '../../../../../src/ops/backup/encryption.ts';
import { tarDirectory, untarInto } from '../../../../../src/ops/backup/remote/tarball.ts';
import { UserError } from '../../../../../src/util/errors.ts';

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

test('age: a file encrypted to a recipient reads back byte-identical with its identity, and not at all without it', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-age-'));
  try {
    const id = await generateIdentity();
    const other = await generateIdentity();
    const plain = path.join(dir, 'plain');
    // Larger than one 64 KiB age chunk, not a multiple of it.
    writeFileSync(plain, Buffer.concat([Buffer.from('PGDMP'), randomBytes(300_000 + 17)]));
    const enc = path.join(dir, 'plain.age');
    const r = await encryptFile(plain, enc, [await recipientOf(id)]);
    assert.equal(r.sourceSha256, sha(plain), 'the plain bytes are hashed on the way in');
    assert.equal(r.sha256, sha(enc), 'and the encrypted bytes on the way out');
    assert.equal(readFileSync(enc).subarray(0, AGE_MAGIC.length).toString(), AGE_MAGIC);
    assert.ok(!readFileSync(enc).includes(Buffer.from('PGDMP')), 'nothing of the plain text is left');
    assert.equal(await isAgeFile(enc), true);

    const out = path.join(dir, 'out');
    const d = await decryptFile(enc, out, [id], 'the test file');
    assert.equal(sha(out), sha(plain));
    assert.equal(d.sha256, sha(plain));

    await assert.rejects(decryptFile(enc, path.join(dir, 'x'), [], 'the test file'), (e: unknown) => e instanceof UserError && /encrypted \(age\) and no identity was given/.test(e.message) && /--identity FILE/.test(e.hint ?? ''));
    await assert.rejects(decryptFile(enc, path.join(dir, 'y'), [other], 'the test file'), (e: unknown) => e instanceof UserError && /none of the given identities is one of its recipients/.test(e.message));
    assert.equal(existsSync(path.join(dir, 'y')), false, 'a failed decryption leaves no file');

    // One flipped byte in the payload: age's authentication refuses it.
    const bad = Buffer.from(readFileSync(enc));
    bad[bad.length - 100]! ^= 0xff;
    writeFileSync(path.join(dir, 'bad.age'), bad);
    await assert.rejects(decryptFile(path.join(dir, 'bad.age'), path.join(dir, 'z'), [id], 'the test file'), (e: unknown) => e instanceof UserError && /cannot decrypt the test file/.test(e.message) && /damaged/.test(e.hint ?? ''));
    assert.equal(existsSync(path.join(dir, 'z')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('identity files: --identity, then $MODELSHIP_AGE_IDENTITY_FILE, then $MODELSHIP_AGE_IDENTITY; bad ones are refused', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-age-'));
  try {
    const id = await generateIdentity();
    const f = path.join(dir, 'key.txt');
    writeFileSync(f, `# created: now\n# public key: ${await recipientOf(id)}\n${id}\n`);
    assert.deepEqual(await loadIdentities(f, {}), [id]);
    assert.deepEqual(await loadIdentities(undefined, { MODELSHIP_AGE_IDENTITY_FILE: f }), [id]);
    assert.deepEqual(await loadIdentities(undefined, { MODELSHIP_AGE_IDENTITY: id }), [id]);
    assert.deepEqual(await loadIdentities(undefined, {}), []);
    writeFileSync(path.join(dir, 'pub'), `${await recipientOf(id)}\n`);
    await assert.rejects(loadIdentities(path.join(dir, 'pub'), {}), /is not an age identity file/);
    await assert.rejects(loadIdentities(path.join(dir, 'missing'), {}), /cannot read the age identity file/);
    assert.throws(() => parseIdentities('hello'), /neither a comment nor/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a base backup directory tars and untars to the same tree (modes, symlinks); paths outside are refused', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ms-tar-'));
  try {
    const src = path.join(dir, 'src');
    mkdirSync(path.join(src, 'data', 'pg_wal'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(src, 'base.json'), '{}');
    writeFileSync(path.join(src, 'data', 'PG_VERSION'), '15\n', { mode: 0o600 });
    writeFileSync(path.join(src, 'data', 'pg_wal', 'seg'), randomBytes(100_000));
    symlinkSync('PG_VERSION', path.join(src, 'data', 'link'));
    const t = path.join(dir, 'b.tar');
    await tarDirectory(src, t);
    const dst = path.join(dir, 'dst');
    assert.equal(await untarInto(t, dst), 3);
    for (const f of ['base.json', 'data/PG_VERSION', 'data/pg_wal/seg']) assert.equal(sha(path.join(dst, f)), sha(path.join(src, f)), f);
    assert.equal(statSync(path.join(dst, 'data', 'PG_VERSION')).mode & 0o777, 0o600);
    assert.equal(statSync(path.join(dst, 'data')).mode & 0o777, 0o700);
    assert.equal(readlinkSync(path.join(dst, 'data', 'link')), 'PG_VERSION');

    const tar = (await import('tar-stream')).default;
    const evil = tar.pack();
    evil.entry({ name: '../escape', size: 1 }, 'x');
    evil.finalize();
    const chunks: Buffer[] = [];
    for await (const c of evil) chunks.push(c as Buffer);
    writeFileSync(path.join(dir, 'evil.tar'), Buffer.concat(chunks));
    await assert.rejects(untarInto(path.join(dir, 'evil.tar'), path.join(dir, 'e')), /outside its directory/);
    assert.equal(existsSync(path.join(dir, 'escape')), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
