/**
 * The engine's swarm API, for `modelship swarm init|join-token|nodes`: create a swarm, print the
 * command that joins a node to it, list its nodes. I/O only; messages come from errors.ts, the
 * table from nodes.ts.
 */
import type Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { engineFailure, swarmError } from './errors.ts';
import { nodeRows, type EngineNode, type EngineTask, type NodeRow } from './nodes.ts';

export function engineName(env: NodeJS.ProcessEnv): string {
  return env.DOCKER_HOST ? `the engine at DOCKER_HOST=${env.DOCKER_HOST}` : 'the local engine (/var/run/docker.sock)';
}

/** Runs one engine call; a failure becomes a located error (swarm states named, an unreachable engine hinted). */
export async function call<T>(where: string, doing: string, fn: () => Promise<T>, unreachableHint = 'is Docker running, and DOCKER_HOST right?'): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const known = swarmError(err, where, doing);
    if (known) throw known;
    const { message } = engineFailure(err);
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EACCES') {
      throw new UserError(`${doing}: cannot reach ${where}: ${message}`, { hint: unreachableHint, cause: err });
    }
    throw new UserError(`${doing}: ${where} refused: ${message}`, { cause: err });
  }
}

export interface InitOptions {
  advertiseAddr?: string | undefined;
  listenAddr?: string | undefined;
  /** CIDRs the swarm carves overlay subnets from (default: the engine's, 10.0.0.0/8). */
  defaultAddrPool?: string[] | undefined;
  subnetSize?: number | undefined;
}

export interface InitResult {
  nodeId: string;
  managerAddr: string;
  workerJoin: string;
  managerJoin: string;
}

export async function initSwarm(docker: Docker, where: string, opts: InitOptions): Promise<InitResult> {
  const listen = opts.listenAddr ?? '0.0.0.0:2377';
  const nodeId = await call(where, 'swarm init', async () =>
    String(
      await docker.swarmInit({
        ListenAddr: listen,
        ...(opts.advertiseAddr ? { AdvertiseAddr: opts.advertiseAddr } : {}),
        ...(opts.defaultAddrPool?.length ? { DefaultAddrPool: opts.defaultAddrPool, SubnetSize: opts.subnetSize ?? 24 } : {}),
      }),
    ).replace(/^"|"\s*$/g, ''),
  );
  const tokens = await joinCommands(docker, where);
  return { nodeId, ...tokens };
}

/** The manager address other nodes join at, and the `docker swarm join` command per role. */
export async function joinCommands(docker: Docker, where: string): Promise<{ managerAddr: string; workerJoin: string; managerJoin: string }> {
  const [swarm, info] = await call(where, 'swarm join-token', () => Promise.all([docker.swarmInspect(), docker.info()]));
  const addr = (info as { Swarm?: { RemoteManagers?: Array<{ NodeID: string; Addr: string }>; NodeID?: string } }).Swarm;
  const self = addr?.RemoteManagers?.find((m) => m.NodeID === addr.NodeID) ?? addr?.RemoteManagers?.[0];
  const managerAddr = self?.Addr ?? '';
  const tokens = (swarm as { JoinTokens?: { Worker?: string; Manager?: string } }).JoinTokens ?? {};
  if (!tokens.Worker || !tokens.Manager) throw new UserError(`swarm join-token: ${where} returned no join tokens`, { hint: 'run it on a manager node' });
  const cmd = (token: string): string => `docker swarm join --token ${token} ${managerAddr}`;
  return { managerAddr, workerJoin: cmd(tokens.Worker), managerJoin: cmd(tokens.Manager) };
}

export async function joinToken(docker: Docker, where: string, role: 'worker' | 'manager'): Promise<{ role: string; token: string; managerAddr: string; command: string }> {
  const c = await joinCommands(docker, where);
  const command = role === 'worker' ? c.workerJoin : c.managerJoin;
  return { role, token: command.split(' ')[4]!, managerAddr: c.managerAddr, command };
}

export async function listSwarmNodes(docker: Docker, where: string): Promise<NodeRow[]> {
  const [nodes, tasks, info] = await call(where, 'swarm nodes', () =>
    Promise.all([docker.listNodes(), docker.listTasks({ filters: { 'desired-state': ['running'] } }), docker.info()]),
  );
  return nodeRows(nodes as EngineNode[], tasks as EngineTask[], (info as { Swarm?: { NodeID?: string } }).Swarm?.NodeID);
}
