/**
 * The metrics contract: every modelship metric that the rendered Prometheus alerts and the Grafana
 * dashboard query, with the labels they rely on. The server, worker and scheduler must export
 * exactly these names (prom-client); a unit test checks that every rendered query names only
 * metrics listed here or in EXPORTER_METRICS. Pure constants.
 */
export const METRIC = {
  /** Counter, labels: method, route, status (numeric HTTP status as a string, e.g. "503"). */
  httpRequests: 'http_requests_total',
  /** Histogram (seconds), labels: method, route, status. */
  httpDuration: 'http_request_duration_seconds',
  /** Histogram (seconds) of one model call, labels: model, task. */
  inferenceDuration: 'modelship_inference_duration_seconds',
  /** Gauge of queue jobs, label state: waiting | active | delayed | failed | completed. */
  jobs: 'modelship_jobs',
  /** Counters of result-cache lookups. */
  cacheHits: 'modelship_cache_hits_total',
  cacheMisses: 'modelship_cache_misses_total',
  /** Gauge: Unix time of the last successful (verified) backup, exported by `modelship schedule`. */
  backupLastSuccess: 'modelship_backup_last_success_timestamp_seconds',
  /** PITR gauges, exported by `modelship schedule` when backups.pitr.enabled. */
  pitrReceiverUp: 'modelship_pitr_wal_receiver_up',
  pitrLagBytes: 'modelship_pitr_wal_lag_bytes',
  pitrLagSeconds: 'modelship_pitr_wal_lag_seconds',
  pitrSlotRetainedBytes: 'modelship_pitr_slot_retained_bytes',
  pitrSlotLost: 'modelship_pitr_slot_lost',
  pitrLastBase: 'modelship_pitr_last_base_backup_timestamp_seconds',
  pitrLastRehearsal: 'modelship_pitr_last_rehearsal_timestamp_seconds',
  pitrLastRehearsalOk: 'modelship_pitr_last_rehearsal_ok',
  /** Off-site copy gauges, exported by `modelship schedule` when backups.remote.url is set. */
  remoteLagSeconds: 'modelship_backup_remote_lag_seconds',
  remotePending: 'modelship_backup_remote_pending',
  remoteUp: 'modelship_backup_remote_up',
  remoteLastSuccess: 'modelship_backup_remote_last_success_timestamp_seconds',
} as const;

/** Metrics from Prometheus itself and the exporters that the rendered rules and dashboard use. */
export const EXPORTER_METRICS = [
  'up',
  'pg_up',
  'pg_stat_activity_count',
  'pg_settings_max_connections',
  'redis_up',
  'nginx_up',
  'node_filesystem_avail_bytes',
  'node_filesystem_size_bytes',
  'node_memory_MemAvailable_bytes',
  'node_memory_MemTotal_bytes',
] as const;
