#!/usr/bin/env bash
# Stand-in for the official postgres image's docker-entrypoint.sh, with the same contract:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default
# scram-sha-256), each also as *_FILE; PGDATA; /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|
# *.sql.xz|*.sql.zst run once on first init; `postgres -c key=value ...` args passed through.
set -Eeo pipefail

file_env() { # VAR [DEFAULT]: VAR from $VAR or the file named by $VAR_FILE
  local var="$1" fileVar="${1}_FILE" def="${2:-}" val
  if [ -n "${!var:-}" ] && [ -n "${!fileVar:-}" ]; then
    echo "error: both $var and $fileVar are set (but are exclusive)" >&2; exit 1
  fi
  val="$def"
  if [ -n "${!var:-}" ]; then val="${!var}"; elif [ -n "${!fileVar:-}" ]; then val="$(< "${!fileVar}")"; fi
  export "$var"="$val"; unset "$fileVar"
}

# `docker run IMAGE -c foo=bar` means `postgres -c foo=bar`.
if [ "${1:0:1}" = '-' ]; then set -- postgres "$@"; fi

if [ "$1" = postgres ] && [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA" || :
  mkdir -p /var/run/postgresql && chmod 3777 /var/run/postgresql || :
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + || :
  find /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' + || :
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" "$@"
fi

if [ "$1" != postgres ]; then exec "$@"; fi
# `postgres --version`, `--help`, `-C setting`, ... : no init, as in the official image.
for a in "${@:2}"; do
  case "$a" in -'?'|--help|--describe-config|-V|--version|-C) exec "$@" ;; esac
done

file_env POSTGRES_PASSWORD
file_env POSTGRES_USER postgres
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=}"

psql_run() {
  PGHOST=/var/run/postgresql PGPORT="${PGPORT:-5432}" PGPASSWORD="${POSTGRES_PASSWORD:-}" \
    psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    cat >&2 <<'MSG'
Error: Database is uninitialized and superuser password is not specified.
       You must specify POSTGRES_PASSWORD to a non-empty value for the
       superuser. For example, "-e POSTGRES_PASSWORD=password" on "docker run".
       (Or POSTGRES_HOST_AUTH_METHOD=trust to allow all connections without a password.)
MSG
    exit 1
  fi
  mkdir -p "$PGDATA"; chmod 700 "$PGDATA"
  initdb_args=(--username="$POSTGRES_USER")
  if [ -n "${POSTGRES_INITDB_WALDIR:-}" ]; then initdb_args+=(--waldir="$POSTGRES_INITDB_WALDIR"); fi
  if [ -n "$POSTGRES_PASSWORD" ]; then
    eval 'initdb "${initdb_args[@]}" --pwfile=<(printf "%s\n" "$POSTGRES_PASSWORD") '"$POSTGRES_INITDB_ARGS"
  else
    eval 'initdb "${initdb_args[@]}" '"$POSTGRES_INITDB_ARGS"
  fi

  auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
  printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

  # Temporary server on the unix socket only, with the same -c args as the real one.
  shift_args=("${@:2}")
  pg_ctl -D "$PGDATA" -w start \
    -o "$(printf '%q ' "${shift_args[@]}" -c listen_addresses='' -p "${PGPORT:-5432}")"

  if [ "$POSTGRES_DB" != postgres ]; then
    exists="$(psql_run --dbname postgres --set db="$POSTGRES_DB" --tuples-only --no-align \
      <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")"
    if [ -z "$exists" ]; then
      psql_run --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db" ;'
    fi
  fi

  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then echo "$0: running $f"; "$f"
        else echo "$0: sourcing $f"; . "$f"; fi ;;
      *.sql)     echo "$0: running $f"; psql_run --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz)  echo "$0: running $f"; gunzip -c "$f" | psql_run --dbname "$POSTGRES_DB" ;;
      *.sql.xz)  echo "$0: running $f"; xzcat "$f" | psql_run --dbname "$POSTGRES_DB" ;;
      *.sql.zst) echo "$0: running $f"; zstd -dc "$f" | psql_run --dbname "$POSTGRES_DB" ;;
      *)         echo "$0: ignoring $f" ;;
    esac
  done

  pg_ctl -D "$PGDATA" -m fast -w stop
  echo
  echo 'PostgreSQL init process complete; ready for start up.'
  echo
else
  echo
  echo 'PostgreSQL Database directory appears to contain a database; Skipping initialization'
  echo
fi

# Run the server as a child so that SIGTERM (as well as SIGINT, the image's STOPSIGNAL) becomes a
# fast shutdown; the exit status is the server's.
shift
postgres "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null || :' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null || :' QUIT
while :; do
  rc=0; wait "$pid" || rc=$?
  kill -0 "$pid" 2>/dev/null || exit "$rc"
done
