/**
 * Names image formats modelship does not decode, from their first bytes, so the error says what
 * the file is and what to do instead of "not an image". Pure.
 */

const ascii = (buf: Uint8Array, at: number, len: number): string => String.fromCharCode(...buf.subarray(at, at + len));

export function unsupportedFormat(buf: Uint8Array): string | undefined {
  if (buf.length >= 12 && ascii(buf, 4, 4) === 'ftyp') {
    const brand = ascii(buf, 8, 4);
    if (/^(heic|heix|heim|heis|hevc|hevx|hevm|hevs)$/.test(brand)) {
      return 'HEIC/HEIF photo (HEVC-coded): the HEVC decoder is not included; convert it to JPEG (e.g. `heif-convert photo.heic photo.jpg`) or set the camera to "Most Compatible"';
    }
  }
  if (ascii(buf, 0, 4) === '8BPS') return 'Photoshop document (PSD): export it as PNG or JPEG';
  if (ascii(buf, 0, 5) === '%PDF-') return 'PDF document: render its pages to PNG first (e.g. `pdftoppm -png`)';
  if (buf.length >= 12 && buf[0] === 0 && buf[1] === 0 && buf[2] === 0 && buf[3] === 0x0c && ascii(buf, 4, 4) === 'jP  ') return 'JPEG 2000 image: convert it to PNG or JPEG';
  if (buf[0] === 0xff && buf[1] === 0x4f && buf[2] === 0xff && buf[3] === 0x51) return 'JPEG 2000 codestream: convert it to PNG or JPEG';
  if ((buf[0] === 0xff && buf[1] === 0x0a) || (buf.length >= 12 && ascii(buf, 4, 4) === 'JXL ')) return 'JPEG XL image: convert it to PNG or JPEG';
  if (buf.length >= 6 && buf[0] === 0 && buf[1] === 0 && (buf[2] === 1 || buf[2] === 2) && buf[3] === 0 && buf[4]! > 0) return 'Windows icon (ICO/CUR): convert it to PNG';
  return undefined;
}
