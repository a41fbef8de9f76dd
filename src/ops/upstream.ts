/**
 * Pointing nginx at the API colour that should serve: upstream.conf names the colour's service
 * (Docker's embedded DNS resolves it to the containers that passed their health gate), `nginx -t`
 * checks it inside the nginx container (the previous file is restored if it fails), and a graceful
 * reload applies it. Used by swap, rollback and deploy.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Config } from '../config/schema.ts';
import { renderUpstream } from '../render/nginx.ts';
import { MOUNT, SERVICE, type Color } from '../stack/names.ts';
import { networkName, UPSTREAM_FILE } from '../docker/desired.ts';
import { NETWORK } from '../stack/build.ts';
import { probe, serviceContainers } from '../docker/engine.ts';
import { UserError } from '../util/errors.ts';
import { writeFileAtomic } from '../util/fs-atomic.ts';

/** `nginx -t`, then a graceful `nginx -s reload` inside the nginx container. */
export async function reloadNginx(docker: Docker, nginxId: string): Promise<string> {
  const test = await probe(docker, nginxId, ['CMD', 'nginx', '-t', '-c', MOUNT.nginxConf], 15000);
  if (!test.ok) throw new UserError(`nginx -t rejected the configuration; nginx keeps running the old one:\n${test.output}`);
  const reload = await probe(docker, nginxId, ['CMD', 'nginx', '-s', 'reload', '-c', MOUNT.nginxConf], 15000);
  if (!reload.ok) throw new UserError(`nginx -s reload failed:\n${reload.output}`);
  return 'configuration valid, reloaded gracefully';
}

export async function nginxContainerId(docker: Docker, project: string): Promise<string | null> {
  const list = await serviceContainers(docker, project, SERVICE.nginx, { running: true });
  return list[0]?.Id ?? null;
}

/**
 * Rewrites upstream.conf for `color` and reloads nginx. On any failure the previous file is put
 * back and nginx keeps what it had.
 */
export async function switchUpstream(
  docker: Docker,
  opts: { project: string; renderDir: string; config: Config; color: Color; pinned?: readonly string[] },
): Promise<{ target: string; detail: string }> {
  const nginx = await nginxContainerId(docker, opts.project);
  if (!nginx) throw new UserError('nginx is not running', { hint: 'run `modelship deploy`' });
  const file = path.join(opts.renderDir, UPSTREAM_FILE);
  const before = await readFile(file, 'utf8').catch(() => null);
  await writeFileAtomic(file, renderUpstream(opts.config, opts.color, opts.pinned).content);
  try {
    const detail = await reloadNginx(docker, nginx);
    return { target: opts.pinned ? opts.pinned.join(', ') : `${SERVICE.api(opts.color)}:${opts.config.api.port}`, detail };
  } catch (err) {
    if (before !== null) await writeFileAtomic(file, before);
    throw err;
  }
}

/** `ip:port` on the front network of the given running containers (for a pinned upstream). */
export async function frontAddresses(docker: Docker, project: string, ids: readonly string[], port: number): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const ip = (await docker.getContainer(id).inspect()).NetworkSettings?.Networks?.[networkName(project, NETWORK.frontend)]?.IPAddress;
    if (ip) out.push(`${ip}:${port}`);
  }
  return out.sort();
}
