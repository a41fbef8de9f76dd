/**
 * Kubernetes manifests for the same stack on a cluster: Namespace, ConfigMap (non-secret settings
 * and the config file itself), a Secret *template* (keys, never values), the API Deployment with its
 * Service, HorizontalPodAutoscaler (autoscaling/v2) and PodDisruptionBudget (policy/v1), the queue
 * workers' Deployment and PodDisruptionBudget, the migration Job (named after the image, so each
 * release runs its own), the backup CronJob with its PersistentVolumeClaim, an Ingress for the
 * domains, NetworkPolicies (default deny for the stack's pods, then only what each needs), and
 * ExternalName Services for a PostgreSQL and Redis that live outside the cluster. PostgreSQL and
 * Redis themselves are the cluster's (managed services or their own charts). Pure: Config → text.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { appEnvironment } from '../stack/build.ts';
import type { Config } from '../config/schema.ts';
import { INTERNAL_PORT, METRICS_PATH } from '../stack/names.ts';
import { nginxSize } from './nginx.ts';
import type { RenderedFile } from './types.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.\n';

/** Where the config file is mounted in modelship's containers (the same path Compose uses). */
export const K8S_CONFIG_PATH = '/etc/modelship/modelship.config.yaml';
/** Non-root user the API runs as on Kubernetes. */
export const K8S_RUN_AS_USER = 10001;
/** Where the backup CronJob mounts its volume. */
export const K8S_BACKUP_DIR = '/var/backups/modelship';

type Obj = Record<string, unknown>;
type Component = 'api' | 'worker' | 'migrate' | 'backup';

export interface K8sNames {
  app: string;
  worker: string;
  migrate: string;
  backup: string;
  backupClaim: string;
  configMap: string;
  secret: string;
  ingress: string;
  tlsSecret: string;
  postgres: string;
  redis: string;
}

export function k8sNames(config: Config): K8sNames {
  // Kubernetes object names are DNS labels: the project name may hold `_`, which they may not.
  const base = config.project.replaceAll('_', '-');
  return {
    app: `${base}-api`,
    worker: `${base}-worker`,
    migrate: `${base}-migrate`,
    backup: `${base}-backup`,
    backupClaim: `${base}-backups`,
    configMap: `${base}-config`,
    secret: `${base}-secrets`,
    ingress: `${base}-api`,
    tlsSecret: config.kubernetes.ingress.tlsSecret ?? `${base}-tls`,
    postgres: `${base}-postgres`,
    redis: `${base}-redis`,
  };
}

function labels(config: Config, component: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'modelship',
    'app.kubernetes.io/instance': config.project,
    'app.kubernetes.io/component': component,
    'app.kubernetes.io/part-of': 'modelship',
    'app.kubernetes.io/managed-by': 'modelship',
  };
}

function selector(config: Config, component: Component): Record<string, string> {
  return { 'app.kubernetes.io/name': 'modelship', 'app.kubernetes.io/instance': config.project, 'app.kubernetes.io/component': component };
}

function yamlDoc(value: unknown, note = ''): string {
  return HEADER + note + stringify(value, { lineWidth: 0, indent: 2 });
}

/** An external database is named by a DNS name with a dot; a bare name is a Service in the namespace. */
function isExternalHost(host: string): boolean {
  return host.includes('.');
}

/**
 * Where the pods reach PostgreSQL and Redis: a Service of the namespace by its bare name, or, for a
 * host outside the cluster, the ExternalName Service that points at it (so its name can change
 * without touching a Deployment).
 */
function dataHosts(config: Config): { postgres: string; redis: string } {
  const k = config.kubernetes;
  const n = k8sNames(config);
  return {
    postgres: isExternalHost(k.postgres.host) ? n.postgres : k.postgres.host,
    redis: isExternalHost(k.redis.host) ? n.redis : k.redis.host,
  };
}

/** The non-secret settings, as environment variables (the same names Compose passes). */
export function k8sEnvironment(config: Config): Record<string, string> {
  const hosts = dataHosts(config);
  return {
    ...appEnvironment(config, 'api', K8S_CONFIG_PATH),
    DATABASE_HOST: hosts.postgres,
    DATABASE_PORT: String(config.kubernetes.postgres.port),
    REDIS_HOST: hosts.redis,
    REDIS_PORT: String(config.kubernetes.redis.port),
  };
}

/** Short, stable digest of the API image: the migration Job is immutable, so each release gets its own. */
function imageDigest(image: string): string {
  return createHash('sha256').update(image).digest('hex').slice(0, 10);
}

