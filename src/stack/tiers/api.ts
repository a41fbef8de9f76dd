/** The API tier: both colours, the idle one in the `standby` profile. Pure. */
import type { Config } from '../../config/schema.ts';
import { COLORS, MS_LABEL, SERVICE } from '../names.ts';
import { appEnv, bytesForDocker, configDigest, configMount, dataDeps, health, NETWORK, nodeHttpProbe, VOLUME, type ServiceInput } from '../parts.ts';

export function apiTier(config: Config): ServiceInput[] {
  const active = config.api.activeColor;
  return COLORS.map((color) => ({
    name: SERVICE.api(color),
    role: 'api',
    image: config.images.api,
    command: ['modelship', 'serve', '--host', '0.0.0.0', '--port', String(config.api.port)],
    // The API believes X-Forwarded-For from the stack's nginx (found by its name on the network).
    environment: { ...appEnv(config, 'api'), MODELSHIP_COLOR: color, MODELSHIP_TRUSTED_PROXIES: SERVICE.nginx },
    configDigest: configDigest(config, 'api'),
    envFile: true,
    mounts: [configMount(), { type: 'volume', source: VOLUME.models, target: config.models.cacheDir }],
    networks: [NETWORK.frontend, NETWORK.backend],
    gatedNetworks: [NETWORK.frontend],
    dependsOn: dataDeps(),
    healthcheck: health(nodeHttpProbe(`http://127.0.0.1:${config.api.port}/health/ready`), { startPeriodSeconds: 60, intervalSeconds: 5, retries: 6 }),
    profiles: color === active ? [] : ['standby'],
    replicas: config.api.replicas,
    fixedName: false,
    stopGracePeriodSeconds: Math.max(30, config.api.requestTimeoutSeconds + 5),
    memoryLimit: bytesForDocker(config.api.memoryLimit),
    labels: { [MS_LABEL.color]: color },
  }));
}
