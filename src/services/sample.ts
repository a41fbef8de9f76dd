/** A tiny valid PNG used to warm the models up at start (no file on disk needed). */
import { PNG } from 'pngjs';

export function warmupImage(): Uint8Array {
  const png = new PNG({ width: 64, height: 64 });
  for (let i = 0; i < png.data.length; i += 4) {
    png.data[i] = (i / 4) % 256;
    png.data[i + 1] = 128;
    png.data[i + 2] = 64;
    png.data[i + 3] = 255;
  }
  return PNG.sync.write(png);
}
