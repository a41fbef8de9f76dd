/**
 * What every stack command needs: the loaded config, a Docker connection, the rendered files on
 * disk, the desired stack, and the host's view of it (state, containers).
 */
import path from 'node:path';
import type Docker from 'dockerode';
import type { LoadedConfig } from '../config/load.ts';
import { connectDocker } from '../docker/client.ts';
import { desiredStack, type DesiredStack } from '../docker/desired.ts';
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
  const [actual, images] = await Promise.all([
    actualStack(h.docker, h.project),
    imageIds(h.docker, h.spec.services.map((s) => s.image)),
  ]);
  const desired = desiredStack(h.spec, {
    renderedFiles: renderForDir(h.loaded, h.renderDir),
    renderDir: h.renderDir,
    configDir: h.loaded.dir,
    envFileValues: h.loaded.env,
    imageIds: images,
    activeColor,
    profiles: deployProfiles(),
    ...(overrides.replicas ? { replicas: overrides.replicas } : {}),
  });
  return { state, activeColor, actual, images, desired, plan: planStack(desired, actual, activeColor) };
}

/** Writes the rendered files the containers mount (bind mounts point at them). */
export async function renderStackFiles(h: StackHandle): Promise<number> {
  const report = await writeRendered(renderForDir(h.loaded, h.renderDir), h.renderDir);
  return report.files.filter((f) => f.status !== 'unchanged').length;
}
