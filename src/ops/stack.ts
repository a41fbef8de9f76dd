/**
 * What every stack command needs: the loaded config, a Docker connection, the rendered files on
 * disk, the desired stack, and the host's view of it (state, containers).
 */
import path from 'node:path';
import type Docker from 'dockerode';
import type { LoadedConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { connectDocker } from '../docker/client.ts';
import { desiredStack, UPSTREAM_FILE, type DesiredStack } from '../docker/desired.ts';
import { actualStack, imageIds } from '../docker/engine.ts';
import { HostStore, type HostState } from '../docker/host-state.ts';
import { planStack, type ActualStack, type Plan } from '../docker/plan.ts';
import { buildStack } from '../stack/build.ts';
import type { StackSpec } from '../stack/spec.ts';
import { renderForDir, writeRendered } from './render.ts';

export interface StackHandle {
  loaded: LoadedConfig;
  docker: Docker;
  project: string;
  renderDir: string;
  spec: StackSpec;
}

/** The config as the host runs it: the recorded active colour and the pinned release image. */
export function effectiveConfig(config: Config, state: HostState): Config {
  const color = (state.activeColor ?? config.api.activeColor) as Config['api']['activeColor'];
  return {
    ...config,
    api: { ...config.api, activeColor: color },
    images: { ...config.images, api: state.releaseImage ?? config.images.api },
  };
}

export function openStack(loaded: LoadedConfig, env: NodeJS.ProcessEnv, host?: string): StackHandle {
  const docker = connectDocker(host ? { ...env, DOCKER_HOST: host } : env);
  return {
    loaded,
    docker,
    project: loaded.config.project,
    renderDir: path.join(loaded.dir, 'compose'),
    spec: buildStack(loaded.config, { configFileName: path.basename(loaded.file) }),
  };
}

/** Profiles deploy runs: everything the config enabled, except the idle colour. */
export function deployProfiles(): string[] {
  return ['monitoring', 'tls', 'backup'];
}

export interface StackView {
  state: HostState;
  /** The config with the host's active colour and release image applied. */
  config: Config;
  activeColor: string;
  actual: ActualStack;
  images: Record<string, string>;
  desired: DesiredStack;
  plan: Plan;
}

/** Reads the engine and the host state, and computes the plan. Writes nothing. */
export async function viewStack(h: StackHandle, overrides: { replicas?: Record<string, number>; activeColor?: string } = {}): Promise<StackView> {
  const { state } = await HostStore.peek(h.docker, h.project).catch(() => ({ state: { colors: {} } as HostState }));
  const activeColor = overrides.activeColor ?? state.activeColor ?? h.loaded.config.api.activeColor;
  const config = effectiveConfig(h.loaded.config, { ...state, activeColor });
  const spec = buildStack(config, { configFileName: path.basename(h.loaded.file) });
  const [actual, images] = await Promise.all([
    actualStack(h.docker, h.project),
    imageIds(h.docker, spec.services.map((s) => s.image)),
  ]);
  const desired = desiredStack(spec, {
    renderedFiles: renderForDir({ ...h.loaded, config }, h.renderDir),
    renderDir: h.renderDir,
    configDir: h.loaded.dir,
    envFileValues: h.loaded.env,
    imageIds: images,
    activeColor,
    profiles: deployProfiles(),
    // While an emergency scale-down is recorded, the queue workers stay stopped.
    replicas: { ...(state.savedScale ? { worker: 0 } : {}), ...(overrides.replicas ?? {}) },
  });
  return { state, config, activeColor, actual, images, desired, plan: planStack(desired, actual, activeColor, state.reloaded ?? {}) };
}

/**
 * Writes the rendered files the containers mount (bind mounts point at them), for the colour and
 * release the host runs, so nginx's upstream never names a colour that is not serving. While a
 * switch is recorded as in progress the upstream file is left as it is: the intent is reconciled
 * with what nginx serves first.
 */
export async function renderStackFiles(h: StackHandle, state: HostState): Promise<number> {
  const report = await writeRendered(renderForDir({ ...h.loaded, config: effectiveConfig(h.loaded.config, state) }, h.renderDir), h.renderDir, state.switching ? [UPSTREAM_FILE] : []);
  return report.files.filter((f) => f.status !== 'unchanged').length;
}
