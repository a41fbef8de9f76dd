/**
 * `modelship status` and `modelship doctor` against a real deployed stack: the non-TTY snapshot
 * (plain and --json) with its exit code, the live view in a real terminal (tmux: start, see the
 * services, press q, it exits), and a doctor run.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execa } from 'execa';
import { BIN, cleanup, docker, e2eSkip, ms, projectContainers, stackDir } from './helpers.ts';

const skip = await e2eSkip();
const s = await stackDir('status');
const session = `ms-status-${process.pid}`;

before(async () => {
  if (skip) return;
  await cleanup(s);
  const r = await ms(s, ['deploy', '--timeout', '180s']);
  assert.equal(r.exitCode, 0, r.all);
});
after(async () => {
  await execa('tmux', ['kill-session', '-t', session], { reject: false });
  if (!skip) await cleanup(s);
});

interface Snap {
  ok: boolean;
  verdict: string;
  activeColor: string;
  services: Array<{ service: string; state: string; health: string; restarts: number | null; memBytes: number | null }>;
  traffic: { requestsPerSecond: number } | null;
  db: { connections: number; maxConnections: number } | null;
  alerts: Array<{ name: string }>;
}

test('status --json: one snapshot of every service, exit 0 when healthy', { skip }, async () => {
  // Some traffic through nginx, so the rates have something to show.
  await Promise.all(Array.from({ length: 5 }, () => fetch(`http://127.0.0.1:${s.httpPort}/health/ready`)));
  const r = await ms(s, ['status', '--json']);
  assert.equal(r.exitCode, 0, r.all);
  const snap = JSON.parse(r.stdout) as Snap;
  assert.equal(snap.ok, true);
  assert.equal(snap.activeColor, 'blue');
  assert.deepEqual(snap.services.map((x) => x.service), ['nginx', 'api-blue', 'worker', 'postgres', 'redis', 'db-backup', 'prometheus']);
  for (const x of snap.services) {
    assert.equal(x.state, 'running', x.service);
    assert.equal(x.restarts, 0, x.service);
    assert.ok((x.memBytes ?? 0) > 0, `${x.service} memory`);
  }
  assert.ok(snap.traffic, 'rates from two scrapes of the API metrics');
  assert.ok(snap.db && snap.db.maxConnections === 100 && snap.db.connections > 0, JSON.stringify(snap.db));
  assert.deepEqual(snap.alerts.map((a) => a.name), ['BackupTooOld'], 'no backup taken on this stack yet');
});

test('status without a terminal prints the plain snapshot; a stopped worker makes it exit 1', { skip }, async () => {
  const r = await ms(s, ['status']);
  assert.equal(r.exitCode, 0, r.all);
  assert.match(r.stdout, new RegExp(`^stack ${s.project}: DEGRADED`));
  assert.match(r.stdout, /api-blue +\S+-api-blue-1 +blue\* +running +healthy/);
  assert.match(r.stdout, /database: .*\/100 connections/);
  const worker = (await projectContainers(s.project)).find((c) => c.Labels['com.docker.compose.service'] === 'worker')!;
  await docker.getContainer(worker.Id).stop({ t: 1 });
  try {
    const down = await ms(s, ['status']);
    assert.equal(down.exitCode, 1, down.all);
    assert.match(down.stdout, /worker +\S+-worker-1 +exited/);
    assert.match(down.stdout, /WorkersDown/);
  } finally {
    await docker.getContainer(worker.Id).start();
  }
});

test('the live view in a real terminal: services shown, q quits', { skip }, async () => {
  const cmd = `MODELSHIP_CONFIG=${s.config} ${process.execPath} ${BIN} status; echo "STATUS-EXIT:$?"; sleep 30`;
  await execa('tmux', ['new-session', '-d', '-s', session, '-x', '150', '-y', '45', '-c', s.dir, cmd]);
  const capture = async (): Promise<string> => (await execa('tmux', ['capture-pane', '-p', '-t', session])).stdout;
  const waitFor = async (re: RegExp, ms = 20_000): Promise<string> => {
    const end = Date.now() + ms;
    let text = '';
    while (Date.now() < end) {
      text = await capture();
      if (re.test(text)) return text;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.fail(`screen never matched ${re}:\n${text}`);
  };
  const screen = await waitFor(/database: .*connections/);
  for (const svc of ['nginx', 'api-blue', 'worker', 'postgres', 'redis', 'prometheus']) assert.match(screen, new RegExp(`\\b${svc} +${s.project}-`), svc);
  assert.match(screen, /q quit {2}r refresh {2}l logs/);
  await execa('tmux', ['send-keys', '-t', session, 'Down', 'Down']);
  await execa('tmux', ['send-keys', '-t', session, 'l']);
  await waitFor(/logs: \S+-worker-1/);
  await execa('tmux', ['send-keys', '-t', session, 'q']);
  await waitFor(/STATUS-EXIT:0/, 5000);
});

test('doctor --json against the stack: the checklist, and exit 1 because no backup exists', { skip }, async () => {
  const r = await ms(s, ['doctor', '--json']);
  const out = JSON.parse(r.stdout) as { ok: boolean; environment: string; checks: Array<{ id: string; status: string; why: string; fix?: string }> };
  const by = Object.fromEntries(out.checks.map((c) => [c.id, c]));
  assert.equal(out.environment, 'development');
  assert.equal(by['env-mode']!.status, 'pass');
  assert.equal(by['published-ports']!.status, 'pass', by['published-ports']!.why);
  assert.match(by['published-ports']!.why, new RegExp(`nginx on 127\\.0\\.0\\.1:${s.httpPort}`));
  assert.equal(by['data-stores']!.status, 'pass');
  assert.equal(by.tls!.status, 'warn', 'TLS off outside production is a warning');
  assert.equal(by.connections!.status, 'pass', by.connections!.why);
  assert.equal(by['backup-age']!.status, 'fail');
  assert.match(by['backup-age']!.fix!, /modelship backup/);
  assert.equal(out.ok, false);
  assert.equal(r.exitCode, 1);
  const plain = await ms(s, ['doctor']);
  assert.equal(plain.exitCode, 1);
  assert.match(plain.stdout, /^FAIL {2}last backup younger than 26 h and verified: no backup in \.\/backups$/m);
  assert.match(plain.stdout, /passed, \d+ warnings?, \d+ failed/);
});
