import { attr, GraphBuilder } from '../../src/inference/convert/onnx-graph.ts';
import { encodeOnnx } from '../../src/inference/convert/onnx-write.ts';

/**
 * A tiny but real ONNX text classifier, shaped like a Hugging Face export: int64 `input_ids`
 * and `attention_mask` [batch, sequence] in, `logits` [batch, 2] out. Each token id has a 2-value
 * embedding; the logits are the attention-masked sum over the sequence. Embeddings (rows by id)
 * are chosen by the test, so a wrong id, a lost token or ignored padding shows in the result.
 */
export function tinyTextClassifier(embeddings: [number, number][], opts: { tokenTypeIds?: boolean } = {}): Buffer {
  const g = new GraphBuilder();
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'sequence_length']);
  const table = g.initializer('embeddings', 'float32', [embeddings.length, 2], Float32Array.from(embeddings.flat()));
  const emb = g.op('Gather', 'embed', [table, ids], { axis: attr.int(0) });
  const maskF = g.op('Cast', 'mask_f', [mask], { to: attr.int(1) });
  const mask3 = g.op('Unsqueeze', 'mask3', [maskF, g.int64s('axis2', [2])]);
  let masked = g.op('Mul', 'masked', [emb, mask3]);
  if (opts.tokenTypeIds) {
    // token_type_ids add their own value to the first logit, so feeding them is observable.
    const tt = g.input('token_type_ids', 'int64', ['batch_size', 'sequence_length']);
    const ttF = g.op('Cast', 'tt_f', [tt], { to: attr.int(1) });
    const tt3 = g.op('Unsqueeze', 'tt3', [ttF, g.int64s('axis2b', [2])]);
    masked = g.op('Add', 'with_tt', [masked, g.op('Mul', 'tt_w', [tt3, g.initializer('tt_weight', 'float32', [2], Float32Array.of(1, 0))])]);
  }
  const sum = g.op('ReduceSum', 'pooled', [masked, g.int64s('axis1', [1])], { keepdims: attr.int(0) });
  g.node('Identity', 'logits', [sum], {}, ['logits']);
  g.output('logits', 'float32', ['batch_size', 2]);
  return Buffer.from(encodeOnnx(g.build({ graphName: 'tiny_text_classifier', producer: 'modelship-tests', producerVersion: '1', metadata: {} })));
}
