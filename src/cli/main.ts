import { Command, CommanderError, Option } from 'commander';
import { createOutput } from './output.ts';
import type { RunEnvironment } from './context.ts';
import { registerCommands } from './commands/index.ts';
import { VERSION } from '../version.ts';

export interface MainOptions {
  streams?: RunEnvironment['streams'];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Builds the program. Every subcommand inherits the global options. */
export async function buildProgram(runEnv: RunEnvironment, args: readonly string[] = []): Promise<Command> {
  const program = new Command('modelship')
    .description('Put an ML inference stack into production on one server and keep it healthy.')
    .version(VERSION, '-V, --version')
    .addOption(new Option('-c, --config <file>', 'config file (env MODELSHIP_CONFIG)').default(undefined, './modelship.config.yaml'))
    .option('--env-file <file>', 'secrets file (default: .env beside the config)')
    .option('--json', 'machine-readable output on stdout', false)
    .option('--no-color', 'no colour (also NO_COLOR=1)')
    .option('-y, --yes', 'answer yes to confirmations (for scripts)', false)
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void runEnv.streams.stdout.write(s),
      writeErr: (s) => void runEnv.streams.stderr.write(s),
    });
  await registerCommands(program, runEnv, args);
  // Subcommands inherit exitOverride/output settings only when set before they are added.
  for (const cmd of allCommands(program)) {
    cmd.exitOverride().configureOutput({
      writeOut: (s) => void runEnv.streams.stdout.write(s),
      writeErr: (s) => void runEnv.streams.stderr.write(s),
    });
  }
  return program;
}

function allCommands(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Runs the CLI and returns the exit code (0 ok, 1 failure, 2 usage error). */
export async function main(argv: string[], opts: MainOptions = {}): Promise<number> {
  const runEnv: RunEnvironment = {
    streams: opts.streams ?? process,
    env: opts.env ?? process.env,
    cwd: opts.cwd ?? process.cwd(),
    exitCode: 0,
  };
  const program = await buildProgram(runEnv, argv.slice(2));
  try {
    await program.parseAsync(argv);
    return runEnv.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      if (err.code === 'commander.executeSubCommandAsync') return err.exitCode;
      return 2;
    }
    const out = createOutput({ json: false, color: false }, runEnv.streams);
    out.error(String(err));
    return 1;
  }
}
