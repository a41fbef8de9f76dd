/**
 * Config → desired stack, tier by tier (edge, api, worker, data, monitoring, tls, backup; each in
 * `tiers/`). Pure: the same config always yields the same spec, in the same order.
 */
import type { Config } from '../config/schema.ts';
import { NETWORK, service, VOLUME } from './parts.ts';
import type { StackSpec } from './spec.ts';
import { apiTier } from './tiers/api.ts';
import { backupTier, dataTier } from './tiers/data.ts';
import { edgeTier } from './tiers/edge.ts';
import { monitoringTier } from './tiers/monitoring.ts';
import { tlsTier } from './tiers/tls.ts';
import { workerTier } from './tiers/worker.ts';

export { appEnvironment, CONFIG_IN_CONTAINER, configDigest, NETWORK, ROLE_SECTIONS, VOLUME } from './parts.ts';
export { CERT_RELOAD_MARK, certbotLoop, nginxWithCertReload } from './tiers/tls.ts';

/** The tiers in the order their services appear in the spec (and in the rendered Compose file). */
const TIERS = [edgeTier, apiTier, workerTier, dataTier, monitoringTier, tlsTier, backupTier];

export function buildStack(config: Config): StackSpec {
  const services = TIERS.flatMap((tier) => tier(config)).map((s) => service(config.project, s));
  const usedVolumes = new Set<string>();
  for (const s of services) for (const mt of s.mounts) if (mt.type === 'volume') usedVolumes.add(mt.source);
  return {
    project: config.project,
    services,
    networks: [
      { name: NETWORK.frontend, internal: false },
      { name: NETWORK.backend, internal: false },
    ],
    volumes: Object.values(VOLUME).filter((v) => usedVolumes.has(v)).map((name) => ({ name })),
    logging: { driver: 'json-file', options: { 'max-size': config.logging.maxSize, 'max-file': String(config.logging.maxFile) } },
  };
}
