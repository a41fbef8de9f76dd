/**
 * `modelship doctor`: the deployment guide's security and operations checklist as pure checks over
 * gathered facts (gather.ts does the I/O). Each check says pass / warn / fail, why, and the command
 * or config line that fixes it. Security settings that only matter in production (TLS, CORS, rate
 * limits, firewall) fail in production and warn elsewhere; file modes, secrets, exposure of the data
 * stores and backups fail everywhere.
 */
import type { Config } from '../../config/schema.ts';
import { parseSizeOr } from '../../util/size.ts';
import { isStandby, type BackupFacts, type ContainerRow } from '../status-model.ts';
import { judgeRehearsal, type Rehearsal } from '../backup/pitr/rehearsal.ts';
import { checkScheduler, type SchedulerFacts } from './scheduler.ts';

import type { CheckResult, CheckStatus } from './result.ts';

export type { CheckResult, CheckStatus };

export interface PublishedPort {
  service: string;
  container: string;
  ip: string;
  port: number;
}

export interface DoctorFacts {
  now: string;
  config: Config;
  /** Path of the config file as the user knows it (for fix lines). */
  configFile: string;
  env: Record<string, string>;
  envFile: { path: string; exists: boolean; mode: number | null; tracked: boolean | null };
  /** null when TLS is off. */
  cert: { source: string; notAfter: string | null; error?: string } | null;
  published: { ok: true; ports: PublishedPort[] } | { ok: false; error: string };
  firewall: { tool: 'ufw' | 'nftables'; active: boolean; openPorts: number[] } | { tool: null; error: string };
  backup: { ok: true; facts: BackupFacts } | { ok: false; error: string };
  disk: Array<{ path: string; usedPercent: number }>;
  memory: { usedPercent: number } | null;
  db: { ok: true; connections: number; maxConnections: number } | { ok: false; error: string };
  /** A request through nginx to /health against the active colour; absent when nothing is deployed. */
  edge?: { ok: boolean; summary: string } | null;
  /** With backups.pitr.enabled: the last restore rehearsal. */
  pitr?: { rehearsal: Rehearsal | null };
  /** With backups.remote.url: the local queue of copies not yet off-site. */
  remote?: { pending: number; lagSeconds: number; oldest: string | null; lastError: string | null; keyProblem?: { why: string; fix: string } | null };
  /** The containers deploy would run (active colour, enabled profiles) and what the engine has. */
  services: { ok: true; activeColor: string | null; expected: Array<{ service: string; container: string }>; rows: ContainerRow[] } | { ok: false; error: string };
  /** The db-backup container, when gathered from a stack. */
  scheduler?: SchedulerFacts;
}

const WEAK = /^(change[-_ ]?me|changeme.*|secret|password|passw0rd|admin|default|example|test|xxx+|your[-_].*|todo|replace[-_ ]?me.*)$/i;
const PUBLIC_IPS = new Set(['0.0.0.0', '::', '']);
const DAY = 86_400_000;

function prodOnly(c: Config, status: CheckStatus): CheckStatus {
  return status === 'fail' && c.environment !== 'production' ? 'warn' : status;
}

export function checkSecrets(f: DoctorFacts): CheckResult {
  const c = f.config;
  const problems: string[] = [];
  const need: Array<[string, string, number]> = [
    ['secretKey', c.secrets.secretKey, 32],
    ['postgresPassword', c.secrets.postgresPassword, 16],
    ['redisPassword', c.secrets.redisPassword, 16],
  ];
  if (c.monitoring.grafana.enabled) need.push(['grafanaAdminPassword', c.secrets.grafanaAdminPassword, 12]);
  if (c.backups.pitr.enabled) need.push(['replicationPassword', c.secrets.replicationPassword, 16]);
  for (const [name, key, min] of need) {
    const v = f.env[key];
    if (v === undefined || v === '') problems.push(`${key} is missing`);
    else if (WEAK.test(v)) problems.push(`${key} is a default/placeholder value`);
    else if (v.length < min) problems.push(`${key} has ${v.length} characters (secrets.${name} wants at least ${min})`);
  }
  if (problems.length === 0) return { id: 'secrets', title: 'secret keys changed and long enough', status: 'pass', why: `${need.map((n) => n[1]).join(', ')} set, not defaults, long enough` };
  return {
    id: 'secrets',
    title: 'secret keys changed and long enough',
    status: 'fail',
    why: problems.join('; '),
    fix: `put a fresh value in ${f.envFile.path} for each: openssl rand -base64 32 (or \`modelship init --force\` on a new install)`,
  };
}

