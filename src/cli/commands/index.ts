import type { Command } from 'commander';
import type { RunEnvironment } from '../context.ts';

/** Adds every subcommand to the program. One file per command group in this folder. */
export function registerCommands(program: Command, runEnv: RunEnvironment): void {
  void program;
  void runEnv;
}
