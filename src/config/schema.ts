/**
 * The schema of `modelship.config.yaml`: every key, its type, its production default (from the
 * deployment guide) and its description. Pure: no I/O. The JSON Schema that editors use is derived
 * from this file (`modelship config schema`), so descriptions here are the user's documentation.
 */
import { z } from 'zod';
import { isValidCron } from './cron.ts';
import { hubSpecProblem } from './hub-ref.ts';
import { parseTrustEntry } from './trusted-proxies.ts';

// ---------------------------------------------------------------------------------------------
// Scalar types with their own rules

const SIZE_RE = /^\d+(\.\d+)?\s*(B|K|KB|KiB|M|MB|MiB|G|GB|GiB|T|TB|TiB)$/i;
/** A byte size such as `50MB`, `1GiB` or `512KB`. */
export const Size = z
  .string({ error: 'a size such as 50MB' })
  .regex(SIZE_RE, { error: 'a size such as 50MB, 512KB or 1GiB' })
  .meta({ examples: ['50MB', '1GiB'] });

/** A PostgreSQL memory setting: an integer with kB, MB, GB or TB. */
const PgMemory = z
  .string({ error: 'a PostgreSQL memory size such as 256MB' })
  .regex(/^\d+(kB|MB|GB|TB)$/, { error: 'a PostgreSQL memory size such as 256MB (units kB, MB, GB, TB; case matters)' });

/** A Prometheus duration such as `15s`, `5m`, `15d`. */
const Duration = z
  .string({ error: 'a duration such as 15s, 5m or 15d' })
  .regex(/^(\d+(ms|s|m|h|d|w|y))+$/, { error: 'a duration such as 15s, 5m or 15d' });

/** A Docker log size such as `10m`. */
const LogSize = z.string().regex(/^\d+[kmg]$/, { error: 'a size such as 10m (k, m or g)' });

const Cron = z
  .string({ error: 'a cron expression such as "0 2 * * *"' })
  .refine(isValidCron, { error: 'a valid 5-field cron expression (minute hour day-of-month month day-of-week), such as "0 2 * * *"' });

const Port = z.int({ error: 'a port number' }).min(1, { error: 'a port between 1 and 65535' }).max(65535, { error: 'a port between 1 and 65535' });

const EnvKey = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, { error: 'the name of a key in .env (UPPER_CASE letters, digits, _)' });