const podSecurity = {
  runAsNonRoot: true,
  runAsUser: K8S_RUN_AS_USER,
  runAsGroup: K8S_RUN_AS_USER,
  fsGroup: K8S_RUN_AS_USER,
  seccompProfile: { type: 'RuntimeDefault' },
};

const containerSecurity = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ['ALL'] },
};

function httpProbe(path: string, port: string, periodSeconds: number, failureThreshold: number): Obj {
  return { httpGet: { path, port }, periodSeconds, timeoutSeconds: 5, failureThreshold };
}

/** A modelship container: the API image, config and secrets from the ConfigMap and Secret, read-only root. */
function appContainer(config: Config, name: string, role: string, args: string[], extra: Obj = {}): Obj {
  const k = config.kubernetes;
  const n = k8sNames(config);
  return {
    name,
    image: config.images.api,
    imagePullPolicy: 'IfNotPresent',
    args,
    envFrom: [{ configMapRef: { name: n.configMap } }, { secretRef: { name: n.secret } }],
    // The ConfigMap says `api`; the other processes say who they are (logs and metrics carry it).
    env: [{ name: 'MODELSHIP_ROLE', value: role }],
    resources: { requests: { cpu: k.requests.cpu, memory: k.requests.memory }, limits: { cpu: k.limits.cpu, memory: k.limits.memory } },
    securityContext: containerSecurity,
    ...extra,
    volumeMounts: [
      { name: 'config', mountPath: K8S_CONFIG_PATH, subPath: 'modelship.config.yaml', readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
      ...((extra.volumeMounts as Obj[] | undefined) ?? []),
    ],
  };
}

function appVolumes(config: Config, extra: Obj[] = []): Obj[] {
  const n = k8sNames(config);
  return [
    { name: 'config', configMap: { name: n.configMap, items: [{ key: 'modelship.config.yaml', path: 'modelship.config.yaml' }] } },
    { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '256Mi' } },
    ...extra,
  ];
}

function podSpec(config: Config, component: Component, containers: Obj[], volumes: Obj[], extra: Obj = {}): Obj {
  return {
    automountServiceAccountToken: false,
    securityContext: podSecurity,
    ...(component === 'api' || component === 'worker'
      ? { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(config, component) } }] }
      : {}),
    ...extra,
    containers,
    volumes,
  };
}

function apiDeployment(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const k = config.kubernetes;
  const n = k8sNames(config);
  const port = config.api.port;
  const container = appContainer(config, 'api', 'api', ['modelship', 'serve'], {
    ports: [{ name: 'http', containerPort: port, protocol: 'TCP' }],
    // Loading models can take a while: the startup probe holds the others off for up to 5 min.
    startupProbe: httpProbe('/health/live', 'http', 5, 60),
    livenessProbe: httpProbe('/health/live', 'http', 10, 3),
    readinessProbe: httpProbe('/health/ready', 'http', 5, 3),
    volumeMounts: [{ name: 'models', mountPath: config.models.cacheDir }],
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(n.app, 'api'),
    spec: {
      replicas: k.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector(config, 'api') },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(config, 'api'),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': METRICS_PATH.api },
        },
        spec: podSpec(config, 'api', [container], appVolumes(config, [{ name: 'models', emptyDir: {} }]), {
          terminationGracePeriodSeconds: config.api.requestTimeoutSeconds + 15,
        }),
      },
    },
  };
}

function workerDeployment(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const n = k8sNames(config);
  const metricsPort = INTERNAL_PORT.workerMetrics;
  const container = appContainer(config, 'worker', 'worker', ['modelship', 'worker', '--metrics-port', String(metricsPort)], {
    ports: [{ name: 'metrics', containerPort: metricsPort, protocol: 'TCP' }],
    startupProbe: httpProbe('/health', 'metrics', 5, 60),
    livenessProbe: httpProbe('/health', 'metrics', 10, 3),
    volumeMounts: [{ name: 'models', mountPath: config.models.cacheDir }],
  });
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(n.worker, 'worker'),
    spec: {
      replicas: config.workers.replicas,
      revisionHistoryLimit: 5,
      selector: { matchLabels: selector(config, 'worker') },
      // A worker finishes its job on SIGTERM (workers.stopGracePeriodSeconds): never two fewer at once.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: {
          labels: labels(config, 'worker'),
          annotations: { 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(metricsPort), 'prometheus.io/path': METRICS_PATH.worker },
        },
        spec: podSpec(config, 'worker', [container], appVolumes(config, [{ name: 'models', emptyDir: {} }]), {
          terminationGracePeriodSeconds: config.workers.stopGracePeriodSeconds + 5,
        }),
      },
    },
  };
}

