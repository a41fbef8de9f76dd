/**
 * e2e rig: a throwaway stack directory per test file (own project name and ports), pointing the
 * config's images at the locally built stand-ins, and the real `modelship` executable.
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import tar from 'tar-stream';
import { pidAlive } from '../../src/util/process.ts';

export const ROOT = path.join(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/modelship.js');
export const API_IMAGE = process.env.MODELSHIP_E2E_API_IMAGE ?? 'modelship-test/api:e2e';
export const docker = new Docker();

export const STANDIN = {
  nginx: 'modelship-standin/nginx:1',
  postgres: 'modelship-standin/postgres:16',
  redis: 'modelship-standin/redis:7',
  prometheus: 'modelship-standin/prometheus:2',
};

/** Stand-ins for the exporters `modelship init` enables (config key under images: → image). */
export const STANDIN_EXPORTERS = {
  postgresExporter: 'modelship-standin/postgres-exporter:0',
  redisExporter: 'modelship-standin/redis-exporter:1',
  nginxExporter: 'modelship-standin/nginx-exporter:1',
  nodeExporter: 'modelship-standin/node-exporter:1',
};

/** Skip reason when the engine or the images are missing (never a silent pass). */
export async function e2eSkip(extraImages: readonly string[] = []): Promise<string | false> {
  try {
    await docker.ping();
  } catch {
    return 'SKIPPED: no Docker Engine (scripts/test-deps.sh starts one)';
  }
  for (const img of [API_IMAGE, ...Object.values(STANDIN), ...extraImages]) {
    try {
      await docker.getImage(img).inspect();
    } catch {
      return `SKIPPED: image ${img} missing (scripts/test-all.sh builds it)`;
    }
  }
  return false;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** Where concurrent e2e processes reserve their port ranges (one file per base, holding the pid). */
const PORT_RESERVATIONS = path.join(os.tmpdir(), 'modelship-e2e-ports');

/**
 * Reserves `base` for this process across concurrently running test files: an exclusive create of
 * a file naming our pid. A reservation whose process is gone is taken over.
 */
function reserve(base: number): boolean {
  mkdirSync(PORT_RESERVATIONS, { recursive: true });
  const file = path.join(PORT_RESERVATIONS, String(base));
  try {
    writeFileSync(file, String(process.pid), { flag: 'wx' });
    return true;
  } catch {
    const holder = Number(readFileSync(file, 'utf8').trim() || 0);
    if (holder === process.pid || (holder > 0 && pidAlive(holder))) return false;
    writeFileSync(file, String(process.pid));
    return true;
  }
}

/**
 * A base port whose +80/+43/+90 are free on 127.0.0.1, below the kernel's ephemeral range (32768+)
 * so outgoing connections cannot take them between the check and the deploy, and reserved so that
 * another e2e file running at the same time cannot pick it too.
 */
export async function freePortBase(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const base = 20000 + Math.floor(Math.random() * 120) * 100;
    const ok = await Promise.all([base + 80, base + 43, base + 90].map(portFree));
    if (ok.every(Boolean) && reserve(base)) return base;
  }
  throw new Error('no free port range found for the e2e stack');
}

export interface StackDir {
  dir: string;
  project: string;
  httpPort: number;
  config: string;
  write(extra?: string, images?: Partial<Record<'api' | 'nginx' | 'postgres' | 'redis' | 'prometheus' | 'certbot', string>>): void;
}

export interface BaseOverrides {
  environment?: string;
  domains?: string;
  tls?: string;
}

