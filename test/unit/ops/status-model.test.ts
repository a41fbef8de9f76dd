import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  buckets,
  cpuPercent,
  exitCodeOf,
  isStandby,
  histogramQuantile,
  memoryUsed,
  parseMetrics,
  pushHistory,
  queueFrom,
  sortRows,
  trafficBetween,
} from '../../../src/ops/status-model.ts';
import { queueLine, snapshotText, sparkline, watchLine } from '../../../src/cli/format/status.ts';
import { AT, row, SERVICES, snapshot } from './status-fixtures.ts';

const scrape = (reqs: number, errs: number, fast: number, slow: number, hits: number, misses: number): string => `
# HELP http_requests_total HTTP requests answered
# TYPE http_requests_total counter
http_requests_total{method="POST",route="/v1/classify/text",status="200"} ${reqs - errs}
http_requests_total{method="POST",route="/v1/classify/text",status="503"} ${errs}
http_requests_total{method="GET",route="/health/ready",status="200"} 999
http_request_duration_seconds_bucket{le="0.1",method="POST",route="/v1/classify/text",status="200"} ${fast}
http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/classify/text",status="200"} ${fast + slow}
http_request_duration_seconds_bucket{le="+Inf",method="POST",route="/v1/classify/text",status="200"} ${fast + slow}
http_request_duration_seconds_bucket{le="0.1",method="GET",route="/health/ready",status="200"} 999
http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/health/ready",status="200"} 999
modelship_cache_hits_total ${hits}
modelship_cache_misses_total ${misses}
modelship_jobs{state="waiting"} 4
modelship_jobs{state="active"} 2
modelship_jobs{state="failed"} 1
modelship_inference_queue_depth 3
`;

test('parseMetrics reads names, labels (escaped quotes) and +Inf', () => {
  const s = parseMetrics('a_total{x="1",y="say \\"hi\\""} 5\n# comment\nb 2.5\nc_bucket{le="+Inf"} 7\n');
  assert.deepEqual(s, [
    { name: 'a_total', labels: { x: '1', y: 'say "hi"' }, value: 5 },
    { name: 'b', labels: {}, value: 2.5 },
    { name: 'c_bucket', labels: { le: '+Inf' }, value: 7 },
  ]);
});

test('histogramQuantile interpolates inside the bucket like Prometheus', () => {
  const b = new Map([[0.1, 50], [0.5, 100], [Infinity, 100]]);
  assert.equal(histogramQuantile(0.5, b), 0.1);
  assert.ok(Math.abs(histogramQuantile(0.95, b)! - 0.46) < 1e-9);
  assert.equal(histogramQuantile(0.95, new Map()), null);
  // Everything above the last finite bound: the last finite bound.
  assert.equal(histogramQuantile(0.99, new Map([[0.1, 0], [Infinity, 10]])), 0.1);
});

test('trafficBetween: rates from two scrapes, health routes excluded, counter resets tolerated', () => {
  const a = parseMetrics(scrape(100, 0, 100, 0, 10, 10));
  const b = parseMetrics(scrape(120, 2, 110, 10, 25, 15));
  const t = trafficBetween(a, b, 2);
  assert.equal(t.requestsPerSecond, 10);
  assert.equal(t.errorRatePercent, 10);
  assert.ok(t.p95Seconds! > 0.1 && t.p95Seconds! <= 0.5, String(t.p95Seconds));
  assert.equal(t.cacheHitPercent, 75);
  assert.equal(t.inferenceP95Seconds, null);
  const reset = trafficBetween(b, parseMetrics(scrape(4, 0, 4, 0, 0, 0)), 2);
  assert.equal(reset.requestsPerSecond, 2);
  assert.equal(buckets(b, 'http_request_duration_seconds').get(Infinity), 120 + 999);
});

test('queueFrom reads job states and the inference queue', () => {
  assert.deepEqual(queueFrom(parseMetrics(scrape(1, 0, 1, 0, 0, 0))), { waiting: 4, active: 2, failed: 1, inferenceInflight: 3 });
  assert.equal(queueFrom(parseMetrics('x 1')), null);
});

test('queueFrom names the models the API reports not ready; the queue line shows them', () => {
  const text = 'modelship_inference_queue_depth{color="blue"} 0\nmodelship_model_ready{color="blue",model="content-safety"} 1\nmodelship_model_ready{color="blue",model="broken"} 0\n';
  const q = queueFrom(parseMetrics(text))!;
  assert.deepEqual(q.modelsNotReady, ['broken']);
  assert.match(queueLine(q), /models NOT ready: broken/);
  assert.equal(queueFrom(parseMetrics('modelship_model_ready{model="a"} 1\nmodelship_inference_queue_depth 0'))!.modelsNotReady, undefined);
});

