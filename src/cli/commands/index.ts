import type { Command } from 'commander';
import type { RunEnvironment } from '../context.ts';
import { register as registerConfig } from './config.ts';
import { register as registerStack } from './stack.ts';
import { register as registerBackup } from './backup.ts';
import { register as registerDb } from './db.ts';
import { register as registerEmergency } from './emergency.ts';
import { register as registerSchedule } from './schedule.ts';
import { register as registerClassify } from './classify.ts';
import { register as registerModels } from './models.ts';
import { register as registerServe } from './serve.ts';
import { register as registerWorker } from './worker.ts';
import { register as registerKeys } from './keys.ts';

/** Adds every subcommand to the program. One file per command group in this folder. */
export function registerCommands(program: Command, runEnv: RunEnvironment): void {
  registerConfig(program, runEnv);
  registerStack(program, runEnv);
  registerBackup(program, runEnv);
  registerDb(program, runEnv);
  registerEmergency(program, runEnv);
  registerSchedule(program, runEnv);
  registerClassify(program, runEnv);
  registerModels(program, runEnv);
  registerServe(program, runEnv);
  registerWorker(program, runEnv);
  registerKeys(program, runEnv);
}
