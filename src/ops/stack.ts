/**
 * What every stack command needs: the loaded config, a Docker connection, the rendered files on
 * disk, and the host's view of the stack (state, containers). There is one spec of the stack: the
 * one the host runs (`hostStack`: the recorded active colour and the release `swap --image`
 * pinned applied to the config), never one built from the raw config.
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
import { SERVICE } from '../stack/names.ts';
import { writeRendered } from './render.ts';
import { renderForDir } from '../render/for-dir.ts';

export interface StackHandle {
  loaded: LoadedConfig;
  docker: Docker;
  project: string;
  renderDir: string;
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

/** The host state (empty when the stack was never deployed or cannot be read). Writes nothing. */
export async function peekState(h: StackHandle): Promise<HostState> {
  return (await HostStore.peek(h.docker, h.project).catch(() => ({ state: { colors: {} } as HostState }))).state;
}

export interface HostStack {
  state: HostState;
  /** The config with the host's active colour and release image applied. */
  config: Config;
  activeColor: string;
  spec: StackSpec;
}

/** The stack as the host runs it. Writes nothing. */
export async function hostStack(h: StackHandle, overrides: { activeColor?: string } = {}): Promise<HostStack> {
  const state = await peekState(h);
  const activeColor = overrides.activeColor ?? state.activeColor ?? h.loaded.config.api.activeColor;
  const config = effectiveConfig(h.loaded.config, { ...state, activeColor });
  return { state, config, activeColor, spec: buildStack(config) };
}

/** The exact containers `config` asks for (the host-effective one, or a colour/image variant of it). */
export function desiredFor(h: StackHandle, config: Config, ctx: { images: Record<string, string>; activeColor: string; replicas?: Record<string, number> }): DesiredStack {
  return desiredStack(buildStack(config), {
    renderedFiles: renderForDir({ ...h.loaded, config }, h.renderDir),
    renderDir: h.renderDir,
    configDir: h.loaded.dir,
    envFileValues: h.loaded.env,
    imageIds: ctx.images,
    activeColor: ctx.activeColor,
    profiles: deployProfiles(),
    ...(ctx.replicas ? { replicas: ctx.replicas } : {}),
  });
}

/** Reads the engine and the host state, and computes the plan. Writes nothing. */
export async function viewStack(h: StackHandle, overrides: { replicas?: Record<string, number>; activeColor?: string } = {}): Promise<StackView> {
  const { state, config, activeColor, spec } = await hostStack(h, overrides);
  const [actual, images] = await Promise.all([
    actualStack(h.docker, h.project),
    imageIds(h.docker, spec.services.map((s) => s.image)),
  ]);
  // While an emergency scale-down is recorded, the queue workers stay stopped.
  const replicas = { ...(state.savedScale ? { [SERVICE.worker]: 0 } : {}), ...(overrides.replicas ?? {}) };
  const desired = desiredFor(h, config, { images, activeColor, replicas });
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
