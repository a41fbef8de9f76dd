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
  assert.match(await err(decodeImage(await fixture('animated.gif'), spec)), /^unsupported: not a JPEG or PNG/);
  const png = Buffer.from(await fixture('camera-gray.png'));
  png.writeUInt32BE(100_000, 16);
  png.writeUInt32BE(100_000, 20);
  assert.match(await err(decodeImage(png, spec)), /^too-large: image is 100000×100000/);
});
