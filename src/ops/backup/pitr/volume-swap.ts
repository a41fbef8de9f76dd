/**
 * A point-in-time restore into the stack's postgres data volume, as shell steps run in throwaway
 * containers of the postgres image. Pure: names, scripts and the reading of their output.
 *
 * The stack mounts the volume at /var/lib/postgresql/data and runs PGDATA=…/pgdata, a directory
 * inside it. So the restore builds its cluster beside the live one, in the same volume (same
 * filesystem): the swap is two renames, the old data directory is kept whole, the live one is not
 * read or written until the new one has replayed its WAL, started and passed its checks.
 *
 *   pgdata/                  the live data directory (PGDATA)
 *   restore-<ts>/            the cluster being rebuilt (base backup copy + recovery.signal)
 *   restore-<ts>.wal/        the WAL it replays (staged from the archive)
 *   restore-<ts>.hba         the scratch server's pg_hba: local trust only (it has no network)
 *   restore-<ts>.proven      written once the rebuilt cluster passed its checks: "swap this in"
 *   pre-restore-<ts>/        the data directory it replaced (kept; deleted by hand)
 *
 * Why physical and not "dump the recovered database and swap it in as a database": the rebuilt
 * cluster keeps the stack's system identifier and continues on a new timeline, so the existing
 * base backups and the WAL archive stay valid for the next restore (a dump into a fresh cluster
 * would break the chain and need a new base backup first); every database and role comes back, not
 * one; the swap costs two renames instead of a dump and a restore of the whole database; and the
 * destroyed-volume case, where there is no server to restore a dump into, is the same path.
 * The price: postgres is stopped for the swap (seconds), and the volume needs room for a second copy.
 */
import { PITR_RESTORE_LABEL } from '../../../stack/names.ts';

/** Where the stack mounts the data volume, and the live data directory inside it. */
export const VOLUME_MOUNT = '/var/lib/postgresql/data';
export const LIVE_DIR = 'pgdata';
/** Where the helper containers see the backup directory's pitr/ (read-only). */
export const ARCHIVE_MOUNT = '/pitr';
/** Where the helper containers see their script. */
export const JOB_MOUNT = '/job';
/** Label on every container a stack restore creates: the project; and the pid that made it. */
export const RESTORE_LABEL = PITR_RESTORE_LABEL.marker;
export const RESTORE_PID_LABEL = PITR_RESTORE_LABEL.pid;
export const RESTORE_HOST_LABEL = PITR_RESTORE_LABEL.host;

export interface VolumeNames {
  dir: string;
  wal: string;
  hba: string;
  proven: string;
  previous: string;
}

export function volumeNames(stamp: string): VolumeNames {
  if (!/^[0-9A-Za-z]+$/.test(stamp)) throw new Error(`bad restore stamp ${stamp}`);
  const dir = `restore-${stamp}`;
  return { dir, wal: `${dir}.wal`, hba: `${dir}.hba`, proven: `${dir}.proven`, previous: `pre-restore-${stamp}` };
}

export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface StageCopy {
  /** Path in the helper container (under ARCHIVE_MOUNT). */
  from: string;
  /** File name in the staged WAL directory. */
  name: string;
}

/**
 * Builds restore-<ts>/ from a base backup and stages the WAL (as root, then hands it to postgres).
 * `mkdir` of a name that exists fails: two restores never share a directory.
 */
