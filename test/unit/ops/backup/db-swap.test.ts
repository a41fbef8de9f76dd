import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyDatabaseSettingsSql, settingSql, swapDatabasesSql } from '../../../../src/ops/backup/db-swap.ts';

test('database settings are re-issued for the restored database, read-only mode among them', () => {
  assert.equal(settingSql('shop_restore_x', { role: '', setting: 'default_transaction_read_only=on' }), `alter database "shop_restore_x" set default_transaction_read_only = 'on'`);
  assert.equal(settingSql('s', { role: 'app', setting: 'statement_timeout=5s' }), `alter role "app" in database "s" set statement_timeout = '5s'`);
  // List settings keep their stored SQL list form; a literal would make one schema named '"$user", public'.
  assert.equal(settingSql('s', { role: '', setting: 'search_path="$user", public, "we""ird"' }), `alter database "s" set search_path = "$user", public, "we""ird"`);
  assert.equal(settingSql('s', { role: '', setting: "application_name=it's" }), `alter database "s" set application_name = 'it''s'`);
  assert.equal(settingSql('s', { role: '', setting: 'myapp.tenant=7' }), `alter database "s" set myapp.tenant = '7'`);
  assert.equal(settingSql('s', { role: '', setting: 'bad name;drop=1' }), null);
  assert.equal(copyDatabaseSettingsSql('s', [{ role: '', setting: 'garbage' }, { role: '', setting: 'work_mem=64MB' }]).length, 1);
});

test('the swap is one statement: sessions ended and both renames in one transaction', () => {
  const sql = swapDatabasesSql('shop', 'shop_restore_1', 'shop_pre_restore_1');
  assert.match(sql, /^do \$modelship_swap\$\nbegin\n/);
  assert.match(sql, /pg_terminate_backend\(pid\) from pg_stat_activity where datname = 'shop'/);
  assert.ok(sql.indexOf('rename to "shop_pre_restore_1"') < sql.indexOf('rename to "shop"'));
  assert.doesNotMatch(sql, /allow_connections/);
  assert.equal(swapDatabasesSql(`o'x"y`, 'a', 'b').includes(`datname = 'o''x"y'`), true);
});
