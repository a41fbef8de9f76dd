/**
 * The Docker label contract: every label modelship sets or queries is named in src/stack/names.ts
 * and nowhere else, so the adapters, the renderers and the ops cannot spell one differently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { COMPOSE_LABEL, discoveredLabel, LOCK_LABEL, MS_LABEL } from '../../../src/stack/names.ts';

const SRC = path.join(import.meta.dirname, '../../../src');
const HOME = path.join('stack', 'names.ts');
/** A label written out: dotted as Docker has it, or underscored as Prometheus' service discovery does. */
const LITERAL = /(org|com)[._](modelship|docker[._]compose)[._][a-z]/;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

test('no Docker label literal appears in src/ outside stack/names.ts', () => {
  const offenders: string[] = [];
  for (const file of sources(SRC)) {
    if (path.relative(SRC, file) === HOME) continue;
    readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
      if (LITERAL.test(line)) offenders.push(`${path.relative(SRC, file)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(offenders, [], 'use COMPOSE_LABEL / MS_LABEL / LOCK_LABEL from src/stack/names.ts');
});

test('the label names are distinct and in their families', () => {
  const all = [...Object.values(COMPOSE_LABEL), ...Object.values(MS_LABEL), ...Object.values(LOCK_LABEL)];
  assert.equal(new Set(all).size, all.length);
  for (const l of Object.values(COMPOSE_LABEL)) assert.match(l, /^com\.docker\.compose\.[a-z-]+$/);
  for (const l of [...Object.values(MS_LABEL), ...Object.values(LOCK_LABEL)]) assert.match(l, /^org\.modelship\.[a-z.]+$/);
});

test('service discovery names a label the way Prometheus and promtail do', () => {
  assert.equal(discoveredLabel(COMPOSE_LABEL.service), '__meta_docker_container_label_com_docker_compose_service');
  assert.equal(discoveredLabel(COMPOSE_LABEL.number), '__meta_docker_container_label_com_docker_compose_container_number');
});
