/**
 * PostgreSQL major versions: the client tools that stream WAL and take base backups must be the
 * server's major version or newer; the server that replays WAL must be exactly the data
 * directory's. Pure.
 */
/** `pg_basebackup (PostgreSQL) 15.20 (Debian …)` → 15; `PostgreSQL 9.6.24` → 9.6 reads as 9. */
export function toolMajor(versionText: string): number | null {
  const m = /(?:PostgreSQL\)?\s+)(\d+)(?:\.(\d+))?/.exec(versionText);
  return m ? Number(m[1]) : null;
}

/** server_version_num 150020 → 15 (90624 → 9). */
export function serverMajor(versionNum: number): number {
  return versionNum >= 100000 ? Math.floor(versionNum / 10000) : Math.floor(versionNum / 10000);
}

export function checkToolVersion(tool: string, toolVersion: string, serverVersionNum: number, where: string): { ok: true } | { ok: false; error: string; hint: string } {
  const t = toolMajor(toolVersion);
  const s = serverMajor(serverVersionNum);
  if (t === null) return { ok: false, error: `cannot read the version of ${tool} (${JSON.stringify(toolVersion.trim())})`, hint: `check the ${tool} on ${where}` };
  if (t < s) {
    return {
      ok: false,
      error: `${tool} ${t} (on ${where}) is older than the PostgreSQL ${s} server: it cannot stream or back up a newer server`,
      hint: `install the PostgreSQL ${s} client tools (postgresql-client-${s}) in the image that runs ${tool}, or set MODELSHIP_PG_BIN to their bin directory`,
    };
  }
  return { ok: true };
}

export function checkReplayVersion(dataMajor: number, serverText: string, where: string): { ok: true } | { ok: false; error: string; hint: string } {
  const s = toolMajor(serverText);
  if (s === dataMajor) return { ok: true };
  return {
    ok: false,
    error: `the base backup is a PostgreSQL ${dataMajor} data directory but ${where} runs PostgreSQL ${s ?? '(unknown)'}: WAL replay needs exactly the same major version`,
    hint: `restore with a PostgreSQL ${dataMajor} server (images.postgres / MODELSHIP_PG_BIN), then upgrade with pg_upgrade or a pg_dump backup`,
  };
}
