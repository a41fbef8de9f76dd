/**
 * The first Let's Encrypt certificate: nginx cannot start without a certificate file, and the
 * ACME http-01 challenge needs nginx running. Before nginx first starts, deploy puts a short-lived
 * self-signed placeholder where Let's Encrypt's certificate will be (marked as a placeholder);
 * the certbot service then issues the real one through the webroot, swaps it in, and nginx reloads.
 */
import type Docker from 'dockerode';
import selfsigned from 'selfsigned';
import type { Config } from '../config/schema.ts';
import { readArchiveFile, withVolume, writeArchiveFiles } from '../docker/volume-files.ts';
import { volumeName } from '../docker/desired.ts';
import { VOLUME } from '../stack/build.ts';
import { MOUNT } from '../stack/names.ts';

export const PLACEHOLDER_DIR = 'modelship-placeholder';

export async function placeholderCertificate(domains: string[], days = 30): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(Date.now() - 60_000);
  const pems = await selfsigned.generate([{ name: 'commonName', value: domains[0]! }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + days * 86_400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'subjectAltName', altNames: domains.map((d) => ({ type: 2, value: d })) },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/**
 * Ensures `current/<name>` (what nginx reads) points at a certificate: at Let's Encrypt's when one
 * was issued before, otherwise at a self-signed placeholder. Returns what it did.
 */
export async function ensureCertificate(docker: Docker, config: Config, image: string): Promise<'present' | 'linked to the issued certificate' | 'placeholder written'> {
  const name = config.domains[0]!;
  const volume = volumeName(config.project, VOLUME.letsencrypt);
  const root = MOUNT.letsencrypt;
  return withVolume(docker, volume, root, image, async (c) => {
    if (await readArchiveFile(c, `${root}/current/${name}`) !== null) return 'present';
    if (await readArchiveFile(c, `${root}/live/${name}/fullchain.pem`)) {
      await writeArchiveFiles(c, root, [{ name: `current/${name}`, content: '', symlink: `../live/${name}` }]);
      return 'linked to the issued certificate';
    }
    const { cert, key } = await placeholderCertificate(config.domains);
    await writeArchiveFiles(c, root, [
      { name: `${PLACEHOLDER_DIR}/${name}/fullchain.pem`, content: cert },
      { name: `${PLACEHOLDER_DIR}/${name}/privkey.pem`, content: key, mode: 0o600 },
      { name: `${PLACEHOLDER_DIR}/${name}/README`, content: `self-signed placeholder written by modelship deploy at ${new Date().toISOString()}; certbot replaces it\n` },
      { name: `current/${name}`, content: '', symlink: `../${PLACEHOLDER_DIR}/${name}` },
    ]);
    return 'placeholder written';
  });
}
