/** The rendered files for an output directory: paths in them are relative to that directory. Pure. */
import path from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { renderAll } from './index.ts';
import type { RenderedFile } from './types.ts';

export function renderForDir(loaded: LoadedConfig, outDir: string): RenderedFile[] {
  const toPosix = (p: string): string => p.split(path.sep).join('/');
  const configDir = toPosix(path.relative(outDir, loaded.dir)) || '.';
  const envFile = toPosix(path.relative(outDir, loaded.envFile));
  return renderAll(loaded.config, { configDir, envFile });
}
