/**
 * The error a deploy or swap step ends with when a service does not come up: what failed, its last
 * log lines and health check output, and the login failure behind it when the logs show one.
 */
import type Docker from 'dockerode';
import type { Config } from '../config/schema.ts';
import { ContainerFailed, isEngineGone, tailLogs } from '../docker/engine.ts';
import { UserError } from '../util/errors.ts';
import { authFailure } from './auth-failure.ts';

export function failureReport(service: string, container: string, err: unknown, logs: string, probeOutput: string, login?: { secrets: Config['secrets']; databaseLog: string }, opts: { hint?: string } = {}): UserError {
  const reason = err instanceof Error ? err.message : String(err);
  const auth = login ? authFailure(`${logs}\n${probeOutput}\n${login.databaseLog}`, login.secrets) : null;
  const parts = [`deploy failed at ${service} (${container}): ${reason}${auth ? `: ${auth.cause}` : ''}`];
  parts.push(`--- last 50 log lines of ${container} ---\n${logs.trimEnd() || '(no output)'}`);
  if (probeOutput) parts.push(`--- health check output ---\n${probeOutput.trimEnd()}`);
  return new UserError(parts.join('\n'), {
    hint: auth ? `${auth.hint}; services that were healthy before keep running` : `${opts.hint ? `${opts.hint}; ` : ''}services that were healthy before keep running; fix the cause and run \`modelship deploy\` again`,
    details: { service, container, reason, logs, health: probeOutput, ...(auth ? { cause: auth.cause } : {}) },
  });
}

/** A new API colour that did not pass its gate during a swap: the old colour still serves. */
export async function notReadyReport(docker: Docker, service: string, id: string, err: unknown): Promise<never> {
  if (isEngineGone(err)) throw err;
  const logs = await tailLogs(docker, id, 50);
  const probe = err instanceof ContainerFailed ? err.probeOutput : '';
  const reason = err instanceof Error ? err.message : String(err);
  throw new UserError(
    [`${service} did not become ready: ${reason}`, `--- last 50 log lines of ${service} ---\n${logs.trimEnd() || '(no output)'}`, ...(probe ? [`--- /health/ready ---\n${probe}`] : [])].join('\n'),
    { hint: 'the old colour is still serving; fix the release and swap again', details: { service, reason, logs, health: probe } },
  );
}
