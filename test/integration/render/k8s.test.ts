/**
 * The rendered Kubernetes manifests, parsed back from the YAML text that is written to disk, validated
 * against the Kubernetes OpenAPI schemas bundled in the `kubernetes-models` package. A broken manifest
 * must be rejected, proving the validator really checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { Namespace, ConfigMap, Secret, Service, PersistentVolumeClaim } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { Ingress, NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { renderK8s } from '../../../src/render/k8s.ts';
import type { Config } from '../../../src/config/schema.ts';
import { configWith, sampleConfig } from '../../helpers/render-config.ts';

type Json = Record<string, unknown>;
const VALIDATORS: Record<string, (o: Json) => void> = {
  Namespace: (o) => new Namespace(o as never).validate(),
  ConfigMap: (o) => new ConfigMap(o as never).validate(),
  Secret: (o) => new Secret(o as never).validate(),
  Service: (o) => new Service(o as never).validate(),
  Deployment: (o) => new Deployment(o as never).validate(),
  HorizontalPodAutoscaler: (o) => new HorizontalPodAutoscaler(o as never).validate(),
  PodDisruptionBudget: (o) => new PodDisruptionBudget(o as never).validate(),
  PersistentVolumeClaim: (o) => new PersistentVolumeClaim(o as never).validate(),
  Job: (o) => new Job(o as never).validate(),
  CronJob: (o) => new CronJob(o as never).validate(),
  Ingress: (o) => new Ingress(o as never).validate(),
  NetworkPolicy: (o) => new NetworkPolicy(o as never).validate(),
};

function manifests(config: Config): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const f of renderK8s(config)) out.set(f.path, parse(f.content) as Json);
  return out;
}

const CONFIGS: Array<[string, () => Config]> = [
  ['the sample config', sampleConfig],
  ['one replica, project with _', () => configWith({ project: 'my_stack', kubernetes: { replicas: 1, maxReplicas: 1, namespace: 'ml-prod' } })],
  [
    'managed PostgreSQL and Redis outside the cluster, TLS by cert-manager, no queue workers',
    () =>
      configWith({
        workers: { replicas: 0 },
        kubernetes: {
          postgres: { host: 'db.prod.example.com', port: 6432 },
          redis: { host: 'cache.prod.example.com' },
          ingress: { clusterIssuer: 'letsencrypt', annotations: { 'example.com/team': 'ml' } },
          backupStorage: { size: '100Gi', storageClass: 'fast' },
        },
      }),
  ],
];

for (const [name, make] of CONFIGS) {
  test(`every rendered manifest validates against the Kubernetes schema (${name})`, () => {
    const docs = manifests(make());
    for (const kind of ['ConfigMap', 'CronJob', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'Job', 'Namespace', 'NetworkPolicy', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Secret', 'Service']) {
      assert.ok([...docs.values()].some((d) => d.kind === kind), `no ${kind} rendered`);
    }
    for (const [path, doc] of docs) {
      const validate = VALIDATORS[String(doc.kind)];
      assert.ok(validate, `${path}: no validator for kind ${String(doc.kind)}`);
      assert.doesNotThrow(() => validate(doc), `${path} is invalid`);
    }
  });
}

test('the validator rejects broken manifests (the check is real)', () => {
  const docs = manifests(sampleConfig());
  const deployment = structuredClone(docs.get('k8s/deployment.yml')!) as { spec: Json & { template: { spec: { containers: Json[] } } } };
  const badReplicas = structuredClone(deployment);
  badReplicas.spec.replicas = 'three';
  assert.throws(() => VALIDATORS.Deployment!(badReplicas as unknown as Json), /replicas/);

  const noImage = structuredClone(deployment);
  noImage.spec.template.spec.containers[0]!.name = undefined;
  assert.throws(() => VALIDATORS.Deployment!(JSON.parse(JSON.stringify(noImage)) as Json), /name/);

  const hpa = structuredClone(docs.get('k8s/hpa.yml')!) as { spec: Json };
  delete hpa.spec.scaleTargetRef;
  assert.throws(() => VALIDATORS.HorizontalPodAutoscaler!(hpa as unknown as Json), /scaleTargetRef/);
});

type Pod = { containers: Array<{ args: string[]; envFrom: unknown[]; env?: Array<{ name: string; value: string }>; volumeMounts: Array<{ name: string; mountPath: string }> }>; volumes: Array<Record<string, unknown>>; restartPolicy?: string };

test('the whole stack: API and workers Deployments, the migration Job per image, the backup CronJob on its PVC', () => {
  const config = sampleConfig();
  const docs = manifests(config);
  const worker = docs.get('k8s/worker-deployment.yml') as { spec: { replicas: number; template: { spec: Pod } } };
  assert.equal(worker.spec.replicas, config.workers.replicas);
  assert.deepEqual(worker.spec.template.spec.containers[0]!.args.slice(0, 2), ['modelship', 'worker']);
  assert.deepEqual(worker.spec.template.spec.containers[0]!.env, [{ name: 'MODELSHIP_ROLE', value: 'worker' }]);
  assert.ok(docs.get('k8s/worker-pdb.yml'));

  const job = docs.get('k8s/migrate-job.yml') as { metadata: { name: string }; spec: { template: { spec: Pod } } };
  assert.deepEqual(job.spec.template.spec.containers[0]!.args, ['modelship', 'db', 'migrate', '--direct']);
  assert.equal(job.spec.template.spec.restartPolicy, 'OnFailure');
  // Jobs are immutable: a new release (image) gets a new Job name, the same image the same one.
  const other = manifests(configWith({ images: { api: 'shop/api:9.9.9' } })).get('k8s/migrate-job.yml') as { metadata: { name: string } };
  assert.notEqual(job.metadata.name, other.metadata.name);
  assert.equal((manifests(sampleConfig()).get('k8s/migrate-job.yml') as { metadata: { name: string } }).metadata.name, job.metadata.name);

  const cron = docs.get('k8s/backup-cronjob.yml') as { spec: { schedule: string; timeZone: string; concurrencyPolicy: string; jobTemplate: { spec: { template: { spec: Pod } } } } };
  assert.equal(cron.spec.schedule, config.backups.schedule);
  assert.equal(cron.spec.timeZone, 'Etc/UTC');
  assert.equal(cron.spec.concurrencyPolicy, 'Forbid');
  const pod = cron.spec.jobTemplate.spec.template.spec;
  assert.deepEqual(pod.containers[0]!.args.slice(0, 3), ['modelship', 'backup', '--direct']);
  const claim = pod.volumes.find((v) => v.name === 'backups') as { persistentVolumeClaim: { claimName: string } };
  const pvc = docs.get('k8s/backup-pvc.yml') as { metadata: { name: string } };
  assert.equal(claim.persistentVolumeClaim.claimName, pvc.metadata.name);
});

test('Ingress serves every domain with TLS unless tls is off; body size and timeouts follow the config', () => {
  const config = sampleConfig();
  const ing = manifests(config).get('k8s/ingress.yml') as { metadata: { annotations: Record<string, string> }; spec: { tls?: Array<{ hosts: string[] }>; rules: Array<{ host: string }> } };
  assert.deepEqual(ing.spec.rules.map((r) => r.host), config.domains);
  if (config.tls.mode !== 'off') assert.deepEqual(ing.spec.tls![0]!.hosts, config.domains);
  assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'], String(config.api.requestTimeoutSeconds + 5));
  const off = manifests(configWith({ tls: { mode: 'off' } })).get('k8s/ingress.yml') as { spec: { tls?: unknown } };
  assert.equal(off.spec.tls, undefined);
  assert.equal(manifests(configWith({ kubernetes: { ingress: { enabled: false } } })).get('k8s/ingress.yml'), undefined);
});

test('PostgreSQL and Redis: a bare name is a Service of the namespace, a DNS name an ExternalName Service the pods use', () => {
  const inCluster = manifests(sampleConfig());
  const cm = inCluster.get('k8s/configmap.yml') as { data: Record<string, string> };
  assert.equal(cm.data.DATABASE_HOST, 'postgres');
  assert.equal(inCluster.get('k8s/postgres-service.yml'), undefined);

  const ext = manifests(configWith({ kubernetes: { postgres: { host: 'db.prod.example.com', port: 6432 } } }));
  const svc = ext.get('k8s/postgres-service.yml') as { metadata: { name: string }; spec: { type: string; externalName: string } };
  assert.equal(svc.spec.type, 'ExternalName');
  assert.equal(svc.spec.externalName, 'db.prod.example.com');
  const data = (ext.get('k8s/configmap.yml') as { data: Record<string, string> }).data;
  assert.equal(data.DATABASE_HOST, svc.metadata.name);
  assert.equal(data.DATABASE_PORT, '6432');
  // The NetworkPolicy lets the pods reach that port, and DNS, and nothing else.
  const deny = ext.get('k8s/networkpolicy-default-deny.yml') as { spec: { policyTypes: string[]; egress: Array<{ ports: Array<{ port: number }> }> } };
  assert.deepEqual(deny.spec.policyTypes, ['Ingress', 'Egress']);
  assert.deepEqual(deny.spec.egress.flatMap((e) => e.ports.map((p) => p.port)).sort(), [53, 53, 6379, 6432].sort());
});
