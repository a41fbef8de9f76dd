/**
 * What every database command needs, from the config and the flags: the target (container or
 * `--direct`), the backup directory, retention and schedules. `--direct` with a URL works without
 * a config file (managed databases, hosts without the stack, tests).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { loadConfig, type LoadedConfig } from '../../config/load.ts';
import { UserError } from '../../util/errors.ts';
import type { RetentionPolicy } from './retention.ts';
import { directTarget } from '../../postgres/direct.ts';
import type { DbTarget } from '../../postgres/session.ts';
import { stackPostgresTarget } from '../../swarm/postgres-target.ts';

export interface DbFlags {
  direct?: boolean;
  databaseUrl?: string;
  dir?: string;
}

export interface OpsSettings {
  project: string;
  database: string;
  user: string;
  dir: string;
  retention: RetentionPolicy;
  schedules: { backup: string; vacuum: string; verify: string };
  poolSize: number;
  maxConnections: number;
  configFile: string | null;
  loaded: LoadedConfig | null;
}

export const DEFAULTS = {
  retention: { daily: 7, weekly: 4, monthly: 6 },
  schedules: { backup: '0 2 * * *', vacuum: '0 3 * * 0', verify: '30 4 * * *' },
};

/** `--database-url`, else DATABASE_URL, else built from the config and .env. Pure. */
export function resolveDatabaseUrl(flags: DbFlags, env: NodeJS.ProcessEnv, loaded: Pick<LoadedConfig, 'config' | 'env'> | null): string | null {
  if (flags.databaseUrl) return flags.databaseUrl;
  if (env.DATABASE_URL) return env.DATABASE_URL;
  if (!loaded) return null;
  const c = loaded.config;
  const key = c.secrets.postgresPassword;
  const password = loaded.env[key] ?? env[key];
  const u = new URL('postgres://localhost');
  u.hostname = env.DATABASE_HOST || '127.0.0.1';
  u.port = env.DATABASE_PORT || '5432';
  u.username = c.postgres.user;
  if (password) u.password = password;
  u.pathname = `/${encodeURIComponent(c.postgres.database)}`;
  return u.toString();
}

export async function loadSettings(configFile: string, envFile: string | undefined, flags: DbFlags, env: NodeJS.ProcessEnv, cwd: string): Promise<OpsSettings> {
  const urlGiven = flags.direct === true && Boolean(flags.databaseUrl || env.DATABASE_URL);
  const loaded = urlGiven && !existsSync(configFile) ? null : await loadConfig(configFile, envFile);
  const c = loaded?.config;
  const baseDir = loaded ? loaded.dir : cwd;
  return {
    project: c?.project ?? 'modelship',
    database: c?.postgres.database ?? 'modelship',
    user: c?.postgres.user ?? 'modelship',
    dir: flags.dir ? path.resolve(cwd, flags.dir) : path.resolve(baseDir, c?.backups.dir ?? './backups'),
    retention: c ? { ...c.backups.retention } : DEFAULTS.retention,
    schedules: c ? { backup: c.backups.schedule, vacuum: c.backups.vacuumSchedule, verify: c.backups.verifySchedule } : DEFAULTS.schedules,
    poolSize: c?.postgres.poolSize ?? 20,
    maxConnections: c?.postgres.tuning.maxConnections ?? 100,
    configFile: loaded ? loaded.file : null,
    loaded,
  };
}

export async function openTarget(s: OpsSettings, flags: DbFlags, env: NodeJS.ProcessEnv): Promise<DbTarget> {
  if (flags.direct) {
    const url = resolveDatabaseUrl(flags, env, s.loaded);
    if (!url) throw new UserError('--direct needs a database URL', { hint: 'pass --database-url postgres://user:pass@host:5432/db or set DATABASE_URL', exitCode: 2 });
    try {
      new URL(url);
    } catch {
      throw new UserError('the database URL is not a valid URL', { hint: 'the form is postgres://user:password@host:5432/database (percent-encode special characters)', exitCode: 2 });
    }
    return directTarget(url, env);
  }
  if (flags.databaseUrl) throw new UserError('--database-url only applies with --direct', { exitCode: 2, hint: 'add --direct' });
  const password = s.loaded ? (s.loaded.env[s.loaded.config.secrets.postgresPassword] ?? env[s.loaded.config.secrets.postgresPassword]) : undefined;
  // The stack's container on this engine, or its task on the swarm this engine manages.
  const orchestrator = (s.loaded?.config as { orchestrator?: string } | undefined)?.orchestrator;
  return stackPostgresTarget({ project: s.project, database: s.database, user: s.user, password, env, orchestrator });
}
