/**
 * Kubernetes manifests for running the API on a cluster: Namespace, ConfigMap (non-secret settings
 * and the config file itself), a Secret *template* (keys, never values), Deployment, Service,
 * HorizontalPodAutoscaler (autoscaling/v2) and PodDisruptionBudget (policy/v1). PostgreSQL and
 * Redis are expected to be provided by the cluster (managed services or their own charts) under the
 * names in the ConfigMap. Pure: Config → text.
 */
import { stringify } from 'yaml';
import { appEnvironment } from '../stack/build.ts';
import type { Config } from '../config/schema.ts';
import { METRICS_PATH } from '../stack/names.ts';
import type { RenderedFile } from './types.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.\n';

/** Where the config file is mounted in modelship's containers (the same path Compose uses). */
export const K8S_CONFIG_PATH = '/etc/modelship/modelship.config.yaml';
/** Non-root user the API runs as on Kubernetes. */
export const K8S_RUN_AS_USER = 10001;

export interface K8sNames {
  app: string;
  configMap: string;
  secret: string;
}

export function k8sNames(config: Config): K8sNames {
  // Kubernetes object names are DNS labels: the project name may hold `_`, which they may not.
  const base = config.project.replaceAll('_', '-');
  return { app: `${base}-api`, configMap: `${base}-config`, secret: `${base}-secrets` };
}

function labels(config: Config): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'modelship',
    'app.kubernetes.io/instance': config.project,
    'app.kubernetes.io/component': 'api',
    'app.kubernetes.io/part-of': 'modelship',
    'app.kubernetes.io/managed-by': 'modelship',
  };
}

function selector(config: Config): Record<string, string> {
  return { 'app.kubernetes.io/name': 'modelship', 'app.kubernetes.io/instance': config.project, 'app.kubernetes.io/component': 'api' };
}

function yamlDoc(value: unknown, note = ''): string {
  return HEADER + note + stringify(value, { lineWidth: 0, indent: 2 });
}

/** The non-secret settings, as environment variables (the same names Compose passes). */
export function k8sEnvironment(config: Config): Record<string, string> {
  return appEnvironment(config, 'api', K8S_CONFIG_PATH);
}

/** The manifests as objects (tests validate these with the Kubernetes schemas). */
export function k8sObjects(config: Config): Record<string, Record<string, unknown>> {
  const k = config.kubernetes;
  const ns = k.namespace;
  const n = k8sNames(config);
  const meta = (name: string): Record<string, unknown> => ({ name, namespace: ns, labels: labels(config) });
  const port = config.api.port;

  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: labels(config) } };

  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.configMap),
    data: {
      ...k8sEnvironment(config),
      // The validated config, so the server reads the same settings as under Compose. It holds
      // .env key *names* under `secrets:`, never values.
      'modelship.config.yaml': stringify(config, { lineWidth: 0, indent: 2, sortMapEntries: false }),
    },
  };

  const secretKeys = [...new Set(Object.values(config.secrets))].sort();
  const secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: meta(n.secret),
    type: 'Opaque',
    stringData: Object.fromEntries(secretKeys.map((key) => [key, ''])),
  };

  const probe = (path: string, periodSeconds: number, failureThreshold: number): Record<string, unknown> => ({
    httpGet: { path, port: 'http' },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });

  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(n.app),
    spec: {
      replicas: k.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector(config) },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(config),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': METRICS_PATH.api },
        },
        spec: {
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: config.api.requestTimeoutSeconds + 15,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: K8S_RUN_AS_USER,
            runAsGroup: K8S_RUN_AS_USER,
            fsGroup: K8S_RUN_AS_USER,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          topologySpreadConstraints: [
            { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(config) } },
          ],
          containers: [
            {
              name: 'api',
              image: config.images.api,
              imagePullPolicy: 'IfNotPresent',
              args: ['modelship', 'serve'],
              ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
              envFrom: [{ configMapRef: { name: n.configMap } }, { secretRef: { name: n.secret } }],
              resources: {
                requests: { cpu: k.requests.cpu, memory: k.requests.memory },
                limits: { cpu: k.limits.cpu, memory: k.limits.memory },
              },
              // Loading models can take a while: the startup probe holds the others off for up to 5 min.
              startupProbe: probe('/health/live', 5, 60),
              livenessProbe: probe('/health/live', 10, 3),
              readinessProbe: probe('/health/ready', 5, 3),
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: [
                { name: 'config', mountPath: K8S_CONFIG_PATH, subPath: 'modelship.config.yaml', readOnly: true },
                { name: 'models', mountPath: config.models.cacheDir },
                { name: 'tmp', mountPath: '/tmp' },
              ],
            },
          ],
          volumes: [
            { name: 'config', configMap: { name: n.configMap, items: [{ key: 'modelship.config.yaml', path: 'modelship.config.yaml' }] } },
            { name: 'models', emptyDir: {} },
            { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } },
          ],
        },
      },
    },
  };

  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.app),
    spec: {
      type: 'ClusterIP',
      selector: selector(config),
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };

  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(n.app),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n.app },
      minReplicas: k.replicas,
      maxReplicas: k.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: k.targetCpuPercent } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  };

  const pdb = {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(n.app),
    spec: {
      // maxUnavailable (not minAvailable): stays right when the HPA scales, and never blocks a
      // node drain when there is a single replica.
      maxUnavailable: 1,
      selector: { matchLabels: selector(config) },
    },
  };

  return { namespace, configmap: configMap, secret, deployment, service, hpa, pdb };
}

export function renderK8s(config: Config): RenderedFile[] {
  const o = k8sObjects(config);
  const secretNote =
    '# A TEMPLATE: fill in every value (from your .env) in a copy that never enters version control,\n' +
    '# or create the Secret with `kubectl create secret generic ... --from-env-file=.env`.\n';
  return [
    { path: 'k8s/namespace.yml', content: yamlDoc(o.namespace) },
    { path: 'k8s/configmap.yml', content: yamlDoc(o.configmap) },
    { path: 'k8s/secret.template.yml', content: yamlDoc(o.secret, secretNote) },
    { path: 'k8s/deployment.yml', content: yamlDoc(o.deployment) },
    { path: 'k8s/service.yml', content: yamlDoc(o.service) },
    { path: 'k8s/hpa.yml', content: yamlDoc(o.hpa) },
    { path: 'k8s/pdb.yml', content: yamlDoc(o.pdb) },
  ];
}
