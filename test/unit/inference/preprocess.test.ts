import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { applyOrientation, jpegExifOrientation, normalizePixels, resizeBilinear, resizeGeometry } from '../../../src/inference/preprocess.ts';

test('normalizePixels applies scale, per-channel mean and std', () => {
  const out = normalizePixels(Uint8Array.from([0, 128, 255, 255, 0, 64]), { scale: 1 / 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1] });
  const want = [(0 - 0.5) / 0.5, (128 / 255 - 0.5) / 0.25, 255 / 255 - 0.5, (1 - 0.5) / 0.5, (0 - 0.5) / 0.25, 64 / 255 - 0.5];
  want.forEach((w, i) => assert.ok(Math.abs(out[i]! - w) < 1e-6, `index ${i}: ${out[i]} vs ${w}`));
  assert.throws(() => normalizePixels(new Uint8Array(4), { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] }), /multiple of 3/);
});

test('0..255 models keep raw pixel values', () => {
  assert.deepEqual([...normalizePixels(Uint8Array.from([7, 200, 255]), { scale: 1, mean: [0, 0, 0], std: [1, 1, 1] })], [7, 200, 255]);
});

test('normalizePixels writes into a batch buffer at an offset, rounding for int32 models', () => {
  const spec = { scale: 1, mean: [0.4, 0, 0] as [number, number, number], std: [1, 2, 1] as [number, number, number] };
  const batch = new Float32Array(9).fill(-1);
  const same = normalizePixels(Uint8Array.from([10, 20, 30]), spec, batch, 3);
  assert.equal(same, batch);
  assert.deepEqual([...batch].map((v) => Math.round(v * 10) / 10), [-1, -1, -1, 9.6, 10, 30, -1, -1, -1]);
  const ints = normalizePixels(Uint8Array.from([10, 21, 30]), spec, new Int32Array(3));
  assert.deepEqual([...ints], [10, 11, 30]);
  assert.throws(() => normalizePixels(Uint8Array.from([1, 2, 3]), spec, new Float32Array(5), 3), /do not fit/);
});

test('resizeGeometry: fill stretches, contain letterboxes, cover crops — and boxes map back', () => {
  const fill = resizeGeometry(1000, 500, { width: 500, height: 500, resize: 'fill' });
  assert.deepEqual(fill, { scaleX: 2, scaleY: 1, offsetX: 0, offsetY: 0 });
  // contain: 1000x500 → 500x250 centred vertically with 125 px bands
  const contain = resizeGeometry(1000, 500, { width: 500, height: 500, resize: 'contain' });
  assert.equal(contain.scaleX, 2);
  assert.equal(0 * contain.scaleX + contain.offsetX, 0);
  assert.equal(125 * contain.scaleY + contain.offsetY, 0); // top of the picture inside the letterbox
  assert.equal(375 * contain.scaleY + contain.offsetY, 500); // its bottom
  // cover: 1000x500 → 1000x500 scaled to 1000x500 (r=1), cropped to the centre 500 px
  const cover = resizeGeometry(1000, 500, { width: 500, height: 500, resize: 'cover' });
  assert.equal(0 * cover.scaleX + cover.offsetX, 250);
  assert.equal(500 * cover.scaleX + cover.offsetX, 750);
});

test('resizeBilinear: identity, constant images, and a 2x1 → 4x1 ramp', () => {
  const src = Uint8Array.from([10, 20, 30, 40, 50, 60]);
  assert.deepEqual([...resizeBilinear(src, 2, 1, 3, 2, 1)], [...src]);
  assert.deepEqual([...resizeBilinear(new Uint8Array(12).fill(77), 2, 2, 3, 5, 3)], new Array(45).fill(77));
  // half-pixel centres: output x=0..3 sample source x = -0.25, 0.25, 0.75, 1.25 (clamped)
  assert.deepEqual([...resizeBilinear(Uint8Array.from([0, 100]), 2, 1, 1, 4, 1)], [0, 25, 75, 100]);
});

test('applyOrientation 6 rotates 90° clockwise; 3 rotates 180°; 1 is untouched', () => {
  // 3x2 image, one channel:  a b c / d e f
  const img = Uint8Array.from([1, 2, 3, 4, 5, 6]);
  const r6 = applyOrientation(img, 3, 2, 1, 6);
  assert.equal(r6.width, 2);
  assert.equal(r6.height, 3);
  assert.deepEqual([...r6.data], [4, 1, 5, 2, 6, 3]);
  assert.deepEqual([...applyOrientation(img, 3, 2, 1, 3).data], [6, 5, 4, 3, 2, 1]);
  assert.deepEqual([...applyOrientation(img, 3, 2, 1, 8).data], [3, 6, 2, 5, 1, 4]);
  assert.equal(applyOrientation(img, 3, 2, 1, 1).data, img);
});

test('EXIF orientation is read from a real JPEG', async () => {
  const rotated = await readFile(new URL('../../fixtures/images/chelsea-exif6.jpg', import.meta.url));
  const plain = await readFile(new URL('../../fixtures/images/chelsea.jpg', import.meta.url));
  assert.equal(jpegExifOrientation(rotated), 6);
  assert.equal(jpegExifOrientation(plain), 1);
  assert.equal(jpegExifOrientation(Uint8Array.from([1, 2, 3])), 1);
});
