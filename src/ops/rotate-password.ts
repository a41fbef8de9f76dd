/**
 * Secret rotation on deploy. PostgreSQL reads POSTGRES_PASSWORD only when it initialises an empty
 * data volume: afterwards the role's password lives in the database, and a new value in `.env`
 * alone locks out every API, worker and scheduler that is recreated with it. Before deploy recreates
 * anything, the role's stored verifier is compared with `.env` (inside the running postgres
 * container, over its local socket, as the image's superuser); when they differ the role gets the
 * new password (as a SCRAM verifier: the secret never enters a statement or a log). Sessions
 * already open stay authenticated, so what runs keeps serving until it is replaced.
 *
 * Redis needs nothing of the sort: it takes its password from the command line at every start,
 * and deploy recreates it (its environment changed) with the new one.
 */
import { passwordMatches, scramVerifier } from '../db/password-verifier.ts';
import type Docker from 'dockerode';
import { containersOf, demuxBuffer, serviceContainers } from '../docker/engine.ts';
import { SERVICE } from '../stack/names.ts';
import { errorMessage, UserError } from '../util/errors.ts';
import { containerTargetFor } from '../postgres/container.ts';
import { quoteIdent, quoteLiteral } from '../postgres/quote.ts';
import type { Step } from './progress.ts';
import type { StackHandle, StackView } from './stack.ts';

export type RotationResult = 'no-database' | 'unchanged' | 'rotated';

/** Brings the database role's password to the one in `.env`. Throws a UserError when it cannot. */
export async function syncDatabasePassword(h: StackHandle, view: StackView): Promise<RotationResult> {
  const c = view.config;
  const [pg] = containersOf(view.actual.containers, SERVICE.postgres, true);
  const key = c.secrets.postgresPassword;
  const password = h.loaded.env[key];
  if (!pg || password === undefined || password === '') return 'no-database';
  const target = containerTargetFor(h.docker, pg.id, pg.name, { database: c.postgres.database, user: c.postgres.user, password: undefined });
  let session;
  try {
    session = await target.connect({ appName: 'modelship deploy' });
  } catch (err) {
    throw new UserError(`cannot check the database password: psql in ${pg.name} failed: ${errorMessage(err)}`, {
      hint: `nothing was changed; is ${pg.name} healthy? \`modelship logs postgres --tail 50\``,
    });
  }
  try {
    const rows = await session.query<{ verifier: string | null }>('select rolpassword as verifier from pg_authid where rolname = current_user').catch(() => null);
    // Without superuser pg_authid is unreadable; a role may always set its own password.
    if (rows && passwordMatches(rows[0]?.verifier, c.postgres.user, password) === true) return 'unchanged';
    await session.exec(`alter role ${quoteIdent(c.postgres.user)} password ${quoteLiteral(scramVerifier(password))}`);
    return 'rotated';
  } catch (err) {
    throw new UserError(`${key} in .env differs from the database's password for role ${c.postgres.user}, and setting it failed: ${errorMessage(err)}`, {
      hint: `nothing was recreated; set it by hand (\`docker exec -it ${pg.name} psql -U ${c.postgres.user} -d ${c.postgres.database}\`, then \\password ${c.postgres.user}) or put the old value back in .env`,
    });
  } finally {
    await session.end().catch(() => undefined);
  }
}

/** The deploy step, first of all (before anything that logs in is recreated); none without a running postgres. */
export function passwordSteps(h: StackHandle, view: StackView): Step[] {
  const running = containersOf(view.actual.containers, SERVICE.postgres, true).length > 0;
  if (!running) return [];
  return [
    {
      title: 'PostgreSQL password',
      run: async () => ((await syncDatabasePassword(h, view)) === 'rotated' ? `role ${view.config.postgres.user} set to ${view.config.secrets.postgresPassword} from .env` : 'matches .env'),
    },
  ];
}

/**
 * What the stack's PostgreSQL logged since `sinceMs` (when a failed gate began): a service whose
 * health check only says "not ready" may have been refused a login, which PostgreSQL logs.
 */
export async function databaseLogSince(docker: Docker, project: string, sinceMs: number): Promise<string> {
  try {
    const [pg] = await serviceContainers(docker, project, SERVICE.postgres, { running: true });
    if (!pg) return '';
    const buf = (await docker.getContainer(pg.Id).logs({ stdout: true, stderr: true, since: Math.floor(sinceMs / 1000) - 1, tail: 200, follow: false })) as unknown as Buffer;
    return demuxBuffer(buf);
  } catch {
    return '';
  }
}
