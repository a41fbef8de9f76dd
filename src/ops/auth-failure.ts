/**
 * Recognises a refused password in a service's logs or health output, so a failed gate says what
 * happened ("PostgreSQL refused the password…") instead of only "not ready after 60 s". Pure.
 */
export interface AuthFailure {
  /** What refused whom, for the failure report. */
  cause: string;
  hint: string;
}

export function authFailure(text: string, secrets: { postgresPassword: string; redisPassword: string }): AuthFailure | null {
  const pg = /password authentication failed for user \\?"([^"\\]+)\\?"/i.exec(text);
  if (pg) {
    return {
      cause: `PostgreSQL refused the password for role ${pg[1]} (${secrets.postgresPassword} in .env is not the role's password)`,
      hint: `deploy sets the role's password to ${secrets.postgresPassword} from .env while postgres runs; if postgres was not running, start it with \`modelship deploy\` again, or put the old value back in .env`,
    };
  }
  if (/WRONGPASS|NOAUTH Authentication required|invalid username-password pair|ERR invalid password/i.test(text)) {
    return {
      cause: `Redis refused the password (${secrets.redisPassword} in .env is not the one redis runs with)`,
      hint: 'redis takes its password at start: `modelship deploy` recreates it when .env changes; `modelship ps` shows whether it was',
    };
  }
  return null;
}
