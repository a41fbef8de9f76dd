/**
 * The stack's PostgreSQL on a swarm, as a DbTarget: backup, restore, db reports, read-only and
 * migrations work unchanged on whatever node the postgres task runs.
 *
 * A manager's engine cannot exec into a container on another node. So modelship starts a helper
 * container on this manager (the postgres service's own image: the same pg_dump and psql as the
 * server), joined to the service's attachable overlay network with PGHOST set to the service name,
 * and runs the tools there through the exec API as the single-host container mode does: pg_dump's
 * archive streams back over the exec connection into the backup directory here, pg_restore reads
 * the archive from here on its stdin, psql sessions stay open for advisory locks. The helper is
 * removed when the target closes; one a killed run left behind is removed by the next run.
 */
import os from 'node:os';
import type Docker from 'dockerode';
import { connectDocker } from '../docker/client.ts';
import { execInContainer } from '../docker/exec.ts';
import { containerTarget, containerTargetFor } from '../postgres/container.ts';
import { lastLines } from '../postgres/errors.ts';
import type { DbTarget } from '../postgres/session.ts';
import { HELPER_LABEL, MS_LABEL, SERVICE } from '../stack/names.ts';
import { UserError, errorMessage } from '../util/errors.ts';
import { pidAlive } from '../util/process.ts';
import { call, engineName } from './cluster.ts';
import { SWARM_PORTS } from './errors.ts';
import type { EngineNode } from './nodes.ts';
import { locatePostgresTask, pickHelperNetwork, pickPostgresService, staleHelpers, type EngineNetwork, type EngineService, type EngineServiceTask, type PostgresLocation } from './postgres-locate.ts';

export const HELPER_ROLE = 'db-helper';

export interface SwarmDbOptions {
  project: string;
  database: string;
  user: string;
  password: string | undefined;
  env: NodeJS.ProcessEnv;
  /** How long the helper may take to reach the server over the overlay (ms). */
  reachMs?: number;
}

function engine<T>(where: string, doing: string, fn: () => Promise<T>): Promise<T> {
  return call(where, doing, fn, 'is Docker running, and DOCKER_HOST right? For a database outside the stack use --direct');
}

/** Where the postgres task runs now, asked of the manager `docker` talks to. */
export async function locateSwarmPostgres(docker: Docker, where: string, project: string): Promise<{ location: PostgresLocation; service: EngineService; network: EngineNetwork; selfHostname: string }> {
  const doing = 'finding the PostgreSQL task';
  const labels = { [MS_LABEL.project]: project, [MS_LABEL.service]: SERVICE.postgres };
  const info = (await engine(where, doing, () => docker.info())) as { Name?: string; Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean } };
  if (info.Swarm?.LocalNodeState !== 'active') {
    throw new UserError(`${doing}: ${where} is not part of a swarm`, { hint: 'point DOCKER_HOST at a manager of the swarm the stack runs on' });
  }
  const services = (await engine(where, doing, () => docker.listServices({ filters: { label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) } }))) as EngineService[];
  const service = pickPostgresService(services, labels, project);
  const [tasks, nodes, networks] = await engine(where, doing, () =>
    Promise.all([docker.listTasks({ filters: { service: [service.ID] } }), docker.listNodes(), docker.listNetworks({ filters: { driver: ['overlay'] } })]),
  );
  const location = locatePostgresTask(service, tasks as EngineServiceTask[], nodes as EngineNode[]);
  const network = pickHelperNetwork(service, networks as unknown as EngineNetwork[]);
  return { location, service, network, selfHostname: info.Name ?? os.hostname() };
}

async function removeQuietly(docker: Docker, id: string): Promise<void> {
  await docker
    .getContainer(id)
    .remove({ force: true })
    .catch(() => undefined);
}