export function checkEnvMode(f: DoctorFacts): CheckResult {
  const title = '.env readable by its owner only (0600)';
  if (!f.envFile.exists || f.envFile.mode === null) return { id: 'env-mode', title, status: 'warn', why: `no ${f.envFile.path}: secrets come from the environment` };
  const mode = f.envFile.mode & 0o777;
  if ((mode & 0o077) === 0) return { id: 'env-mode', title, status: 'pass', why: `mode ${mode.toString(8).padStart(4, '0')}` };
  return { id: 'env-mode', title, status: 'fail', why: `mode ${mode.toString(8).padStart(4, '0')}: other users on this host can read the secrets`, fix: `chmod 600 ${f.envFile.path}` };
}

export function checkEnvGit(f: DoctorFacts): CheckResult {
  const title = '.env not tracked by git';
  if (f.envFile.tracked === null) return { id: 'env-git', title, status: 'pass', why: 'not inside a git work tree' };
  if (!f.envFile.tracked) return { id: 'env-git', title, status: 'pass', why: 'not tracked' };
  return { id: 'env-git', title, status: 'fail', why: 'the secrets file is committed: every clone has the secrets', fix: `git rm --cached ${f.envFile.path} && echo .env >> .gitignore, then rotate every secret in it` };
}

export function checkTls(f: DoctorFacts): CheckResult {
  const c = f.config;
  const title = 'TLS configured, certificate valid for 21 days or more';
  if (c.tls.mode === 'off' || !f.cert) {
    return { id: 'tls', title, status: prodOnly(c, 'fail'), why: 'tls.mode is off: traffic and API keys travel in clear text', fix: 'tls: {mode: letsencrypt, email: you@example.com} in the config, then `modelship deploy`' };
  }
  if (!f.cert.notAfter) {
    return {
      id: 'tls',
      title,
      status: prodOnly(c, 'fail'),
      why: `no certificate readable at ${f.cert.source}${f.cert.error ? ` (${f.cert.error})` : ''}`,
      fix: c.tls.mode === 'custom' ? 'point tls.certFile / tls.keyFile at your PEM files' : 'check the certbot service logs: `modelship logs certbot`',
    };
  }
  const days = (Date.parse(f.cert.notAfter) - Date.parse(f.now)) / DAY;
  if (days < 0) return { id: 'tls', title, status: 'fail', why: `the certificate expired ${f.cert.notAfter.slice(0, 10)}`, fix: c.tls.mode === 'custom' ? 'install a renewed certificate at tls.certFile' : '`modelship logs certbot`: renewal is failing' };
  if (days < 21) return { id: 'tls', title, status: 'fail', why: `the certificate expires in ${Math.floor(days)} days (${f.cert.notAfter.slice(0, 10)})`, fix: c.tls.mode === 'custom' ? 'renew it and replace tls.certFile' : '`modelship logs certbot`: it should have renewed 30 days before expiry' };
  return { id: 'tls', title, status: 'pass', why: `${c.tls.mode}; expires ${f.cert.notAfter.slice(0, 10)} (${Math.floor(days)} days)` };
}

export function checkCors(f: DoctorFacts): CheckResult {
  const c = f.config;
  const title = 'CORS not open to every origin in production';
  if (c.cors.origins.includes('*')) {
    return { id: 'cors', title, status: prodOnly(c, 'fail'), why: 'cors.origins contains "*": any web page can call the API with a visitor\'s browser', fix: 'cors: {origins: [https://app.example.com]} in the config' };
  }
  return { id: 'cors', title, status: 'pass', why: c.cors.origins.length ? `allowed: ${c.cors.origins.join(', ')}` : 'no cross-origin access' };
}

