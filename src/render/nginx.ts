/**
 * nginx: the public edge of the stack. `nginx/nginx.conf` holds everything that changes only with
 * the config; `nginx/upstream.conf` holds the one thing a blue/green swap changes (which API colour
 * receives traffic, by service name), so a swap rewrites that file alone and reloads nginx.
 * Pure: Config → text.
 */
import { parseSize } from '../config/analyze.ts';
import type { Config } from '../config/schema.ts';
import { certificatePaths, INTERNAL_PORT, MOUNT, NGINX_STATUS_PATH, SERVICE, type Color } from '../stack/names.ts';
import type { RenderedFile } from './types.ts';
import { parseTrustEntry, type TrustEntry } from '../server/proxy-trust.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.';

/** Mozilla "intermediate" TLS 1.2 suites (ECDHE + AEAD only); TLS 1.3 suites are fixed by OpenSSL. */
const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const GZIP_TYPES = [
  'application/json',
  'application/javascript',
  'application/problem+json',
  'application/xml',
  'image/svg+xml',
  'text/css',
  'text/javascript',
  'text/plain',
  'text/xml',
];

/** Address ranges that may read stub_status: loopback and the private ranges Docker networks use. */
const STACK_NETWORKS = ['127.0.0.1', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'];

/** An nginx size (`500m`, `64k` or plain bytes) for a config size string. */
export function nginxSize(size: string): string {
  const bytes = parseSize(size);
  if (bytes > 0 && bytes % (1024 * 1024) === 0) return `${bytes / (1024 * 1024)}m`;
  if (bytes > 0 && bytes % 1024 === 0) return `${bytes / 1024}k`;
  return String(bytes);
}

/** Both nginx files for the config, with the upstream pointing at `config.api.activeColor`. */
export function renderNginx(config: Config): RenderedFile[] {
  return [
    { path: 'nginx/nginx.conf', content: renderNginxConf(config) },
    renderUpstream(config, config.api.activeColor),
  ];
}

/** How long nginx keeps an address from Docker's embedded DNS: the longest a stale address can live. */
export const RESOLVER_VALID_SECONDS = 2;

/** On the internal status listener: the service nginx routes to now, as plain text (always 200). */
export const EDGE_ROUTE_PATH = '/modelship/route';

/** The upstream block a pinned upstream.conf defines (see renderUpstream). */
export const PINNED_UPSTREAM = 'modelship_pinned';

/** The nginx variable that names where requests go (`api-<colour>:<port>`), set in upstream.conf. */
export const UPSTREAM_VAR = '$modelship_upstream';

/**
 * `nginx/upstream.conf` for one colour: the *name* of the colour's API service, never addresses.
 * proxy_pass takes it through a variable, so nginx resolves it with Docker's embedded DNS at request
 * time (re-resolved every RESOLVER_VALID_SECONDS): an API container that comes back on another
 * address after a restart of itself, of nginx or of the engine is found again without a reload, and
 * nginx starts even while no API container runs. Only API containers that passed the health gate
 * carry the name on the front network (they join it after the gate), so nothing ungated is routed to.
 * Works on nginx 1.22 (no `resolve` on upstream servers there) as well as on current releases.
 */
export function renderUpstream(config: Config, color: Color, pinned?: readonly string[]): RenderedFile {
  if (pinned && pinned.length === 0) throw new Error('renderUpstream: pinned must name at least one address');
  const lines = [
    HEADER,
    `# modelship active color: ${color}`,
    '# A blue/green swap rewrites only this file, then reloads nginx.',
    // Pinned: for the seconds an API replica is removed, nginx sends only to the ones that stay
    // (DNS would still name the leaving one until its record expires).
    ...(pinned ? [`upstream ${PINNED_UPSTREAM} {`, ...pinned.map((a) => `    server ${a} max_fails=0;`), '}', ''] : []),
    `map $host ${UPSTREAM_VAR} {`,
    `    default ${pinned ? PINNED_UPSTREAM : `${SERVICE.api(color)}:${config.api.port}`};`,
    '}',
    '',
    '# The colour serving this request, sent back as X-Served-By.',
    'map $host $modelship_active_color {',
    `    default ${SERVICE.api(color)};`,
    '}',
    '',
  ];
  return { path: 'nginx/upstream.conf', content: lines.join('\n') };
}

/** The colour an upstream.conf routes to (null when the text names none). */
export function upstreamColor(text: string): Color | null {
  const m = /^# modelship active color: (blue|green)$/m.exec(text);
  return m ? (m[1] as Color) : null;
}

function renderNginxConf(config: Config): string {
  const certs = certificatePaths(config);
  const serverNames = config.domains.join(' ');
  const timeout = config.api.requestTimeoutSeconds;
  const rate = config.rateLimit.nginx;

  const out: string[] = [];
  const push = (indent: number, ...lines: string[]): void => {
    for (const l of lines) out.push(l === '' ? '' : `${'    '.repeat(indent)}${l}`);
  };

  push(0,
    HEADER,
    `# Stack: ${config.project}. TLS mode: ${config.tls.mode}.`,
    'user nginx;',
    'worker_processes auto;',
    'worker_rlimit_nofile 65535;',
    'pid /var/run/nginx.pid;',
    'error_log /var/log/nginx/error.log warn;',
    '',
    'events {',
    '    worker_connections 4096;',
    '}',
    '',
    'http {',
  );
  push(1,
    'include /etc/nginx/mime.types;',
    'default_type application/octet-stream;',
    'charset utf-8;',
    'server_tokens off;',
    'sendfile on;',
    'tcp_nopush on;',
    'tcp_nodelay on;',
    'keepalive_timeout 65s;',
    '',
    `# Docker's embedded DNS: the API's name is re-resolved every ${RESOLVER_VALID_SECONDS} s, never cached for the TTL of a dead container.`,
    `resolver 127.0.0.11 valid=${RESOLVER_VALID_SECONDS}s ipv6=off;`,
    'resolver_timeout 5s;',
    '',
    '# One JSON object per request (read by promtail/Loki).',
    'log_format modelship_json escape=json',
    '    \'{"time":"$time_iso8601","request_id":"$request_id","remote_addr":"$remote_addr",\'',
    '    \'"method":"$request_method","uri":"$request_uri","status":$status,\'',
    '    \'"bytes_sent":$body_bytes_sent,"request_length":$request_length,\'',
    '    \'"request_time":$request_time,"upstream":"$upstream_addr",\'',
    '    \'"upstream_status":"$upstream_status","upstream_response_time":"$upstream_response_time",\'',
    '    \'"color":"$modelship_active_color","host":"$host","user_agent":"$http_user_agent"}\';',
    'access_log /var/log/nginx/access.log modelship_json;',
    '',
    '# Uploads: limits.maxRequestSize.',
    `client_max_body_size ${nginxSize(config.limits.maxRequestSize)};`,
    'client_body_buffer_size 1m;',
    `client_body_timeout ${timeout}s;`,
    '',
    '# Per-client-IP request rate: rateLimit.nginx.',
    `limit_req_zone $binary_remote_addr zone=modelship_req:10m rate=${rate.ratePerSecond}r/s;`,
    'limit_req_status 429;',
    'limit_req_log_level warn;',
    '',
  );
  if (config.compression.enabled) {
    push(1,
      'gzip on;',
      'gzip_vary on;',
      'gzip_proxied any;',
      'gzip_comp_level 5;',
      `gzip_min_length ${config.compression.minBytes};`,
      `gzip_types ${GZIP_TYPES.join(' ')};`,
      '',
    );
  } else {
    push(1, 'gzip off;', '');
  }
  push(1,
    '# Where requests go: the active API colour by name (rewritten by `modelship swap`).',
    `include ${MOUNT.nginxUpstream};`,
    '',
  );

  if (certs) {
    push(1,
      '# TLS: TLSv1.2 + TLSv1.3, ECDHE + AEAD suites only.',
      'ssl_protocols TLSv1.2 TLSv1.3;',
      `ssl_ciphers ${TLS12_CIPHERS};`,
      'ssl_prefer_server_ciphers off;',
      'ssl_ecdh_curve X25519:prime256v1:secp384r1;',
      'ssl_session_cache shared:modelship_tls:10m;',
      'ssl_session_timeout 1d;',
      'ssl_session_tickets off;',
    );
    if (config.tls.mode === 'letsencrypt') {
      push(1,
        '# No OCSP stapling: Let\'s Encrypt ended its OCSP service in 2025 and its certificates carry no',
        '# OCSP URL, so nginx would only warn "ssl_stapling ignored". Revocation goes through CRLs.',
      );
    }
    push(1, '');
  }

  // Port 80: ACME http-01 + redirect (TLS on) or the whole site (TLS off).
  push(1,
    'server {',
    `    listen ${INTERNAL_PORT.nginxHttp} default_server;`,
    `    server_name ${serverNames};`,
    '',
  );
  if (config.tls.mode !== 'custom') {
    push(2,
      '# ACME http-01 challenges (certbot --webroot).',
      'location ^~ /.well-known/acme-challenge/ {',
      `    root ${MOUNT.acmeWebroot};`,
      '    default_type text/plain;',
      '    try_files $uri =404;',
      '}',
      '',
    );
  }
  if (certs) {
    const httpsPort = config.ports.https === 443 ? '' : `:${config.ports.https}`;
    push(2,
      'location / {',
      `    return 301 https://$host${httpsPort}$request_uri;`,
      '}',
    );
  } else {
    push(2, '# tls.mode is off: plain HTTP, for development only.');
    siteBody(config, false).forEach((l) => push(2, l));
  }
  push(1, '}', '');

  if (certs) {
    push(1,
      'server {',
      `    listen ${INTERNAL_PORT.nginxHttps} ssl default_server;`,
      `    server_name ${serverNames};`,
      '',
      `    ssl_certificate ${certs.cert};`,
      `    ssl_certificate_key ${certs.key};`,
      '',
    );
    siteBody(config, true).forEach((l) => push(2, l));
    push(1, '}', '');
  }

  push(1,
    '# stub_status for the nginx exporter: stack network only, never published.',
    'server {',
    `    listen ${INTERNAL_PORT.nginxStatus};`,
    '    server_name _;',
    '    access_log off;',
    ...STACK_NETWORKS.map((n) => `    allow ${n};`),
    '    deny all;',
    `    location = ${NGINX_STATUS_PATH} {`,
    '        stub_status;',
    '    }',
    '    # Where the edge routes now (read by modelship status/doctor/deploy from inside nginx).',
    `    location = ${EDGE_ROUTE_PATH} {`,
    '        default_type text/plain;',
    '        return 200 "$modelship_active_color\\n";',
    '    }',
    '    location / {',
    '        return 404;',
    '    }',
    '}',
  );
  push(0, '}', '');
  return out.join('\n');
}

/**
 * The client address behind load balancers listed in api.trustedProxies (IPs and CIDRs; host
 * names cannot be expressed here): $remote_addr becomes the right-most X-Forwarded-For entry not
 * added by one of them, for the rate limit, the logs and the API.
 */
function realIpLines(config: Config): string[] {
  const cidrs = config.api.trustedProxies
    .flatMap((e) => {
      const r = parseTrustEntry(e);
      return typeof r === 'string' ? [] : r;
    })
    .filter((e): e is Extract<TrustEntry, { kind: 'cidr' }> => e.kind === 'cidr')
    .map((e) => `${e.address}/${e.prefix}`);
  if (cidrs.length === 0) return [];
  return ['# Load balancers in front of nginx (api.trustedProxies): believe their X-Forwarded-For.', ...[...new Set(cidrs)].map((c) => `set_real_ip_from ${c};`), 'real_ip_header X-Forwarded-For;', 'real_ip_recursive on;', ''];
}

/** Headers, proxy settings and locations shared by the HTTPS server (or the HTTP one when TLS is off). */
function siteBody(config: Config, tls: boolean): string[] {
  const timeout = config.api.requestTimeoutSeconds;
  const hsts = config.tls.hsts;
  const lines: string[] = ['# Security headers (every response, errors included).'];
  if (tls && hsts.enabled) {
    lines.push(`add_header Strict-Transport-Security "max-age=${hsts.maxAgeSeconds}${hsts.includeSubdomains ? '; includeSubDomains' : ''}" always;`);
  }
  lines.push(
    'add_header X-Content-Type-Options "nosniff" always;',
    'add_header X-Frame-Options "DENY" always;',
    'add_header Referrer-Policy "no-referrer" always;',
    'add_header Content-Security-Policy "default-src \'none\'; frame-ancestors \'none\'" always;',
    'add_header Cross-Origin-Resource-Policy "same-site" always;',
    'add_header Permissions-Policy "camera=(), microphone=(), geolocation=()" always;',
    'add_header X-Request-Id $request_id always;',
    'add_header X-Served-By $modelship_active_color always;',
    '',
    ...realIpLines(config),
    '# To the API: keep-alive, request id, client address; timeouts from api.requestTimeoutSeconds.',
    '# X-Forwarded-For is set to the address nginx saw, not appended to: a client cannot add entries.',
    'proxy_http_version 1.1;',
    'proxy_set_header Connection "";',
    'proxy_set_header Host $host;',
    'proxy_set_header X-Request-Id $request_id;',
    'proxy_set_header X-Real-IP $remote_addr;',
    'proxy_set_header X-Forwarded-For $remote_addr;',
    'proxy_set_header X-Forwarded-Proto $scheme;',
    'proxy_set_header X-Forwarded-Host $host;',
    'proxy_connect_timeout 5s;',
    `proxy_send_timeout ${timeout}s;`,
    `proxy_read_timeout ${timeout}s;`,
    'proxy_next_upstream error timeout http_502;',
    'proxy_next_upstream_tries 2;',
    '',
    '# Metrics are scraped inside the stack, never through the public edge.',
    'location = /health/metrics {',
    '    return 404;',
    '}',
    '',
    '# Health: passed through without rate limiting (load balancers and uptime checks).',
    'location = /health {',
    `    proxy_pass http://${UPSTREAM_VAR};`,
    '    access_log off;',
    '}',
    'location ^~ /health/ {',
    `    proxy_pass http://${UPSTREAM_VAR};`,
    '    access_log off;',
    '}',
    '',
    'location / {',
    `    limit_req zone=modelship_req burst=${config.rateLimit.nginx.burst} nodelay;`,
    '    # Large uploads stream to the API instead of being spooled to disk first.',
    '    proxy_request_buffering off;',
    `    proxy_pass http://${UPSTREAM_VAR};`,
    '}',
  );
  return lines;
}
