/** The TLS tier: certbot issuing and renewing Let's Encrypt certificates, and nginx's reload watcher. Pure. */
import type { Config } from '../../config/schema.ts';
import { MOUNT, SERVICE } from '../names.ts';
import { NETWORK, VOLUME, type ServiceInput } from '../parts.ts';

export function tlsTier(config: Config): ServiceInput[] {
  if (config.tls.mode !== 'letsencrypt') return [];
  return [
    {
      name: SERVICE.certbot,
      role: 'tls',
      image: config.images.certbot,
      entrypoint: ['/bin/sh', '-c', certbotLoop(config)],
      mounts: [
        { type: 'volume', source: VOLUME.letsencrypt, target: MOUNT.letsencrypt },
        { type: 'volume', source: VOLUME.acme, target: MOUNT.acmeWebroot },
      ],
      networks: [NETWORK.frontend],
      dependsOn: [{ service: SERVICE.nginx, condition: 'service_healthy' }],
      profiles: ['tls'],
    },
  ];
}

/** Marker certbot touches after a new certificate; nginx's watcher reloads when it is newer. */
export const CERT_RELOAD_MARK = `${MOUNT.letsencrypt}/.modelship-reload`;

/**
 * nginx in the foreground, plus a watcher that reloads it gracefully within a minute of certbot
 * issuing or renewing a certificate (certbot cannot signal another container).
 */
export function nginxWithCertReload(): string {
  const stamp = '/tmp/.modelship-reloaded';
  return [
    `(while :; do sleep 60; if [ -e ${CERT_RELOAD_MARK} ] && [ ${CERT_RELOAD_MARK} -nt ${stamp} ]; then touch ${stamp}; nginx -c ${MOUNT.nginxConf} -s reload; fi; done) &`,
    `exec nginx -c ${MOUNT.nginxConf} -g 'daemon off;'`,
  ].join(' ');
}

/**
 * The certbot service: issue the certificate through the webroot, then renew when due. nginx reads
 * `current/<name>`, a symlink deploy pointed at a self-signed placeholder; once Let's Encrypt has
 * issued, it is switched to `live/<name>` and nginx reloads. The placeholder is never moved, so
 * nginx can restart or reload at any moment. Retries every 5 minutes until the first certificate
 * exists, then checks twice a day.
 */
export function certbotLoop(config: Config): string {
  const name = config.domains[0]!;
  const le = MOUNT.letsencrypt;
  const args = [
    'certonly', '--webroot', '-w', MOUNT.acmeWebroot, '--cert-name', name,
    ...config.domains.flatMap((d) => ['-d', d]),
    '--email', config.tls.email ?? '', '--agree-tos', '--no-eff-email', '--non-interactive', '--keep-until-expiring',
    ...(config.tls.staging ? ['--staging'] : []),
    '--deploy-hook', `'touch ${CERT_RELOAD_MARK}'`,
  ].join(' ');
  return [
    'trap exit TERM;',
    'while :; do',
    `  if certbot ${args} && [ -e ${le}/live/${name}/fullchain.pem ] && [ "$(readlink ${le}/current/${name})" != "../live/${name}" ]; then`,
    `    mkdir -p ${le}/current && ln -sfn ../live/${name} ${le}/current/${name} && touch ${CERT_RELOAD_MARK};`,
    '  fi;',
    `  if [ "$(readlink ${le}/current/${name})" = "../live/${name}" ]; then pause=43200; else pause=300; fi;`,
    '  sleep $pause & wait $!;',
    'done',
  ].join(' ');
}
