import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';

// Must be set before the decoder first loads: this file runs in its own process.
process.env.MODELSHIP_NO_SHARP = '1';
const { decodeImage, decoderName } = await import('../../../src/inference/decode.ts');
const { InputError } = await import('../../../src/inference/types.ts');

const fixture = (name: string) => readFile(new URL(`../../fixtures/images/${name}`, import.meta.url));
const spec = { width: 224, height: 224, resize: 'fill' as const };

async function viaSharp(name: string): Promise<Buffer> {
  return sharp(await fixture(name)).rotate().flatten({ background: '#ffffff' }).toColourspace('srgb').resize(224, 224, { fit: 'fill', kernel: 'linear' }).removeAlpha().raw({ depth: 'uchar' }).toBuffer();
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  assert.equal(a.length, b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

test('without sharp, JPEG and PNG decode in JS to nearly the same pixels as libvips', async () => {
  assert.equal(decoderName(), 'jpeg-js/pngjs');
  for (const name of ['chelsea.jpg', 'chelsea-exif6.jpg', 'camera-gray.png', 'astronaut-alpha.png', 'chelsea-16bit.png']) {
    const img = await decodeImage(await fixture(name), spec);
    assert.equal(img.pixels.length, 224 * 224 * 3);
    const d = meanAbsDiff(img.pixels, await viaSharp(name));
    assert.ok(d < 6, `${name}: mean abs difference ${d.toFixed(2)} per channel`);
  }
  const rotated = await decodeImage(await fixture('chelsea-exif6.jpg'), spec);
  assert.deepEqual([rotated.width, rotated.height], [451, 300]); // EXIF orientation applied
});

test('without sharp, bad and unsupported inputs fail clearly', async () => {
  const err = async (p: Promise<unknown>) => p.then(() => assert.fail('expected an error'), (e: unknown) => {
    assert.ok(e instanceof InputError);
    return `${e.code}: ${e.message}`;
  });
  assert.match(await err(decodeImage(await fixture('truncated.jpg'), spec)), /^corrupt: corrupt or truncated JPEG/);
  assert.match(await err(decodeImage(await fixture('animated.gif'), spec)), /^unsupported: not a JPEG, PNG or BMP/);
  assert.match(await err(decodeImage(Buffer.from('8BPS\x00\x01' + '\x00'.repeat(40), 'latin1'), spec)), /^unsupported: unsupported format: Photoshop document/);
  const png = Buffer.from(await fixture('camera-gray.png'));
  png.writeUInt32BE(100_000, 16);
  png.writeUInt32BE(100_000, 20);
  assert.match(await err(decodeImage(png, spec)), /^too-large: image is 100000×100000/);
});

test('without sharp, a BMP of a photograph decodes like its JPEG (BMP is always read in JS)', async () => {
  const { data, info } = await sharp(await fixture('chelsea.jpg')).raw().toBuffer({ resolveWithObject: true });
  const stride = Math.ceil((info.width * 3) / 4) * 4;
  const bmp = Buffer.alloc(54 + stride * info.height);
  bmp.write('BM');
  bmp.writeUInt32LE(54, 10);
  bmp.writeUInt32LE(40, 14);
  bmp.writeInt32LE(info.width, 18);
  bmp.writeInt32LE(-info.height, 22); // top-down
  bmp.writeUInt16LE(1, 26);
  bmp.writeUInt16LE(24, 28);
  for (let y = 0; y < info.height; y++) {
    for (let x = 0; x < info.width; x++) {
      const s = (y * info.width + x) * 3, d = 54 + y * stride + x * 3;
      [bmp[d], bmp[d + 1], bmp[d + 2]] = [data[s + 2]!, data[s + 1]!, data[s]!];
    }
  }
  const img = await decodeImage(bmp, spec);
  assert.deepEqual([img.width, img.height], [info.width, info.height]);
  assert.ok(img.notes.some((n) => /pure-JS fallback/.test(n)));
  const d = meanAbsDiff(img.pixels, await viaSharp('chelsea.jpg'));
  assert.ok(d < 6, `mean abs difference ${d.toFixed(2)} per channel`);
});
