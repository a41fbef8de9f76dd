/** Conversion failures name the model element (TF node or Keras layer) and what to do about it. */
export class ConversionError extends Error {
  readonly unsupported: { op: string; where: string[] }[];

  constructor(message: string, unsupported: { op: string; where: string[] }[] = []) {
    super(message);
    this.name = 'ConversionError';
    this.unsupported = unsupported;
  }
}

/** Groups unsupported ops (op → the first few nodes using it) into one message. */
export function unsupportedOpsError(kind: 'TF op' | 'Keras layer', found: Map<string, string[]>, supported: readonly string[]): ConversionError {
  const list = [...found.entries()].map(([op, where]) => ({ op, where }));
  const text = list.map(({ op, where }) => `${op} (${where.length} ${kind === 'TF op' ? 'node' : 'layer'}${where.length === 1 ? '' : 's'}, e.g. ${where.slice(0, 2).join(', ')})`).join('; ');
  return new ConversionError(
    `the model uses ${list.length === 1 ? `a ${kind}` : `${list.length} ${kind}s`} the ONNX converter does not support: ${text}. Supported: ${supported.join(', ')}`,
    list,
  );
}
