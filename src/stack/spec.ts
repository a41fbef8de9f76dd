/**
 * The desired stack: every service, network and volume the config asks for, independent of how it
 * is applied (a Compose file, or containers created through the Docker Engine API). Pure data.
 */
export interface PortSpec {
  hostIp: string;
  host: number;
  container: number;
  protocol?: 'tcp' | 'udp';
}

export type MountSpec =
  | { type: 'volume'; source: string; target: string; readOnly?: boolean }
  /** `source` is relative to `base`: the render output directory or the config file's directory. */
  | {
      type: 'bind';
      base: 'render' | 'config' | 'absolute';
      source: string;
      target: string;
      readOnly?: boolean;
      /**
       * A secret file (a private key): mounted read-only from the host, its bytes never copied into
       * a spec; on a swarm it becomes a secret of mode 0400 at `target`.
       */
      secret?: boolean;
    };

export interface HealthcheckSpec {
  test: string[];
  intervalSeconds: number;
  timeoutSeconds: number;
  retries: number;
  startPeriodSeconds: number;
  /**
   * Seconds between checks while the container is still starting (the Engine's StartInterval, API
   * 1.44+; older engines ignore it). Lets the engine report healthy about when deploy's own gate
   * passes, instead of a whole interval later.
   */
  startIntervalSeconds?: number;
}

export interface ServiceSpec {
  name: string;
  image: string;
  /** What the service is for, shown by `modelship ps` and in comments. */
  role: string;
  entrypoint?: string[];
  command?: string[];
  /** Non-secret environment. Secrets come from the env file only. */
  environment: Record<string, string>;
  /** Whether the `.env` file is passed (services that need secrets). */
  envFile: boolean;
  ports: PortSpec[];
  mounts: MountSpec[];
  networks: string[];
  /**
   * Networks of `networks` the container joins only once its health gate passed (the API's front
   * network: nginx routes to the service name there, so an ungated container is never routed to).
   */
  gatedNetworks?: string[];
  /**
   * The service reloads its rendered files in place (nginx: `nginx -t` + graceful reload), so a
   * change to them is a reload, never a recreate.
   */
  reloadsFiles?: boolean;
  dependsOn: Array<{ service: string; condition: 'service_started' | 'service_healthy' }>;
  healthcheck?: HealthcheckSpec;
  /** Compose profiles; a service with profiles is started only when one is enabled. */
  profiles: string[];
  /** Replica count; undefined means exactly one named container. */
  replicas?: number;
  /** Whether the service runs as one container with a fixed name (false for scalable services). */
  fixedName: boolean;
  restart: 'unless-stopped' | 'no' | 'on-failure';
  stopGracePeriodSeconds: number;
  stopSignal?: string;
  memoryLimit?: string;
  labels: Record<string, string>;
  user?: string;
  readOnlyRootfs?: boolean;
  /** Hash of the config sections this service reads at start (modelship's own services). */
  configDigest?: string;
}

export interface NetworkSpec {
  name: string;
  internal: boolean;
}

export interface VolumeSpec {
  name: string;
}

export interface StackSpec {
  project: string;
  services: ServiceSpec[];
  networks: NetworkSpec[];
  volumes: VolumeSpec[];
  logging: { driver: 'json-file'; options: { 'max-size': string; 'max-file': string } };
}