export function checkLimits(f: DoctorFacts): CheckResult {
  const c = f.config;
  const title = 'rate limiting and upload limits on';
  const problems: string[] = [];
  if (!c.rateLimit.enabled) problems.push('rateLimit.enabled is false');
  const req = parseSizeOr(c.limits.maxRequestSize) ?? NaN;
  const file = parseSizeOr(c.limits.maxFileSize) ?? NaN;
  if (req > 2 * 1024 ** 3) problems.push(`limits.maxRequestSize ${c.limits.maxRequestSize} is above 2GiB`);
  if (file > req) problems.push(`limits.maxFileSize ${c.limits.maxFileSize} is above limits.maxRequestSize ${c.limits.maxRequestSize}`);
  if (problems.length) return { id: 'limits', title, status: prodOnly(c, 'fail'), why: problems.join('; '), fix: 'rateLimit: {enabled: true} and limits: {maxFileSize: 50MB, maxRequestSize: 500MB} in the config' };
  return { id: 'limits', title, status: 'pass', why: `${c.rateLimit.perMinute}/min per key (nginx ${c.rateLimit.nginx.ratePerSecond}/s per IP); uploads ≤ ${c.limits.maxFileSize} per file, ${c.limits.maxRequestSize} per request` };
}

export function checkPublished(f: DoctorFacts): CheckResult {
  const title = 'only nginx published on public interfaces';
  if (!f.published.ok) return { id: 'published-ports', title, status: 'warn', why: `could not read the live containers: ${f.published.error}`, fix: 'run where the Docker Engine is reachable (or pass --host)' };
  const bad = f.published.ports.filter((p) => p.service !== 'nginx' && PUBLIC_IPS.has(p.ip));
  if (bad.length) {
    return {
      id: 'published-ports',
      title,
      status: 'fail',
      why: `published on all interfaces: ${bad.map((p) => `${p.container} :${p.port}`).join(', ')}`,
      fix: 'publish these on 127.0.0.1 at most (the rendered stack does: redeploy with `modelship deploy`, and remove containers started by hand)',
    };
  }
  const nginx = f.published.ports.filter((p) => p.service === 'nginx');
  return { id: 'published-ports', title, status: 'pass', why: nginx.length ? `nginx on ${[...new Set(nginx.map((p) => `${p.ip || '*'}:${p.port}`))].join(', ')}; nothing else public` : 'nothing is published publicly' };
}

export function checkDataStores(f: DoctorFacts): CheckResult {
  const c = f.config;
  const title = 'PostgreSQL and Redis not reachable from outside';
  const problems: string[] = [];
  if (f.published.ok) {
    for (const p of f.published.ports) {
      if ((p.service === 'postgres' || p.service === 'redis') && p.ip !== '127.0.0.1' && p.ip !== '::1') problems.push(`${p.container} published on ${p.ip || '*'}:${p.port}`);
    }
  }
  if (problems.length) return { id: 'data-stores', title, status: 'fail', why: problems.join('; '), fix: 'postgres.publish / redis.publish publish on 127.0.0.1 only: `modelship deploy` recreates them; tunnel with ssh -L for remote access' };
  const local = [c.postgres.publish ? `postgres on 127.0.0.1:${c.postgres.port}` : '', c.redis.publish ? `redis on 127.0.0.1:${c.redis.port}` : ''].filter(Boolean);
  return { id: 'data-stores', title, status: f.published.ok ? 'pass' : 'warn', why: `${local.length ? `${local.join(', ')} (loopback only)` : 'not published'}${f.published.ok ? '' : '; live containers not readable'}` };
}

export function checkFirewall(f: DoctorFacts): CheckResult {
  const c = f.config;
  const title = 'firewall allows only 22/80/443';
  const fw = f.firewall;
  if (fw.tool === null) return { id: 'firewall', title, status: 'warn', why: `no firewall rules readable: ${fw.error}`, fix: 'run doctor as root to read them; enable one: ufw default deny incoming && ufw allow 22,80,443/tcp && ufw enable' };
  if (!fw.active) return { id: 'firewall', title, status: prodOnly(c, 'fail'), why: `${fw.tool} is installed but not active`, fix: 'ufw default deny incoming && ufw allow 22,80,443/tcp && ufw enable' };
  const allowed = new Set([22, 80, 443, c.ports.http, c.ports.https]);
  const extra = fw.openPorts.filter((p) => !allowed.has(p));
  if (extra.length) return { id: 'firewall', title, status: prodOnly(c, 'fail'), why: `${fw.tool} also allows ${extra.join(', ')}`, fix: `${fw.tool === 'ufw' ? `ufw delete allow ${extra[0]}` : 'remove the accept rules for those ports from /etc/nftables.conf'} (and the others)` };
  return { id: 'firewall', title, status: 'pass', why: `${fw.tool} active; open: ${fw.openPorts.join(', ') || 'none'}` };
}

