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
run_suite() {
  local name="$1"; shift
  local files=()
  mapfile -t files < <(find "test/$name" -name '*.test.ts' | sort)
  if [ "${#files[@]}" -eq 0 ]; then log "no $name tests"; return 0; fi
  log "running $name tests (${#files[@]} files)"
  local out; out="$(mktemp)"
  node --test --test-reporter=spec "$@" "${files[@]}" 2>&1 | tee "$out"
  local rc=${PIPESTATUS[0]}
  local p f
  p="$(grep -E '^ℹ pass [0-9]+' "$out" | tail -1 | awk '{print $3}')"
  f="$(grep -E '^ℹ fail [0-9]+' "$out" | tail -1 | awk '{print $3}')"
  total_pass=$((total_pass + ${p:-0})); total_fail=$((total_fail + ${f:-0}))
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then total_fail=$((total_fail + 1)); fi
  [ "$rc" -ne 0 ] && status=1
  rm -f "$out"
}
run_suite unit
run_suite integration --test-concurrency=1
# e2e files run side by side: each stack has its own project name and reserved ports, and a test
# that restarts an engine runs its own private dockerd. MODELSHIP_E2E_CONCURRENCY=1 runs them one
# at a time (for a loaded machine, or to read one file's output in order).
[ "${MODELSHIP_SKIP_DOCKER:-0}" != 1 ] && [ "$(id -u)" = 0 ] && ensure_docker0
run_suite e2e --test-concurrency="${MODELSHIP_E2E_CONCURRENCY:-3}"
# The three-node swarm the swarm e2e files share (started on first use): removed entirely.
[ "$(id -u)" = 0 ] && bash "$ROOT/scripts/swarm-rig.sh" down >&2
echo "${total_pass} passed, ${total_fail} failed"
exit "$status"
