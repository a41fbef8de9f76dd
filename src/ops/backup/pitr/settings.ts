/** The point-in-time recovery settings every PITR command needs, from the config and `.env`. */
import { parseSize } from '../../../util/size.ts';
import { UserError } from '../../../util/errors.ts';
import type { OpsSettings } from '../context.ts';
import { pitrLayout, type PitrLayout } from './layout.ts';

export interface PitrSettings {
  enabled: boolean;
  slot: string;
  replicationUser: string;
  replicationPassword: string | undefined;
  passwordKey: string;
  baseSchedule: string;
  keepBaseBackups: number;
  lagAlertSeconds: number;
  maxSlotLagBytes: number;
  rehearsalMaxAgeDays: number;
  /** backups.encryption.recipients: base backups and complete WAL segments are sealed with age. */
  recipients: string[];
  layout: PitrLayout;
}

export function pitrSettings(s: OpsSettings, env: NodeJS.ProcessEnv): PitrSettings {
  const c = s.loaded?.config;
  const p = c?.backups.pitr;
  const key = c?.secrets.replicationPassword ?? 'REPLICATION_PASSWORD';
  return {
    enabled: p?.enabled ?? false,
    slot: p?.slot ?? 'modelship_pitr',
    replicationUser: p?.replicationUser ?? 'modelship_replication',
    replicationPassword: s.loaded?.env[key] ?? env[key],
    passwordKey: key,
    baseSchedule: p?.baseSchedule ?? '0 1 * * 0',
    keepBaseBackups: p?.keepBaseBackups ?? 2,
    lagAlertSeconds: p?.lagAlertSeconds ?? 60,
    maxSlotLagBytes: parseSize(p?.maxSlotLag ?? '10GB'),
    rehearsalMaxAgeDays: p?.rehearsalMaxAgeDays ?? 8,
    recipients: [...(c?.backups.encryption.recipients ?? [])],
    layout: pitrLayout(s.dir),
  };
}

export function requirePassword(p: PitrSettings): string {
  if (!p.replicationPassword) {
    throw new UserError(`no password for the replication role ${p.replicationUser}: ${p.passwordKey} is not set in .env`, {
      hint: `add ${p.passwordKey}=<random> to .env (openssl rand -base64 24), or run \`modelship init\` in a new directory and copy it`,
    });
  }
  return p.replicationPassword;
}
