/**
 * `modelship doctor`, the I/O half: reads the facts the checks judge. Every read is best effort: a
 * fact that cannot be read becomes an error the check reports, never a crash.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { COMPOSE_LABEL, MS_LABEL } from '../../stack/names.ts';
import { probe, serviceContainers } from '../../docker/engine.ts';
import { certificatePaths, SERVICE } from '../../stack/names.ts';
import { UserError, errorMessage } from '../../util/errors.ts';
import type { StackHandle } from '../stack.ts';
import { ps } from '../containers.ts';
import { viewStack } from '../stack.ts';
import { backupDir, backupFacts, dbFacts, edgeStatus } from '../status.ts';
import { HostStore } from '../../docker/host-state.ts';
import { parseNft, parseUfw, type DoctorFacts, type PublishedPort } from './checks.ts';
import { pitrLayout } from '../backup/pitr/layout.ts';
import { readRehearsal } from '../backup/pitr/rehearsal.ts';
import { queueFacts } from '../backup/remote/sync.ts';
import { checkIdentityFile } from '../../config/identity-file.ts';
import type { LoadedConfig } from '../../config/load.ts';
import { schedulerFacts } from './scheduler.ts';

async function gitTracked(file: string): Promise<boolean | null> {
  const r = await execa('git', ['ls-files', '--error-unmatch', path.basename(file)], { cwd: path.dirname(file), reject: false, timeout: 5000 });
  if (r.exitCode === 0) return true;
  if (/not a git repository/i.test(String(r.stderr)) || r.failed && r.exitCode === undefined) return null;
  return r.exitCode === 1 ? false : null;
}

function certExpiry(pem: string): string {
  return new Date(new X509Certificate(pem).validTo).toISOString();
}

async function readCert(h: StackHandle): Promise<DoctorFacts['cert']> {
  const c = h.loaded.config;
  if (c.tls.mode === 'off') return null;
  if (c.tls.mode === 'custom') {
    const file = path.resolve(h.loaded.dir, c.tls.certFile ?? '');
    try {
      return { source: file, notAfter: certExpiry(await readFile(file, 'utf8')) };
    } catch (err) {
      return { source: file, notAfter: null, error: errorMessage(err) };
    }
  }
  // letsencrypt: the certificate lives in a volume; read it through the nginx container.
  const where = certificatePaths(c)!.cert;
  try {
    const list = await serviceContainers(h.docker, h.project, SERVICE.nginx, { running: true });
    if (!list[0]) return { source: where, notAfter: null, error: 'nginx is not running' };
    const r = await probe(h.docker, list[0].Id, ['CMD', 'cat', where], 5000);
    if (!r.ok) return { source: where, notAfter: null, error: r.output.split('\n')[0] ?? 'unreadable' };
    return { source: `nginx:${where}`, notAfter: certExpiry(r.output) };
  } catch (err) {
    return { source: where, notAfter: null, error: errorMessage(err) };
  }
}

async function publishedPorts(h: StackHandle): Promise<DoctorFacts['published']> {
  try {
    const list = await h.docker.listContainers({ filters: { label: [`${COMPOSE_LABEL.project}=${h.project}`] } });
    const ports: PublishedPort[] = [];
    for (const ct of list) {
      if (ct.Labels[MS_LABEL.internal]) continue;
      for (const p of ct.Ports ?? []) {
        if (p.PublicPort) ports.push({ service: ct.Labels[COMPOSE_LABEL.service] ?? '?', container: (ct.Names[0] ?? ct.Id).replace(/^\//, ''), ip: p.IP ?? '', port: p.PublicPort });
      }
    }
    return { ok: true, ports };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

async function firewall(): Promise<DoctorFacts['firewall']> {
  const ufw = await execa('ufw', ['status'], { reject: false, timeout: 5000 });
  if (ufw.exitCode === 0 && /Status:/.test(String(ufw.stdout))) return { tool: 'ufw', ...parseUfw(String(ufw.stdout)) };
  const nft = await execa('nft', ['list', 'ruleset'], { reject: false, timeout: 5000 });
  if (nft.exitCode === 0 && String(nft.stdout).trim()) return { tool: 'nftables', ...parseNft(String(nft.stdout)) };
  const why = [ufw, nft].map((r, i) => `${i === 0 ? 'ufw' : 'nft'}: ${r.exitCode === undefined ? 'not installed' : String(r.stderr).split('\n')[0] || `exit ${r.exitCode}`}`).join('; ');
  return { tool: null, error: why };
}

async function diskUsage(paths: string[]): Promise<DoctorFacts['disk']> {
  const out: DoctorFacts['disk'] = [];
  const seen = new Set<string>();
  for (let p of paths) {
    while (!existsSync(p) && path.dirname(p) !== p) p = path.dirname(p);
    try {
      const st = await statfs(p);
      const key = `${st.blocks}:${st.bfree}:${st.type}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const used = st.blocks > 0 ? ((st.blocks - st.bavail) / st.blocks) * 100 : 0;
      out.push({ path: p, usedPercent: used });
    } catch {
      // unreadable: skipped
    }
  }
  return out;
}

async function memory(): Promise<DoctorFacts['memory']> {
  try {
    const text = await readFile('/proc/meminfo', 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
    const total = kb('MemTotal');
    const avail = kb('MemAvailable');
    if (total > 0 && !Number.isNaN(avail)) return { usedPercent: ((total - avail) / total) * 100 };
  } catch {
    // not Linux
  }
  return { usedPercent: ((os.totalmem() - os.freemem()) / os.totalmem()) * 100 };
}

async function database(h: StackHandle): Promise<DoctorFacts['db']> {
  try {
    const list = await serviceContainers(h.docker, h.project, SERVICE.postgres, { running: true });
    if (!list[0]) return { ok: false, error: 'no running postgres container' };
    const f = await dbFacts(h, list[0].Id);
    return { ok: true, connections: f.connections, maxConnections: f.maxConnections };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

async function edgeFacts(h: StackHandle): Promise<DoctorFacts['edge']> {
  try {
    const { state } = await HostStore.peek(h.docker, h.project);
    const list = await h.docker.listContainers({ filters: { label: [`${COMPOSE_LABEL.project}=${h.project}`] } });
    const edge = await edgeStatus(h, list.map((c) => ({ service: c.Labels[COMPOSE_LABEL.service] ?? '', state: c.State })), state.activeColor ?? h.loaded.config.api.activeColor);
    return edge ? { ok: edge.ok, summary: edge.summary } : null;
  } catch (err) {
    return { ok: false, summary: `could not ask nginx: ${errorMessage(err)}` };
  }
}

async function services(h: StackHandle): Promise<DoctorFacts['services']> {
  try {
    const [view, report] = await Promise.all([viewStack(h), ps(h)]);
    return {
      ok: true,
      activeColor: report.activeColor,
      expected: view.desired.containers.map((c) => ({ service: c.service, container: c.name })),
      rows: report.containers.map(({ createdAt: _c, ports: _p, healthBy: _b, ...row }) => row),
    };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  }
}

/** What is wrong with backups.remote.identityFile (deploy's own check), or null. */
async function identityProblem(l: LoadedConfig): Promise<{ why: string; fix: string } | null> {
  try {
    await checkIdentityFile(l);
    return null;
  } catch (err) {
    if (err instanceof UserError) return { why: err.message.replace(/; nothing was changed$/, ''), fix: err.hint ?? 'fix backups.remote.identityFile' };
    throw err;
  }
}

