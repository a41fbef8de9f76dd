/**
 * Health and metrics: /health (liveness with uptime), /health/live, /health/ready (503 while
 * not ready or draining), /health/detailed (every component), /health/metrics and /metrics
 * (Prometheus). Probes carry no key and are not rate limited (see hooks.ts).
 */
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { BUNDLED_MODELS_DIR } from '../../inference/registry.ts';
import { jobCounts } from '../../queue/queue.ts';
import { VERSION } from '../../version.ts';
import type { ServerContext } from '../context.ts';
import { jobsCheck } from '../readiness.ts';

const PROBE = { config: { rateLimit: false } } as const;

async function diskOf(dir: string): Promise<{ freeBytes: number; totalBytes: number } | { error: string }> {
  try {
    const st = await statfs(dir);
    return { freeBytes: st.bavail * st.bsize, totalBytes: st.blocks * st.bsize };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

function memory() {
  const mem = process.memoryUsage();
  return { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, externalBytes: mem.external, systemFreeBytes: os.freemem(), systemTotalBytes: os.totalmem() };
}

/** The body of /health/detailed. */
async function detailed(ctx: ServerContext) {
  const { service, settings: s, queue, drain } = ctx;
  const r = await ctx.readiness();
  const info = await service.engine.info();
  const jobs = await jobsCheck(queue ? () => jobCounts(queue) : undefined);
  return {
    ready: r.ready,
    body: {
      status: r.ready ? 'ready' : drain.draining ? 'draining' : 'not_ready',
      color: s.color ?? null,
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - ctx.started) / 1000),
      components: { ...r.checks, jobs },
      backend: info.backend,
      workers: info.workers,
      decoder: info.decoder,
      batching: info.batching,
      models: info.models.map((m) => {
        const st = service.models.get(m.name);
        return { ...m, state: st.state, ...(st.error ? { error: st.error } : {}) };
      }),
      admission: { perInputMs: service.times.snapshot() },
      defaults: { image: s.models.image, text: s.models.text, detection: s.models.detection },
      queue: { inference: { inflight: service.gate.inflight, max: service.gate.max }, jobs: jobs.counts ?? null },
      cache: { kind: ctx.cache.kind },
      auth: { required: s.authRequired },
      memory: memory(),
      disk: await diskOf(BUNDLED_MODELS_DIR),
    },
  };
}

export const healthRoutes: FastifyPluginAsync<ServerContext> = async (app, ctx) => {
  const { settings: s, drain, metrics } = ctx;
  const base = () => ({ color: s.color ?? null, version: VERSION });
  app.get('/health', PROBE, async () => ({ status: drain.draining ? 'draining' : 'ok', ...base(), uptimeSeconds: Math.round((Date.now() - ctx.started) / 1000) }));
  app.get('/health/live', PROBE, async () => ({ status: 'alive', ...base() }));
  app.get('/health/ready', PROBE, async (_req, reply) => {
    const r = await ctx.readiness();
    reply.code(r.ready ? 200 : 503);
    if (!r.ready) reply.header('retry-after', '5');
    return { status: r.ready ? 'ready' : drain.draining ? 'draining' : 'not_ready', ...base(), checks: r.checks };
  });
  app.get('/health/detailed', PROBE, async (_req, reply) => {
    const d = await detailed(ctx);
    reply.code(d.ready ? 200 : 503);
    return d.body;
  });
  const metricsHandler = async (_req: FastifyRequest, reply: FastifyReply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  };
  app.get('/health/metrics', PROBE, metricsHandler);
  app.get('/metrics', PROBE, metricsHandler);
};
