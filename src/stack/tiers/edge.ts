/** The edge tier: nginx in front of the active API colour. Pure. */
import type { Config } from '../../config/schema.ts';
import { MOUNT, SERVICE } from '../names.ts';
import { health, NETWORK, VOLUME, type ServiceInput } from '../parts.ts';
import type { MountSpec } from '../spec.ts';
import { nginxWithCertReload } from './tls.ts';

function certMounts(config: Config): MountSpec[] {
  if (config.tls.mode === 'letsencrypt') return [{ type: 'volume', source: VOLUME.letsencrypt, target: MOUNT.letsencrypt, readOnly: true }];
  if (config.tls.mode === 'custom') {
    return [
      { type: 'bind', base: 'config', source: config.tls.certFile!, target: `${MOUNT.nginxCerts}/fullchain.pem`, readOnly: true },
      { type: 'bind', base: 'config', source: config.tls.keyFile!, target: `${MOUNT.nginxCerts}/privkey.pem`, readOnly: true },
    ];
  }
  return [];
}

export function edgeTier(config: Config): ServiceInput[] {
  return [
    {
      name: SERVICE.nginx,
      role: 'edge',
      image: config.images.nginx,
      ...(config.tls.mode === 'letsencrypt'
        ? { entrypoint: ['/bin/sh', '-c', nginxWithCertReload()], command: [] }
        : { command: ['nginx', '-c', MOUNT.nginxConf, '-g', 'daemon off;'] }),
      ports: [
        { hostIp: config.ports.bind, host: config.ports.http, container: 80 },
        ...(config.tls.mode === 'off' ? [] : [{ hostIp: config.ports.bind, host: config.ports.https, container: 443 }]),
      ],
      mounts: [
        { type: 'bind', base: 'render', source: 'nginx', target: MOUNT.nginxDir, readOnly: true },
        { type: 'volume', source: VOLUME.acme, target: MOUNT.acmeWebroot, readOnly: true },
        ...certMounts(config),
      ],
      networks: [NETWORK.frontend],
      dependsOn: [{ service: SERVICE.api(config.api.activeColor), condition: 'service_healthy' }],
      healthcheck: health(['CMD-SHELL', 'test -s /var/run/nginx.pid && kill -0 "$(cat /var/run/nginx.pid)"'], { intervalSeconds: 10, retries: 3 }),
      stopSignal: 'SIGQUIT',
      stopGracePeriodSeconds: 30,
      reloadsFiles: true,
    },
  ];
}
