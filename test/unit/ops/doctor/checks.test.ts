/** Every doctor check with a passing and a failing fixture; the firewall parsers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigSchema, type ConfigInput } from '../../../../src/config/schema.ts';
import {
  checkBackupAge,
  checkEdge,
  checkConnections,
  checkCors,
  checkDataStores,
  checkDisk,
  checkEnvGit,
  checkEnvMode,
  checkFirewall,
  checkLimits,
  checkMemory,
  checkPublished,
  checkRestoreTest,
  checkSecrets,
  checkServices,
  checkTls,
  parseNft,
  parseUfw,
  runChecks,
  type DoctorFacts,
} from '../../../../src/ops/doctor/checks.ts';
import type { ContainerRow } from '../../../../src/ops/status-model.ts';

const NOW = '2026-11-26T10:00:00.000Z';
const prod: ConfigInput = { domains: ['api.example.com'], tls: { email: 'ops@example.com' }, cors: { origins: ['https://app.example.com'] } };

const SERVICES = ['nginx', 'api-blue', 'worker', 'postgres', 'redis', 'prometheus'];

function svcRow(service: string, over: Partial<ContainerRow> = {}): ContainerRow {
  const color = /^api-(blue|green)$/.exec(service)?.[1] ?? null;
  return { service, container: `ms-${service}`, color, active: color === 'blue', state: 'running', health: 'healthy', uptime: '1h', image: 'x:1', ...over };
}

function facts(over: Partial<DoctorFacts> = {}, cfg: ConfigInput = prod): DoctorFacts {
  return {
    now: NOW,
    config: ConfigSchema.parse(cfg),
    configFile: 'modelship.config.yaml',
    env: { SECRET_KEY: 'k'.repeat(44), POSTGRES_PASSWORD: 'p'.repeat(24), REDIS_PASSWORD: 'r'.repeat(24), GRAFANA_ADMIN_PASSWORD: 'g'.repeat(20) },
    envFile: { path: '.env', exists: true, mode: 0o100600, tracked: false },
    cert: { source: 'nginx:/etc/letsencrypt/live/api.example.com/fullchain.pem', notAfter: '2027-02-01T00:00:00.000Z' },
    published: { ok: true, ports: [{ service: 'nginx', container: 'ms-nginx', ip: '0.0.0.0', port: 443 }, { service: 'prometheus', container: 'ms-prometheus', ip: '127.0.0.1', port: 9090 }] },
    firewall: { tool: 'ufw', active: true, openPorts: [22, 80, 443] },
    backup: { ok: true, facts: { lastAt: '2026-11-26T02:00:00.000Z', lastVerified: true, restoreTestedAt: '2026-10-01T04:30:00.000Z' } },
    disk: [{ path: '/', usedPercent: 40 }],
    memory: { usedPercent: 50 },
    db: { ok: true, connections: 10, maxConnections: 100 },
    edge: { ok: true, summary: 'a request through nginx to /health gets HTTP 200 from api-blue' },
    services: { ok: true, activeColor: 'blue', expected: SERVICES.map((s) => ({ service: s, container: `ms-${s}` })), rows: SERVICES.map((s) => svcRow(s)) },
    ...over,
  };
}

test('a well-kept production host passes every check', () => {
  const r = runChecks(facts());
  assert.deepEqual(r.checks.filter((c) => c.status !== 'pass').map((c) => `${c.id}: ${c.why}`), []);
  assert.equal(r.ok, true);
  assert.equal(r.summary.pass, 16);
});

test('secrets: default, short and missing values fail, with the fix', () => {
  assert.equal(checkSecrets(facts()).status, 'pass');
  const r = checkSecrets(facts({ env: { SECRET_KEY: 'changeme', POSTGRES_PASSWORD: 'short', GRAFANA_ADMIN_PASSWORD: 'g'.repeat(20) } }));
  assert.equal(r.status, 'fail');
  assert.match(r.why, /SECRET_KEY is a default\/placeholder value; POSTGRES_PASSWORD has 5 characters .*; REDIS_PASSWORD is missing/);
  assert.match(r.fix!, /openssl rand -base64 32/);
});

test('.env mode: 0600 passes, 0644 fails with chmod', () => {
  assert.equal(checkEnvMode(facts()).status, 'pass');
  const r = checkEnvMode(facts({ envFile: { path: '.env', exists: true, mode: 0o100644, tracked: false } }));
  assert.equal(r.status, 'fail');
  assert.equal(r.fix, 'chmod 600 .env');
});

test('.env in git: untracked or no repository passes, tracked fails', () => {
  assert.equal(checkEnvGit(facts()).status, 'pass');
  assert.equal(checkEnvGit(facts({ envFile: { path: '.env', exists: true, mode: 0o600, tracked: null } })).status, 'pass');
  const r = checkEnvGit(facts({ envFile: { path: '.env', exists: true, mode: 0o600, tracked: true } }));
  assert.equal(r.status, 'fail');
  assert.match(r.fix!, /git rm --cached \.env/);
});

test('TLS: a certificate valid 66 days passes; 20 days, expired, missing or off fail', () => {
  assert.match(checkTls(facts()).why, /expires 2027-02-01 \(66 days\)/);
  assert.equal(checkTls(facts()).status, 'pass');
  assert.match(checkTls(facts({ cert: { source: 'x', notAfter: '2026-12-16T10:00:00.000Z' } })).why, /expires in 20 days/);
  assert.equal(checkTls(facts({ cert: { source: 'x', notAfter: '2026-12-16T10:00:00.000Z' } })).status, 'fail');
  assert.match(checkTls(facts({ cert: { source: 'x', notAfter: '2026-11-01T00:00:00.000Z' } })).why, /expired 2026-11-01/);
  assert.equal(checkTls(facts({ cert: { source: 'x', notAfter: null, error: 'No such file' } })).status, 'fail');
  const off = checkTls(facts({ cert: null }, { ...prod, tls: { mode: 'off' } }));
  assert.equal(off.status, 'fail');
  assert.match(off.fix!, /tls: \{mode: letsencrypt/);
  assert.equal(checkTls(facts({ cert: null }, { ...prod, environment: 'development', tls: { mode: 'off' } })).status, 'warn', 'only a warning outside production');
});

test('CORS: listed origins pass, * fails in production', () => {
  assert.equal(checkCors(facts()).status, 'pass');
  assert.equal(checkCors(facts({}, { ...prod, cors: { origins: ['*'] } })).status, 'fail');
  assert.equal(checkCors(facts({}, { ...prod, environment: 'staging', cors: { origins: ['*'] } })).status, 'warn');
});

test('limits: defaults pass; rate limiting off or a file limit above the request limit fails', () => {
  assert.equal(checkLimits(facts()).status, 'pass');
  assert.match(checkLimits(facts({}, { ...prod, rateLimit: { enabled: false } })).why, /rateLimit\.enabled is false/);
  assert.equal(checkLimits(facts({}, { ...prod, limits: { maxFileSize: '1GB', maxRequestSize: '500MB' } })).status, 'fail');
});

test('published ports: only nginx public passes; a public prometheus fails; unreadable warns', () => {
  assert.equal(checkPublished(facts()).status, 'pass');
  const r = checkPublished(facts({ published: { ok: true, ports: [{ service: 'prometheus', container: 'ms-prometheus', ip: '0.0.0.0', port: 9090 }] } }));
  assert.equal(r.status, 'fail');
  assert.match(r.why, /ms-prometheus :9090/);
  assert.equal(checkPublished(facts({ published: { ok: false, error: 'connect ENOENT' } })).status, 'warn');
});

test('data stores: loopback passes, a public postgres fails', () => {
  assert.equal(checkDataStores(facts({ published: { ok: true, ports: [{ service: 'postgres', container: 'ms-postgres', ip: '127.0.0.1', port: 5432 }] } })).status, 'pass');
  const r = checkDataStores(facts({ published: { ok: true, ports: [{ service: 'postgres', container: 'ms-postgres', ip: '0.0.0.0', port: 5432 }, { service: 'redis', container: 'ms-redis', ip: '::', port: 6379 }] } }));
  assert.equal(r.status, 'fail');
  assert.match(r.why, /ms-postgres published on 0\.0\.0\.0:5432; ms-redis published on :::6379/);
});

test('firewall: 22/80/443 passes; extra ports or inactive fail; unreadable warns', () => {
  assert.equal(checkFirewall(facts()).status, 'pass');
  const r = checkFirewall(facts({ firewall: { tool: 'ufw', active: true, openPorts: [22, 80, 443, 5432] } }));
  assert.equal(r.status, 'fail');
  assert.match(r.why, /also allows 5432/);
  assert.match(r.fix!, /ufw delete allow 5432/);
  assert.equal(checkFirewall(facts({ firewall: { tool: 'nftables', active: false, openPorts: [] } })).status, 'fail');
  assert.equal(checkFirewall(facts({ firewall: { tool: null, error: 'ufw: not installed' } })).status, 'warn');
});

test('backup age: 8 h and verified passes; 27 h, unverified or none fails', () => {
  assert.equal(checkBackupAge(facts()).status, 'pass');
  const old = checkBackupAge(facts({ backup: { ok: true, facts: { lastAt: '2026-11-25T07:00:00.000Z', lastVerified: true, restoreTestedAt: null } } }));
  assert.equal(old.status, 'fail');
  assert.match(old.why, /27 h old/);
  assert.match(checkBackupAge(facts({ backup: { ok: true, facts: { lastAt: NOW, lastVerified: false, restoreTestedAt: null } } })).fix!, /modelship backup verify/);
  assert.equal(checkBackupAge(facts({ backup: { ok: true, facts: { lastAt: null, lastVerified: false, restoreTestedAt: null } } })).status, 'fail');
});

test('restore test: 56 days ago passes; 91 days or never fails', () => {
  assert.equal(checkRestoreTest(facts()).status, 'pass');
  assert.equal(checkRestoreTest(facts({ backup: { ok: true, facts: { lastAt: NOW, lastVerified: true, restoreTestedAt: '2026-08-26T09:00:00.000Z' } } })).status, 'fail');
  const never = checkRestoreTest(facts({ backup: { ok: true, facts: { lastAt: NOW, lastVerified: true, restoreTestedAt: null } } }));
  assert.equal(never.status, 'fail');
  assert.match(never.fix!, /modelship restore --verify-only/);
});

test('disk, memory, connections against the config thresholds', () => {
  assert.equal(checkDisk(facts()).status, 'pass');
  assert.equal(checkDisk(facts({ disk: [{ path: '/', usedPercent: 40 }, { path: '/srv', usedPercent: 92 }] })).status, 'fail');
  assert.equal(checkDisk(facts({ disk: [{ path: '/', usedPercent: 85 }] })).status, 'warn');
  assert.equal(checkDisk(facts({}, { ...prod, monitoring: { alerts: { diskUsedPercent: 95 } } })).status, 'pass');
  assert.equal(checkMemory(facts()).status, 'pass');
  assert.equal(checkMemory(facts({ memory: { usedPercent: 86 } })).status, 'fail');
  assert.equal(checkConnections(facts()).status, 'pass');
  assert.equal(checkConnections(facts({ db: { ok: true, connections: 80, maxConnections: 100 } })).status, 'fail');
  const demand = checkConnections(facts({}, { ...prod, workers: { replicas: 6 } }));
  assert.equal(demand.status, 'warn', '8 processes × 20 = 160 > 80 % of 100');
  assert.match(demand.fix!, /postgres\.tuning\.maxConnections: 200/);
  assert.equal(checkConnections(facts({ db: { ok: false, error: 'no running postgres container' } })).status, 'warn');
});

test('edge: the path a client takes is judged, not only the containers', () => {
  assert.equal(checkEdge(facts()).status, 'pass');
  const wrong = checkEdge(facts({ edge: { ok: false, summary: 'nginx routes to api-green but the active colour is blue (HTTP 502 on /health)' } }));
  assert.equal(wrong.status, 'fail');
  assert.match(wrong.why, /routes to api-green/);
  assert.match(wrong.fix!, /modelship deploy/);
  assert.equal(checkEdge(facts({ edge: null })).status, 'warn');
});

test('any fail makes the run fail', () => {
  const r = runChecks(facts({ memory: { usedPercent: 99 } }));
  assert.equal(r.ok, false);
  assert.deepEqual(r.summary, { pass: 15, warn: 0, fail: 1 });
});

test('parseUfw reads active state and ALLOW ports (v6 duplicates merged, app profiles)', () => {
  const text = `Status: active

To                         Action      From
--                         ------      ----
22/tcp                     ALLOW       Anywhere
Nginx Full                 ALLOW       Anywhere
5432                       ALLOW       10.0.0.0/8
22/tcp (v6)                ALLOW       Anywhere (v6)
8080:8090/tcp              DENY        Anywhere
`;
  assert.deepEqual(parseUfw(text), { active: true, openPorts: [22, 80, 443, 5432] });
  assert.deepEqual(parseUfw('Status: inactive\n'), { active: false, openPorts: [] });
});

test('parseNft reads accepted dports of the input chain and its drop policy', () => {
  const text = `table inet filter {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		tcp dport { 22, 80, 443 } accept
		udp dport 51820 accept
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		tcp dport 9999 accept
	}
}`;
  assert.deepEqual(parseNft(text), { active: true, openPorts: [22, 80, 443, 51820] });
  assert.equal(parseNft('table inet filter {\n chain input {\n type filter hook input priority 0; policy accept;\n }\n}').active, false);
});

test('services: every container deploy would run is running healthy; the stopped standby colour passes', () => {
  assert.equal(checkServices(facts()).status, 'pass');
  const swapped = facts({
    services: {
      ok: true,
      activeColor: 'green',
      expected: SERVICES.map((s) => (s === 'api-blue' ? 'api-green' : s)).map((s) => ({ service: s, container: `ms-${s}` })),
      rows: [...SERVICES.filter((s) => s !== 'api-blue').map((s) => svcRow(s)), svcRow('api-green', { active: true }), svcRow('api-blue', { active: false, state: 'exited', health: '-' })],
    },
  });
  const ok = checkServices(swapped);
  assert.equal(ok.status, 'pass');
  assert.match(ok.why, /standby ms-api-blue stopped for rollback/);
  const rows = SERVICES.filter((s) => s !== 'redis').map((s) => svcRow(s, s === 'worker' ? { state: 'exited', health: '-' } : s === 'prometheus' ? { health: 'unhealthy' } : {}));
  const bad = checkServices(facts({ services: { ok: true, activeColor: 'blue', expected: SERVICES.map((s) => ({ service: s, container: `ms-${s}` })), rows } }));
  assert.equal(bad.status, 'fail');
  assert.equal(bad.why, 'ms-worker is exited; ms-redis is missing; ms-prometheus is unhealthy');
  assert.match(bad.fix!, /modelship logs worker --tail 50, modelship logs redis --tail 50, modelship logs prometheus --tail 50/);
  const starting = checkServices(facts({ services: { ok: true, activeColor: 'blue', expected: [{ service: 'nginx', container: 'ms-nginx' }], rows: [svcRow('nginx', { health: 'starting' })] } }));
  assert.equal(starting.status, 'warn');
  assert.equal(checkServices(facts({ services: { ok: true, activeColor: null, expected: [{ service: 'nginx', container: 'ms-nginx' }], rows: [] } })).why, 'the stack has no containers');
  assert.equal(checkServices(facts({ services: { ok: false, error: 'connect ENOENT /var/run/docker.sock' } })).status, 'fail');
});

test('limits: doctor reads sizes as the config does (2100MB is over 2GiB; its own parser read MB as 10⁶ bytes)', () => {
  assert.match(checkLimits(facts({}, { ...prod, limits: { maxFileSize: '50MB', maxRequestSize: '2100MB' } })).why, /maxRequestSize 2100MB is above 2GiB/);
});
