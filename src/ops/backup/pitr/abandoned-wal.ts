/**
 * After a restore the server runs on a new timeline that forked from the old one at the recovery
 * point. The archive's segments of the old timeline from that point on describe a history that no
 * longer exists: pg_receivewal would try to resume there and the server would refuse. They are moved
 * aside (kept, never deleted) so streaming resumes on the new timeline.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseHistory, parseSegmentName, segNoOf, isHistoryFile } from './wal.ts';

/** Pure: which archive files belong to the abandoned part of `parentTimeline`. */
export function abandonedSegments(files: readonly string[], parentTimeline: number, switchLsn: bigint, segmentSize: number): string[] {
  const from = segNoOf(switchLsn, segmentSize);
  return files.filter((f) => {
    const s = parseSegmentName(f, segmentSize);
    return s !== null && s.timeline === parentTimeline && s.segNo >= from;
  });
}

/** Reads the newest timeline history file of a restored data directory. */
export async function newestHistory(dataDir: string): Promise<{ file: string; timeline: number; parent: number; switchLsn: bigint } | null> {
  const walDir = path.join(dataDir, 'pg_wal');
  const files = (await readdir(walDir).catch(() => [] as string[])).filter(isHistoryFile).sort();
  const file = files.at(-1);
  if (!file) return null;
  const entries = parseHistory(await readFile(path.join(walDir, file), 'utf8'));
  const last = entries.at(-1);
  if (!last) return null;
  return { file, timeline: parseInt(file.slice(0, 8), 16), parent: last.timeline, switchLsn: last.switchLsn };
}

export async function setAsideAbandonedWal(archiveDir: string, restoredData: string, asideDir: string, segmentSize: number): Promise<{ moved: string[]; history: string | null }> {
  const h = await newestHistory(restoredData);
  if (!h) return { moved: [], history: null };
  return setAsideForHistory(archiveDir, { ...h, text: await readFile(path.join(restoredData, 'pg_wal', h.file), 'utf8') }, asideDir, segmentSize);
}

/** The same, from the restored server's newest history file however it was read (a container's pg_wal). */
export async function setAsideForHistory(archiveDir: string, h: { file: string; parent: number; switchLsn: bigint; text: string }, asideDir: string, segmentSize: number): Promise<{ moved: string[]; history: string | null }> {
  const files = await readdir(archiveDir).catch(() => [] as string[]);
  const moved = abandonedSegments(files, h.parent, h.switchLsn, segmentSize);
  if (moved.length > 0) {
    await mkdir(asideDir, { recursive: true });
    for (const f of moved) await rename(path.join(archiveDir, f), path.join(asideDir, f));
  }
  // The new timeline's history belongs in the archive: later restores follow it.
  await mkdir(archiveDir, { recursive: true });
  await writeFile(path.join(archiveDir, h.file), h.text).catch(() => undefined);
  return { moved, history: h.file };
}

/** A timeline history file's name and text → what setAsideForHistory needs (null: not one). Pure. */
export function historyFacts(file: string, text: string): { file: string; timeline: number; parent: number; switchLsn: bigint; text: string } | null {
  if (!isHistoryFile(file)) return null;
  const last = parseHistory(text).at(-1);
  if (!last) return null;
  return { file, timeline: parseInt(file.slice(0, 8), 16), parent: last.timeline, switchLsn: last.switchLsn, text };
}
