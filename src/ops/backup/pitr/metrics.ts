/** The PITR gauges of `modelship schedule`, read fresh on every scrape (server state and files on disk). */
import { Gauge, type Registry } from 'prom-client';
import { METRIC } from '../../../stack/metrics.ts';
import type { SqlSession } from '../../../postgres/session.ts';
import type { WalReceiver } from './receiver.ts';
import { pitrStatus } from './service.ts';
import type { PitrSettings } from './settings.ts';

export function registerPitrMetrics(registry: Registry, p: PitrSettings, receiver: WalReceiver, session: () => Promise<SqlSession | null>): void {
  // One collect refreshes all of them (prom-client awaits it before serialising).
  let pending: Promise<void> | null = null;
  const refresh = async (): Promise<void> => {
    const s = await session().catch(() => null);
    const st = await pitrStatus(p, s).catch(() => null);
    up.set(receiver.status.running && st?.lag?.connected !== false ? 1 : 0);
    if (st?.lag?.connected) {
      lagBytes.set(st.lag.bytes ?? 0);
      lagSeconds.set(st.lag.seconds ?? 0);
    } else {
      const down = receiver.status.downSince ? (Date.now() - Date.parse(receiver.status.downSince)) / 1000 : 0;
      lagSeconds.set(down);
      if (st?.slot?.retainedBytes !== null && st?.slot?.retainedBytes !== undefined) lagBytes.set(st.slot.retainedBytes);
    }
    if (st?.slot) {
      retained.set(st.slot.retainedBytes ?? 0);
      lost.set(st.slot.walStatus === 'lost' ? 1 : 0);
    }
    if (st?.lastBase) lastBase.set(Date.parse(st.lastBase.finishedAt) / 1000);
    if (st?.rehearsal?.ok) lastRehearsal.set(Date.parse(st.rehearsal.at) / 1000);
    if (st?.rehearsal) rehearsalOk.set(st.rehearsal.ok ? 1 : 0);
  };
  const collectOnce = async (): Promise<void> => {
    pending ??= refresh().finally(() => (pending = null));
    await pending;
  };
  const up = new Gauge({ name: METRIC.pitrReceiverUp, help: '1 while pg_receivewal is streaming WAL into the archive', registers: [registry], collect: () => collectOnce() });
  const lagBytes = new Gauge({ name: METRIC.pitrLagBytes, help: 'Bytes of WAL the server has written that the archive has not flushed', registers: [registry], collect: () => collectOnce() });
  const lagSeconds = new Gauge({ name: METRIC.pitrLagSeconds, help: 'Seconds the WAL archive trails the server (flush lag; time since the receiver went down)', registers: [registry], collect: () => collectOnce() });
  const retained = new Gauge({ name: METRIC.pitrSlotRetainedBytes, help: 'WAL the server keeps for the archive\'s replication slot', registers: [registry], collect: () => collectOnce() });
  const lost = new Gauge({ name: METRIC.pitrSlotLost, help: '1 when the replication slot was invalidated (max_slot_wal_keep_size exceeded)', registers: [registry], collect: () => collectOnce() });
  const lastBase = new Gauge({ name: METRIC.pitrLastBase, help: 'Unix time the newest verified base backup finished', registers: [registry], collect: () => collectOnce() });
  const lastRehearsal = new Gauge({ name: METRIC.pitrLastRehearsal, help: 'Unix time of the last passed restore rehearsal', registers: [registry], collect: () => collectOnce() });
  const rehearsalOk = new Gauge({ name: METRIC.pitrLastRehearsalOk, help: '1 when the last restore rehearsal passed; 0 when it failed or none was recorded yet', registers: [registry], collect: () => collectOnce() });
}
