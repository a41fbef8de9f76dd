#!/usr/bin/env bash
# The README's test command and what CI runs: installs everything the tests need (Node, npm
# dependencies, Debian's checkers, Docker Engine, PostgreSQL, Redis, stand-in images), then runs the
# unit, integration and e2e suites and ends with one line `N passed, N failed`.
set -uo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
set -e
ensure_node
ensure_deps_and_build
bash "$ROOT/scripts/test-deps.sh"
if [ "${MODELSHIP_SKIP_DOCKER:-0}" != 1 ]; then
  bash "$ROOT/scripts/images.sh"
  # The API image the e2e stacks run, built by modelship itself from the stand-in Node base; the
  # npm registry is reached through the host's trusted CA bundle (as behind a corporate proxy).
  log "building the e2e API image (layer cache makes an unchanged rebuild quick)"
  # The CA bundle the host trusts (a TLS-intercepting proxy's CA lives there too), else Debian's.
  ca=()
  cafile="${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}"
  [ -f "$cafile" ] && ca=(--ca-file "$cafile")
  node "$ROOT/bin/modelship.js" build --tag modelship-test/api:e2e --base-image modelship-standin/node:24 "${ca[@]}" >&2
fi
set +e
cd "$ROOT"

export DATABASE_URL_TEST="${DATABASE_URL_TEST:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export REDIS_URL_TEST="${REDIS_URL_TEST:-redis://127.0.0.1:6379}"

total_pass=0; total_fail=0; status=0
# count OUT RC: adds one finished run's `ℹ pass/fail` lines to the totals.
count() {
  local out="$1" rc="$2" p f
  p="$(grep -E '^ℹ pass [0-9]+' "$out" | tail -1 | awk '{print $3}')"
  f="$(grep -E '^ℹ fail [0-9]+' "$out" | tail -1 | awk '{print $3}')"
  total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
  [ "$rc" -ne 0 ] && status=1
  return 0
}
# run_files LABEL [node --test options…] -- FILE…
run_files() {
  local label="$1"; shift
  local opts=()
  while [ "$1" != -- ]; do opts+=("$1"); shift; done
  shift
  if [ "$#" -eq 0 ]; then log "no $label tests"; return 0; fi
  log "running $label tests ($# files)"
  local out; out="$(mktemp)"
  node --test --test-reporter=spec "${opts[@]}" "$@" 2>&1 | tee "$out"
  count "$out" "${PIPESTATUS[0]}"
  rm -f "$out"
}
files_of() { find "test/$1" -name '*.test.ts' | sort; }
mapfile -t unit < <(files_of unit)
mapfile -t integration < <(files_of integration)
run_files unit -- "${unit[@]}"
run_files integration --test-concurrency=1 -- "${integration[@]}"
# e2e files run side by side: each stack has its own project name and reserved ports, and a test
# that restarts an engine runs its own private dockerd. MODELSHIP_E2E_CONCURRENCY=1 runs them one
# at a time (for a loaded machine, or to read one file's output in order).
if [ "${MODELSHIP_SKIP_DOCKER:-0}" != 1 ]; then
  [ "$(id -u)" = 0 ] && ensure_docker0
  sweep_stale_e2e
fi
mapfile -t swarm < <(files_of e2e | grep '/swarm-')
mapfile -t e2e < <(files_of e2e | grep -v '/swarm-')
# The swarm files share one three-node rig and take it in turn (its lock): they run as their own
# lane, one after the other, from the start of the e2e suite and beside the other files, so their
# chain (the longest) overlaps the rest instead of queueing behind it. Their output follows the
# other files'.
swarm_out="$(mktemp)"; swarm_pid=""
if [ "${#swarm[@]}" -gt 0 ]; then
  log "running swarm e2e tests (${#swarm[@]} files) beside the others; their output follows"
  node --test --test-reporter=spec --test-concurrency=1 "${swarm[@]}" >"$swarm_out" 2>&1 &
  swarm_pid=$!
fi
run_files e2e --test-concurrency="${MODELSHIP_E2E_CONCURRENCY:-3}" -- "${e2e[@]}"
if [ -n "$swarm_pid" ]; then
  wait "$swarm_pid"; swarm_rc=$?
  log "swarm e2e tests (${#swarm[@]} files)"
  cat "$swarm_out"
  count "$swarm_out" "$swarm_rc"
fi
rm -f "$swarm_out"
# The three-node swarm the swarm e2e files share (started on first use): removed entirely.
[ "$(id -u)" = 0 ] && bash "$ROOT/scripts/swarm-rig.sh" down >&2
echo "${total_pass} passed, ${total_fail} failed"
exit "$status"
