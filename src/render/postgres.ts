/**
 * PostgreSQL files: the init script (extensions created on the first start of an empty data
 * volume) and, with backups.pitr.enabled, the server settings WAL streaming needs and a pg_hba.conf
 * that lets the replication role in. Pure.
 */
import { parseSize } from '../util/size.ts';
import type { Config } from '../config/schema.ts';
import type { RenderedFile } from './types.ts';

export const PG_HBA_RENDERED = 'postgres/pg_hba.conf';
export const PG_HBA_IN_CONTAINER = '/etc/modelship/pg_hba.conf';

export function renderPostgresInit(config: Config): RenderedFile[] {
  const lines = [
    '-- Rendered by modelship: runs once, when the PostgreSQL data volume is first initialised.',
    ...config.postgres.extensions.map((e) => `CREATE EXTENSION IF NOT EXISTS "${e}";`),
    '',
  ];
  const files: RenderedFile[] = [{ path: 'postgres/init/10-extensions.sql', content: lines.join('\n') }];
  if (config.backups.pitr.enabled) files.push({ path: PG_HBA_RENDERED, content: renderPgHba(config) });
  return files;
}

/** `postgres -c` settings for point-in-time recovery (none when it is off). */
export function pitrServerArgs(config: Config): string[] {
  const p = config.backups.pitr;
  if (!p.enabled) return [];
  const keepMb = Math.max(1, Math.floor(parseSize(p.maxSlotLag) / (1024 * 1024)));
  return [
    '-c', 'wal_level=replica',
    '-c', 'max_wal_senders=10',
    '-c', 'max_replication_slots=10',
    '-c', `max_slot_wal_keep_size=${keepMb}MB`,
    '-c', `hba_file=${PG_HBA_IN_CONTAINER}`,
  ];
}

/**
 * The official image's rules (trust inside the container, scram-sha-256 from the network) plus one
 * line for the replication role, which the official image's pg_hba does not let in from the network.
 */
export function renderPgHba(config: Config): string {
  const role = config.backups.pitr.replicationUser;
  const rows = [
    ['local', 'all', 'all', '', 'trust'],
    ['host', 'all', 'all', '127.0.0.1/32', 'trust'],
    ['host', 'all', 'all', '::1/128', 'trust'],
    ['local', 'replication', 'all', '', 'trust'],
    ['host', 'replication', 'all', '127.0.0.1/32', 'trust'],
    ['host', 'replication', 'all', '::1/128', 'trust'],
    ['host', 'replication', role, 'all', 'scram-sha-256'],
    ['host', 'all', 'all', 'all', 'scram-sha-256'],
  ];
  const w = [0, 1, 2, 3].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return [
    '# Rendered by modelship (backups.pitr.enabled): PostgreSQL reads this file (hba_file) instead of',
    '# $PGDATA/pg_hba.conf. Change the config and render again; do not edit.',
    ...rows.map((r) => r.map((c, i) => (i < 4 ? c.padEnd(w[i]!) : c)).join('  ')),
    '',
  ].join('\n');
}