/** `modelship db migrate --direct`, once per image: apply it before the Deployments roll (e.g. a Helm/Argo pre-sync hook). */
function migrationJob(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const n = k8sNames(config);
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      ...meta(`${n.migrate}-${imageDigest(config.images.api)}`, 'migrate'),
      annotations: { 'modelship.dev/image': config.images.api },
    },
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 900,
      ttlSecondsAfterFinished: 7 * 24 * 3600,
      template: {
        metadata: { labels: labels(config, 'migrate') },
        spec: podSpec(config, 'migrate', [appContainer(config, 'migrate', 'migrate', ['modelship', 'db', 'migrate', '--direct'])], appVolumes(config), {
          restartPolicy: 'OnFailure',
        }),
      },
    },
  };
}

/** `modelship backup --direct` on backups.schedule (UTC), into a PersistentVolumeClaim; never two at once. */
function backupCronJob(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const n = k8sNames(config);
  const container = appContainer(config, 'backup', 'backup', ['modelship', 'backup', '--direct', '--dir', K8S_BACKUP_DIR], {
    volumeMounts: [{ name: 'backups', mountPath: K8S_BACKUP_DIR }],
  });
  return {
    apiVersion: 'batch/v1',
    kind: 'CronJob',
    metadata: meta(n.backup, 'backup'),
    spec: {
      schedule: config.backups.schedule,
      timeZone: 'Etc/UTC',
      concurrencyPolicy: 'Forbid',
      startingDeadlineSeconds: 3600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 5,
      jobTemplate: {
        spec: {
          backoffLimit: 2,
          template: {
            metadata: { labels: labels(config, 'backup') },
            spec: podSpec(config, 'backup', [container], appVolumes(config, [{ name: 'backups', persistentVolumeClaim: { claimName: n.backupClaim } }]), {
              restartPolicy: 'OnFailure',
            }),
          },
        },
      },
    },
  };
}

function backupClaim(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const k = config.kubernetes;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: meta(k8sNames(config).backupClaim, 'backup'),
    spec: {
      accessModes: ['ReadWriteOnce'],
      ...(k.backupStorage.storageClass ? { storageClassName: k.backupStorage.storageClass } : {}),
      resources: { requests: { storage: k.backupStorage.size } },
    },
  };
}

/** The domains, to the API Service; TLS from a Secret (cert-manager fills it when an issuer is named). */
function ingress(config: Config, meta: (name: string, c: Component) => Obj): Obj {
  const ing = config.kubernetes.ingress;
  const n = k8sNames(config);
  const annotations: Record<string, string> = {
    // ingress-nginx reads these; other controllers ignore them.
    'nginx.ingress.kubernetes.io/proxy-body-size': nginxSize(config.limits.maxRequestSize),
    'nginx.ingress.kubernetes.io/proxy-read-timeout': String(config.api.requestTimeoutSeconds + 5),
    'nginx.ingress.kubernetes.io/proxy-send-timeout': String(config.api.requestTimeoutSeconds + 5),
    ...(ing.clusterIssuer ? { 'cert-manager.io/cluster-issuer': ing.clusterIssuer } : {}),
    ...ing.annotations,
  };
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { ...meta(n.ingress, 'api'), annotations },
    spec: {
      ingressClassName: ing.className,
      ...(config.tls.mode === 'off' ? {} : { tls: [{ hosts: config.domains, secretName: n.tlsSecret }] }),
      rules: config.domains.map((host) => ({
        host,
        http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: n.app, port: { name: 'http' } } } }] },
      })),
    },
  };
}

/**
 * Default deny for every pod of the stack, then: the API takes HTTP from the ingress controller's
 * namespace and from the monitoring namespace (metrics); the workers take metrics scrapes; every
 * pod may resolve names and reach PostgreSQL and Redis (anywhere: a managed database has no pod
 * selector), and nothing else.
 */
