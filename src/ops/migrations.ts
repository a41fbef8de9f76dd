/**
 * Database migrations before a new API version starts (deploy and swap alike): `modelship db
 * migrate --direct` in a one-off container of the new API image on the stack's networks.
 */
import { withTimeout } from '../util/timeout.ts';
import type Docker from 'dockerode';
import type { DesiredContainer } from '../docker/desired.ts';
import { tailLogs } from '../docker/engine.ts';
import { COMPOSE_LABEL, MS_LABEL } from '../stack/names.ts';
import { failureReport } from './failure-report.ts';
import type { StackHandle } from './stack.ts';

/** Runs the migrations with `api`'s image and config; returns the last line they printed. */
export async function runMigrations(docker: Docker, h: StackHandle, api: DesiredContainer, timeoutSeconds: number): Promise<string> {
  const name = `${h.project}-migrate-${Date.now()}`;
  const { name: _n, ...base } = api.create;
  const labels: Record<string, string> = {
    [COMPOSE_LABEL.project]: h.project,
    [COMPOSE_LABEL.service]: 'migrate',
    [COMPOSE_LABEL.oneoff]: 'True',
    [MS_LABEL.project]: h.project,
    [MS_LABEL.service]: 'migrate',
  };
  const c = await docker.createContainer({
    ...(base as Docker.ContainerCreateOptions),
    name,
    Entrypoint: [],
    Cmd: ['modelship', 'db', 'migrate', '--direct'],
    Labels: labels,
    Healthcheck: { Test: ['NONE'] },
    HostConfig: { ...base.HostConfig, RestartPolicy: { Name: 'no' }, PortBindings: {} },
  } as Docker.ContainerCreateOptions);
  try {
    for (const n of api.extraNetworks) await docker.getNetwork(n.name).connect({ Container: c.id });
    await c.start();
    const result = (await withTimeout(c.wait(), timeoutSeconds * 1000, async () => {
      const logs = await tailLogs(docker, c.id, 50).catch(() => '');
      throw failureReport('migrate', name, new Error(`migrations still running after ${timeoutSeconds} s (the migration container is removed; each migration runs in its own transaction, so none is half-applied)`), logs, '', { secrets: h.loaded.config.secrets, databaseLog: '' }, {
        hint: 'a long migration or a lock held by another session (see `modelship db connections`); give it longer with --timeout (deploy) or --health-timeout (swap)',
      });
    })) as { StatusCode: number };
    const logs = await tailLogs(docker, c.id, 50);
    if (result.StatusCode !== 0) throw failureReport('migrate', name, new Error(`migrations exited with code ${result.StatusCode}`), logs, '', { secrets: h.loaded.config.secrets, databaseLog: '' });
    return logs.trim().split('\n').pop() ?? 'done';
  } finally {
    await c.remove({ force: true }).catch(() => undefined);
  }
}
