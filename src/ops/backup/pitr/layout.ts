/**
 * Where point-in-time recovery keeps its files, under the backup directory. Pure.
 *
 *   pitr/wal/                 the WAL archive (pg_receivewal writes here; `.partial` = the segment being filled)
 *   pitr/wal-abandoned-<ts>/  WAL of a timeline a restore left behind (kept, never replayed by default)
 *   pitr/base/<ts>/data/      a base backup (pg_basebackup -Fp, with its backup_manifest)
 *   pitr/base/<ts>/base.json  what modelship recorded about it (LSNs, times, verification)
 *   pitr/base/<ts>/base.tar.age  instead of data/ with backups.encryption.recipients (age, a tar of base.json + data/)
 *   pitr/base/.<ts>.<pid>.tmp a base backup being written (swept when its process is gone)
 *   pitr/rehearsal.json       the last restore rehearsal (read by doctor and status)
 */
import path from 'node:path';
import { utcStamp } from '../naming.ts';

export const PITR_DIR = 'pitr';

export interface PitrLayout {
  root: string;
  wal: string;
  base: string;
  rehearsal: string;
}

export function pitrLayout(backupDir: string): PitrLayout {
  const root = path.join(backupDir, PITR_DIR);
  return { root, wal: path.join(root, 'wal'), base: path.join(root, 'base'), rehearsal: path.join(root, 'rehearsal.json') };
}

export function baseName(at: Date): string {
  return utcStamp(at);
}

export function baseTempName(name: string, pid: number): string {
  return `.${name}.${pid}.tmp`;
}

export function parseBaseTempName(file: string): { name: string; pid: number } | null {
  const m = /^\.(\d{8}T\d{6}Z)\.(\d+)\.tmp(?:\.tar)?$/.exec(file);
  return m ? { name: m[1]!, pid: Number(m[2]) } : null;
}

export function isBaseName(file: string): boolean {
  return /^\d{8}T\d{6}Z$/.test(file);
}
