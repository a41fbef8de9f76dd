/**
 * The rendered Kubernetes manifests, parsed back from the YAML text that is written to disk, validated
 * against the Kubernetes OpenAPI schemas bundled in the `kubernetes-models` package. A broken manifest
 * must be rejected, proving the validator really checks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { Namespace, ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
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
};

function manifests(config: Config): Map<string, Json> {
  const out = new Map<string, Json>();
  for (const f of renderK8s(config)) out.set(f.path, parse(f.content) as Json);
  return out;
}

const CONFIGS: Array<[string, () => Config]> = [
  ['the sample config', sampleConfig],
  ['one replica, project with _', () => configWith({ project: 'my_stack', kubernetes: { replicas: 1, maxReplicas: 1, namespace: 'ml-prod' } })],
];

for (const [name, make] of CONFIGS) {
  test(`every rendered manifest validates against the Kubernetes schema (${name})`, () => {
    const docs = manifests(make());
    assert.deepEqual(
      [...docs.values()].map((d) => d.kind).sort(),
      ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Namespace', 'PodDisruptionBudget', 'Secret', 'Service'],
    );
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
