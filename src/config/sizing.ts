/**
 * Sizing from the CPU count, following the deployment guide's scaling table
 * (4 cores: 4 API workers / 2 queue workers; 8: 8/4; 16: 12/8), interpolated between rows and
 * capped above 16 cores. Pure.
 */
export interface Sizing {
  apiWorkers: number;
  queueWorkers: number;
}

export function sizeForCores(cores: number): Sizing {
  const n = Math.max(1, Math.floor(cores));
  if (n <= 8) return { apiWorkers: n, queueWorkers: Math.max(1, Math.floor(n / 2)) };
  return {
    apiWorkers: Math.min(12, 8 + Math.floor((n - 8) / 2)),
    queueWorkers: Math.min(8, 4 + Math.floor((n - 8) / 2)),
  };
}

/** The commented config template with the sizing filled in. */
export function fillConfigTemplate(template: string, cores: number): string {
  const s = sizeForCores(cores);
  return template
    .replaceAll('{{cores}}', String(cores))
    .replaceAll('{{apiWorkers}}', String(s.apiWorkers))
    .replaceAll('{{queueWorkers}}', String(s.queueWorkers));
}