test('cpuPercent and memoryUsed follow docker stats', () => {
  const s = { cpu_stats: { cpu_usage: { total_usage: 2_000 }, system_cpu_usage: 20_000, online_cpus: 4 }, precpu_stats: { cpu_usage: { total_usage: 1_000 }, system_cpu_usage: 10_000 }, memory_stats: { usage: 500, stats: { inactive_file: 100 } } };
  assert.equal(cpuPercent(s), 40);
  assert.equal(cpuPercent({ cpu_stats: s.cpu_stats }), null);
  assert.equal(memoryUsed(s), 400);
  assert.equal(memoryUsed({}), null);
});

test('sparkline scales to the max and keeps the last values', () => {
  assert.equal(sparkline([0, 1, 2, 3, 4, 5, 6, 7]), '▁▂▃▄▅▆▇█');
  assert.equal(sparkline([0, 0, 0]), '▁▁▁');
  assert.equal(sparkline([null, 4]), ' █');
  assert.equal(sparkline([1, 2, 3, 4], 2), '▆█');
  const h = [0, 1, 2, 3, 4].reduce((acc, v) => pushHistory(acc, { at: v, rps: v, errorPct: 0, p95: null }, 3), [] as ReturnType<typeof pushHistory>);
  assert.deepEqual(h.map((p) => p.rps), [2, 3, 4]);
});

test('rows come in a stable order: edge, API colours, workers, data, monitoring', () => {
  const rows = sortRows([row('redis'), row('worker', { container: 'demo-worker-10' }), row('worker', { container: 'demo-worker-2' }), row('nginx'), row('api-green'), row('api-blue'), row('zz-extra')]);
  assert.deepEqual(rows.map((r) => r.container), ['demo-nginx', 'demo-api-blue', 'demo-api-green', 'demo-worker-2', 'demo-worker-10', 'demo-redis', 'demo-zz-extra']);
});

test('a healthy stack: no alerts, exit 0', () => {
  const s = snapshot();
  assert.equal(s.verdict, 'healthy');
  assert.deepEqual(s.alerts, []);
  assert.equal(exitCodeOf(s), 0);
  assert.deepEqual(s.services.map((r) => r.service), ['nginx', 'api-blue', 'worker', 'postgres', 'redis', 'prometheus']);
});

test('alerts use the config thresholds (error rate, p95, queue, connections, backup age)', () => {
  const s = snapshot({
    traffic: { requestsPerSecond: 5, errorRatePercent: 6, p95Seconds: 2.5, inferenceP95Seconds: 1, cacheHitPercent: null },
    queue: { waiting: 101, active: 0, failed: 0, inferenceInflight: 0 },
    db: { sizeBytes: 1, connections: 81, maxConnections: 100, poolSize: 20, readOnly: false },
    backup: { lastAt: '2026-11-25T07:00:00.000Z', lastVerified: true, restoreTestedAt: null },
  });
  assert.deepEqual(s.alerts.map((a) => a.name), ['HighErrorRate', 'HighResponseTime', 'QueueBacklog', 'DatabaseConnectionsHigh', 'BackupTooOld']);
  assert.equal(s.verdict, 'degraded');
  assert.equal(exitCodeOf(s), 1, 'HighErrorRate is critical');
  // Just under every threshold: nothing fires.
  const ok = snapshot({
    traffic: { requestsPerSecond: 5, errorRatePercent: 5, p95Seconds: 2, inferenceP95Seconds: 1, cacheHitPercent: null },
    queue: { waiting: 100, active: 0, failed: 0, inferenceInflight: 0 },
    db: { sizeBytes: 1, connections: 80, maxConnections: 100, poolSize: 20, readOnly: false },
    backup: { lastAt: '2026-11-25T09:00:00.000Z', lastVerified: true, restoreTestedAt: null },
  });
  assert.deepEqual(ok.alerts, []);
  const unverified = snapshot({ backup: { lastAt: AT, lastVerified: false, restoreTestedAt: null } });
  assert.deepEqual(unverified.alerts.map((a) => a.message), ['the last backup is not verified']);
  assert.equal(exitCodeOf(unverified), 0, 'a warning alone keeps exit 0');
});