export async function stackDir(name: string, extra = '', overrides: BaseOverrides = {}): Promise<StackDir> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `modelship-e2e-${name}-`));
  const project = `mse2e-${name}-${process.pid % 10000}`;
  const base = await freePortBase();
  const httpPort = base + 80;
  const config = path.join(dir, 'modelship.config.yaml');
  const s: StackDir = {
    dir,
    project,
    httpPort,
    config,
    write(more = '', images = {}) {
      const img = { api: API_IMAGE, ...STANDIN, ...images };
      writeFileSync(
        config,
        [
          `project: ${project}`,
          `environment: ${overrides.environment ?? 'development'}`,
          `domains: ${overrides.domains ?? '[localhost]'}`,
          `tls: ${overrides.tls ?? '{mode: "off"}'}`,
          'images:',
          `  api: ${img.api}`,
          `  nginx: ${img.nginx}`,
          `  postgres: ${img.postgres}`,
          `  redis: ${img.redis}`,
          `  prometheus: ${img.prometheus}`,
          ...('certbot' in img ? [`  certbot: ${(img as { certbot: string }).certbot}`] : []),
          `ports: {http: ${httpPort}, https: ${base + 43}, bind: 127.0.0.1}`,
          'api: {workers: 1}',
          'workers: {replicas: 1}',
          'monitoring:',
          `  prometheus: {port: ${base + 90}}`,
          '  grafana: {enabled: false}',
          '  loki: {enabled: false}',
          '  exporters: {postgres: false, redis: false, nginx: false, node: false}',
          extra,
          more,
        ].join('\n'),
      );
    },
  };
  writeFileSync(path.join(dir, '.env'), 'SECRET_KEY=e2e-secret-key-0123456789abcdef\nPOSTGRES_PASSWORD=e2e-pg-pass\nREDIS_PASSWORD=e2e-redis-pass\nGRAFANA_ADMIN_PASSWORD=unused\n', { mode: 0o600 });
  s.write();
  return s;
}

export function ms(s: StackDir, args: string[], opts: { timeoutMs?: number } = {}): ResultPromise<{ reject: false; cwd: string; env: Record<string, string>; timeout: number; all: true }> {
  return execa(process.execPath, [BIN, ...args], {
    reject: false,
    cwd: s.dir,
    env: { NO_COLOR: '1', MODELSHIP_CONFIG: s.config },
    timeout: opts.timeoutMs ?? 240_000,
    all: true,
  });
}

export async function projectContainers(project: string, all = true): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all, filters: { label: [`com.docker.compose.project=${project}`] } });
}

/** Removes everything of a project, whatever state a failed test left. */
export async function cleanup(s: StackDir): Promise<void> {
  for (const c of await projectContainers(s.project)) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
  for (const n of await docker.listNetworks({ filters: { label: [`com.docker.compose.project=${s.project}`] } })) await docker.getNetwork(n.Id).remove().catch(() => undefined);
  for (const v of (await docker.listVolumes({ filters: { label: [`com.docker.compose.project=${s.project}`] } })).Volumes ?? []) await docker.getVolume(v.Name).remove().catch(() => undefined);
}

/**
 * GETs `url` back to back until stopped; counts 200s and everything else. Any non-200 status is a
 * failure. A connection closed under a request is retried once, as HTTP clients do for idempotent
 * requests (RFC 9110 §9.2.2): an nginx reload closes idle keep-alive connections, and a request
 * racing that close never reached a server. A second connection error counts as a failure.
 */
export function steadyTraffic(url: string): { stop(): Promise<{ ok: number; failures: number; retried: number }> } {
  let ok = 0;
  let failures = 0;
  let retried = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      let res = await fetch(url).catch(() => null);
      if (!res) {
        retried++;
        res = await fetch(url).catch(() => null);
      }
      if (res?.status === 200) ok++;
      else failures++;
      await res?.arrayBuffer().catch(() => undefined);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ok, failures, retried };
    },
  };
}

/** Builds a one-file image (a Dockerfile, no context) on the test engine: stand-in releases for swap tests. */
export async function buildImage(tag: string, dockerfile: string): Promise<void> {
  const pack = tar.pack();
  pack.entry({ name: 'Dockerfile' }, dockerfile);
  pack.finalize();
  const ctx = new PassThrough();
  pack.pipe(ctx);
  const stream = await docker.buildImage(ctx as unknown as NodeJS.ReadableStream, { t: tag });
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
}