export function checkBackupAge(f: DoctorFacts): CheckResult {
  const c = f.config;
  const max = c.monitoring.alerts.backupMaxAgeHours;
  const title = `last backup younger than ${max} h and verified`;
  if (!f.backup.ok) return { id: 'backup-age', title, status: 'fail', why: `cannot read the backups: ${f.backup.error}`, fix: `check backups.dir (${c.backups.dir})` };
  const b = f.backup.facts;
  const fix = 'modelship backup (and schedule it: the db-backup service, or `modelship backup --print-cron` for system cron)';
  if (!b.lastAt) return { id: 'backup-age', title, status: 'fail', why: `no backup in ${c.backups.dir}`, fix };
  const age = (Date.parse(f.now) - Date.parse(b.lastAt)) / 3_600_000;
  if (age > max) return { id: 'backup-age', title, status: 'fail', why: `the last backup is ${Math.round(age)} h old (${b.lastAt})`, fix };
  if (!b.lastVerified) return { id: 'backup-age', title, status: 'fail', why: `the last backup (${b.lastAt}) is not verified`, fix: 'modelship backup verify' };
  return { id: 'backup-age', title, status: 'pass', why: `last backup ${age < 1 ? `${Math.round(age * 60)} min` : `${Math.round(age)} h`} old, verified` };
}

export function checkRestoreTest(f: DoctorFacts): CheckResult {
  const title = 'restore tested within 90 days';
  const sealed = f.config.backups.encryption.recipients.length > 0;
  const fix = sealed
    ? 'modelship restore --verify-only --identity key.txt FILE (restores the backup into a scratch database and drops it); the backups are encrypted, so the scheduler cannot test them: run it where the key is'
    : 'modelship restore --verify-only (restores the newest backup into a scratch database and drops it)';
  if (!f.backup.ok) return { id: 'restore-test', title, status: 'fail', why: `cannot read the backups: ${f.backup.error}`, fix };
  const at = f.backup.facts.restoreTestedAt;
  if (!at) return { id: 'restore-test', title, status: 'fail', why: 'no test restore recorded', fix };
  const days = (Date.parse(f.now) - Date.parse(at)) / DAY;
  if (days > 90) return { id: 'restore-test', title, status: 'fail', why: `the last test restore was ${Math.floor(days)} days ago`, fix };
  return { id: 'restore-test', title, status: 'pass', why: `last test restore ${at.slice(0, 10)} (${Math.floor(days)} days ago)` };
}

/** Only with backups.pitr.enabled (null otherwise). */
export function checkPitrRehearsal(f: DoctorFacts): CheckResult | null {
  const max = f.config.backups.pitr.rehearsalMaxAgeDays;
  const title = `point-in-time restore rehearsed within ${max} days`;
  if (!f.config.backups.pitr.enabled || !f.pitr) return null;
  const j = judgeRehearsal(f.pitr.rehearsal, max, new Date(f.now));
  return { id: 'pitr-rehearsal', title, status: j.status, why: j.why, ...(j.status === 'pass' ? {} : { fix: `modelship restore --to-latest --verify-only${f.config.backups.encryption.recipients.length > 0 ? ' --identity key.txt' : ''} (rebuilds a scratch copy beside the live data, replays the WAL, checks it, swaps nothing)` }) };
}

/** Only with backups.remote.url (null otherwise): copies waiting too long, or leaving unencrypted. */
export function checkRemoteCopies(f: DoctorFacts): CheckResult | null {
  const r = f.config.backups.remote;
  if (!r.url || !f.remote) return null;
  const title = `off-site copies within ${r.lagAlertSeconds}s (${r.url})`;
  const q = f.remote;
  // The SFTP key db-backup reads on its next start: missing or unusable fails that start.
  if (q.keyProblem) return { id: 'remote-copies', title, status: 'fail', why: q.keyProblem.why, fix: q.keyProblem.fix };
  if (q.lagSeconds > r.lagAlertSeconds) {
    return { id: 'remote-copies', title, status: 'fail', why: `${q.pending} file(s) not copied off-site, the oldest queued ${q.oldest} (${Math.round(q.lagSeconds)}s)${q.lastError ? `; last error: ${q.lastError}` : ''}`, fix: 'modelship backup push (says what the remote refused); check the db-backup logs' };
  }
  if (f.config.backups.encryption.recipients.length === 0) {
    return { id: 'remote-copies', title, status: 'warn', why: `${q.pending ? `${q.pending} pending; ` : ''}copies leave this server unencrypted`, fix: 'age-keygen -o key.txt on another machine, then put its public key in backups.encryption.recipients' };
  }
  return { id: 'remote-copies', title, status: 'pass', why: q.pending ? `${q.pending} pending, the oldest ${Math.round(q.lagSeconds)}s; encrypted (age)` : 'nothing pending; encrypted (age)' };
}

