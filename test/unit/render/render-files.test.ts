/**
 * Pure checks on the rendered nginx, Prometheus, Grafana, Loki/promtail and Kubernetes files:
 * same config → same bytes, config values reach the files, secret values never do, and every
 * dashboard/alert query names a metric the stack defines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { analyzeConfig } from '../../../src/config/analyze.ts';
import type { Config } from '../../../src/config/schema.ts';
import { renderNginx, renderUpstream, nginxSize, upstreamColor } from '../../../src/render/nginx.ts';
import { renderPrometheus } from '../../../src/render/prometheus.ts';
import { renderGrafana, dashboardPanels } from '../../../src/render/grafana.ts';
import { renderLoki } from '../../../src/render/loki.ts';
import { renderK8s } from '../../../src/render/k8s.ts';
import type { RenderedFile } from '../../../src/render/types.ts';
import { EXPORTER_METRICS, METRIC } from '../../../src/stack/metrics.ts';
import { configWith, sampleConfig, sampleConfigText, TLS_MODES } from '../../helpers/render-config.ts';

function renderAll(config: Config): RenderedFile[] {
  return [...renderNginx(config), ...renderPrometheus(config), ...renderGrafana(config), ...renderLoki(config), ...renderK8s(config)];
}

function file(files: RenderedFile[], path: string): string {
  const f = files.find((x) => x.path === path);
  assert.ok(f, `${path} rendered`);
  return f.content;
}

test('rendering is deterministic: same config, same bytes, in the same order', () => {
  const a = renderAll(sampleConfig());
  const b = renderAll(sampleConfig());
  assert.deepEqual(b, a);
  for (const make of Object.values(TLS_MODES)) assert.deepEqual(renderAll(make()), renderAll(make()));
});

test('paths are relative, unique, and cover every file the brief names', () => {
  const files = renderAll(sampleConfig());
  const paths = files.map((f) => f.path);
  assert.equal(new Set(paths).size, paths.length);
  for (const p of paths) assert.match(p, /^[a-z0-9][a-z0-9._/-]*$/, p);
  assert.deepEqual(paths, [
    'nginx/nginx.conf',
    'nginx/upstream.conf',
    'prometheus/prometheus.yml',
    'prometheus/alerts.yml',
    'grafana/provisioning/datasources/datasources.yml',
    'grafana/provisioning/dashboards/dashboards.yml',
    'grafana/dashboards/modelship.json',
    'loki/loki.yml',
    'promtail/promtail.yml',
    'k8s/namespace.yml',
    'k8s/configmap.yml',
    'k8s/secret.template.yml',
    'k8s/deployment.yml',
    'k8s/service.yml',
    'k8s/hpa.yml',
    'k8s/pdb.yml',
    'k8s/worker-deployment.yml',
    'k8s/worker-pdb.yml',
    'k8s/migrate-job.yml',
    'k8s/backup-cronjob.yml',
    'k8s/backup-pvc.yml',
    'k8s/ingress.yml',
    'k8s/networkpolicy-default-deny.yml',
    'k8s/networkpolicy-api.yml',
    'k8s/networkpolicy-worker.yml',
  ]);
  for (const f of files) assert.ok(f.content.endsWith('\n'), `${f.path} ends with a newline`);
});

test('no secret value from .env appears in any rendered file', () => {
  const values = {
    SECRET_KEY: randomBytes(32).toString('base64url'),
    POSTGRES_PASSWORD: randomBytes(18).toString('base64url'),
    REDIS_PASSWORD: randomBytes(18).toString('base64url'),
    GRAFANA_ADMIN_PASSWORD: randomBytes(18).toString('base64url'),
  };
  const env = Object.entries(values).map(([k, v]) => `${k}=${v}`).join('\n') + '\n';
  const { config, env: parsedEnv, problems } = analyzeConfig(sampleConfigText(), 'modelship.config.yaml', { file: '.env', text: env });
  assert.ok(config, JSON.stringify(problems));
  assert.deepEqual(parsedEnv, values, 'the .env was read, so the values were available to leak');
  for (const f of renderAll(config)) {
    for (const [key, value] of Object.entries(values)) assert.ok(!f.content.includes(value), `${f.path} contains the value of ${key}`);
  }
});

test('the Secret template names every secret key with an empty value', () => {
  const config = sampleConfig();
  const secret = parse(file(renderK8s(config), 'k8s/secret.template.yml')) as { stringData: Record<string, string> };
  assert.deepEqual(Object.keys(secret.stringData).sort(), Object.values(config.secrets).sort());
  for (const v of Object.values(secret.stringData)) assert.equal(v, '');
  assert.match(file(renderK8s(config), 'k8s/secret.template.yml'), /TEMPLATE: fill in every value/);
});

test('nginx: config values reach nginx.conf', () => {
  const config = configWith({
    limits: { maxRequestSize: '123MB' },
    rateLimit: { nginx: { ratePerSecond: 7, burst: 33 } },
    api: { requestTimeoutSeconds: 91, port: 8123, activeColor: 'green' },
    tls: { hsts: { maxAgeSeconds: 1234, includeSubdomains: false } },
    compression: { minBytes: 777 },
    domains: ['a.example.com', 'b.example.com'],
  });
  const files = renderNginx(config);
  const conf = file(files, 'nginx/nginx.conf');
  assert.match(conf, /client_max_body_size 123m;/);
  assert.match(conf, /limit_req_zone \$binary_remote_addr zone=\S+ rate=7r\/s;/);
  assert.match(conf, /limit_req zone=\S+ burst=33 nodelay;/);
  assert.match(conf, /proxy_read_timeout 91s;/);
  assert.match(conf, /proxy_send_timeout 91s;/);
  assert.match(conf, /add_header Strict-Transport-Security "max-age=1234" always;/);
  assert.match(conf, /gzip_min_length 777;/);
  assert.match(conf, /server_name a\.example\.com b\.example\.com;/);
  assert.match(conf, /ssl_certificate \/etc\/letsencrypt\/current\/a\.example\.com\/fullchain\.pem;/);
  assert.match(conf, /ssl_protocols TLSv1\.2 TLSv1\.3;/);
  assert.match(conf, /proxy_set_header X-Request-Id \$request_id;/);
  assert.match(conf, /add_header X-Served-By \$modelship_active_color always;/);
  assert.match(conf, /resolver 127\.0\.0\.11 valid=2s/);
  assert.match(conf, /log_format \S+ escape=json/);
  assert.match(conf, /listen 8080;[\s\S]*stub_status;/);
  // /health is proxied without limit_req.
  const health = /location = \/health \{([^}]*)\}/.exec(conf);
  assert.ok(health);
  assert.doesNotMatch(health[1]!, /limit_req/);
  assert.match(health[1]!, /proxy_pass/);
  const upstream = file(files, 'nginx/upstream.conf');
  assert.match(upstream, /default api-green:8123;/);
  assert.match(upstream, /default api-green;/);
});

test('nginx: TLS modes', () => {
  const le = file(renderNginx(TLS_MODES.letsencrypt()), 'nginx/nginx.conf');
  assert.match(le, /location \^~ \/\.well-known\/acme-challenge\/ \{\s*root \/var\/www\/certbot;/);
  assert.match(le, /return 301 https:\/\/\$host\$request_uri;/);

  const custom = file(renderNginx(TLS_MODES.custom()), 'nginx/nginx.conf');
  assert.match(custom, /ssl_certificate \/etc\/nginx\/certs\/fullchain\.pem;/);
  assert.match(custom, /ssl_certificate_key \/etc\/nginx\/certs\/privkey\.pem;/);
  assert.doesNotMatch(custom, /letsencrypt/);

  const off = file(renderNginx(TLS_MODES.off()), 'nginx/nginx.conf');
  assert.doesNotMatch(off, /ssl_|listen 443|Strict-Transport-Security|return 301/);
  assert.match(off, /acme-challenge/, 'ACME location served over plain HTTP too');
  assert.match(off, /proxy_pass http:\/\/\$modelship_upstream;/);

  const port = file(renderNginx(configWith({ ports: { https: 8443 } })), 'nginx/nginx.conf');
  assert.match(port, /return 301 https:\/\/\$host:8443\$request_uri;/);

  const noGzip = file(renderNginx(configWith({ compression: { enabled: false } })), 'nginx/nginx.conf');
  assert.match(noGzip, /gzip off;/);
  assert.doesNotMatch(noGzip, /gzip_types/);
  const noHsts = file(renderNginx(configWith({ tls: { hsts: { enabled: false } } })), 'nginx/nginx.conf');
  assert.doesNotMatch(noHsts, /Strict-Transport-Security/);
});

test('nginx: renderUpstream names the colour\'s service (resolved by Docker DNS at request time), never addresses', () => {
  const config = sampleConfig();
  for (const color of ['blue', 'green'] as const) {
    const text = renderUpstream(config, color).content;
    assert.match(text, new RegExp(`map \\$host \\$modelship_upstream \\{\\n    default api-${color}:8000;`));
    assert.match(text, new RegExp(`default api-${color};`));
    assert.doesNotMatch(text, /\d+\.\d+\.\d+\.\d+/, 'no IP address');
    assert.equal(upstreamColor(text), color);
  }
  assert.equal(upstreamColor('upstream modelship_api { server 10.0.0.5:8000; }'), null);
  assert.equal(renderUpstream(config, 'blue').path, 'nginx/upstream.conf');
  // Pinned while an API replica is removed: only the addresses that stay, by an upstream block.
  const pinned = renderUpstream(config, 'blue', ['10.0.0.5:8000', '10.0.0.6:8000']).content;
  assert.match(pinned, /upstream modelship_pinned \{\n {4}server 10\.0\.0\.5:8000 max_fails=0;\n {4}server 10\.0\.0\.6:8000 max_fails=0;\n\}/);
  assert.match(pinned, /default modelship_pinned;/);
  assert.equal(upstreamColor(pinned), 'blue');
  assert.throws(() => renderUpstream(config, 'blue', []));
  const conf = file(renderNginx(config), 'nginx/nginx.conf');
  assert.match(conf, /resolver 127\.0\.0\.11 valid=2s ipv6=off;/);
  assert.equal((conf.match(/proxy_pass http:\/\/\$modelship_upstream;/g) ?? []).length, 3, 'every location proxies through the variable');
  assert.doesNotMatch(conf, /upstream modelship_api/);
  assert.equal(nginxSize('500MB'), '500m');
  assert.equal(nginxSize('512KB'), '512k');
  assert.equal(nginxSize('1GiB'), '1024m');
});

interface PromConfig {
  global: Record<string, unknown>;
  rule_files: string[];
  scrape_configs: Array<{ job_name: string; static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>; dns_sd_configs?: unknown[]; relabel_configs?: unknown[] }>;
}
interface Rules {
  groups: Array<{ rules: Array<{ alert: string; expr: string; for: string; labels: { severity: string }; annotations: { summary: string; description: string } }> }>;
}

test('prometheus: intervals, jobs and thresholds come from the config', () => {
  const config = configWith({
    monitoring: {
      prometheus: { scrapeInterval: '7s', evaluationInterval: '9s' },
      alerts: { errorRatePercent: 3, p95LatencySeconds: 1.5, queueLength: 250, backupMaxAgeHours: 30, diskUsedPercent: 80, memoryUsedPercent: 75 },
    },
  });
  const files = renderPrometheus(config);
  const prom = parse(file(files, 'prometheus/prometheus.yml')) as PromConfig;
  assert.equal(prom.global.scrape_interval, '7s');
  assert.equal(prom.global.evaluation_interval, '9s');
  assert.deepEqual(prom.rule_files, ['alerts.yml']);
  const jobs = prom.scrape_configs.map((j) => j.job_name);
  assert.deepEqual(jobs, ['prometheus', 'api-blue', 'api-green', 'worker', 'scheduler', 'postgres', 'redis', 'nginx', 'node']);
  // Each colour through Docker's DNS, so the stopped standby colour is no target (not a down one),
  // and both report as job="api" with their colour.
  for (const color of ['blue', 'green']) {
    const api = prom.scrape_configs.find((j) => j.job_name === `api-${color}`)!;
    assert.equal(api.static_configs, undefined);
    assert.deepEqual(api.dns_sd_configs, [{ names: [`api-${color}`], type: 'A', port: 8000, refresh_interval: '5s' }]);
    assert.deepEqual(api.relabel_configs, [{ target_label: 'job', replacement: 'api' }, { target_label: 'color', replacement: color }]);
  }
  assert.deepEqual(prom.scrape_configs.find((j) => j.job_name === 'worker')!.dns_sd_configs, [{ names: ['worker'], type: 'A', port: 9464, refresh_interval: '30s' }]);

  const rules = (parse(file(files, 'prometheus/alerts.yml')) as Rules).groups.flatMap((g) => g.rules);
  const byName = new Map(rules.map((r) => [r.alert, r]));
  for (const name of ['APIDown', 'HighErrorRate', 'HighResponseTime', 'DatabaseDown', 'DiskSpaceLow', 'HighMemoryUsage', 'QueueBacklog', 'BackupTooOld']) {
    const r = byName.get(name);
    assert.ok(r, `${name} rendered`);
    assert.match(r.for, /^\d+[smh]$/);
    assert.match(r.labels.severity, /^(critical|warning)$/);
    assert.ok(r.annotations.summary && r.annotations.description);
  }
  assert.match(byName.get('HighErrorRate')!.expr, /status=~"5\.\."[\s\S]* > 3$/);
  assert.match(byName.get('HighResponseTime')!.expr, /histogram_quantile\(0\.95, [\s\S]*http_request_duration_seconds_bucket[\s\S]* > 1\.5$/);
  assert.match(byName.get('QueueBacklog')!.expr, /modelship_jobs\{state="waiting"\}\) > 250$/);
  assert.match(byName.get('BackupTooOld')!.expr, / > 108000 or absent\(modelship_backup_last_success_timestamp_seconds\)$/);
  assert.match(byName.get('DiskSpaceLow')!.expr, / > 80$/);
  assert.match(byName.get('HighMemoryUsage')!.expr, / > 75$/);
  assert.match(byName.get('DatabaseDown')!.expr, /pg_up == 0/);
});

test('prometheus: disabled exporters are neither scraped nor alerted on', () => {
  const config = configWith({ monitoring: { exporters: { postgres: false, redis: false, nginx: false, node: false } } });
  const files = renderPrometheus(config);
  const prom = parse(file(files, 'prometheus/prometheus.yml')) as PromConfig;
  assert.deepEqual(prom.scrape_configs.map((j) => j.job_name), ['prometheus', 'api-blue', 'api-green', 'worker', 'scheduler']);
  const alerts = file(files, 'prometheus/alerts.yml');
  assert.doesNotMatch(alerts, /pg_up|redis_up|nginx_up|node_/);
});

/** Metric names in a PromQL expression (strings, label matchers, ranges and by/without lists removed). */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '')
    .replace(/\[[^\]]*\]/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without']);
  const names: string[] = [];
  for (const m of stripped.matchAll(/([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?/g)) {
    // A word followed by `(` is a function (sum, rate, histogram_quantile, absent, time).
    if (m[2] === undefined && !keywords.has(m[1]!)) names.push(m[1]!);
  }
  return names;
}

function known(name: string): boolean {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const ours = Object.values(METRIC) as string[];
  return ours.includes(name) || ours.includes(base) || (EXPORTER_METRICS as readonly string[]).includes(name);
}

test('grafana: files parse, and every panel and alert query names a metric the stack defines', () => {
  const config = sampleConfig();
  const files = renderGrafana(config);
  const dash = JSON.parse(file(files, 'grafana/dashboards/modelship.json')) as { uid: string; panels: Array<{ title: string; targets: Array<{ expr: string; datasource: { uid: string } }> }> };
  const ds = parse(file(files, 'grafana/provisioning/datasources/datasources.yml')) as { datasources: Array<{ uid: string; type: string; url: string }> };
  assert.deepEqual(ds.datasources.map((d) => d.type), ['prometheus', 'loki']);
  const provider = parse(file(files, 'grafana/provisioning/dashboards/dashboards.yml')) as { providers: Array<{ options: { path: string } }> };
  assert.equal(provider.providers[0]!.options.path, '/var/lib/grafana/dashboards');

  const titles = dash.panels.map((p) => p.title);
  for (const t of ['Request rate', 'Error rate (5xx)', 'p95 latency', 'Inference p95 latency', 'Queue length', 'Cache hit rate']) assert.ok(titles.includes(t), t);
  const used = new Set<string>();
  for (const p of dash.panels) {
    assert.ok(p.targets.length > 0, `${p.title} has a query`);
    for (const t of p.targets) {
      assert.equal(t.datasource.uid, ds.datasources[0]!.uid, `${p.title} uses the provisioned Prometheus`);
      const names = metricNames(t.expr);
      assert.ok(names.length > 0, `${p.title}: found a metric in ${t.expr}`);
      for (const n of names) {
        assert.ok(known(n), `${p.title}: ${n} is not a metric the stack defines`);
        used.add(n.replace(/_(bucket|sum|count)$/, ''));
      }
    }
  }
  for (const m of [METRIC.httpRequests, METRIC.httpDuration, METRIC.inferenceDuration, METRIC.jobs, METRIC.cacheHits]) assert.ok(used.has(m), `dashboard shows ${m}`);

  const rules = (parse(file(renderPrometheus(config), 'prometheus/alerts.yml')) as Rules).groups.flatMap((g) => g.rules);
  for (const r of rules) for (const n of metricNames(r.expr)) assert.ok(known(n), `${r.alert}: ${n} is not a metric the stack defines`);
  assert.deepEqual(metricNames('sum by (le) (rate(foo_bucket{job="x"}[5m])) > 2 or absent(bar)'), ['foo_bucket', 'bar'], 'the extractor itself works');
  assert.equal(dashboardPanels(config).length, dash.panels.length);
});

test('grafana and loki render nothing when disabled; loki datasource follows loki.enabled', () => {
  assert.deepEqual(renderGrafana(configWith({ monitoring: { grafana: { enabled: false } } })), []);
  assert.deepEqual(renderLoki(configWith({ monitoring: { loki: { enabled: false } } })), []);
  const ds = parse(file(renderGrafana(configWith({ monitoring: { loki: { enabled: false } } })), 'grafana/provisioning/datasources/datasources.yml')) as { datasources: Array<{ type: string }> };
  assert.deepEqual(ds.datasources.map((d) => d.type), ['prometheus']);
});

test('loki + promtail: retention and the project filter come from the config', () => {
  const config = configWith({ project: 'shop-ml', monitoring: { loki: { retention: '720h' } } });
  const files = renderLoki(config);
  const loki = parse(file(files, 'loki/loki.yml')) as { limits_config: { retention_period: string }; compactor: { retention_enabled: boolean } };
  assert.equal(loki.limits_config.retention_period, '720h');
  assert.equal(loki.compactor.retention_enabled, true);
  const promtail = parse(file(files, 'promtail/promtail.yml')) as {
    clients: Array<{ url: string }>;
    scrape_configs: Array<{ docker_sd_configs: Array<{ host: string; filters: Array<{ name: string; values: string[] }> }>; relabel_configs: Array<{ action?: string; regex?: string; source_labels: string[] }> }>;
  };
  assert.equal(promtail.clients[0]!.url, 'http://loki:3100/loki/api/v1/push');
  const sc = promtail.scrape_configs[0]!;
  assert.equal(sc.docker_sd_configs[0]!.host, 'unix:///var/run/docker.sock');
  assert.deepEqual(sc.docker_sd_configs[0]!.filters, [{ name: 'label', values: ['com.docker.compose.project=shop-ml'] }]);
  const keep = sc.relabel_configs.find((r) => r.action === 'keep')!;
  assert.deepEqual(keep.source_labels, ['__meta_docker_container_label_com_docker_compose_project']);
  assert.equal(keep.regex, 'shop-ml');
});

test('k8s: replicas, probes, resources and security come from the config', () => {
  const config = configWith({ kubernetes: { replicas: 4, maxReplicas: 9, targetCpuPercent: 55, requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '3', memory: '3Gi' } } });
  const files = renderK8s(config);
  type Container = { image: string; resources: unknown; livenessProbe: { httpGet: { path: string } }; readinessProbe: { httpGet: { path: string } }; startupProbe: unknown; securityContext: { readOnlyRootFilesystem: boolean; allowPrivilegeEscalation: boolean }; envFrom: unknown[] };
  const dep = parse(file(files, 'k8s/deployment.yml')) as { spec: { replicas: number; template: { spec: { securityContext: { runAsNonRoot: boolean }; containers: Container[] } } } };
  assert.equal(dep.spec.replicas, 4);
  const c = dep.spec.template.spec.containers[0]!;
  assert.equal(c.image, config.images.api);
  assert.deepEqual(c.resources, { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '3', memory: '3Gi' } });
  assert.equal(c.livenessProbe.httpGet.path, '/health/live');
  assert.equal(c.readinessProbe.httpGet.path, '/health/ready');
  assert.ok(c.startupProbe);
  assert.equal(c.securityContext.readOnlyRootFilesystem, true);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  assert.equal(dep.spec.template.spec.securityContext.runAsNonRoot, true);
  assert.deepEqual(c.envFrom, [{ configMapRef: { name: 'modelship-config' } }, { secretRef: { name: 'modelship-secrets' } }]);
  const hpa = parse(file(files, 'k8s/hpa.yml')) as { apiVersion: string; spec: { minReplicas: number; maxReplicas: number; metrics: Array<{ resource: { target: { averageUtilization: number } } }> } };
  assert.equal(hpa.apiVersion, 'autoscaling/v2');
  assert.equal(hpa.spec.minReplicas, 4);
  assert.equal(hpa.spec.maxReplicas, 9);
  assert.equal(hpa.spec.metrics[0]!.resource.target.averageUtilization, 55);
  assert.equal((parse(file(files, 'k8s/pdb.yml')) as { apiVersion: string }).apiVersion, 'policy/v1');
  const cm = parse(file(files, 'k8s/configmap.yml')) as { data: Record<string, string> };
  assert.equal((parse(cm.data['modelship.config.yaml']!) as { kubernetes: { replicas: number } }).kubernetes.replicas, 4, 'the config file in the ConfigMap is the validated config');
  for (const f of files) {
    const meta = (parse(f.content) as { metadata: { name: string; namespace?: string } }).metadata;
    assert.equal(meta.namespace ?? meta.name, config.kubernetes.namespace, `${f.path} is in the configured namespace`);
  }
});