const HOSTNAME_RE = /^(?=.{1,253}$)(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const Hostname = z.string().regex(HOSTNAME_RE, { error: 'a DNS name such as api.example.com' });

/** A pinned image reference: name with a tag or digest, never `latest`. */
export const Image = z
  .string({ error: 'an image reference such as postgres:16-alpine' })
  .regex(/^[a-z0-9]([a-z0-9._/:-]*[a-z0-9])?(@sha256:[a-f0-9]{64})?$/, { error: 'an image reference such as postgres:16-alpine' })
  .refine((s) => /@sha256:/.test(s) || /:[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s.split('/').pop() ?? ''), {
    error: 'a pinned tag or digest (name:tag); an untagged image means `latest`, which changes under you',
  })
  .refine((s) => !/:latest$/.test(s), { error: 'a pinned tag, not `latest` (a redeploy would silently change what runs)' });

const Origin = z.string().refine((s) => s === '*' || /^https?:\/\/[^/\s]+$/.test(s), {
  error: 'an origin such as https://app.example.com (scheme and host, no path) or *',
});

const Percent = z.number().min(0).max(100);

// ---------------------------------------------------------------------------------------------
// Sections

const Tls = z
  .strictObject({
    mode: z.enum(['letsencrypt', 'custom', 'off']).default('letsencrypt').describe(
      'letsencrypt: certificates from Let\'s Encrypt (ACME http-01) with a renewing certbot service; custom: your own files; off: plain HTTP (development only)',
    ),
    email: z.email({ error: 'an e-mail address for Let\'s Encrypt expiry notices' }).optional().describe('Let\'s Encrypt account e-mail (required for mode letsencrypt)'),
    staging: z.boolean().default(false).describe('use Let\'s Encrypt\'s staging CA (for testing, untrusted certificates)'),
    certFile: z.string().min(1).optional().describe('custom mode: PEM certificate chain, path on the host'),
    keyFile: z.string().min(1).optional().describe('custom mode: PEM private key, path on the host'),
    hsts: z
      .strictObject({
        enabled: z.boolean().default(true),
        maxAgeSeconds: z.int().min(0).default(63072000),
        includeSubdomains: z.boolean().default(true),
      })
      .prefault({}),
  })
  .superRefine((tls, ctx) => {
    if (tls.mode === 'letsencrypt' && !tls.email) {
      ctx.addIssue({ code: 'custom', path: ['email'], message: 'an e-mail address: tls.mode letsencrypt needs tls.email for the ACME account' });
    }
    if (tls.mode === 'custom') {
      if (!tls.certFile) ctx.addIssue({ code: 'custom', path: ['certFile'], message: 'a certificate path: tls.mode custom needs tls.certFile' });
      if (!tls.keyFile) ctx.addIssue({ code: 'custom', path: ['keyFile'], message: 'a key path: tls.mode custom needs tls.keyFile' });
    }
  });

const Images = z
  .strictObject({
    api: Image.default('modelship/api:0.1.0').describe('the modelship server image (built by `modelship build`)'),
    nginx: Image.default('nginx:1.27-alpine'),
    postgres: Image.default('postgres:16-alpine'),
    redis: Image.default('redis:7.4-alpine'),
    prometheus: Image.default('prom/prometheus:v2.53.2'),
    grafana: Image.default('grafana/grafana:11.2.0'),
    loki: Image.default('grafana/loki:3.1.1'),
    promtail: Image.default('grafana/promtail:3.1.1'),
    certbot: Image.default('certbot/certbot:v2.11.0'),
    postgresExporter: Image.default('prometheuscommunity/postgres-exporter:v0.15.0'),
    redisExporter: Image.default('oliver006/redis_exporter:v1.62.0'),
    nginxExporter: Image.default('nginx/nginx-prometheus-exporter:1.3.0'),
    nodeExporter: Image.default('prom/node-exporter:v1.8.2'),
  })
  .prefault({})
  .describe('images for every service: pinned tags, each overridable');

const Ports = z
  .strictObject({
    http: Port.default(80).describe('public HTTP port (nginx)'),
    https: Port.default(443).describe('public HTTPS port (nginx)'),
    bind: z.union([z.ipv4(), z.ipv6()]).default('0.0.0.0').describe('address nginx publishes on; everything else is published on 127.0.0.1 at most'),
  })
  .prefault({});

const Api = z
  .strictObject({
    port: Port.default(8000).describe('port the API listens on inside its container'),
    workers: z.int().min(1).max(64).optional().describe('inference worker threads per API container (default: one per core the container may use)'),
    replicas: z.int().min(1).max(32).default(1).describe('API containers per colour (nginx balances across them; `modelship scale api=N`)'),
    maxConcurrentClassifications: z.int().min(1).max(10000).default(32).describe('inference requests queued or running per API container before 503 + Retry-After'),
    batchChunkSize: z.int().min(1).max(1000).default(32).describe('inputs per chunk when a batch job is processed'),
    requestTimeoutSeconds: z.int().min(1).max(3600).default(60),
    activeColor: z.enum(['blue', 'green']).default('blue').describe('colour rendered as active before the first deploy; afterwards the host records it'),
    memoryLimit: Size.default('2GB').describe('memory limit per API container'),
    trustedProxies: z
      .array(z.string().superRefine((v, ctx) => {
        const r = parseTrustEntry(v);
        if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
      }))
      .default([])
      .describe('load balancers in front of modelship whose X-Forwarded-For is believed (IPs, CIDRs, private/linklocal, host names); nginx uses them for the client address, and the API also always trusts loopback and the stack\'s own nginx'),
  })
  .prefault({});

const QueueWorkers = z
  .strictObject({
    replicas: z.int().min(0).max(64).default(2).describe('queue worker containers (`modelship worker`)'),
    concurrency: z.int().min(1).max(64).default(1).describe('jobs processed at once per worker container'),
    stopGracePeriodSeconds: z.int().min(1).max(3600).default(60).describe('time a worker gets to finish its job on stop'),
  })
  .prefault({});

const Limits = z
  .strictObject({
    maxFileSize: Size.default('50MB').describe('largest single uploaded file (413 above)'),
    maxFiles: z.int().min(1).max(10000).default(100).describe('most files in one request or batch job'),
    maxRequestSize: Size.default('500MB').describe('largest request body (413 above; also nginx client_max_body_size)'),
    maxTexts: z.int().min(1).max(100000).default(1000).describe('most texts in one request or batch job'),
    maxTextLength: z.int().min(1).max(10_000_000).default(100000).describe('longest single text, in characters'),
    maxImagePixels: z.int().min(1).max(1_000_000_000).default(50_000_000).describe('largest decoded image (width × height); refused before decoding'),
  })
  .prefault({});

const RateLimit = z
  .strictObject({
    enabled: z.boolean().default(true),
    perMinute: z.int().min(1).max(1_000_000).default(60).describe('requests per minute per API key or IP (shared across replicas through Redis)'),
    burst: z.int().min(1).max(1_000_000).default(100),
    nginx: z
      .strictObject({
        ratePerSecond: z.int().min(1).max(100000).default(10).describe('nginx limit_req rate per client IP'),
        burst: z.int().min(0).max(100000).default(20),
      })
      .prefault({}),
  })
  .prefault({});

const Batching = z
  .strictObject({
    maxBatchSize: z.int().min(1).max(256).default(1).describe('dynamic batching: most inputs per model call (helps on native/GPU backends, not on wasm)'),
    maxQueueDelayMs: z.int().min(0).max(10000).default(0).describe('dynamic batching: longest wait to fill a batch'),
  })
  .prefault({});

/** A registered model's name, or `hf:ORG/NAME[@REVISION]` for a Hugging Face Hub repository. */
const ModelName = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    if (!v.startsWith('hf:')) return;
    const problem = hubSpecProblem(v);
    if (problem) ctx.addIssue({ code: 'custom', message: `hf:ORG/NAME[@REVISION] (${problem})` });
  })
  .meta({ examples: ['content-safety', 'hf:Xenova/resnet-50'] });