export function checkDisk(f: DoctorFacts): CheckResult {
  const t = f.config.monitoring.alerts.diskUsedPercent;
  const title = `disk below ${t} % used`;
  if (f.disk.length === 0) return { id: 'disk', title, status: 'warn', why: 'no filesystem readable' };
  const worst = [...f.disk].sort((a, b) => b.usedPercent - a.usedPercent)[0]!;
  const desc = `${worst.path} ${worst.usedPercent.toFixed(0)} % used`;
  if (worst.usedPercent >= t) return { id: 'disk', title, status: 'fail', why: desc, fix: 'free space: docker system prune, `modelship backup prune`, or grow the disk' };
  if (worst.usedPercent >= t - 10) return { id: 'disk', title, status: 'warn', why: `${desc} (within 10 points of ${t} %)`, fix: 'docker system prune; `modelship backup prune`' };
  return { id: 'disk', title, status: 'pass', why: desc };
}

export function checkMemory(f: DoctorFacts): CheckResult {
  const t = f.config.monitoring.alerts.memoryUsedPercent;
  const title = `memory below ${t} % used`;
  if (!f.memory) return { id: 'memory', title, status: 'warn', why: 'memory not readable' };
  const desc = `${f.memory.usedPercent.toFixed(0)} % used`;
  if (f.memory.usedPercent >= t) return { id: 'memory', title, status: 'fail', why: desc, fix: 'lower api.workers / api.memoryLimit / workers.replicas, or add memory' };
  return { id: 'memory', title, status: 'pass', why: desc };
}

export function checkConnections(f: DoctorFacts): CheckResult {
  const c = f.config;
  const t = c.monitoring.alerts.connectionsPercent;
  const title = `database connections below ${t} % of max_connections`;
  if (!f.db.ok) return { id: 'connections', title, status: 'warn', why: `database not readable: ${f.db.error}`, fix: 'is the postgres service running? `modelship ps`' };
  const pct = f.db.maxConnections ? (f.db.connections / f.db.maxConnections) * 100 : 0;
  const processes = 2 + c.workers.replicas;
  const demand = processes * c.postgres.poolSize;
  const desc = `${f.db.connections}/${f.db.maxConnections} (${pct.toFixed(0)} %); pools may open up to ${demand} (${processes} processes × postgres.poolSize ${c.postgres.poolSize})`;
  if (pct >= t) return { id: 'connections', title, status: 'fail', why: desc, fix: 'raise postgres.tuning.maxConnections or lower postgres.poolSize' };
  if (demand > f.db.maxConnections * (t / 100)) return { id: 'connections', title, status: 'warn', why: desc, fix: `postgres.tuning.maxConnections: ${Math.ceil(demand / (t / 100))} (or a smaller postgres.poolSize)` };
  return { id: 'connections', title, status: 'pass', why: desc };
}

