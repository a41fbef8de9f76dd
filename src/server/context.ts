/**
 * What the route plugins share: the settings, the services (inference, cache, metrics, key
 * authentication), the optional connections and the drain state. `buildServer` makes one and
 * passes it to every plugin as its options.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Pool } from 'pg';
import type { QueueJobData } from '../queue/queue.ts';
import type { ResultCache } from '../services/cache.ts';
import type { InferenceService } from '../services/inference.ts';
import type { Metrics } from '../services/metrics.ts';
import type { ServerSettings } from '../services/settings.ts';
import type { KeyAuthenticator } from './keys.ts';
import type { Readiness } from './readiness.ts';

export interface DrainState {
  draining: boolean;
  /** Requests (not health probes) being handled now. */
  inflight: number;
  lastRequestAt: number;
}

export interface ServerContext {
  settings: ServerSettings;
  service: InferenceService;
  cache: ResultCache;
  metrics: Metrics;
  auth: KeyAuthenticator;
  drain: DrainState;
  pool: Pool | undefined;
  redis: Redis | undefined;
  queue: Queue<QueueJobData> | undefined;
  /** Readiness as /health/ready reports it (cached for 250 ms). */
  readiness: () => Promise<Readiness>;
  /** Date.now() when the server was built (uptime). */
  started: number;
}
