/**
 * The edge probe, the I/O half: a request to /health through nginx's own public listener, run
 * inside the nginx container (works whatever the host's firewall and whether the engine is local,
 * tcp:// or ssh://). wget is in both the official nginx images (busybox on Alpine) and Debian's.
 */
import type Docker from 'dockerode';
import type { Config } from '../../config/schema.ts';
import { probe } from '../../docker/engine.ts';
import { INTERNAL_PORT } from '../../stack/names.ts';
import { EDGE_ROUTE_PATH } from '../../render/nginx.ts';
import { errorMessage } from '../../util/errors.ts';
import { parseProbeOutput, type EdgeFacts } from './check.ts';
import { nginxContainerId } from '../upstream.ts';

/** Markers the probe prints before wget's exit code and before the route nginx reports. */
export const PROBE_EXIT = 'modelship-probe-exit=';
export const PROBE_ROUTE = 'modelship-probe-route=';

export function probeCommand(config: Config): string[] {
  const tls = config.tls.mode !== 'off';
  const url = tls ? `https://127.0.0.1:${INTERNAL_PORT.nginxHttps}/health` : `http://127.0.0.1:${INTERNAL_PORT.nginxHttp}/health`;
  const host = config.domains[0] ?? 'localhost';
  // wget exits non-zero on 5xx; the headers it printed are what we judge, so the shell always
  // succeeds and reports wget's own exit code. (busybox 1.35's `wget -T` crashes: `timeout` bounds it.)
  const args = ['wget', '-S', '-O', '/dev/null', ...(tls ? ['--no-check-certificate'] : []), '--header', `'Host: ${host}'`, url];
  // busybox wget prints no headers for a 5xx: the route (X-Served-By's value) is also read from
  // nginx's internal status listener, which always answers 200.
  const route = `http://127.0.0.1:${INTERNAL_PORT.nginxStatus}${EDGE_ROUTE_PATH}`;
  return ['CMD-SHELL', `T=; command -v timeout >/dev/null 2>&1 && T='timeout 10'; $T ${args.join(' ')} 2>&1; echo "${PROBE_EXIT}$?"; echo "${PROBE_ROUTE}$($T wget -q -O - ${route} 2>/dev/null)"`];
}

export async function probeEdge(docker: Docker, project: string, config: Config): Promise<EdgeFacts> {
  try {
    const nginx = await nginxContainerId(docker, project);
    if (!nginx) return { reached: false, status: null, servedBy: null, answeredBy: null, error: 'nginx is not running' };
    const r = await probe(docker, nginx, probeCommand(config), 15000);
    const code = Number(new RegExp(`${PROBE_EXIT}(\\d+)`).exec(r.output)?.[1] ?? NaN);
    const route = new RegExp(`${PROBE_ROUTE}(\\S*)`).exec(r.output)?.[1] || null;
    const wgetOut = r.output.split('\n').filter((l) => !l.startsWith(PROBE_EXIT) && !l.startsWith(PROBE_ROUTE)).join('\n');
    const parsed = parseProbeOutput(wgetOut);
    parsed.servedBy ??= route;
    // No HTTP answer and wget itself missing or crashed: the edge could not be asked, which is not
    // the edge failing.
    if (parsed.status === null && (code === 126 || code === 127 || code >= 128 || !r.ok)) {
      return { reached: false, unprobed: true, status: null, servedBy: null, answeredBy: null, error: `could not run wget in the nginx container (exit ${Number.isNaN(code) ? '?' : code}): ${parsed.error ?? r.output.slice(0, 200)}` };
    }
    return { reached: true, ...parsed };
  } catch (err) {
    return { reached: false, status: null, servedBy: null, answeredBy: null, error: errorMessage(err) };
  }
}
