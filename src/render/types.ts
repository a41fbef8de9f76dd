/** One file produced by rendering: a path relative to the output directory and its exact bytes. */
export interface RenderedFile {
  path: string;
  content: string;
  /** File mode when it matters (e.g. scripts 0o755). Default 0o644. */
  mode?: number;
}
