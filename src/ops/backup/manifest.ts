/** The manifest written beside each backup, and its strict parser. Pure. */
import { z } from 'zod';

export const MANIFEST_FORMAT = 'modelship-backup/1';

export const ManifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  file: z.string().min(1),
  database: z.string().min(1),
  createdAt: z.iso.datetime(),
  sizeBytes: z.int().positive(),
  durationMs: z.number().nonnegative(),
  serverVersion: z.string(),
  pgDumpVersion: z.string(),
  tableCount: z.int().nonnegative(),
  sha256: z.string().regex(/^[a-f0-9]{64}$/),
  mode: z.enum(['direct', 'container']),
  tag: z.string().optional(),
  verified: z.boolean(),
  verifiedAt: z.iso.datetime().optional(),
  verifyError: z.string().optional(),
  restoreTestedAt: z.iso.datetime().optional(),
  /**
   * The file on disk is the pg_dump archive sealed with age (backups.encryption.recipients):
   * `sizeBytes` and `sha256` are of the encrypted bytes, these of the archive pg_dump wrote.
   */
  encryption: z
    .object({
      recipients: z.array(z.string()).min(1),
      plainSizeBytes: z.int().positive(),
      plainSha256: z.string().regex(/^[a-f0-9]{64}$/),
    })
    .optional(),
});

export type Manifest = z.infer<typeof ManifestSchema>;

export type ManifestResult = { ok: true; manifest: Manifest } | { ok: false; error: string };

export function parseManifest(text: string, expectedFile?: string): ManifestResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const r = ManifestSchema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    return { ok: false, error: `invalid manifest: ${first ? `${first.path.join('.') || '(root)'}: ${first.message}` : 'unknown'}` };
  }
  if (expectedFile !== undefined && r.data.file !== expectedFile) return { ok: false, error: `manifest names ${r.data.file}, not ${expectedFile}` };
  return { ok: true, manifest: r.data };
}

export function manifestText(m: Manifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Counts TABLE entries in `pg_restore --list` output (lines like `215; 1259 16386 TABLE public t postgres`). */
export function countListedTables(list: string): number {
  let n = 0;
  for (const line of list.split('\n')) {
    if (line.startsWith(';')) continue;
    if (/^\d+; \d+ \d+ TABLE (?!DATA )/.test(line)) n++;
  }
  return n;
}

/** The manifest of the decrypted archive (a sealed backup's plain bytes, as pg_dump wrote them). Pure. */
export function plainManifestOf(m: Manifest): Manifest {
  if (!m.encryption) return m;
  const { encryption, ...rest } = m;
  return { ...rest, sizeBytes: encryption.plainSizeBytes, sha256: encryption.plainSha256 };
}