export function buildScript(stamp: string, baseData: string, copies: readonly StageCopy[], root = VOLUME_MOUNT): string {
  const n = volumeNames(stamp);
  const lines = [
    'set -eu',
    `cd ${root}`,
    `mkdir ${n.dir} ${n.wal}`,
    `cp -a ${shq(baseData)}/. ${n.dir}/`,
    `rm -f ${n.dir}/backup_manifest ${n.dir}/postmaster.pid`,
    // A base backup of a Debian-style cluster keeps its config in /etc: the server needs a file here.
    `[ -f ${n.dir}/postgresql.conf ] || : > ${n.dir}/postgresql.conf`,
    `: > ${n.dir}/recovery.signal`,
    `printf 'local all all trust\\n' > ${n.hba}`,
    // The receiver renames the segment it fills once it is complete: a `.partial` gone by now is the full one.
    ...copies.map((c) =>
      c.from.endsWith('.partial')
        ? `cp ${shq(c.from)} ${n.wal}/${shq(c.name)} 2>/dev/null || cp ${shq(c.from.slice(0, -'.partial'.length))} ${n.wal}/${shq(c.name)}`
        : `cp ${shq(c.from)} ${n.wal}/${shq(c.name)}`,
    ),
    `chown -R postgres:postgres ${n.dir} ${n.wal} ${n.hba}`,
    `chmod 700 ${n.dir} ${n.wal}`,
    `chmod 600 ${n.hba}`,
    'sync',
    `echo built ${n.dir}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** The scratch server: no network, a private hba, recovery settings on its command line only. */
export function scratchServerArgs(stamp: string, recovery: Record<string, string>): string[] {
  const n = volumeNames(stamp);
  const all: Record<string, string> = {
    listen_addresses: '',
    unix_socket_directories: '/var/run/postgresql',
    hba_file: `${VOLUME_MOUNT}/${n.hba}`,
    archive_mode: 'off',
    ssl: 'off',
    logging_collector: 'off',
    log_destination: 'stderr',
    hot_standby: 'on',
    ...recovery,
  };
  const args = ['-D', `${VOLUME_MOUNT}/${n.dir}`];
  for (const [k, v] of Object.entries(all)) args.push('-c', `${k}=${v}`);
  return args;
}

/** The mark that the rebuilt cluster passed its checks and may replace the live one. */
export function proveScript(stamp: string, root = VOLUME_MOUNT): string {
  const n = volumeNames(stamp);
  return `set -eu\ncd ${root}\ntest -d ${n.dir}\n: > ${n.proven}\nsync\n`;
}

/**
 * The swap (postgres stopped): the live directory renamed aside, the proven one renamed in. Two
 * renames in one script in a container of its own: a killed CLI does not interrupt it, and a
 * half-done swap (pgdata missing, the proven directory still there) is finished by `repairScript`.
 */
export function swapScript(stamp: string, root = VOLUME_MOUNT): string {
  const n = volumeNames(stamp);
  return [
    'set -eu',
    `cd ${root}`,
    `test -f ${n.proven}`,
    `if [ -e ${LIVE_DIR} ]; then mv ${LIVE_DIR} ${n.previous}; echo kept ${n.previous}; fi`,
    `mv ${n.dir} ${LIVE_DIR}`,
    'sync',
    `rm -rf ${n.wal} ${n.hba} ${n.proven}`,
    `echo swapped ${n.dir}`,
    '',
  ].join('\n');
}

/**
 * Run before every stack restore (postgres stopped when `restore-*.proven` exists): a proven
 * cluster whose swap was cut short (no pgdata) is put in place; everything else a killed restore
 * left (unproven directories, staged WAL, marks) is removed. pre-restore-* is never touched.
 */
export function repairScript(root = VOLUME_MOUNT): string {
  return [
    'set -eu',
    `cd ${root}`,
    'for m in restore-*.proven; do',
    '  [ -e "$m" ] || continue',
    '  x="${m%.proven}"',
    `  if [ ! -e ${LIVE_DIR} ] && [ -d "$x" ]; then mv "$x" ${LIVE_DIR}; sync; echo "finished $x"; fi`,
    '  echo "marked $x"',
    'done',
    'for x in restore-*; do',
    '  [ -e "$x" ] || continue',
    '  rm -rf "$x"',
    '  echo "removed $x"',
    'done',
    `if [ -e ${LIVE_DIR}/PG_VERSION ]; then echo live; fi`,
    'ls -1d pre-restore-* 2>/dev/null | sed "s/^/kept /" || true',
    '',
  ].join('\n');
}

export interface RepairReport {
  /** Restore directories whose swap was finished now. */
  finished: string[];
  /** A restore had decided to swap (it may have stopped postgres): start postgres again. */
  hadPendingSwap: boolean;
  removed: string[];
  /** pgdata holds a data directory. */
  live: boolean;
  kept: string[];
}

export function parseRepair(output: string): RepairReport {
  const r: RepairReport = { finished: [], hadPendingSwap: false, removed: [], live: false, kept: [] };
  for (const line of output.split('\n')) {
    const [word, arg] = [line.slice(0, line.indexOf(' ') < 0 ? line.length : line.indexOf(' ')), line.slice(line.indexOf(' ') + 1)];
    if (word === 'finished') r.finished.push(arg);
    else if (word === 'marked') r.hadPendingSwap = true;
    else if (word === 'removed' && !/\.(wal|hba|proven)$/.test(arg)) r.removed.push(arg);
    else if (word === 'live') r.live = true;
    else if (word === 'kept') r.kept.push(arg);
  }
  return r;
}