function networkPolicies(config: Config, meta: (name: string, c: Component) => Obj): Obj[] {
  const k = config.kubernetes;
  const n = k8sNames(config);
  const stackPods = { matchLabels: { 'app.kubernetes.io/name': 'modelship', 'app.kubernetes.io/instance': config.project } };
  const fromNamespace = (name: string): Obj => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': name } } });
  const dns = { ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }] };
  const data = { ports: [{ protocol: 'TCP', port: k.postgres.port }, { protocol: 'TCP', port: k.redis.port }] };
  return [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`${n.app}-default-deny`, 'api'),
      spec: { podSelector: stackPods, policyTypes: ['Ingress', 'Egress'], egress: [dns, data] },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`${n.app}-ingress`, 'api'),
      spec: {
        podSelector: { matchLabels: selector(config, 'api') },
        policyTypes: ['Ingress'],
        ingress: [{ from: [fromNamespace(k.ingress.controllerNamespace), fromNamespace(k.monitoringNamespace)], ports: [{ protocol: 'TCP', port: 'http' }] }],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: meta(`${n.worker}-metrics`, 'worker'),
      spec: {
        podSelector: { matchLabels: selector(config, 'worker') },
        policyTypes: ['Ingress'],
        ingress: [{ from: [fromNamespace(k.monitoringNamespace)], ports: [{ protocol: 'TCP', port: 'metrics' }] }],
      },
    },
  ];
}

function externalServices(config: Config, meta: (name: string, c: Component) => Obj): Record<string, Obj> {
  const k = config.kubernetes;
  const n = k8sNames(config);
  const out: Record<string, Obj> = {};
  const external = (name: string, host: string, port: number, portName: string): Obj => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(name, 'api'),
    spec: { type: 'ExternalName', externalName: host, ports: [{ name: portName, port, protocol: 'TCP' }] },
  });
  if (isExternalHost(k.postgres.host)) out['postgres-service'] = external(n.postgres, k.postgres.host, k.postgres.port, 'postgres');
  if (isExternalHost(k.redis.host)) out['redis-service'] = external(n.redis, k.redis.host, k.redis.port, 'redis');
  return out;
}

/** The manifests as objects, keyed by file stem (tests validate these with the Kubernetes schemas). */
export function k8sObjects(config: Config): Record<string, Obj> {
  const k = config.kubernetes;
  const ns = k.namespace;
  const n = k8sNames(config);
  const meta = (name: string, component: Component): Obj => ({ name, namespace: ns, labels: labels(config, component) });

  const namespace = { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: labels(config, 'api') } };

  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: meta(n.configMap, 'api'),
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
    metadata: meta(n.secret, 'api'),
    type: 'Opaque',
    stringData: Object.fromEntries(secretKeys.map((key) => [key, ''])),
  };

  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(n.app, 'api'),
    spec: { type: 'ClusterIP', selector: selector(config, 'api'), ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }] },
  };

  const hpa = {
    apiVersion: 'autoscaling/v2',
    kind: 'HorizontalPodAutoscaler',
    metadata: meta(n.app, 'api'),
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: n.app },
      minReplicas: k.replicas,
      maxReplicas: k.maxReplicas,
      metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: k.targetCpuPercent } } }],
      behavior: { scaleDown: { stabilizationWindowSeconds: 300 } },
    },
  };

  // maxUnavailable (not minAvailable): stays right when the HPA scales, and never blocks a node
  // drain when there is a single replica.
  const pdb = (name: string, component: Component): Obj => ({
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: meta(name, component),
    spec: { maxUnavailable: 1, selector: { matchLabels: selector(config, component) } },
  });

  const [denyAll, apiIngress, workerMetrics] = networkPolicies(config, meta);
  return {
    namespace,
    configmap: configMap,
    secret,
    deployment: apiDeployment(config, meta),
    service,
    hpa,
    pdb: pdb(n.app, 'api'),
    ...(config.workers.replicas > 0 ? { 'worker-deployment': workerDeployment(config, meta), 'worker-pdb': pdb(n.worker, 'worker') } : {}),
    'migrate-job': migrationJob(config, meta),
    'backup-cronjob': backupCronJob(config, meta),
    'backup-pvc': backupClaim(config, meta),
    ...(k.ingress.enabled ? { ingress: ingress(config, meta) } : {}),
    'networkpolicy-default-deny': denyAll!,
    'networkpolicy-api': apiIngress!,
    'networkpolicy-worker': workerMetrics!,
    ...externalServices(config, meta),
  };
}

export function renderK8s(config: Config): RenderedFile[] {
  const secretNote =
    '# A TEMPLATE: fill in every value (from your .env) in a copy that never enters version control,\n' +
    '# or create the Secret with `kubectl create secret generic ... --from-env-file=.env`.\n';
  const jobNote = '# Apply before the Deployments roll to a new image (e.g. as a pre-sync hook): one Job per image.\n';
  return Object.entries(k8sObjects(config)).map(([stem, obj]) => ({
    path: `k8s/${stem === 'secret' ? 'secret.template' : stem}.yml`,
    content: yamlDoc(obj, stem === 'secret' ? secretNote : stem === 'migrate-job' ? jobNote : ''),
  }));
}