const Models = z
  .strictObject({
    cacheDir: z.string().min(1).default('/var/lib/modelship/models').describe('where the API container keeps models'),
    image: ModelName.default('content-safety').describe('default image classification model: a model name, or hf:ORG/NAME[@REVISION] (a Hugging Face ONNX export, downloaded into the Hub cache on first use)'),
    text: ModelName.default('sentiment').describe('default text classification model: a model name, or hf:ORG/NAME[@REVISION]'),
    detection: ModelName.default('objects').describe('default object detection model: a model name, or hf:ORG/NAME[@REVISION]'),
    batching: Batching,
    workerTimeoutSeconds: z.int().min(1).max(3600).default(120).describe('an inference worker still on one batch (model load included) after this long is deemed hung: stopped and replaced, its inputs fail'),
    threads: z
      .record(z.string().min(1), z.union([z.enum(['pool', 'intra-op']), z.int().min(1).max(256)]))
      .default({})
      .describe('ONNX Runtime thread policy by model name (`*`: every ONNX model), overriding the model\'s own: `pool` (a single-threaded session in every inference worker), `intra-op` (one session with a thread per core) or intra-op threads per session')
      .meta({ examples: [{ objects: 'intra-op', 'content-safety': 'pool' }] }),
  })
  .prefault({});

const PgTuning = z
  .strictObject({
    sharedBuffers: PgMemory.default('256MB'),
    effectiveCacheSize: PgMemory.default('1GB'),
    maintenanceWorkMem: PgMemory.default('64MB'),
    checkpointCompletionTarget: z.number().min(0).max(1).default(0.9),
    walBuffers: PgMemory.default('16MB'),
    defaultStatisticsTarget: z.int().min(1).max(10000).default(100),
    randomPageCost: z.number().min(0).max(1000).default(1.1),
    maxConnections: z.int().min(10).max(10000).default(100),
  })
  .prefault({});