export async function gatherFacts(h: StackHandle, now = new Date()): Promise<DoctorFacts> {
  const l = h.loaded;
  const envStat = await stat(l.envFile).catch(() => null);
  const dir = backupDir(h);
  const [tracked, cert, published, fw, backup, disk, mem, db, svc, scheduler, edge] = await Promise.all([
    envStat ? gitTracked(l.envFile).catch(() => null) : Promise.resolve(null),
    readCert(h),
    publishedPorts(h),
    firewall().catch((err: unknown) => ({ tool: null, error: errorMessage(err) }) as const),
    backupFacts(dir, l.config.postgres.database).then(
      (facts) => ({ ok: true, facts }) as const,
      (err: unknown) => ({ ok: false, error: errorMessage(err) }) as const,
    ),
    diskUsage(['/', dir, l.dir]),
    memory(),
    database(h),
    services(h),
    schedulerFacts(h.docker, h.project).catch(() => undefined),
    edgeFacts(h),
  ]);
  const rel = path.relative(process.cwd(), l.envFile);
  return {
    now: now.toISOString(),
    config: l.config,
    configFile: l.file,
    env: l.env,
    envFile: { path: rel && !rel.startsWith('..') ? rel : l.envFile, exists: envStat !== null, mode: envStat ? envStat.mode : null, tracked },
    cert,
    published,
    firewall: fw,
    backup,
    disk,
    memory: mem,
    db,
    ...(l.config.backups.pitr.enabled ? { pitr: { rehearsal: await readRehearsal(pitrLayout(dir).rehearsal) } } : {}),
    ...(l.config.backups.remote.url ? { remote: { ...(await queueFacts(dir, now.getTime())), keyProblem: await identityProblem(l) } } : {}),
    services: svc,
    ...(scheduler ? { scheduler } : {}),
    edge,
  };
}
