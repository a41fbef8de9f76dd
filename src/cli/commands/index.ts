import type { Command } from 'commander';
import type { RunEnvironment } from '../context.ts';

interface CommandModule {
  register(program: Command, runEnv: RunEnvironment): void;
}

/**
 * One file per command group in this folder. Only the module of the command being run is loaded
 * (TF.js, fastify, BullMQ and friends cost about a second to import), so `deploy` and other quick
 * commands start fast; help and unknown commands load them all.
 */
const MODULES: Array<{ commands: readonly string[]; load: () => Promise<CommandModule> }> = [
  { commands: ['init', 'config', 'render'], load: () => import('./config.ts') },
  { commands: ['build', 'plan', 'deploy', 'ps', 'logs', 'scale', 'restart', 'down', 'update', 'audit'], load: () => import('./stack.ts') },
  { commands: ['swap', 'rollback'], load: () => import('./swap.ts') },
  { commands: ['backup', 'restore'], load: () => import('./backup.ts') },
  { commands: ['db'], load: () => import('./db.ts') },
  { commands: ['emergency'], load: () => import('./emergency.ts') },
  { commands: ['schedule'], load: () => import('./schedule.ts') },
  { commands: ['classify'], load: () => import('./classify.ts') },
  { commands: ['models'], load: () => import('./models.ts') },
  { commands: ['serve'], load: () => import('./serve.ts') },
  { commands: ['worker'], load: () => import('./worker.ts') },
  { commands: ['keys'], load: () => import('./keys.ts') },
  { commands: ['status'], load: () => import('./status.ts') },
  { commands: ['doctor'], load: () => import('./doctor.ts') },
  { commands: ['swarm'], load: () => import('./swarm.ts') },
];

/** Global options that take a value, so their value is not mistaken for the command name. */
const VALUE_OPTIONS = new Set(['-c', '--config', '--env-file']);

export function commandName(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (VALUE_OPTIONS.has(a)) {
      i++;
      continue;
    }
    if (a.startsWith('-')) continue;
    return a;
  }
  return undefined;
}

/** Adds the subcommands to the program: the one named in `args`, or all of them. */
export async function registerCommands(program: Command, runEnv: RunEnvironment, args: readonly string[] = []): Promise<void> {
  const name = commandName(args);
  const chosen = name ? MODULES.filter((m) => m.commands.includes(name)) : [];
  for (const m of chosen.length > 0 ? chosen : MODULES) (await m.load()).register(program, runEnv);
}
