import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collectInputs } from '../../../src/inference/job.ts';
import { decodeBmp } from '../../../src/inference/bmp.ts';
import { imageFormat, sniffImage } from '../../../src/inference/sniff.ts';

/** A 2×1 24-bit BMP written byte by byte (BITMAPFILEHEADER + BITMAPINFOHEADER, rows padded to 4). */
function bmp(): Buffer {
  const pixels = Buffer.from([0, 0, 255, 0, 255, 0, 0, 0]); // red, green, padding
  const head = Buffer.alloc(54);
  head.write('BM');
  head.writeUInt32LE(54 + pixels.length, 2);
  head.writeUInt32LE(54, 10);
  head.writeUInt32LE(40, 14);
  head.writeInt32LE(2, 18);
  head.writeInt32LE(1, 22);
  head.writeUInt16LE(1, 26);
  head.writeUInt16LE(24, 28);
  return Buffer.concat([head, pixels]);
}

test('bug: a directory walk takes an extensionless BMP, which the decoder reads', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ms-sniff-'));
  try {
    const file = bmp();
    assert.equal(decodeBmp(file, 1e6).width, 2);
    await writeFile(path.join(dir, 'scan'), file);
    await writeFile(path.join(dir, 'notes'), 'BM is not enough: this is text');
    const inputs = await collectInputs([dir], [], 'image', dir, 1 << 20);
    assert.deepEqual(inputs.map((i) => path.basename(i.id)), ['scan']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('imageFormat names each decoded format from its first bytes and nothing else', () => {
  const bytes = (s: string) => Buffer.from(s, 'latin1');
  assert.equal(imageFormat(bmp()), 'bmp');
  assert.equal(imageFormat(bytes('\xff\xd8\xff\xe0\x00\x10JFIF')), 'jpeg');
  assert.equal(imageFormat(bytes('\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR')), 'png');
  assert.equal(imageFormat(bytes('GIF89a')), 'gif');
  assert.equal(imageFormat(bytes('RIFF\x00\x00\x00\x00WEBPVP8 ')), 'webp');
  assert.equal(imageFormat(bytes('II*\x00')), 'tiff');
  assert.equal(imageFormat(bytes('\x00\x00\x00\x1cftypavif')), 'heif');
  assert.equal(imageFormat(bytes('BM' + 'x'.repeat(30))), undefined);
  assert.equal(sniffImage(bytes('%PDF-1.7')), false);
});

test('sniffImage recognises real image headers and refuses text', async () => {
  const jpg = await readFile(new URL('../../fixtures/images/chelsea.jpg', import.meta.url));
  const png = await readFile(new URL('../../fixtures/images/camera-gray.png', import.meta.url));
  const gif = await readFile(new URL('../../fixtures/images/animated.gif', import.meta.url));
  assert.ok(sniffImage(jpg.subarray(0, 16)));
  assert.ok(sniffImage(png.subarray(0, 16)));
  assert.ok(sniffImage(gif.subarray(0, 16)));
  assert.equal(sniffImage(new TextEncoder().encode('hello world, no image')), false);
});
