/**
 * Image formats from their first bytes, the one place that knows the magic numbers: which format a
 * file is (directory walks, the pure-JS decoder's choice), whether it is a BMP for the BMP
 * decoder, and the formats modelship does not decode, named so the error says what the file is and
 * what to do instead of "not an image". Pure.
 */

const ascii = (buf: Uint8Array, at: number, len: number): string => String.fromCharCode(...buf.subarray(at, at + len));

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'heif' | 'bmp';

/** Bytes a caller reads to recognise a format (a BMP's header size sits at bytes 14–17). */
export const SNIFF_BYTES = 32;

/** The BMP signature the BMP decoder takes (`BM` and room for the headers); it names what is wrong after that. */
export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 26 && buf[0] === 0x42 && buf[1] === 0x4d;
}

/** DIB header sizes: OS/2 core (12), OS/2 2.x short (16), BITMAPINFOHEADER and V2–V5. */
const BMP_HEADER_SIZES = new Set([12, 16, 40, 52, 56, 64, 108, 124]);

/** The decoded format `head` (the first SNIFF_BYTES bytes or more) starts as, or undefined. */
export function imageFormat(head: Uint8Array): ImageFormat | undefined {
  const b = head;
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b[0] === 0x89 && ascii(b, 1, 7) === 'PNG\r\n\x1a\n') return 'png';
  if (ascii(b, 0, 4) === 'GIF8') return 'gif';
  if (ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 4) === 'WEBP') return 'webp';
  if ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) || (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a)) return 'tiff';
  if (ascii(b, 4, 4) === 'ftyp' && ['avif', 'avis', 'heic', 'heix', 'mif1', 'msf1'].includes(ascii(b, 8, 4))) return 'heif';
  if (b.length >= 18 && b[0] === 0x42 && b[1] === 0x4d && BMP_HEADER_SIZES.has(b[14]! | (b[15]! << 8) | (b[16]! << 16) | (b[17]! << 24))) return 'bmp';
  return undefined;
}

/** Recognises image files by their first bytes (used for directory walks). */
export function sniffImage(head: Uint8Array): boolean {
  return imageFormat(head) !== undefined;
}

/** Formats modelship does not decode, named with what to do instead. */
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