const PG_EXTENSIONS = ['uuid-ossp', 'pg_trgm', 'pg_stat_statements', 'pgcrypto', 'citext', 'btree_gin', 'btree_gist', 'hstore'] as const;

const Postgres = z
  .strictObject({
    database: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'a database name (lower-case letters, digits, _; at most 63)' }).default('modelship'),
    user: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'a role name (lower-case letters, digits, _; at most 63)' }).default('modelship'),
    port: Port.default(5432).describe('port published on 127.0.0.1 when publish is true'),
    publish: z.boolean().default(false).describe('publish PostgreSQL on 127.0.0.1 (never on public interfaces)'),
    poolSize: z.int().min(1).max(1000).default(20).describe('connections per API/worker process'),
    tuning: PgTuning,
    extensions: z.array(z.enum(PG_EXTENSIONS)).default(['uuid-ossp', 'pg_trgm', 'pg_stat_statements']).describe('extensions created at first start'),
  })
  .prefault({});

const Redis = z
  .strictObject({
    port: Port.default(6379),
    publish: z.boolean().default(false).describe('publish Redis on 127.0.0.1 (never on public interfaces)'),
    maxmemory: z.string().regex(/^\d+(b|k|kb|m|mb|g|gb)$/i, { error: 'a Redis size such as 256mb' }).default('256mb'),
    policy: z
      .enum(['noeviction', 'allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'])
      .default('allkeys-lru')
      .describe('eviction policy; BullMQ jobs survive eviction only with noeviction or volatile-*'),
    persistence: z.enum(['aof', 'rdb', 'none']).default('aof'),
  })
  .prefault({});

const Retention = z
  .strictObject({
    daily: z.int().min(0).max(3650).default(7),
    weekly: z.int().min(0).max(520).default(4),
    monthly: z.int().min(0).max(600).default(6),
  })
  .prefault({})
  .superRefine((r, ctx) => {
    if (r.daily + r.weekly + r.monthly === 0) ctx.addIssue({ code: 'custom', message: 'at least one backup kept (daily, weekly or monthly above 0)' });
  });

const Pitr = z
  .strictObject({
    enabled: z.boolean().default(false).describe('point-in-time recovery: the db-backup service streams WAL continuously (pg_receivewal over a replication slot) and takes base backups (pg_basebackup, verified with pg_verifybackup)'),
    baseSchedule: Cron.default('0 1 * * 0').describe('when a base backup is taken (cron, UTC; weekly by default). Restores replay WAL from the newest base backup before the target time'),
    slot: z.string().regex(/^[a-z0-9_]{1,63}$/, { error: 'a replication slot name (lower-case letters, digits, _; at most 63)' }).default('modelship_pitr').describe('physical replication slot pg_receivewal streams from'),
    replicationUser: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, { error: 'a role name (lower-case letters, digits, _; at most 63)' }).default('modelship_replication').describe('role with REPLICATION that streams WAL and takes base backups (password: secrets.replicationPassword)'),
    maxSlotLag: Size.default('10GB').describe('most WAL the server keeps for a lagging archive (max_slot_wal_keep_size); past it the slot is invalidated instead of filling the disk, and an alert fires well before'),
    lagAlertSeconds: z.int().min(1).max(86400).default(60).describe('WalArchiveLagging: seconds the WAL archive may trail the server'),
    keepBaseBackups: z.int().min(1).max(1000).default(2).describe('verified base backups kept (with all the WAL they need); the newest verified one is never deleted'),
    rehearsalMaxAgeDays: z.number().positive().max(365).default(8).describe('doctor warns when the last restore rehearsal (restore --to-latest --verify-only) is older than this'),
  })
  .prefault({});

