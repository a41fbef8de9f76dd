// Moved to src/postgres/ (one file per concern). This re-export keeps branches written against the
// old path merging cleanly; it is removed in a later commit.
export type { DbTarget, SqlSession } from '../../postgres/session.ts';
export { ToolError, hintFor, lastLines, type ToolFailure } from '../../postgres/errors.ts';
export { databaseOf, redactUrl, splitPassword, withDatabase } from '../../postgres/url.ts';
export { interpolate, quoteIdent, quoteLiteral } from '../../postgres/quote.ts';
export { pgBin, runProcess, type ProcResult } from '../../postgres/tools.ts';
export { directTarget } from '../../postgres/direct.ts';
export { containerTarget, containerTargetFor } from '../../postgres/container.ts';
