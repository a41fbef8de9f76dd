#!/bin/sh
# Stand-in for the official nginx image's /docker-entrypoint.sh: when the command is nginx, runs
# the executable /docker-entrypoint.d/*.sh in order (set NGINX_ENTRYPOINT_QUIET_LOGS to hush it).
set -e

entrypoint_log() { [ -z "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] && echo "$@" || :; }

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
  for f in $(find /docker-entrypoint.d/ -follow -type f -name '*.sh' 2>/dev/null | sort -V); do
    if [ -x "$f" ]; then
      entrypoint_log "$0: Launching $f"
      "$f"
    else
      entrypoint_log "$0: Ignoring $f, not executable"
    fi
  done
  entrypoint_log "$0: Configuration complete; ready for start up"
fi

exec "$@"
