/**
 * Config → every file the production stack needs. Pure: no Docker, no network, no clock.
 */
import type { Config } from '../config/schema.ts';
import { buildStack } from '../stack/build.ts';
import { renderAppConfig } from './app-config.ts';
import { renderCompose, type ComposePaths } from './compose.ts';
import { renderGrafana } from './grafana.ts';
import { renderK8s } from './k8s.ts';
import { renderLoki } from './loki.ts';
import { renderNginx } from './nginx.ts';
import { renderPostgresInit } from './postgres.ts';
import { renderPrometheus } from './prometheus.ts';
import type { RenderedFile } from './types.ts';

export type RenderContext = ComposePaths;

export function renderAll(config: Config, ctx: RenderContext): RenderedFile[] {
  const stack = buildStack(config);
  const files: RenderedFile[] = [
    renderCompose(stack, ctx),
    ...renderPostgresInit(config),
    ...renderAppConfig(config),
    ...renderNginx(config),
    ...renderPrometheus(config),
    ...renderGrafana(config),
    ...renderLoki(config),
    ...renderK8s(config),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.path)) throw new Error(`two renderers produced ${f.path}`);
    seen.add(f.path);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