export function checkServices(f: DoctorFacts): CheckResult {
  const title = 'every service of the stack runs and is healthy';
  if (!f.services.ok) return { id: 'services', title, status: 'fail', why: `could not read the containers: ${f.services.error}`, fix: 'run where the Docker Engine is reachable (or pass --host)' };
  const { expected, rows, activeColor } = f.services;
  if (rows.length === 0) return { id: 'services', title, status: 'fail', why: 'the stack has no containers', fix: 'modelship deploy' };
  const byName = new Map(rows.map((r) => [r.container, r]));
  const broken: string[] = [];
  const starting: string[] = [];
  for (const e of expected) {
    const r = byName.get(e.container);
    if (!r) broken.push(`${e.container} is missing`);
    else if (r.state !== 'running') broken.push(`${e.container} is ${r.state}`);
    else if (r.health === 'unhealthy') broken.push(`${e.container} is unhealthy`);
    else if (r.health === 'starting') starting.push(e.container);
  }
  const standby = rows.filter((r) => isStandby(r, activeColor)).map((r) => r.container);
  const note = standby.length ? `; standby ${standby.join(', ')} stopped for rollback` : '';
  const services = [...new Set(broken.map((b) => expected.find((e) => b.startsWith(`${e.container} `))?.service).filter(Boolean))];
  if (broken.length) {
    return {
      id: 'services',
      title,
      status: 'fail',
      why: broken.join('; ') + note,
      fix: `${services.map((s) => `modelship logs ${s} --tail 50`).join(', ')} for the cause, then \`modelship deploy\` (starts and gates what is missing or stopped)`,
    };
  }
  if (starting.length) return { id: 'services', title, status: 'warn', why: `still starting: ${starting.join(', ')}${note}`, fix: 'wait, then `modelship ps`; `modelship logs SERVICE` if it stays there' };
  return { id: 'services', title, status: 'pass', why: `${expected.length} container(s) running healthy${note}` };
}

export function checkEdge(f: DoctorFacts): CheckResult {
  const title = 'a request through nginx reaches the active colour';
  if (f.edge === undefined || f.edge === null) return { id: 'edge', title, status: 'warn', why: 'nginx is not running: nothing to ask', fix: '`modelship deploy`' };
  if (f.edge.ok) return { id: 'edge', title, status: 'pass', why: f.edge.summary };
  return { id: 'edge', title, status: 'fail', why: f.edge.summary, fix: '`modelship deploy` points nginx at the active colour again (see `modelship logs nginx`)' };
}

export const CHECKS = [checkEdge, checkServices, checkSecrets, checkEnvMode, checkEnvGit, checkTls, checkCors, checkLimits, checkPublished, checkDataStores, checkFirewall, checkBackupAge, checkRestoreTest, checkDisk, checkMemory, checkConnections] as const;

export function runChecks(f: DoctorFacts): { ok: boolean; summary: Record<CheckStatus, number>; checks: CheckResult[] } {
  const checks = [...CHECKS.map((c) => c(f)), checkScheduler(f), checkPitrRehearsal(f), checkRemoteCopies(f)].filter((c): c is CheckResult => c !== null);
  const summary = { pass: 0, warn: 0, fail: 0 };
  for (const c of checks) summary[c.status]++;
  return { ok: summary.fail === 0, summary, checks };
}

/** Parses `ufw status` output: active flag and the ports with ALLOW rules (v4 and v6 merged). */
export function parseUfw(text: string): { active: boolean; openPorts: number[] } {
  const active = /^Status:\s*active/m.test(text);
  const ports = new Set<number>();
  for (const line of text.split('\n')) {
    if (!/\bALLOW\b/.test(line)) continue;
    const m = /^(\d+)(?::(\d+))?(?:\/(tcp|udp))?/.exec(line.trim());
    if (m) ports.add(Number(m[1]));
    else if (/^(OpenSSH|SSH)\b/i.test(line.trim())) ports.add(22);
    else if (/^Nginx Full\b/i.test(line.trim())) {
      ports.add(80);
      ports.add(443);
    }
  }
  return { active, openPorts: [...ports].sort((a, b) => a - b) };
}

/** Ports accepted by `nft list ruleset` in input chains (tcp/udp dport N or {a, b}). */
export function parseNft(text: string): { active: boolean; openPorts: number[] } {
  const ports = new Set<number>();
  let inInput = false;
  let hasDropPolicy = false;
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (/^chain\s+\S+/.test(t)) inInput = /^chain\s+input\b/i.test(t);
    if (inInput && /hook input/.test(t) && /policy drop/.test(t)) hasDropPolicy = true;
    if (!inInput || !/\baccept\b/.test(t)) continue;
    const m = /\b(?:tcp|udp)\s+dport\s+(\{[^}]*\}|\d+)/.exec(t);
    if (!m) continue;
    for (const p of m[1]!.replace(/[{}]/g, '').split(',')) if (/^\s*\d+\s*$/.test(p)) ports.add(Number(p));
  }
  return { active: hasDropPolicy, openPorts: [...ports].sort((a, b) => a - b) };
}