/** Starts the helper; resolves once it reaches the server (pg_isready over the overlay). */
async function startHelper(docker: Docker, where: string, o: SwarmDbOptions, found: Awaited<ReturnType<typeof locateSwarmPostgres>>): Promise<{ id: string; name: string }> {
  const { location, network } = found;
  const host = os.hostname();
  const projectLabel = `${MS_LABEL.project}=${o.project}`;
  const roleLabel = `${MS_LABEL.role}=${HELPER_ROLE}`;
  const left = await docker.listContainers({ all: true, filters: { label: [projectLabel, roleLabel] } }).catch(() => []);
  for (const id of staleHelpers(left, { hostLabel: HELPER_LABEL.host, pidLabel: HELPER_LABEL.pid, host, alive: pidAlive })) await removeQuietly(docker, id);

  const image = location.image;
  if (!image) throw new UserError(`the PostgreSQL service ${location.serviceName} names no image`);
  const present = await docker
    .getImage(image)
    .inspect()
    .then(
      () => true,
      () => false,
    );
  if (!present) {
    throw new UserError(`the image ${image} (the PostgreSQL service's) is not on this manager (${found.selfHostname}): modelship runs pg_dump and psql from it here`, {
      hint: `pull it on this node, or without a registry copy it in: \`docker save ${image} | docker -H <this manager> load\``,
    });
  }
  const name = `${o.project}-${HELPER_ROLE}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const created = await engine(where, 'starting the database helper container', () =>
    docker.createContainer({
      name,
      Image: image,
      // A shell that sleeps and stops at once on SIGTERM (no PostgreSQL server starts in it).
      Entrypoint: ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
      Cmd: [],
      // The task's own address on the network (not the service's virtual IP, which a container
      // reaches only through the node's IPVS, and which dnsrr services do not have): the database is
      // the task just located. `tasks.<service>` when the engine reported no address.
      Env: [`PGHOST=${location.task.networks.find((n) => n.id === network.Id)?.address ?? `tasks.${location.serviceName}`}`, 'PGPORT=5432', 'PGCONNECT_TIMEOUT=10'],
      Labels: { [MS_LABEL.project]: o.project, [MS_LABEL.role]: HELPER_ROLE, [HELPER_LABEL.host]: host, [HELPER_LABEL.pid]: String(process.pid) },
      HostConfig: { NetworkMode: network.Name, RestartPolicy: { Name: 'no' } },
    }),
  );
  try {
    await engine(where, 'starting the database helper container', () => created.start());
    await waitReachable(docker, created.id, o, found);
  } catch (err) {
    await removeQuietly(docker, created.id);
    throw err;
  }
  return { id: created.id, name };
}

async function waitReachable(docker: Docker, id: string, o: SwarmDbOptions, found: Awaited<ReturnType<typeof locateSwarmPostgres>>): Promise<void> {
  const deadline = Date.now() + (o.reachMs ?? 60_000);
  let last: string;
  for (;;) {
    const h = await execInContainer(docker, id, ['pg_isready', '-t', '5', '-U', o.user, '-d', o.database]);
    let out = '';
    h.stdout.on('data', (b: Buffer) => (out += b.toString('utf8')));
    const r = await h.done;
    if (r.exitCode === 0) return;
    last = lastLines(`${out}\n${r.stderr}`, 2);
    if (Date.now() > deadline) break;
    await new Promise((res) => setTimeout(res, 1000));
  }
  const { location, network } = found;
  throw new UserError(`cannot reach PostgreSQL (${location.serviceName}, task on node ${location.task.hostname}) from this manager over the overlay network ${network.Name}: ${last || 'no answer'}`, {
    hint: `the nodes must reach each other on ${SWARM_PORTS}; \`docker service ps ${location.serviceName}\` shows whether the task is healthy`,
  });
}

/** The stack's postgres task on the swarm `docker` manages, reached through a helper container on this manager. */
export async function swarmTarget(docker: Docker, where: string, o: SwarmDbOptions): Promise<DbTarget> {
  const found = await locateSwarmPostgres(docker, where, o.project);
  if (o.password === undefined) {
    throw new UserError(`the PostgreSQL password is needed to reach ${found.location.serviceName} over the network, and none is set`, {
      hint: 'set the .env key named by secrets.postgresPassword in the config (the same value the swarm secret holds)',
    });
  }
  const helper = await startHelper(docker, where, o, found);
  const inner = containerTargetFor(docker, helper.id, helper.name, { database: o.database, user: o.user, password: o.password });
  const { location } = found;
  return {
    ...inner,
    describe: `PostgreSQL task ${location.serviceName}${location.task.slot !== undefined ? `.${location.task.slot}` : ''} on node ${location.task.hostname} (database ${o.database}, through a helper container on ${found.selfHostname})`,
    async close() {
      await inner.close();
      await removeQuietly(docker, helper.id);
    },
  };
}

/**
 * The stack's postgres wherever it runs: with `orchestrator: swarm`, its swarm task; otherwise its
 * container on this engine, and when there is none and this engine is in a swarm, its swarm task.
 */
export async function stackPostgresTarget(o: SwarmDbOptions & { orchestrator?: string | undefined }): Promise<DbTarget> {
  const docker = connectDocker(o.env);
  const where = engineName(o.env);
  if (o.orchestrator !== 'swarm') {
    try {
      return await containerTarget(o);
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      const state = await docker.info().then(
        (i: { Swarm?: { LocalNodeState?: string } }) => i.Swarm?.LocalNodeState,
        () => undefined,
      );
      if (state !== 'active') throw err;
    }
  }
  try {
    return await swarmTarget(docker, where, o);
  } catch (err) {
    if (err instanceof UserError) throw err;
    throw new UserError(`reaching PostgreSQL on the swarm failed: ${errorMessage(err)}`, { cause: err });
  }
}
