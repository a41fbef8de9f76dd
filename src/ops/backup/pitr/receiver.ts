/**
 * Continuous WAL archiving: one pg_receivewal child streaming from the replication slot into the
 * archive directory, flushing each write (--synchronous, so the server's flush_lsn is what is on
 * disk here). It is restarted with backoff when the connection drops; the slot keeps the server
 * from recycling WAL meanwhile (up to max_slot_wal_keep_size).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { errorMessage } from '../../../util/errors.ts';
import { lastLines } from '../../../postgres/errors.ts';
import { findPgTool } from '../../../postgres/tools.ts';
import { runTool, type ReplicationConn } from './tools.ts';

export interface ReceiverStatus {
  running: boolean;
  starts: number;
  /** ISO time the current child started streaming, null when down. */
  upSince: string | null;
  /** ISO time the child last went down. */
  downSince: string | null;
  lastError: string | null;
}

export interface ReceiverOptions {
  conn: ReplicationConn;
  slot: string;
  walDir: string;
  log: (entry: Record<string, unknown>) => void;
  /** Backoff bounds, ms. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export class WalReceiver {
  private child: ChildProcess | null = null;
  private stopping = false;
  private timer: NodeJS.Timeout | null = null;
  private backoff: number;
  private exited: Promise<void> = Promise.resolve();
  readonly status: ReceiverStatus = { running: false, starts: 0, upSince: null, downSince: new Date().toISOString(), lastError: null };

  private readonly o: ReceiverOptions;

  constructor(o: ReceiverOptions) {
    this.o = o;
    this.backoff = o.minBackoffMs ?? 1000;
  }

  start(): void {
    this.stopping = false;
    void this.launch();
  }

  private schedule(): void {
    if (this.stopping) return;
    const wait = this.backoff;
    this.backoff = Math.min(this.o.maxBackoffMs ?? 30_000, this.backoff * 2);
    this.timer = setTimeout(() => void this.launch(), wait);
  }

  private async launch(): Promise<void> {
    this.timer = null;
    if (this.stopping) return;
    const { conn, slot, walDir } = this.o;
    try {
      await mkdir(walDir, { recursive: true });
      await runTool('pg_receivewal --create-slot', 'pg_receivewal', ['--create-slot', '--if-not-exists', '--slot', slot, '-d', conn.conninfo, '--no-password'], conn.env);
    } catch (err) {
      this.fail(`cannot create the replication slot ${slot}: ${errorMessage(err)}`);
      this.schedule();
      return;
    }
    if (this.stopping) return;
    let stderr = '';
    const child = spawn(findPgTool('pg_receivewal', conn.env), ['-D', walDir, '--slot', slot, '--synchronous', '--no-loop', '--no-password', '-d', conn.conninfo], {
      env: conn.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.child = child;
    this.status.starts++;
    const t0 = Date.now();
    this.status.running = true;
    this.status.upSince = new Date().toISOString();
    this.status.downSince = null;
    this.o.log({ level: 'info', event: 'wal receiver started', slot, pid: child.pid });
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
      if (stderr.length > 16384) stderr = stderr.slice(-16384);
    });
    this.exited = new Promise<void>((resolve) => {
      child.on('error', (err) => {
        this.fail(`pg_receivewal: ${err.message}`);
      });
      child.on('close', (code, sig) => {
        this.child = null;
        this.status.running = false;
        this.status.upSince = null;
        this.status.downSince = new Date().toISOString();
        if (this.stopping) {
          this.o.log({ level: 'info', event: 'wal receiver stopped' });
        } else {
          this.fail(`pg_receivewal exited (${sig ? `signal ${sig}` : `exit ${code}`}): ${lastLines(stderr, 3) || 'no message'}`);
          if (Date.now() - t0 > 60_000) this.backoff = this.o.minBackoffMs ?? 1000;
          this.schedule();
        }
        resolve();
      });
    });
  }

  private fail(msg: string): void {
    this.status.lastError = msg;
    const hint = /not in this server's history/.test(msg)
      ? 'the archive holds WAL of a timeline the server left (a restore without modelship?): move pitr/wal aside and take a base backup'
      : /no pg_hba.conf entry/.test(msg)
        ? 'render and deploy again: backups.pitr.enabled adds the replication line to pg_hba'
        : undefined;
    this.o.log({ level: 'error', event: 'wal receiver down', error: msg, ...(hint ? { hint } : {}) });
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer) clearTimeout(this.timer);
    // pg_receivewal flushes and exits on SIGINT.
    this.child?.kill('SIGINT');
    const kill = setTimeout(() => this.child?.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(kill);
  }
}
