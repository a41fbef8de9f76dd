/**
 * The stack's lock and audit log on a swarm, kept in the cluster's raft store as Swarm configs so
 * every manager sees the same truth: the lock is one config whose name is unique (creating it is
 * the atomic acquire), each audit entry is one small config labelled with the project. The active
 * colour lives on the nginx service (label SWARM_LABEL.activeColor), the release image on each
 * colour's service: nothing is kept on the operator's machine.
 */
import os from 'node:os';
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { pidAlive } from '../util/process.ts';
import { SWARM_LABEL } from '../stack/names.ts';

export const AUDIT_LABEL = SWARM_LABEL.audit;
const LOCK_LABEL = SWARM_LABEL.lock;

export function lockConfigName(project: string): string {
  return `${project}_modelship-lock`;
}

interface LockHolder {
  operation: string;
  host: string;
  pid: number;
  at: string;
}

export interface SwarmLock {
  release(): Promise<void>;
  brokeStale?: string;
}

function describe(h: LockHolder): string {
  return `${h.operation} (pid ${h.pid} on ${h.host}, since ${h.at})`;
}

async function holder(docker: Docker, name: string): Promise<{ id: string; holder: LockHolder } | null> {
  const list = (await docker.listConfigs({ filters: { name: [name] } })) as Array<{ ID: string; Spec?: { Name?: string; Data?: string } }>;
  const c = list.find((x) => x.Spec?.Name === name);
  if (!c) return null;
  const full = (await docker.getConfig(c.ID).inspect()) as { Spec?: { Data?: string } };
  try {
    return { id: c.ID, holder: JSON.parse(Buffer.from(full.Spec?.Data ?? '', 'base64').toString('utf8')) as LockHolder };
  } catch {
    return { id: c.ID, holder: { operation: '?', host: '?', pid: 0, at: '?' } };
  }
}

export async function acquireSwarmLock(docker: Docker, project: string, operation: string, opts: { force: boolean }): Promise<SwarmLock> {
  const name = lockConfigName(project);
  const me: LockHolder = { operation, host: os.hostname(), pid: process.pid, at: new Date().toISOString() };
  let brokeStale: string | undefined;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const r = (await docker.createConfig({ Name: name, Labels: { [SWARM_LABEL.namespace]: project, [SWARM_LABEL.project]: project, [LOCK_LABEL]: project }, Data: Buffer.from(JSON.stringify(me)).toString('base64') })) as { id?: string; ID?: string };
      const id = (r as { id?: string }).id ?? (r as { ID?: string }).ID ?? name;
      return {
        ...(brokeStale ? { brokeStale } : {}),
        release: async () => {
          await docker.getConfig(id).remove().catch(() => undefined);
        },
      };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) throw err;
      const h = await holder(docker, name);
      if (!h) continue;
      // A holder on this machine whose process is gone is stale for sure.
      const dead = h.holder.host === os.hostname() && h.holder.pid > 0 && !pidAlive(h.holder.pid);
      if (!opts.force && !dead) {
        throw new UserError(`${operation}: stack ${project} is locked by ${describe(h.holder)}`, {
          hint: `wait for it to finish; if that command died on another machine, run again with --force (the lock is the swarm config ${name})`,
        });
      }
      brokeStale = describe(h.holder);
      await docker.getConfig(h.id).remove().catch(() => undefined);
    }
  }
  throw new UserError(`${operation}: could not take the lock of stack ${project}`, { hint: 'another command took it meanwhile; try again' });
}

export interface AuditEntry {
  at: string;
  command: string;
  result: 'started' | 'ok' | 'failed' | 'refused';
  detail?: string;
  durationMs?: number;
  host: string;
}

export async function auditSwarm(docker: Docker, project: string, e: Omit<AuditEntry, 'at' | 'host'>): Promise<void> {
  const entry: AuditEntry = { at: new Date().toISOString(), host: os.hostname(), ...e };
  const stamp = entry.at.replace(/[-:.TZ]/g, '').slice(0, 17);
  const name = `${project}_audit_${stamp}_${Math.random().toString(36).slice(2, 8)}`;
  await docker.createConfig({ Name: name, Labels: { [SWARM_LABEL.namespace]: project, [SWARM_LABEL.project]: project, [AUDIT_LABEL]: project }, Data: Buffer.from(JSON.stringify(entry)).toString('base64') });
}

export async function readSwarmAudit(docker: Docker, project: string, last: number): Promise<AuditEntry[]> {
  const list = (await docker.listConfigs({ filters: { label: [`${AUDIT_LABEL}=${project}`] } })) as Array<{ Spec?: { Data?: string } }>;
  const entries: AuditEntry[] = [];
  for (const c of list) {
    try {
      entries.push(JSON.parse(Buffer.from(c.Spec?.Data ?? '', 'base64').toString('utf8')) as AuditEntry);
    } catch {
      // An entry someone else wrote under our label: skip it.
    }
  }
  return entries.sort((a, b) => a.at.localeCompare(b.at)).slice(-last);
}
