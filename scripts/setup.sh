#!/usr/bin/env bash
# Installs what `modelship` itself needs: a Node >= 22 (project-local Node 24 when the machine's is
# older), the npm dependencies, and the build. Idempotent. Prints the PATH line to use it.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_node
ensure_deps_and_build
log "ready: $ROOT/bin/modelship.js (node $(node -v))"
