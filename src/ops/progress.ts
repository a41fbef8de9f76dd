/**
 * Progress as a listr2 task list on stderr: the live renderer on a TTY, plain lines otherwise,
 * nothing with --json (stdout stays clean for data).
 */
import { Listr, ListrLogger, PRESET_TIMER, ProcessOutput } from 'listr2';

export interface Step {
  title: string;
  /** Returns an optional suffix for the finished title (e.g. "3 created"). */
  run: (note: (message: string) => void) => Promise<string | void>;
  /** Whether the step runs at all; skipped steps are shown as skipped with this reason. */
  skip?: string | false;
}

export interface ProgressOptions {
  json: boolean;
  color: boolean;
}

export async function runSteps(steps: Step[], opts: ProgressOptions): Promise<void> {
  const tty = process.stderr.isTTY === true && !opts.json;
  const processOutput = new ProcessOutput(process.stderr, process.stderr);
  const logger = new ListrLogger({ processOutput, useIcons: opts.color });
  const list = new Listr(
    steps.map((s) => ({
      title: s.title,
      skip: () => s.skip ?? false,
      task: async (_ctx: unknown, task: { title: string; output: string }) => {
        const suffix = await s.run((m) => {
          task.output = m;
        });
        if (suffix) task.title = `${s.title}: ${suffix}`;
      },
    })),
    {
      concurrent: false,
      exitOnError: true,
      renderer: tty ? 'default' : 'simple',
      fallbackRenderer: 'simple',
      silentRendererCondition: opts.json,
      fallbackRendererCondition: !tty,
      rendererOptions: { logger, timer: PRESET_TIMER },
      fallbackRendererOptions: { logger, timer: PRESET_TIMER },
      collectErrors: false,
      registerSignalListeners: false,
    },
  );
  await list.run();
}
