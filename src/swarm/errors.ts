/**
 * Engine swarm API errors, as an operator reads them: what failed, on which engine, what to do.
 * Pure: takes the engine's status code and message, returns a UserError (or undefined when the
 * error is not one of the known swarm conditions).
 */
import { UserError } from '../util/errors.ts';

/** The ports nodes must reach each other on (docs.docker.com/engine/swarm/swarm-tutorial). */
export const SWARM_PORTS = '2377/tcp (cluster management), 7946/tcp+udp (node gossip), 4789/udp (VXLAN overlay)';

export interface EngineFailure {
  statusCode?: number | undefined;
  message: string;
}

/** The status code and the engine's own message out of a dockerode error. */
export function engineFailure(err: unknown): EngineFailure {
  const e = err as { statusCode?: number; json?: { message?: unknown }; reason?: string; message?: string };
  const fromJson = typeof e?.json?.message === 'string' ? e.json.message : undefined;
  // dockerode prefixes "(HTTP code 503) unexpected - "; the engine's text is what helps.
  const raw = fromJson ?? String(e?.message ?? err).replace(/^\(HTTP code \d+\)\s*[\w ]*-\s*/, '');
  return { statusCode: e?.statusCode, message: raw.trim() };
}

/** `where`: the engine, as the operator named it (DOCKER_HOST or "the local engine"). */
export function swarmError(err: unknown, where: string, doing: string): UserError | undefined {
  const { message } = engineFailure(err);
  const m = message.toLowerCase();
  if (m.includes('is not a swarm manager')) {
    if (m.includes('worker nodes')) {
      return new UserError(`${doing}: ${where} is a swarm worker, not a manager`, {
        hint: 'point DOCKER_HOST at a manager node (`docker node ls` there lists the managers), or promote this node: `docker node promote NODE` on a manager',
        cause: err,
      });
    }
    return new UserError(`${doing}: ${where} is not part of a swarm`, {
      hint: 'create one with `modelship swarm init`, or join this node to one with the command `modelship swarm join-token` prints on a manager',
      cause: err,
    });
  }
  if (m.includes('already part of a swarm')) {
    return new UserError(`${doing}: ${where} is already part of a swarm`, {
      hint: '`modelship swarm nodes` shows it (on a manager); to start over on this node: `docker swarm leave --force` (a manager leaving loses the cluster state if it is the last one)',
      cause: err,
    });
  }
  if (m.includes('could not choose an ip address to advertise') || m.includes('must specify a listening address')) {
    return new UserError(`${doing}: ${where} has several addresses and the swarm needs the one other nodes reach it on`, {
      hint: `pass --advertise-addr ADDRESS (the engine said: ${message})`,
      cause: err,
    });
  }
  if (m.includes('address already in use') || m.includes('bind:')) {
    return new UserError(`${doing}: ${where} cannot listen for the swarm: ${message}`, {
      hint: `something else holds the port; the swarm needs ${SWARM_PORTS} free on every node (or pass --listen-addr ADDR:PORT)`,
      cause: err,
    });
  }
  if (m.includes('timeout was reached') || m.includes('connection refused') || m.includes('context deadline exceeded') || m.includes('no route to host') || m.includes('i/o timeout')) {
    return new UserError(`${doing}: ${where} could not reach the other swarm nodes: ${message}`, {
      hint: `open ${SWARM_PORTS} between every pair of nodes (firewall, security group), and check the address is one the nodes can route to`,
      cause: err,
    });
  }
  if (m.includes('invalid join token') || m.includes('valid token')) {
    return new UserError(`${doing}: the manager refused the join token`, { hint: 'print a fresh one on a manager: `modelship swarm join-token worker`', cause: err });
  }
  return undefined;
}
