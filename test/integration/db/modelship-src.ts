// Runs the CLI from source (no build), for tests that need a real child process (signals, kills).
import { main } from '../../../src/cli/main.ts';

process.exitCode = await main(process.argv);
