/**
 * The edge probe, the I/O half: a request to /health through nginx's own public listener, run
 * inside the nginx container (works whatever the host's firewall and whether the engine is local,
 * tcp:// or ssh://). wget is in both the official nginx images (busybox on Alpine) and Debian's.
 */
import type Docker from 'dockerode';
import type { Config } from '../../config/schema.ts';
import { probe } from '../../docker/engine.ts';
import { INTERNAL_PORT } from '../../stack/names.ts';
import { errorMessage } from '../../util/errors.ts';
import { parseProbeOutput, type EdgeFacts } from './check.ts';
import { nginxContainerId } from '../upstream.ts';

export function probeCommand(config: Config): string[] {
  const tls = config.tls.mode !== 'off';
  const url = tls ? `https://127.0.0.1:${INTERNAL_PORT.nginxHttps}/health` : `http://127.0.0.1:${INTERNAL_PORT.nginxHttp}/health`;
  const host = config.domains[0] ?? 'localhost';
  // wget exits non-zero on 5xx; the headers it printed are what we judge, so the shell always succeeds.
  const args = ['wget', '-S', '-O', '/dev/null', '-T', '5', '-t', '1', ...(tls ? ['--no-check-certificate'] : []), '--header', `'Host: ${host}'`, url];
  return ['CMD-SHELL', `${args.join(' ')} 2>&1; true`];
}

export async function probeEdge(docker: Docker, project: string, config: Config): Promise<EdgeFacts> {
  try {
    const nginx = await nginxContainerId(docker, project);
    if (!nginx) return { reached: false, status: null, servedBy: null, answeredBy: null, error: 'nginx is not running' };
    const r = await probe(docker, nginx, probeCommand(config), 8000);
    return { reached: true, ...parseProbeOutput(r.output) };
  } catch (err) {
    return { reached: false, status: null, servedBy: null, answeredBy: null, error: errorMessage(err) };
  }
}
