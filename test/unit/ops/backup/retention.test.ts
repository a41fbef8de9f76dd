import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isoWeekKey, planRetention, type RetentionItem } from '../../../../src/ops/backup/retention.ts';

const DAY = 86_400_000;

/** One verified backup a day at 02:00 UTC for `days` days ending at `end`. */
function daily(end: string, days: number, extra: Partial<RetentionItem> = {}): RetentionItem[] {
  const e = Date.parse(end);
  return Array.from({ length: days }, (_, i) => {
    const d = new Date(e - i * DAY);
    return { file: `db-${d.toISOString().slice(0, 10)}.dump`, createdAt: d, manifestValid: true, verified: true, ...extra };
  });
}

const kept = (plan: ReturnType<typeof planRetention>) => plan.filter((d) => d.action === 'keep').map((d) => d.file).sort();

test('ISO weeks', () => {
  assert.equal(isoWeekKey(new Date('2026-01-01T00:00:00Z')), '2026-W01');
  assert.equal(isoWeekKey(new Date('2027-01-01T00:00:00Z')), '2026-W53');
  assert.equal(isoWeekKey(new Date('2024-12-30T00:00:00Z')), '2025-W01');
  assert.equal(isoWeekKey(new Date('2026-11-29T23:59:59Z')), '2026-W48'); // Sunday
  assert.equal(isoWeekKey(new Date('2026-11-30T00:00:00Z')), '2026-W49'); // Monday
});

test('a year of daily backups keeps 7 daily + 4 weekly + 6 monthly (overlaps counted once)', () => {
  const items = daily('2026-11-26T02:00:00Z', 365);
  const plan = planRetention(items, { daily: 7, weekly: 4, monthly: 6 });
  const k = kept(plan);
  // 7 daily (Nov 20..26); weekly: newest of W48 (Nov 26, already daily), W47 (Nov 22, daily), W46 (Nov 15), W45 (Nov 8);
  // monthly: Nov 26 (daily), Oct 31, Sep 30, Aug 31, Jul 31, Jun 30.
  assert.deepEqual(k, [
    'db-2026-06-30.dump', 'db-2026-07-31.dump', 'db-2026-08-31.dump', 'db-2026-09-30.dump', 'db-2026-10-31.dump',
    'db-2026-11-08.dump', 'db-2026-11-15.dump',
    'db-2026-11-20.dump', 'db-2026-11-21.dump', 'db-2026-11-22.dump', 'db-2026-11-23.dump', 'db-2026-11-24.dump', 'db-2026-11-25.dump', 'db-2026-11-26.dump',
  ]);
  assert.equal(plan.length, 365);
  assert.deepEqual(plan.find((d) => d.file === 'db-2026-11-26.dump')!.reasons, ['newest verified', 'daily 2026-11-26', 'weekly 2026-W48', 'monthly 2026-11']);
});

test('a schedule that stopped for weeks does not age the last good backups out', () => {
  const items = daily('2026-10-01T02:00:00Z', 30); // nothing since Oct 1
  const plan = planRetention(items, { daily: 7, weekly: 0, monthly: 0 });
  assert.equal(kept(plan).length, 7);
  assert.ok(kept(plan).includes('db-2026-10-01.dump'));
});

test('several backups a day: only the newest of the day fills the daily slot', () => {
  const base = Date.parse('2026-05-10T00:00:00Z');
  const items: RetentionItem[] = [1, 6, 12, 18].map((h) => ({ file: `h${h}.dump`, createdAt: new Date(base + h * 3_600_000), manifestValid: true, verified: true }));
  assert.deepEqual(kept(planRetention(items, { daily: 1, weekly: 0, monthly: 0 })), ['h18.dump']);
});

test('unverified backups and files without a manifest are never deleted and fill no slot', () => {
  const items = daily('2026-11-26T02:00:00Z', 10);
  items[0] = { ...items[0]!, verified: false }; // today's failed verification
  items[1] = { ...items[1]!, manifestValid: false, verified: false }; // yesterday's has no manifest
  const plan = planRetention(items, { daily: 3, weekly: 0, monthly: 0 });
  const by = new Map(plan.map((d) => [d.file, d]));
  assert.equal(by.get('db-2026-11-26.dump')!.action, 'keep');
  assert.match(by.get('db-2026-11-26.dump')!.reasons[0]!, /not verified/);
  assert.equal(by.get('db-2026-11-25.dump')!.action, 'keep');
  assert.match(by.get('db-2026-11-25.dump')!.reasons[0]!, /no valid manifest/);
  // the 3 daily slots go to the 3 newest *verified* days
  for (const f of ['db-2026-11-24.dump', 'db-2026-11-23.dump', 'db-2026-11-22.dump']) assert.equal(by.get(f)!.action, 'keep', f);
  assert.equal(by.get('db-2026-11-21.dump')!.action, 'delete');
});

test('the newest verified backup survives even a zero policy slot', () => {
  const items = daily('2026-11-26T02:00:00Z', 3);
  const plan = planRetention(items, { daily: 0, weekly: 0, monthly: 1 });
  assert.deepEqual(kept(plan), ['db-2026-11-26.dump']);
  // nothing verified at all: nothing is deleted
  const none = planRetention(daily('2026-11-26T02:00:00Z', 5, { verified: false }), { daily: 1, weekly: 0, monthly: 0 });
  assert.equal(none.filter((d) => d.action === 'delete').length, 0);
});

test('a truncated backup every night for a month cannot push out the good ones', () => {
  const good = daily('2026-10-31T02:00:00Z', 7);
  const bad = daily('2026-11-30T02:00:00Z', 30, { manifestValid: false, verified: false }).map((b) => ({ ...b, file: `bad-${b.file}` }));
  const plan = planRetention([...good, ...bad], { daily: 7, weekly: 4, monthly: 6 });
  for (const g of good) assert.equal(plan.find((d) => d.file === g.file)!.action, 'keep');
  assert.equal(plan.filter((d) => d.action === 'delete').length, 0);
});

test('month boundaries and leap days, in UTC', () => {
  const items: RetentionItem[] = ['2024-02-28T23:30:00Z', '2024-02-29T23:30:00Z', '2024-03-01T00:30:00Z', '2024-01-31T23:59:59Z'].map((iso, i) => ({
    file: `f${i}.dump`,
    createdAt: new Date(iso),
    manifestValid: true,
    verified: true,
  }));
  const plan = planRetention(items, { daily: 0, weekly: 0, monthly: 3 });
  assert.deepEqual(kept(plan), ['f1.dump', 'f2.dump', 'f3.dump']);
});

test('emergency backups are pinned: kept, and they take no slot from the schedule', () => {
  const items = daily('2026-11-26T02:00:00Z', 5);
  items.push({ file: 'emergency.dump', createdAt: new Date('2026-11-26T12:00:00Z'), manifestValid: true, verified: true, pinned: true });
  items.push({ file: 'old-emergency.dump', createdAt: new Date('2025-01-01T12:00:00Z'), manifestValid: true, verified: true, pinned: true });
  const plan = planRetention(items, { daily: 2, weekly: 0, monthly: 0 });
  assert.deepEqual(kept(plan), ['db-2026-11-25.dump', 'db-2026-11-26.dump', 'emergency.dump', 'old-emergency.dump']);
});
