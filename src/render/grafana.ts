/**
 * Grafana provisioning: the Prometheus (and Loki) data sources, a file dashboard provider and the
 * modelship dashboard. Rendered only when `monitoring.grafana.enabled`. Pure: Config → text.
 */
import type { Config } from '../config/schema.ts';
import { METRIC } from '../stack/metrics.ts';
import { INTERNAL_PORT, MOUNT, SERVICE } from '../stack/names.ts';
import { JOB, toYaml } from './prometheus.ts';
import type { RenderedFile } from './types.ts';

const HEADER = '# Rendered by `modelship render` from modelship.config.yaml. Do not edit: change the config and render again.\n';

export const DATASOURCE_UID = { prometheus: 'modelship-prometheus', loki: 'modelship-loki' } as const;
export const DASHBOARD_UID = 'modelship-overview';

export function renderGrafana(config: Config): RenderedFile[] {
  if (!config.monitoring.grafana.enabled) return [];
  return [
    { path: 'grafana/provisioning/datasources/datasources.yml', content: HEADER + toYaml(datasources(config)) },
    { path: 'grafana/provisioning/dashboards/dashboards.yml', content: HEADER + toYaml(dashboardProviders()) },
    { path: 'grafana/dashboards/modelship.json', content: `${JSON.stringify(dashboard(config), null, 2)}\n` },
  ];
}

function datasources(config: Config): Record<string, unknown> {
  const list: Array<Record<string, unknown>> = [
    {
      name: 'Prometheus',
      uid: DATASOURCE_UID.prometheus,
      type: 'prometheus',
      access: 'proxy',
      url: `http://${SERVICE.prometheus}:${INTERNAL_PORT.prometheus}`,
      isDefault: true,
      editable: false,
      jsonData: { timeInterval: config.monitoring.prometheus.scrapeInterval, httpMethod: 'POST' },
    },
  ];
  if (config.monitoring.loki.enabled) {
    list.push({
      name: 'Loki',
      uid: DATASOURCE_UID.loki,
      type: 'loki',
      access: 'proxy',
      url: `http://${SERVICE.loki}:${INTERNAL_PORT.loki}`,
      isDefault: false,
      editable: false,
      jsonData: { maxLines: 1000 },
    });
  }
  return { apiVersion: 1, datasources: list };
}

function dashboardProviders(): Record<string, unknown> {
  return {
    apiVersion: 1,
    providers: [
      {
        name: 'modelship',
        orgId: 1,
        folder: 'modelship',
        type: 'file',
        disableDeletion: true,
        allowUiUpdates: false,
        updateIntervalSeconds: 60,
        options: { path: MOUNT.grafanaDashboards, foldersFromFilesStructure: false },
      },
    ],
  };
}

interface Target {
  expr: string;
  legendFormat: string;
}

interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  targets: Target[];
  /** Red threshold line, when an alert watches this panel. */
  threshold?: number;
}

const API = `job="${JOB.api}"`;

/** The dashboard's panels (exported so tests can check every query). */
export function dashboardPanels(config: Config): PanelSpec[] {
  const a = config.monitoring.alerts;
  const panels: PanelSpec[] = [
    {
      title: 'Request rate',
      description: 'Requests per second served by the API, per colour.',
      unit: 'reqps',
      targets: [{ expr: `sum by (color) (rate(${METRIC.httpRequests}{${API}}[$__rate_interval]))`, legendFormat: '{{color}}' }],
    },
    {
      title: 'Error rate (5xx)',
      description: 'Share of API responses with a 5xx status. Alert HighErrorRate fires above the red line.',
      unit: 'percent',
      threshold: a.errorRatePercent,
      targets: [
        {
          expr: `sum(rate(${METRIC.httpRequests}{${API},status=~"5.."}[$__rate_interval])) / sum(rate(${METRIC.httpRequests}{${API}}[$__rate_interval])) * 100`,
          legendFormat: '5xx %',
        },
      ],
    },
    {
      title: 'p95 latency',
      description: '95th percentile request duration. Alert HighResponseTime fires above the red line.',
      unit: 's',
      threshold: a.p95LatencySeconds,
      targets: [
        { expr: `histogram_quantile(0.95, sum by (le) (rate(${METRIC.httpDuration}_bucket{${API}}[$__rate_interval])))`, legendFormat: 'p95' },
        { expr: `histogram_quantile(0.50, sum by (le) (rate(${METRIC.httpDuration}_bucket{${API}}[$__rate_interval])))`, legendFormat: 'p50' },
      ],
    },
    {
      title: 'Inference p95 latency',
      description: 'p95 duration of one model call, per model.',
      unit: 's',
      targets: [{ expr: `histogram_quantile(0.95, sum by (le, model) (rate(${METRIC.inferenceDuration}_bucket[$__rate_interval])))`, legendFormat: '{{model}}' }],
    },
    {
      title: 'Queue length',
      description: 'Jobs in the queue by state. Alert QueueBacklog fires when waiting jobs stay above the red line.',
      unit: 'short',
      threshold: a.queueLength,
      targets: [{ expr: `max by (state) (${METRIC.jobs}{state=~"waiting|active|delayed"})`, legendFormat: '{{state}}' }],
    },
    {
      title: 'Cache hit rate',
      description: 'Share of result-cache lookups answered from the cache.',
      unit: 'percentunit',
      targets: [
        {
          expr: `sum(rate(${METRIC.cacheHits}[$__rate_interval])) / (sum(rate(${METRIC.cacheHits}[$__rate_interval])) + sum(rate(${METRIC.cacheMisses}[$__rate_interval])))`,
          legendFormat: 'hit rate',
        },
      ],
    },
  ];
  return panels;
}

function dashboard(config: Config): Record<string, unknown> {
  const ds = { type: 'prometheus', uid: DATASOURCE_UID.prometheus };
  const panels = dashboardPanels(config).map((p, i) => ({
    id: i + 1,
    type: 'timeseries',
    title: p.title,
    description: p.description,
    datasource: ds,
    gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
    fieldConfig: {
      defaults: {
        unit: p.unit,
        min: 0,
        custom: { thresholdsStyle: { mode: p.threshold === undefined ? 'off' : 'line' } },
        thresholds: {
          mode: 'absolute',
          steps: [{ color: 'green', value: null }, ...(p.threshold === undefined ? [] : [{ color: 'red', value: p.threshold }])],
        },
      },
      overrides: [],
    },
    options: { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: p.targets.map((t, j) => ({ datasource: ds, expr: t.expr, legendFormat: t.legendFormat, refId: String.fromCharCode(65 + j) })),
  }));
  return {
    uid: DASHBOARD_UID,
    title: `modelship: ${config.project}`,
    tags: ['modelship'],
    timezone: 'utc',
    editable: false,
    schemaVersion: 39,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [] },
    annotations: { list: [] },
    panels,
  };
}
