/** Builds validated configs for tests from YAML snippets. */
import { analyzeConfig } from '../../src/config/analyze.ts';
import type { Config } from '../../src/config/schema.ts';

export const BASE_YAML = 'project: testing\ndomains: [api.example.com]\ntls:\n  mode: letsencrypt\n  email: ops@example.com\n';

export function configFrom(yaml: string): Config {
  const a = analyzeConfig(yaml, 'test.yaml', null);
  const errors = a.problems.filter((p) => p.severity === 'error');
  if (!a.config || errors.length > 0) throw new Error(`test config invalid: ${JSON.stringify(errors)}`);
  return a.config;
}

/** Variants that together switch every optional part on and off. */
export const VARIANTS: Record<string, string> = {
  defaults: BASE_YAML,
  'tls-off-minimal': 'project: minimal\ndomains: [localhost]\nenvironment: development\ntls: {mode: "off"}\nmonitoring:\n  grafana: {enabled: false}\n  loki: {enabled: false}\n  exporters: {postgres: false, redis: false, nginx: false, node: false}\ncompression: {enabled: false}\n',
  'tls-custom-renamed-secrets':
    'project: custom\ndomains: [api.example.com, www.example.com]\ntls: {mode: custom, certFile: ./certs/fullchain.pem, keyFile: ./certs/privkey.pem}\napi: {activeColor: green}\npostgres: {publish: true, port: 15432}\nredis: {publish: true, port: 16379, persistence: none}\nsecrets: {postgresPassword: PG_PASS, redisPassword: CACHE_PASS, grafanaAdminPassword: GF_PASS, secretKey: APP_KEY}\nworkers: {replicas: 0}\n',
};
