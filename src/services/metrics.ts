/**
 * Prometheus metrics (prom-client), one registry per server or worker. Names follow the metrics
 * contract in src/stack/metrics.ts that the rendered alerts and dashboard query.
 */
import client from 'prom-client';
import type { Pool } from 'pg';
import { METRIC } from '../stack/metrics.ts';

export interface Metrics {
  registry: client.Registry;
  httpRequests: client.Counter<'method' | 'route' | 'status'>;
  httpDuration: client.Histogram<'method' | 'route' | 'status'>;
  inferenceDuration: client.Histogram<'model' | 'task' | 'backend'>;
  batchSize: client.Histogram;
  queueDepth: client.Gauge;
  rejected: client.Counter<'reason'>;
  cacheHits: client.Counter;
  cacheMisses: client.Counter;
  jobs: client.Gauge<'state'>;
  dbPool: client.Gauge<'state'>;
  backendInfo: client.Gauge<'backend' | 'device'>;
  /** 1 when the model is loaded and warm, 0 when it is loading or failed to load. */
  modelReady: client.Gauge<'model'>;
}

export interface MetricSources {
  jobCounts?: (() => Promise<Record<string, number>>) | undefined;
  pool?: Pool | undefined;
}

export function createMetrics(sources: MetricSources = {}, defaultLabels: Record<string, string> = {}): Metrics {
  const registry = new client.Registry();
  registry.setDefaultLabels(defaultLabels);
  client.collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
  const m: Metrics = {
    registry,
    httpRequests: new client.Counter({ name: METRIC.httpRequests, help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'], registers }),
    httpDuration: new client.Histogram({ name: METRIC.httpDuration, help: 'HTTP request duration in seconds', labelNames: ['method', 'route', 'status'], buckets: latency, registers }),
    inferenceDuration: new client.Histogram({ name: METRIC.inferenceDuration, help: 'Duration of one model call (decode + inference + post-processing) in seconds', labelNames: ['model', 'task', 'backend'], buckets: latency, registers }),
    batchSize: new client.Histogram({ name: 'modelship_inference_batch_size', help: 'Inputs per model execution (dynamic batching)', buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers }),
    queueDepth: new client.Gauge({ name: 'modelship_inference_queue_depth', help: 'Inference calls queued or running in this process', registers }),
    rejected: new client.Counter({ name: 'modelship_inference_rejected_total', help: 'Inference requests refused, by reason (queue_full, deadline, rate_limited, too_large, unsupported, bad_input, timeout, client_closed)', labelNames: ['reason'], registers }),
    cacheHits: new client.Counter({ name: METRIC.cacheHits, help: 'Result cache hits', registers }),
    cacheMisses: new client.Counter({ name: METRIC.cacheMisses, help: 'Result cache misses', registers }),
    jobs: new client.Gauge({
      name: METRIC.jobs,
      help: 'Batch jobs in the queue by state',
      labelNames: ['state'],
      registers,
      async collect() {
        if (!sources.jobCounts) return;
        try {
          const counts = await sources.jobCounts();
          for (const s of ['waiting', 'active', 'delayed', 'failed', 'completed']) this.set({ state: s }, counts[s] ?? 0);
        } catch {
          // Redis down: keep the last values; readiness reports the outage
        }
      },
    }),
    dbPool: new client.Gauge({
      name: 'modelship_db_pool',
      help: 'PostgreSQL connection pool: total, idle and waiting clients',
      labelNames: ['state'],
      registers,
      collect() {
        const p = sources.pool;
        if (!p) return;
        this.set({ state: 'total' }, p.totalCount);
        this.set({ state: 'idle' }, p.idleCount);
        this.set({ state: 'waiting' }, p.waitingCount);
      },
    }),
    backendInfo: new client.Gauge({ name: 'modelship_backend_info', help: 'The inference backend that runs (value 1)', labelNames: ['backend', 'device'], registers }),
    modelReady: new client.Gauge({ name: 'modelship_model_ready', help: 'Whether the model is loaded and warm (1) or loading / failed to load (0)', labelNames: ['model'], registers }),
  };
  return m;
}