const Encryption = z
  .strictObject({
    recipients: z
      .array(z.string().regex(/^age1[0-9a-z]{20,}$/, { error: 'an age public key (age1…, from age-keygen -y KEYFILE)' }))
      .default([])
      .describe('age public keys every off-site copy is encrypted to before it leaves the process; the private key (identity file) stays off this server and is given to restore with --identity'),
  })
  .prefault({});

const Remote = z
  .strictObject({
    url: z
      .string()
      .regex(/^(s3|sftp):\/\/\S+$/, { error: 's3://bucket/prefix or sftp://user@host[:port]/path' })
      .optional()
      .describe('off-site copies of every dump, base backup and WAL segment: s3://bucket/prefix (S3 or compatible) or sftp://user@host[:port]/path'),
    endpoint: z.url().optional().describe('S3-compatible server (MinIO, Ceph, …): http(s)://host:port; omit for AWS'),
    region: z.string().min(1).default('us-east-1').describe('S3 region'),
    forcePathStyle: z.boolean().optional().describe('S3 path-style addressing (bucket in the path, not the host name); on by default with a custom endpoint'),
    accessKeyEnv: EnvKey.default('S3_ACCESS_KEY_ID').describe('.env key of the S3 access key id'),
    secretKeyEnv: EnvKey.default('S3_SECRET_ACCESS_KEY').describe('.env key of the S3 secret access key'),
    identityFile: z.string().min(1).optional().describe('sftp: the SSH private key file (relative to this file)'),
    hostKey: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, { error: 'SHA256:… as `ssh-keyscan HOST | ssh-keygen -lf -` prints it' }).optional().describe('sftp: the server\'s host key fingerprint; connections to any other key are refused'),
    intervalSeconds: z.int().min(1).max(3600).default(15).describe('how often `modelship schedule` copies new files (WAL segments as they complete)'),
    lagAlertSeconds: z.int().min(60).max(7 * 86400).default(1800).describe('RemoteBackupLagging: the oldest file still waiting to be copied off-site may be this old'),
  })
  .prefault({})
  .superRefine((r, ctx) => {
    if (r.url?.startsWith('sftp://') && !r.identityFile) ctx.addIssue({ code: 'custom', path: ['identityFile'], message: 'an sftp:// remote needs identityFile (the SSH private key)' });
  });

const Backups = z
  .strictObject({
    dir: z.string().min(1).default('./backups').describe('backup directory on the host, relative to this file'),
    schedule: Cron.default('0 2 * * *').describe('when `modelship schedule` takes a backup (cron, UTC)'),
    vacuumSchedule: Cron.default('0 3 * * 0').describe('when VACUUM ANALYZE runs (cron, UTC)'),
    verifySchedule: Cron.default('30 4 * * *').describe('when backups are re-verified (cron, UTC)'),
    retention: Retention,
    pitr: Pitr,
    encryption: Encryption,
    remote: Remote,
  })
  .prefault({});

const Alerts = z
  .strictObject({
    errorRatePercent: Percent.default(5).describe('HighErrorRate: share of 5xx responses over 5 minutes'),
    p95LatencySeconds: z.number().positive().max(600).default(2).describe('HighResponseTime: p95 request latency'),
    diskUsedPercent: Percent.default(90),
    memoryUsedPercent: Percent.default(85),
    queueLength: z.int().min(1).default(100).describe('QueueBacklog: jobs waiting'),
    backupMaxAgeHours: z.number().positive().max(24 * 90).default(26).describe('BackupTooOld: hours since the last verified backup'),
    connectionsPercent: Percent.default(80).describe('PostgreSQL connections used, percent of max_connections'),
  })
  .prefault({});

