import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { decodeImage } from '../../../src/inference/decode.ts';

/**
 * CMYK images and RGB images with their own ICC profile go through a table sampled from libvips'
 * ICC transform (decode.ts, icc-table.ts). Each case is checked against libvips converting the
 * whole image itself, the reference way.
 */
const fixture = (name: string) => readFile(new URL(`../../fixtures/images/${name}`, import.meta.url));

async function reference(buf: Buffer, width: number, height: number, fit: 'fill' | 'contain' | 'cover'): Promise<Buffer> {
  return sharp(buf).rotate().toColourspace('srgb').resize(width, height, { fit, background: '#000000', kernel: 'linear' }).raw({ depth: 'uchar' }).toBuffer();
}

function diff(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  assert.equal(a.length, b.length);
  let s = 0, max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    s += d;
    max = Math.max(max, d);
  }
  return { mean: s / a.length, max };
}

/** A real photograph as a large CMYK JPEG, with libvips' CMYK profile embedded or not. */
async function cmykPhoto(embedProfile: boolean): Promise<Buffer> {
  let img = sharp(await fixture('astronaut.jpg')).resize(1024, 1024).toColourspace('cmyk');
  if (embedProfile) img = img.withIccProfile('cmyk');
  return img.jpeg({ quality: 92 }).toBuffer();
}

test('small CMYK JPEG (upscaled): converted first, then resized, like libvips', async () => {
  const buf = await fixture('coffee-cmyk.jpg');
  for (const fit of ['fill', 'contain', 'cover'] as const) {
    const img = await decodeImage(buf, { width: 224, height: 224, resize: fit });
    const d = diff(img.pixels, await reference(buf, 224, 224, fit));
    assert.ok(d.mean < 0.3 && d.max <= 3, `${fit}: mean ${d.mean.toFixed(2)}, max ${d.max}`);
    assert.ok(img.notes.includes('CMYK converted to sRGB'));
  }
});

test('large CMYK JPEG (scaled down in CMYK first), with and without an embedded profile; letterbox stays black', async () => {
  for (const embed of [false, true]) {
    const buf = await cmykPhoto(embed);
    assert.equal((await sharp(buf).metadata()).hasProfile, embed);
    for (const fit of ['fill', 'contain', 'cover'] as const) {
      const spec = { width: 512, height: 256, resize: fit };
      const img = await decodeImage(buf, spec);
      const d = diff(img.pixels, await reference(buf, 512, 256, fit));
      // scaling in CMYK before converting differs from libvips (convert, then scale) only at sharp edges
      assert.ok(d.mean < 1.2, `embedded profile ${embed}, ${fit}: mean ${d.mean.toFixed(2)}, max ${d.max}`);
      if (fit === 'contain') {
        // 1024² into 512×256: the image is the centre 256×256, black bands left and right
        for (const x of [0, 100, 411, 511]) assert.deepEqual([...img.pixels.subarray((128 * 512 + x) * 3, (128 * 512 + x) * 3 + 3)], [0, 0, 0], `x=${x}`);
      }
    }
  }
});

test('RGB with an embedded profile: Display P3 converted through a table, an sRGB profile left as is', async () => {
  const photo = await fixture('coffee.jpg');
  const p3 = await sharp(photo).withIccProfile('p3').jpeg({ quality: 95 }).toBuffer();
  const srgbTagged = await sharp(photo).withIccProfile('srgb').jpeg({ quality: 95 }).toBuffer();
  for (const [name, buf] of [['p3', p3], ['srgb', srgbTagged], ['exif6', await fixture('chelsea-exif6.jpg')]] as const) {
    assert.equal((await sharp(buf).metadata()).hasProfile, true, name);
    for (const fit of ['fill', 'contain'] as const) {
      const img = await decodeImage(buf, { width: 224, height: 224, resize: fit });
      const want = await reference(buf, 224, 224, fit);
      const d = diff(img.pixels, want);
      assert.ok(d.mean < 0.5 && d.max <= 8, `${name} ${fit}: mean ${d.mean.toFixed(2)}, max ${d.max}`);
    }
  }
  // the P3 file's pixels really differ from sRGB: decoding it without its profile would be wrong
  const ignored = await sharp(p3, { ignoreIcc: true }).resize(224, 224, { fit: 'fill', kernel: 'linear' }).raw().toBuffer();
  assert.ok(diff(ignored, await reference(p3, 224, 224, 'fill')).mean > 2);
});
