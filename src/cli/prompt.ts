/** Questions to the operator on the terminal (stderr, so stdout stays data). */
import { createInterface } from 'node:readline/promises';
import type { CommandContext } from './context.ts';
import { UsageError } from '../util/errors.ts';

/** The answer to `question` typed on the terminal; without one, `noTerminal` is thrown (never hang a script). */
export async function ask(question: string, noTerminal: () => Error): Promise<string> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) throw noTerminal();
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** Yes with --yes; a question on a terminal; otherwise exit 2 (never hang a script). */
export async function confirm(ctx: CommandContext, question: string): Promise<boolean> {
  if (ctx.global.yes) return true;
  const a = await ask(`${question} [y/N] `, () => new UsageError(`${question.replace(/\?.*$/, '')}: needs confirmation`, 'no terminal to ask on: pass --yes to confirm'));
  return /^y(es)?$/i.test(a.trim());
}
