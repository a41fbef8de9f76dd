/**
 * Which colour nginx routes to, asked two ways: the running nginx (X-Served-By on a request through
 * its listener; sent on 502s too) and the upstream file it loads at its next start or reload.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config/schema.ts';
import { UPSTREAM_FILE } from '../../docker/desired.ts';
import { upstreamColor } from '../../render/nginx.ts';
import { COLORS, type Color } from '../../stack/names.ts';
import type { StackHandle } from '../stack.ts';
import { probeEdge } from './probe.ts';

export function colorOfService(service: string | null): Color | null {
  const c = service?.replace(/^api-/, '');
  return (COLORS as readonly string[]).includes(c ?? '') ? (c as Color) : null;
}

export async function readServedColor(h: StackHandle, config: Config): Promise<[served: Color | null, fileColor: Color | null]> {
  const [facts, file] = await Promise.all([
    probeEdge(h.docker, h.project, config),
    readFile(path.join(h.renderDir, UPSTREAM_FILE), 'utf8').catch(() => ''),
  ]);
  return [facts.reached ? colorOfService(facts.servedBy) : null, upstreamColor(file)];
}