const Monitoring = z
  .strictObject({
    prometheus: z
      .strictObject({
        port: Port.default(9090).describe('published on 127.0.0.1'),
        scrapeInterval: Duration.default('15s'),
        evaluationInterval: Duration.default('15s'),
        retention: Duration.default('15d'),
      })
      .prefault({}),
    grafana: z
      .strictObject({ enabled: z.boolean().default(true), port: Port.default(3000).describe('published on 127.0.0.1') })
      .prefault({}),
    loki: z
      .strictObject({ enabled: z.boolean().default(true), port: Port.default(3100).describe('published on 127.0.0.1'), retention: Duration.default('168h') })
      .prefault({}),
    exporters: z
      .strictObject({
        postgres: z.boolean().default(true),
        redis: z.boolean().default(true),
        nginx: z.boolean().default(true),
        node: z.boolean().default(true),
      })
      .prefault({}),
    alerts: Alerts,
  })
  .prefault({});

const Logging = z
  .strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).default('info'),
    maxSize: LogSize.default('10m').describe('container log rotation: size of one file'),
    maxFile: z.int().min(1).max(100).default(5).describe('container log rotation: files kept'),
  })
  .prefault({});

const Secrets = z
  .strictObject({
    secretKey: EnvKey.default('SECRET_KEY').describe('.env key holding the application secret (32+ random bytes)'),
    postgresPassword: EnvKey.default('POSTGRES_PASSWORD'),
    redisPassword: EnvKey.default('REDIS_PASSWORD'),
    grafanaAdminPassword: EnvKey.default('GRAFANA_ADMIN_PASSWORD'),
    replicationPassword: EnvKey.default('REPLICATION_PASSWORD').describe('.env key of the PostgreSQL replication role\'s password (backups.pitr)'),
  })
  .prefault({})
  .describe('secrets by reference: each value names a key in .env; secret values never appear in this file or in rendered files');

/** A Kubernetes object or namespace name (lower-case DNS label). */
const K8sName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'a lower-case DNS label (letters, digits, -)' });

const Kubernetes = z
  .strictObject({
    namespace: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: 'a Kubernetes namespace (lower-case DNS label)' }).default('modelship'),
    replicas: z.int().min(1).max(1000).default(3),
    maxReplicas: z.int().min(1).max(1000).default(10),
    targetCpuPercent: z.int().min(1).max(100).default(70),
    requests: z.strictObject({ cpu: z.string().default('500m'), memory: z.string().default('1Gi') }).prefault({}),
    limits: z.strictObject({ cpu: z.string().default('2'), memory: z.string().default('2Gi') }).prefault({}),
    ingress: z
      .strictObject({
        enabled: z.boolean().default(true).describe('an Ingress for `domains`, to the API Service'),
        className: z.string().min(1).default('nginx').describe('ingressClassName'),
        controllerNamespace: K8sName.default('ingress-nginx').describe('namespace of the ingress controller (the only one the API NetworkPolicy admits HTTP from, besides monitoringNamespace)'),
        clusterIssuer: z.string().min(1).optional().describe('cert-manager ClusterIssuer that fills the TLS Secret'),
        tlsSecret: K8sName.optional().describe('TLS Secret name (default <project>-tls); used unless tls.mode is off'),
        annotations: z.record(z.string(), z.string()).default({}).describe('extra Ingress annotations'),
      })
      .prefault({}),
    monitoringNamespace: K8sName.default('monitoring').describe('namespace whose Prometheus may scrape the API and the workers'),
    postgres: z
      .strictObject({
        host: z.string().min(1).default('postgres').describe('a Service in the namespace (bare name) or an external DNS name (rendered as an ExternalName Service)'),
        port: Port.default(5432),
      })
      .prefault({}),
    redis: z
      .strictObject({
        host: z.string().min(1).default('redis').describe('a Service in the namespace (bare name) or an external DNS name (rendered as an ExternalName Service)'),
        port: Port.default(6379),
      })
      .prefault({}),
    backupStorage: z
      .strictObject({
        size: z.string().regex(/^\d+(Ki|Mi|Gi|Ti)$/, { error: 'a Kubernetes quantity such as 20Gi' }).default('20Gi').describe('PersistentVolumeClaim size for the backup CronJob'),
        storageClass: z.string().min(1).optional(),
      })
      .prefault({}),
  })
  .prefault({})
  .superRefine((k, ctx) => {
    if (k.maxReplicas < k.replicas) ctx.addIssue({ code: 'custom', path: ['maxReplicas'], message: `at least kubernetes.replicas (${k.replicas})` });
  });

