/**
 * WAL arithmetic: LSNs, segment file names, timeline history files, and how far an archive reaches
 * without a gap. Pure.
 *
 * A segment file is `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, then the segment number split in two
 * 32-bit halves); pg_receivewal writes the segment it is filling as `<name>.partial`. With
 * backups.encryption.recipients a complete segment is replaced by `<name>.age` (its age ciphertext).
 */

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;
const SEG_RE = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})(?:(\.partial)|(\.age))?$/;
const HISTORY_RE = /^([0-9A-F]{8})\.history$/;

/** `16/B374D848` → bigint. Throws on anything else. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

function segsPerId(segmentSize: number): bigint {
  return 0x100000000n / BigInt(segmentSize);
}

export interface Segment {
  timeline: number;
  segNo: bigint;
  partial: boolean;
  /** The file is the segment's age ciphertext (`<name>.age`). */
  encrypted: boolean;
  file: string;
}

export function segmentName(timeline: number, segNo: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): string {
  const per = segsPerId(segmentSize);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segNo / per)}${hex(segNo % per)}`;
}

export function parseSegmentName(file: string, segmentSize = DEFAULT_SEGMENT_SIZE): Segment | null {
  const m = SEG_RE.exec(file);
  if (!m) return null;
  const per = segsPerId(segmentSize);
  const lo = BigInt(`0x${m[3]}`);
  if (lo >= per) return null;
  return { timeline: parseInt(m[1]!, 16), segNo: BigInt(`0x${m[2]}`) * per + lo, partial: m[4] !== undefined, encrypted: m[5] !== undefined, file };
}

/** The segment's own name, without `.partial` or `.age`. Pure. */
export function plainWalName(file: string): string {
  return file.replace(/\.(partial|age)$/, '');
}

export function segNoOf(lsn: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): bigint {
  return lsn / BigInt(segmentSize);
}

export function isHistoryFile(file: string): boolean {
  return HISTORY_RE.test(file);
}

export interface TimelineSwitch {
  /** The parent timeline. */
  timeline: number;
  /** Where the child timeline forked off it. */
  switchLsn: bigint;
  reason: string;
}

/** A `0000000N.history` file: one line per ancestor, `parentTLI<TAB>switchpoint<TAB>reason`. */
export function parseHistory(text: string): TimelineSwitch[] {
  const out: TimelineSwitch[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [tli, lsn, ...reason] = line.split(/\s+/);
    if (!tli || !lsn || !/^\d+$/.test(tli)) throw new Error(`not a timeline history line: ${JSON.stringify(line)}`);
    out.push({ timeline: Number(tli), switchLsn: parseLsn(lsn), reason: reason.join(' ') });
  }
  return out;
}

export interface Coverage {
  /** The first segment needed (the base backup's start). */
  first: string;
  /** The last segment present without a gap from `first` (null: `first` itself is missing). */
  last: string | null;
  /** Whether `last` is a `.partial` segment (the one pg_receivewal is filling). */
  lastPartial: boolean;
  /** The first missing segment after `first`, when a later one exists (a hole in the archive). */
  gap: string | null;
  /** Segments from `first` to `last`, in order (file names as found). */
  files: string[];
}

/**
 * How far the archive reaches on `timeline` from `startSeg` without a hole. A full segment wins over
 * a `.partial` of the same name (pg_receivewal renames it when complete).
 */
export function walCoverage(files: readonly string[], timeline: number, startSeg: bigint, segmentSize = DEFAULT_SEGMENT_SIZE): Coverage {
  const bySeg = new Map<bigint, Segment>();
  for (const f of files) {
    const s = parseSegmentName(f, segmentSize);
    if (!s || s.timeline !== timeline || s.segNo < startSeg) continue;
    const have = bySeg.get(s.segNo);
    if (!have || (have.partial && !s.partial)) bySeg.set(s.segNo, s);
  }
  const out: Coverage = { first: segmentName(timeline, startSeg, segmentSize), last: null, lastPartial: false, gap: null, files: [] };
  let seg = startSeg;
  while (bySeg.has(seg)) {
    const s = bySeg.get(seg)!;
    out.files.push(s.file);
    out.last = segmentName(timeline, seg, segmentSize);
    out.lastPartial = s.partial;
    if (s.partial) break;
    seg++;
  }
  const later = [...bySeg.keys()].filter((k) => k > seg);
  if (later.length > 0) out.gap = segmentName(timeline, seg, segmentSize);
  return out;
}
