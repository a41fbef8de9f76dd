import type { Command } from 'commander';
import { encryptionRecipients } from '../../ops/backup/remote/settings.ts';
import { action, type RunEnvironment } from '../context.ts';
import { openDb, withDbFlags } from './db-flags.ts';
import { withSignals } from '../signals.ts';
import { printBackup } from './backup.ts';
import { takeBackup } from '../../ops/backup/backup.ts';
import { readOnlyStatus, setReadOnly } from '../../ops/db/emergency.ts';
import { hintFor } from '../../postgres/errors.ts';
import { UsageError, UserError, errorMessage } from '../../util/errors.ts';
import { loadConfig } from '../../config/load.ts';
import { openStack } from '../../ops/stack.ts';
import { emergencyRestoreScale, emergencyScaleDown } from '../../ops/emergency-scale.ts';
import { parseDurationSeconds } from '../../util/duration.ts';

interface Flags {
  direct?: boolean;
  databaseUrl?: string;
  dir?: string;
}

export function register(program: Command, runEnv: RunEnvironment): void {
  const em = program.command('emergency').description('emergency procedures: read-only mode, an immediate backup, scaling down');

  for (const [name, description, run] of [
    ['scale-down', 'stop the queue workers (recording the scale on the host); deploy keeps them stopped until restore-scale', emergencyScaleDown],
    ['restore-scale', 'put the scale recorded by scale-down back', emergencyRestoreScale],
  ] as const) {
    em.command(name)
      .description(description)
      .option('--timeout <duration>', 'health timeout per container', '120s')
      .option('--force', 'break a stale stack lock', false)
      .option('-H, --host <url>', 'Docker Engine to use (default DOCKER_HOST)')
      .action(
        action(runEnv, async (ctx, opts: { timeout: string; force: boolean; host?: string }) => {
          const loaded = await loadConfig(ctx.global.config, ctx.global.envFile);
          const h = openStack(loaded, ctx.env, opts.host);
          const r = await run(h, { force: opts.force, json: ctx.out.json, color: ctx.global.color, timeoutSeconds: parseDurationSeconds(opts.timeout, '--timeout') });
          if (ctx.out.json) ctx.out.data({ ok: true, ...r });
          else ctx.out.out(`workers: ${r.previous.worker ?? '?'} → ${r.now.worker}${name === 'scale-down' ? ' (restore with `modelship emergency restore-scale`)' : ''}`);
        }),
      );
  }

  withDbFlags(em.command('read-only'), { dir: false })
    .description('on: new sessions are read-only and idle ones are ended; off: writes again; status: show it')
    .argument('<state>', 'on | off | status')
    .action(
      action(runEnv, async (ctx, state: string, opts: Flags) => {
        if (!['on', 'off', 'status'].includes(state)) throw new UsageError(`read-only ${state}: expected on, off or status`);
        const { target } = await openDb(ctx, opts);
        let s;
        try {
          // The maintenance database: the switch must work even when the target's sessions are full or read-only.
          s = await target.connect({ database: 'postgres', appName: 'modelship emergency' }).catch(() => target.connect({ appName: 'modelship emergency' }));
        } catch (err) {
          throw new UserError(`cannot connect to ${target.describe}: ${errorMessage(err)}`, { hint: hintFor(errorMessage(err)), cause: err });
        }
        try {
          if (state === 'status') {
            const st = await readOnlyStatus(s, target.database);
            if (ctx.out.json) ctx.out.data({ ok: true, ...st });
            else ctx.out.out(`${st.database}: ${st.readOnly ? 'READ-ONLY (writes are refused)' : 'read-write'}`);
            return;
          }
          const r = await setReadOnly(s, target.database, state === 'on');
          if (ctx.out.json) {
            ctx.out.data({ ok: true, ...r });
            return;
          }
          ctx.out.out(`${r.database}: ${r.readOnly ? 'READ-ONLY' : 'read-write'}${r.changed ? '' : ' (already)'}`);
          if (r.terminated) ctx.out.info(`ended ${r.terminated} idle session${r.terminated === 1 ? '' : 's'} so they reconnect with the new setting`);
          if (r.readOnly) ctx.out.info('new sessions refuse writes ("read-only transaction"), reads keep working; undo with `modelship emergency read-only off`');
        } finally {
          await s.end();
          await target.close();
        }
      }),
    );

  withDbFlags(em.command('backup'))
    .description('a backup right now: does not wait for a running one, tagged "emergency"')
    .action(
      action(runEnv, async (ctx, opts: Flags) => {
        const { settings, target } = await openDb(ctx, opts);
        try {
          const r = await withSignals((signal) =>
            takeBackup(target, { dir: settings.dir, waitMs: 0, emergency: true, tag: 'emergency', recipients: encryptionRecipients(settings), log: (l) => ctx.out.info(l), signal }),
          );
          printBackup(ctx, r);
        } finally {
          await target.close();
        }
      }),
    );
}