/** A swarm node label key (`docker node update --label-add KEY=true NODE`). */
const NodeLabel = z.string().regex(/^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$/, { error: 'a node label key such as modelship.postgres (lower-case letters, digits, . _ -)' });

const Swarm = z
  .strictObject({
    edge: z
      .strictObject({
        publish: z.enum(['ingress', 'host']).default('ingress').describe('ingress: nginx is published on the routing mesh (every node answers on the ports); host: one nginx per node labelled swarm.edge.label, published on that node only'),
        replicas: z.int().min(1).max(32).default(1).describe('nginx tasks with publish ingress (host mode runs one on every edge node)'),
        label: NodeLabel.default('modelship.edge').describe('label (value true) of the nodes that run nginx with publish host'),
      })
      .prefault({}),
    labels: z
      .strictObject({
        postgres: NodeLabel.default('modelship.postgres').describe('label (value true) of the one node that keeps the PostgreSQL volume'),
        redis: NodeLabel.default('modelship.redis').describe('label (value true) of the node that keeps the Redis volume'),
        monitoring: NodeLabel.default('modelship.monitoring').describe('label (value true) of the node that keeps Prometheus, Grafana and Loki data'),
      })
      .prefault({}),
    updateMonitorSeconds: z.int().min(1).max(600).default(10).describe('seconds a new task must stay healthy before a service update moves on (failure rolls the service back)'),
  })
  .prefault({})
  .describe('orchestrator swarm: where the stateful services are pinned and how nginx is published');

// ---------------------------------------------------------------------------------------------

export const ConfigSchema = z
  .strictObject({
    version: z.literal(1, { error: 'version 1 (the only config version so far)' }).default(1),
    project: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, { error: 'a project name (lower-case letters, digits, - and _; it prefixes containers, networks and volumes)' })
      .default('modelship')
      .describe('stack name: prefixes containers, networks and volumes (Compose project name)'),
    environment: z.enum(['production', 'staging', 'development']).default('production'),
    orchestrator: z
      .enum(['single-host', 'swarm'], { error: 'single-host (containers on one Docker Engine) or swarm (services on a Docker Swarm cluster)' })
      .default('single-host')
      .describe('single-host: deploy creates containers on one engine; swarm: deploy creates Swarm services through a manager (same as `deploy --target swarm`)'),
    debug: z.boolean().default(false).describe('verbose errors in API responses; never in production'),
    domains: z.array(Hostname).min(1, { error: 'at least one domain name' }).default(['localhost']).describe('names nginx answers to; the first is the certificate name'),
    cors: z
      .strictObject({
        origins: z.array(Origin).default([]).describe('allowed browser origins; empty means no cross-origin access'),
        credentials: z.boolean().default(false),
      })
      .prefault({}),
    tls: Tls.prefault({}),
    images: Images,
    ports: Ports,
    api: Api,
    workers: QueueWorkers,
    limits: Limits,
    rateLimit: RateLimit,
    cache: z.strictObject({ enabled: z.boolean().default(true), ttlSeconds: z.int().min(1).max(31_536_000).default(3600) }).prefault({}),
    compression: z.strictObject({ enabled: z.boolean().default(true), minBytes: z.int().min(0).default(1024) }).prefault({}),
    models: Models,
    postgres: Postgres,
    redis: Redis,
    backups: Backups,
    monitoring: Monitoring,
    logging: Logging,
    secrets: Secrets,
    kubernetes: Kubernetes,
    swarm: Swarm,
  })
  .describe('modelship stack configuration');

/** The config after defaults: what every other module receives. */
export type Config = z.output<typeof ConfigSchema>;
/** The config as written by a user (every key optional where a default exists). */
export type ConfigInput = z.input<typeof ConfigSchema>;

/** The JSON Schema of the config as written (defaults make keys optional). */
export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: 'https://modelship.dev/schema/modelship.config.json',
    title: 'modelship.config.yaml',
    ...schema,
  };
}
