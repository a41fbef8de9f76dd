/**
 * A `.env` reader with the common dialect (Compose, dotenv): `KEY=value`, optional `export `,
 * single or double quotes, `#` comments. Pure; reports bad lines with their position.
 */
export interface DotenvResult {
  values: Record<string, string>;
  problems: Array<{ line: number; col: number; message: string }>;
}

export function parseDotenv(text: string): DotenvResult {
  const values: Record<string, string> = {};
  const problems: DotenvResult['problems'] = [];
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.replace(/^\s*export\s+/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=(.*)$/.exec(line);
    if (!m) {
      problems.push({ line: i + 1, col: 1, message: `not a KEY=value line: ${JSON.stringify(trimmed.slice(0, 40))}` });
      return;
    }
    const key = m[1]!;
    let value = m[2]!.trim();
    const q = value[0];
    if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) {
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    } else if (q === '"' || q === "'") {
      problems.push({ line: i + 1, col: line.indexOf('=') + 2, message: `unterminated quote in the value of ${key}` });
      return;
    } else {
      value = value.replace(/\s+#.*$/, '');
    }
    values[key] = value;
  });
  return { values, problems };
}

/** Renders key/value pairs as a `.env` file; values are quoted only when they need it. */
export function formatDotenv(entries: Array<[string, string] | { comment: string }>): string {
  return `${entries
    .map((e) => {
      if (!Array.isArray(e)) return `# ${e.comment}`;
      const [k, v] = e;
      return /^[A-Za-z0-9_\-./+=:@]*$/.test(v) ? `${k}=${v}` : `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    })
    .join('\n')}\n`;
}
