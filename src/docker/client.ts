/**
 * The Docker Engine connection and container lookup by the stack's labels.
 * Connects where DOCKER_HOST points (unix://, tcp://, ssh://), else the local socket.
 */
import { readFileSync } from 'node:fs';
import type { Agent } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import { UserError } from '../util/errors.ts';
import { serviceContainers } from './engine.ts';
import { sshAgent } from './ssh-transport.ts';

export function dockerOptions(env: NodeJS.ProcessEnv): Docker.DockerOptions {
  const host = env.DOCKER_HOST;
  if (!host) return { socketPath: '/var/run/docker.sock' };
  const u = new URL(host);
  if (u.protocol === 'unix:') return { socketPath: u.pathname };
  if (u.protocol === 'tcp:' || u.protocol === 'http:' || u.protocol === 'https:') {
    const tls = u.protocol === 'https:' || (env.DOCKER_TLS_VERIFY !== undefined && env.DOCKER_TLS_VERIFY !== '' && env.DOCKER_TLS_VERIFY !== '0');
    const base: Docker.DockerOptions = { host: u.hostname, port: Number(u.port || (tls ? 2376 : 2375)), protocol: tls ? 'https' : 'http' };
    if (!tls) return base;
    // As the docker CLI: client certificates from DOCKER_CERT_PATH (default ~/.docker).
    const dir = env.DOCKER_CERT_PATH || path.join(os.homedir(), '.docker');
    const read = (name: string): Buffer | undefined => {
      try {
        return readFileSync(path.join(dir, name));
      } catch {
        return undefined;
      }
    };
    const [ca, cert, key] = [read('ca.pem'), read('cert.pem'), read('key.pem')];
    return { ...base, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
  }
  if (u.protocol === 'ssh:') {
    // The system ssh runs `docker system dial-stdio` on the host (see ssh-transport.ts); the
    // Engine API speaks plain HTTP over that pipe.
    const target = { host: u.hostname, port: u.port ? Number(u.port) : undefined, username: u.username ? decodeURIComponent(u.username) : undefined };
    // docker-modem passes `agent` to http.request; dockerode's types do not list it
    const viaSsh: Docker.DockerOptions & { agent: Agent } = { protocol: 'http', host: u.hostname, port: Number(u.port || 22), agent: sshAgent(target, env) };
    return viaSsh;
  }
  throw new UserError(`DOCKER_HOST=${host}: unsupported scheme ${u.protocol}`, { hint: 'use unix://, tcp:// or ssh://', exitCode: 2 });
}

export function connectDocker(env: NodeJS.ProcessEnv = process.env): Docker {
  return new Docker(dockerOptions(env));
}

/** The running container of one stack service, found by labels (never by name). */
export async function findServiceContainer(docker: Docker, project: string, service: string): Promise<Docker.ContainerInfo> {
  let list: Docker.ContainerInfo[];
  try {
    list = await serviceContainers(docker, project, service, { running: true });
  } catch (err) {
    throw new UserError(`cannot reach the Docker Engine: ${(err as Error).message}`, {
      hint: 'is Docker running and DOCKER_HOST right? For a database outside the stack use --direct (DATABASE_URL or --database-url)',
      cause: err,
    });
  }
  const first = list[0];
  if (!first) {
    throw new UserError(`no running ${service} container for stack "${project}"`, {
      hint: 'deploy the stack first (`modelship deploy`), or use --direct with DATABASE_URL / --database-url',
    });
  }
  return first;
}
