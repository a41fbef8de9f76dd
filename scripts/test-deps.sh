#!/usr/bin/env bash
# Installs and starts everything the test suite needs, idempotently: reuses what is already
# installed and running. Debian packages: the real checkers (nginx -t, promtool, docker-compose),
# Docker Engine, PostgreSQL, Redis, tmux, debootstrap, OpenSSH (the ssh:// e2e test starts its own
# sshd on 127.0.0.1; nothing here starts the system one).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

apt_install ca-certificates nginx-light prometheus docker-compose docker.io postgresql redis-server \
  tmux debootstrap iproute2 procps openssl openssh-server openssh-client

# --- Docker Engine --------------------------------------------------------------------------
start_dockerd() {
  if docker info >/dev/null 2>&1; then log "docker engine: already running"; ensure_docker0; return 0; fi
  log "starting dockerd"
  mkdir -p /var/log
  # nohup + setsid so the daemon outlives this script's process group.
  setsid nohup dockerd >/var/log/dockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && { log "docker engine: up"; return 0; }
    sleep 1
  done
  log "dockerd did not come up in 60 s; last log lines:"; tail -n 30 /var/log/dockerd.log >&2 || true
  return 1
}

# --- PostgreSQL -----------------------------------------------------------------------------
start_postgres() {
  local ver; ver="$(ls /usr/lib/postgresql | sort -n | tail -1)"
  if ! pg_lsclusters -h 2>/dev/null | grep -q .; then
    log "creating PostgreSQL $ver cluster"
    as_root pg_createcluster "$ver" main >&2
  fi
  local cluster; cluster="$(pg_lsclusters -h | head -1)"
  local cver cname cstatus
  cver="$(awk '{print $1}' <<<"$cluster")"; cname="$(awk '{print $2}' <<<"$cluster")"; cstatus="$(awk '{print $4}' <<<"$cluster")"
  if [ "$cstatus" != online ]; then
    log "starting PostgreSQL $cver/$cname"
    as_root pg_ctlcluster "$cver" "$cname" start >&2
  else
    log "postgresql: already running"
  fi
  # A superuser role and password the integration tests use through DATABASE_URL.
  as_root su postgres -c "psql -q -v ON_ERROR_STOP=1 -c \"ALTER USER postgres PASSWORD 'postgres'\"" >&2
}

# --- Redis ----------------------------------------------------------------------------------
start_redis() {
  if redis-cli -p 6379 ping 2>/dev/null | grep -q PONG; then log "redis: already running"; return 0; fi
  log "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no >&2
  for _ in $(seq 1 20); do redis-cli ping 2>/dev/null | grep -q PONG && return 0; sleep 0.5; done
  log "redis did not answer PING"; return 1
}

start_postgres
start_redis
if [ "${MODELSHIP_SKIP_DOCKER:-0}" != 1 ]; then start_dockerd; fi