test('verdicts: API down is down, an unhealthy worker is degraded, no engine is unreachable, no containers is empty', () => {
  const apiDown = snapshot({ services: SERVICES.map((s) => row(s, s === 'api-blue' ? { state: 'exited', health: '-' } : {})) });
  assert.equal(apiDown.verdict, 'down');
  assert.ok(apiDown.alerts.some((a) => a.name === 'APIDown'));
  assert.equal(exitCodeOf(apiDown), 1);
  const worker = snapshot({ services: SERVICES.map((s) => row(s, s === 'worker' ? { health: 'unhealthy' } : {})) });
  assert.equal(worker.verdict, 'degraded');
  assert.ok(worker.alerts.some((a) => a.name === 'WorkersDown'));
  assert.equal(exitCodeOf(worker), 1);
  const gone = snapshot({ engine: { ok: false, error: 'connect ENOENT /var/run/docker.sock' }, services: [] });
  assert.equal(gone.verdict, 'unreachable');
  assert.equal(exitCodeOf(gone), 1);
  const empty = snapshot({ services: [] });
  assert.equal(empty.verdict, 'empty');
  assert.equal(exitCodeOf(empty), 1);
});

test('plain snapshot and watch line', () => {
  const text = snapshotText(snapshot()).join('\n');
  assert.match(text, /^stack demo: HEALTHY {2}\(active colour blue\)/);
  assert.match(text, /SERVICE +CONTAINER +COLOUR +STATE +HEALTH +UPTIME +RESTARTS +CPU +MEM +IMAGE/);
  assert.match(text, /api-blue +demo-api-blue +blue\* +running +healthy/);
  assert.match(text, /traffic: 12\.5 req\/s {2}errors 0\.4% {2}p95 180ms/);
  assert.match(text, /database: 48\.0MiB, 12\/100 connections/);
  assert.match(text, /backup: last 8h ago, verified; restore tested 6d ago/);
  assert.match(text, /alerts: none/);
  assert.match(snapshotText(snapshot({ engine: { ok: false, error: 'gone' }, services: [] })).join('\n'), /UNREACHABLE[\s\S]*Docker Engine unreachable: gone/);
  assert.equal(watchLine(snapshot()), `${AT}  healthy  6/6 up  12.5 req/s  err 0.4%  p95 180ms  alerts -`);
});

test('the stopped standby colour after a swap is healthy by design: no DEGRADED, exit 0', () => {
  // What `swap` leaves: green active and serving, blue kept stopped for an instant rollback.
  const services = [...SERVICES.filter((s) => s !== 'api-blue').map((s) => row(s)), row('api-green', { active: true }), row('api-blue', { active: false, state: 'exited', health: '-', uptime: '-' })];
  const s = snapshot({ activeColor: 'green', services });
  assert.deepEqual(s.alerts, []);
  assert.equal(s.verdict, 'healthy');
  assert.equal(exitCodeOf(s), 0);
  assert.match(snapshotText(s).join('\n'), /api-blue +demo-api-blue +blue +exited +standby/);
  // The same stack with the ACTIVE colour stopped is an outage.
  const outage = snapshot({ activeColor: 'blue', services: services.map((r) => (r.service === 'api-green' ? { ...r, active: false, state: 'exited', health: '-' } : r)) });
  assert.equal(outage.verdict, 'down');
  assert.equal(exitCodeOf(outage), 1);
  // The idle colour running unhealthy (a leftover of a failed swap): a warning, rollback would fail.
  const sick = snapshot({ activeColor: 'green', services: services.map((r) => (r.service === 'api-blue' ? { ...r, state: 'running', health: 'unhealthy' } : r)) });
  assert.deepEqual(sick.alerts.map((a) => [a.name, a.severity]), [['StandbyUnhealthy', 'warning']]);
  assert.equal(sick.verdict, 'degraded');
  assert.equal(exitCodeOf(sick), 0);
  // Anything else stopped still exits 1 (a stopped worker, a stopped redis).
  const worker = snapshot({ activeColor: 'green', services: services.map((r) => (r.service === 'worker' ? { ...r, state: 'exited', health: '-' } : r)) });
  assert.equal(exitCodeOf(worker), 1);
  // Before any swap there is no active colour recorded: nothing is treated as standby.
  assert.equal(isStandby({ service: 'api-blue', color: 'blue', state: 'exited' }, null), false);
  assert.equal(isStandby({ service: 'api-blue', color: 'blue', state: 'exited' }, 'green'), true);
  assert.equal(isStandby({ service: 'api-blue', color: 'blue', state: 'restarting' }, 'green'), false);
});
