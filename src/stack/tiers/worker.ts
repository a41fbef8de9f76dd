/** The queue workers: the API image running `modelship worker`. Pure. */
import type { Config } from '../../config/schema.ts';
import { INTERNAL_PORT, SERVICE } from '../names.ts';
import { appEnv, bytesForDocker, configDigest, configMount, dataDeps, health, NETWORK, nodeHttpProbe, VOLUME, type ServiceInput } from '../parts.ts';

export function workerTier(config: Config): ServiceInput[] {
  return [
    {
      name: SERVICE.worker,
      role: 'worker',
      image: config.images.api,
      command: ['modelship', 'worker', '--metrics-port', String(INTERNAL_PORT.workerMetrics)],
      environment: appEnv(config, 'worker'),
      configDigest: configDigest(config, 'worker'),
      envFile: true,
      mounts: [configMount(), { type: 'volume', source: VOLUME.models, target: config.models.cacheDir }],
      networks: [NETWORK.backend],
      dependsOn: dataDeps(),
      healthcheck: health(nodeHttpProbe(`http://127.0.0.1:${INTERNAL_PORT.workerMetrics}/health`), { startPeriodSeconds: 60 }),
      replicas: config.workers.replicas,
      fixedName: false,
      stopGracePeriodSeconds: config.workers.stopGracePeriodSeconds,
      memoryLimit: bytesForDocker(config.api.memoryLimit),
    },
  ];
}
