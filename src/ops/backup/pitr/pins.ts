/**
 * A base backup a restore is reading is pinned: retention keeps it, and the WAL it needs, while the
 * pin is live. Without it, the scheduler's retention (after the base backup it takes on a new
 * timeline) deleted the very base a restore was copying: `cp: cannot stat …/base/4/4159`.
 *
 *   pitr/pins/<restore stamp>.json   {"base": "<name>", "by": "<host> pid <pid>", "until": "<ISO>"}
 *
 * A pin is a file with an expiry rather than a lock: the restore runs on the host (or through a
 * helper container) and retention in the db-backup container, in other process namespaces, so no
 * pid or flock is shared reliably. The restore removes its pin when it ends; a killed one's pin
 * expires after PIN_TTL_MS. `livePins` is pure over what `readPins` returns.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { UserError, errorMessage } from '../../../util/errors.ts';
import { writeFileAtomic } from '../../../util/fs-atomic.ts';
import type { PitrLayout } from './layout.ts';

/** Longer than any restore runs; a killed restore's pin holds one base this long at most. */
export const PIN_TTL_MS = 12 * 3_600_000;

export interface Pin {
  base: string;
  by: string;
  until: string;
}

export function pinsDir(layout: PitrLayout): string {
  return path.join(layout.root, 'pins');
}

/** Names of the base backups pinned at `now`. Pure. */
export function livePins(pins: readonly Pin[], now: Date): Set<string> {
  return new Set(pins.filter((p) => Date.parse(p.until) > now.getTime()).map((p) => p.base));
}

/** Every readable pin (unreadable or foreign files are ignored: they pin nothing). */
export async function readPins(layout: PitrLayout): Promise<Pin[]> {
  const dir = pinsDir(layout);
  const out: Pin[] = [];
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.endsWith('.json')) continue;
    try {
      const p = JSON.parse(await readFile(path.join(dir, f), 'utf8')) as Partial<Pin>;
      if (typeof p.base === 'string' && typeof p.until === 'string') out.push({ base: p.base, by: String(p.by ?? ''), until: p.until });
    } catch {
      // being written or damaged: ignored
    }
  }
  return out;
}

/** Pins `base` for the restore `stamp`; returns the release (idempotent, never throws). */
export async function pinBase(layout: PitrLayout, stamp: string, base: string, now = new Date()): Promise<() => Promise<void>> {
  const file = path.join(pinsDir(layout), `${stamp}.json`);
  const pin: Pin = { base, by: `${os.hostname()} pid ${process.pid}`, until: new Date(now.getTime() + PIN_TTL_MS).toISOString() };
  await writeFileAtomic(file, `${JSON.stringify(pin)}\n`);
  return () => rm(file, { force: true }).catch(() => undefined);
}

/**
 * After pinning: the base chosen a moment before is still there (retention may have run between the
 * choice and the pin). Throws a clear error otherwise: nothing has been changed yet.
 */
export async function requireBaseStill(layout: PitrLayout, base: string): Promise<void> {
  if (await stat(path.join(layout.base, base, 'base.json')).catch(() => null)) return;
  throw new UserError(`base backup ${base} was removed by retention while this restore started; nothing was changed`, { hint: 'run the restore again: it picks the base backups that are there now' });
}

/**
 * What a restore calls once it has chosen its base: pins it and checks it is still there. A pin
 * that cannot be written (a backup directory this user cannot write) is a warning, not a failure.
 */
export async function pinForRestore(layout: PitrLayout, stamp: string, base: string, warnings: string[]): Promise<() => Promise<void>> {
  const release = await pinBase(layout, stamp, base).catch((err: unknown) => {
    warnings.push(`could not pin base backup ${base} against retention (${errorMessage(err)}): a scheduler pruning meanwhile could remove it`);
    return async () => undefined;
  });
  try {
    await requireBaseStill(layout, base);
  } catch (err) {
    await release();
    throw err;
  }
  return release;
}
