import type { Command } from 'commander';
import type { RunEnvironment } from '../context.ts';
import { register as registerConfig } from './config.ts';

/** Adds every subcommand to the program. One file per command group in this folder. */
export function registerCommands(program: Command, runEnv: RunEnvironment): void {
  registerConfig(program, runEnv);
}
