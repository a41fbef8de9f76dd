#!/bin/sh
# Stand-in for the official redis image's docker-entrypoint.sh.
set -e

# `docker run IMAGE --appendonly yes` or `docker run IMAGE /etc/redis.conf` mean redis-server.
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi

# As root: own the data directory and drop to the redis user.
if [ "$1" = redis-server ] && [ "$(id -u)" = 0 ]; then
  find . \! -user redis -exec chown redis '{}' + || :
  exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = redis-server ]; then
  # The official image is built with protected mode off (it relies on the network for isolation);
  # Debian's redis-server has it on, which refuses clients from other containers. Turn it off
  # unless the args or the config file set it.
  set_pm=1
  for a in "$@"; do [ "$a" = --protected-mode ] && set_pm=0; done
  if [ -n "${2:-}" ] && [ "${2%.conf}" != "$2" ] && [ -r "$2" ] \
     && grep -qiE '^[[:space:]]*protected-mode[[:space:]]' "$2"; then set_pm=0; fi
  [ "$set_pm" = 1 ] && set -- "$@" --protected-mode no
fi

# Same umask as the official image (files Redis writes are not world-readable).
um="$(umask)"
if [ "$um" = 0022 ]; then umask 0077; fi

exec "$@"
