/**
 * Backup file names and the crontab line. Pure.
 *
 * A backup is `<db>-<UTC YYYYMMDDTHHMMSSZ>.dump`, with `<name>.sha256` and `<name>.manifest.json`
 * beside it. Temp files start with a dot and end in `.tmp`, so nothing lists them as backups.
 */
import path from 'node:path';

export const DUMP_EXT = '.dump';
export const SHA_EXT = '.sha256';
export const MANIFEST_EXT = '.manifest.json';
/** JSON state file beside the backups: last full test restore (read by `doctor`). */
export const VERIFY_STATE_FILE = '.modelship-verify.json';

export function utcStamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}T${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
}

export function parseUtcStamp(s: string): Date | null {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (!m) return null;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  const date = new Date(Date.UTC(y, mo - 1, d, h, mi, se));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d || h > 23 || mi > 59 || se > 59) return null;
  return date;
}

export function backupFileName(database: string, at: Date): string {
  return `${database}-${utcStamp(at)}${DUMP_EXT}`;
}

/** `db-20261126T020000Z.dump` → {database, at}; null for anything else (temp files, other files). */
export function parseBackupFileName(file: string): { database: string; at: Date } | null {
  const base = path.basename(file);
  if (base.startsWith('.') || !base.endsWith(DUMP_EXT)) return null;
  const m = /^(.+)-(\d{8}T\d{6}Z)\.dump$/.exec(base);
  if (!m) return null;
  const at = parseUtcStamp(m[2]!);
  return at ? { database: m[1]!, at } : null;
}

export function shaFileFor(dumpFile: string): string {
  return dumpFile.slice(0, -DUMP_EXT.length) + SHA_EXT;
}

export function manifestFileFor(dumpFile: string): string {
  return dumpFile.slice(0, -DUMP_EXT.length) + MANIFEST_EXT;
}

/** Temp name in the same directory; carries host and pid so a later run can sweep its own dead leftovers. */
export function tempFileFor(finalFile: string, host: string, pid: number, token = ''): string {
  return path.join(path.dirname(finalFile), `.${path.basename(finalFile)}.${host.replace(/[^A-Za-z0-9_-]/g, '_')}.${pid}${token ? `-${token}` : ''}.tmp`);
}

export function parseTempFileName(file: string): { final: string; host: string; pid: number } | null {
  const m = /^\.(.+\.dump)\.([A-Za-z0-9_-]+)\.(\d+)(?:-[a-z0-9]+)?\.tmp$/.exec(path.basename(file));
  return m ? { final: m[1]!, host: m[2]!, pid: Number(m[3]) } : null;
}

/** `sha256sum`-compatible line. */
export function shaLine(hex: string, dumpFile: string): string {
  return `${hex}  ${path.basename(dumpFile)}\n`;
}

export function parseShaLine(text: string): string | null {
  const m = /^([a-f0-9]{64})\s/.exec(text.trim() + ' ');
  return m ? m[1]! : null;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface CronLineInput {
  schedule: string;
  /** Absolute path of the config file. */
  configFile: string;
  /** How to run modelship (absolute path of the executable, or `npx modelship`). */
  bin: string;
  dir?: string | undefined;
  direct?: boolean;
  logFile: string;
}

/**
 * A crontab line for hosts that prefer system cron. The schedule is UTC: cronie honours CRON_TZ;
 * Debian's cron does not (convert the hours, or run the host in UTC).
 */
export function cronLine(i: CronLineInput): string {
  const args = [i.bin, 'backup', '--config', i.configFile];
  if (i.direct) args.push('--direct');
  if (i.dir) args.push('--dir', i.dir);
  const cmd = args.map(shellQuote).join(' ');
  return [
    '# modelship backup (schedule in UTC; cronie honours CRON_TZ, Debian cron uses the host time zone)',
    'CRON_TZ=UTC',
    `${i.schedule.trim().split(/\s+/).join(' ')} ${cmd} >> ${shellQuote(i.logFile)} 2>&1`,
  ].join('\n');
}
