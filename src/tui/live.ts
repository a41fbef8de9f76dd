/** Mounts the status view on the terminal, fed by a StatusFeed; resolves when the user quits. */
import React from 'react';
import { render, useApp } from 'ink';
import { recentLogs, StatusFeed, type FeedState } from '../ops/status.ts';
import type { StackHandle } from '../ops/stack.ts';
import { StatusView } from './status-view.ts';

const h = React.createElement;

function Live(props: { feed: StatusFeed; loadLogs: (c: string) => Promise<string[]> }): React.ReactElement {
  const { exit } = useApp();
  const [state, setState] = React.useState<FeedState>(props.feed.current);
  React.useEffect(() => props.feed.subscribe(setState), [props.feed]);
  return h(StatusView, { state, onRefresh: () => void props.feed.refresh(), onQuit: () => exit(), loadLogs: props.loadLogs });
}

export async function runLiveStatus(handle: StackHandle, opts: { intervalMs?: number } = {}): Promise<void> {
  const feed = new StatusFeed(handle, opts.intervalMs ? { intervalMs: opts.intervalMs } : {});
  feed.start();
  const app = render(h(Live, { feed, loadLogs: (c) => recentLogs(handle, c, 200) }), { exitOnCtrlC: true, patchConsole: true, interactive: process.stdout.isTTY === true });
  try {
    await app.waitUntilExit();
  } finally {
    feed.stop();
  }
}
