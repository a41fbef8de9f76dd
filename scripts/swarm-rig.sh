#!/usr/bin/env bash
# A real three-node Docker Swarm on this machine, for the swarm e2e tests (issue 17).
#
# Three Docker Engines, each in its own network namespace (msw-n1 manager, msw-n2 and msw-n3
# workers), each with its own data root, exec root, pid file, socket and containerd namespace,
# joined over a host bridge (msw0, 10.250.0.0/24) with an iptables FORWARD accept rule for it.
# dockerd is started with `nsenter --net=/var/run/netns/X` (not `ip netns exec`, which remounts
# /sys and hides the cgroups). Address pools (10.251.0.0/16 per engine, 10.252.0.0/16 for the
# overlays) never overlap the system engine's networks. The system dockerd and its networks are
# never touched; images are copied in from it with `docker save | docker -H unix://… load`.
#
#   scripts/swarm-rig.sh up [image…]     start (idempotent: a formed rig is reused) and load images
#   scripts/swarm-rig.sh load image…     load images into every node that lacks them
#   scripts/swarm-rig.sh stop-node nX    stop one engine (what a node failure does)
#   scripts/swarm-rig.sh start-node nX   start it again on the same state
#   scripts/swarm-rig.sh env             print MSW_* variables (sockets, addresses) for scripts
#   scripts/swarm-rig.sh down            stop everything and remove all its state
#
# Root only. State lives in $MODELSHIP_SWARM_RIG_DIR (default /tmp/msw).
set -euo pipefail

RIG=${MODELSHIP_SWARM_RIG_DIR:-/tmp/msw}
NODES=(n1 n2 n3)
BRIDGE=msw0
NET_PREFIX=10.250.0
ENGINE_POOL=10.251.0.0/16
SWARM_POOL=10.252.0.0/16

die() { echo "swarm-rig: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (network namespaces, a bridge, dockerd)"

node_ip() { echo "$NET_PREFIX.$((10 + ${1#n}))"; }
sock() { echo "$RIG/$1/docker.sock"; }
dk() { local n=$1; shift; docker -H "unix://$(sock "$n")" "$@"; }
alive() { [ -S "$(sock "$1")" ] && timeout 5 docker -H "unix://$(sock "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

fwd_rule() { iptables "$1" FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT -m comment --comment modelship-swarm-rig; }

net_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NET_PREFIX.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  fwd_rule -C 2>/dev/null || fwd_rule -I
  for n in "${NODES[@]}"; do
    local ns=msw-$n
    [ -e "/var/run/netns/$ns" ] || ip netns add "$ns"
    if ! ip link show "msw-$n-h" >/dev/null 2>&1; then
      ip link add "msw-$n-h" type veth peer name eth0 netns "$ns"
      ip link set "msw-$n-h" master "$BRIDGE" up
      ip -n "$ns" addr add "$(node_ip "$n")/24" dev eth0
      ip -n "$ns" link set eth0 up
      ip -n "$ns" link set lo up
      ip -n "$ns" route add default via "$NET_PREFIX.1"
    fi
  done
}

start_node() {
  local n=$1 d="$RIG/$1"
  alive "$n" && return 0
  mkdir -p "$d"
  rm -f "$d/docker.sock"
  # setsid: the engine outlives the shell that started it (one rig serves every test file).
  # unshare --uts: each engine reports its own hostname (msw-nX) as the swarm node's name.
  setsid unshare --uts sh -c 'hostname "$0"; exec nsenter --net="/var/run/netns/$0" dockerd "$@"' "msw-$n" \
    --data-root="$d/data" --exec-root="$d/exec" -H "unix://$d/docker.sock" \
    --pidfile="$d/dockerd.pid" --containerd-namespace="msw-$n" --containerd-plugins-namespace="msw-$n-plugins" \
    --default-address-pool="base=$ENGINE_POOL,size=24" --storage-driver=overlay2 \
    >>"$d/dockerd.log" 2>&1 </dev/null 9>&- &
  for _ in $(seq 1 300); do
    alive "$n" && return 0
    sleep 0.1
  done
  die "dockerd $n did not answer within 30 s; see $d/dockerd.log"
}

stop_node() {
  local n=$1 pidf="$RIG/$1/dockerd.pid"
  [ -f "$pidf" ] || return 0
  local pid; pid=$(cat "$pidf")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$pidf"
}

swarm_up() {
  local state; state=$(dk n1 info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}')
  if [ "$state" != "active true" ]; then
    [ "${state%% *}" = inactive ] || dk n1 swarm leave --force >/dev/null
    dk n1 swarm init --advertise-addr "$(node_ip n1)" --listen-addr "$(node_ip n1):2377" \
      --default-addr-pool "$SWARM_POOL" --default-addr-pool-mask-length 24 >/dev/null
  fi
  local token; token=$(dk n1 swarm join-token -q worker)
  for n in "${NODES[@]:1}"; do
    local s id; read -r s id < <(dk "$n" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.NodeID}}')
    # Already a member of this manager's swarm: nothing to do.
    [ "$s" = active ] && dk n1 node inspect "$id" >/dev/null 2>&1 && continue
    [ "$s" = inactive ] || dk "$n" swarm leave --force >/dev/null
    dk "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" "$(node_ip n1):2377" >/dev/null
  done
  # Nodes that left and joined again leave "down" ghosts behind: drop them.
  for id in $(dk n1 node ls --filter role=worker --format '{{.ID}} {{.Status}}' | awk '$2=="Down"{print $1}'); do
    dk n1 node rm --force "$id" >/dev/null 2>&1 || true
  done
  for _ in $(seq 1 300); do
    [ "$(dk n1 node ls --format '{{.Status}}' | grep -c Ready)" = 3 ] && return 0
    sleep 0.1
  done
  die "the swarm did not report 3 ready nodes within 30 s: $(dk n1 node ls 2>&1)"
}

load_images() {
  [ $# -gt 0 ] || return 0
  for n in "${NODES[@]}"; do
    local missing=()
    for img in "$@"; do dk "$n" image inspect "$img" >/dev/null 2>&1 || missing+=("$img"); done
    # One stream per node: layers the images share travel once.
    [ ${#missing[@]} -eq 0 ] || docker save "${missing[@]}" | dk "$n" load -q >/dev/null
  done
}

print_env() {
  echo "MSW_MANAGER_HOST=unix://$(sock n1)"
  for n in "${NODES[@]}"; do
    local u; u=$(echo "$n" | tr a-z A-Z)
    echo "MSW_${u}_HOST=unix://$(sock "$n")"
    echo "MSW_${u}_IP=$(node_ip "$n")"
  done
}

down() {
  for n in "${NODES[@]}"; do
    if alive "$n"; then
      # Containers of this rig only: the engine is private. (No `swarm leave`: the state goes.)
      ids=$(dk "$n" ps -aq 2>/dev/null || true)
      [ -z "$ids" ] || dk "$n" rm -f $ids >/dev/null 2>&1 || true
    fi
    stop_node "$n" &
  done
  wait
  for n in "${NODES[@]}"; do
    ip link del "msw-$n-h" 2>/dev/null || true
    [ ! -e "/var/run/netns/msw-$n" ] || ip netns del "msw-$n"
    # Mounts the engine left behind (overlay layers, netns bind mounts) before the directory goes.
    if [ -d "$RIG/$n" ]; then
      { grep -o " $RIG/$n/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
      rm -rf "${RIG:?}/$n"
    fi
  done
  fwd_rule -D 2>/dev/null || true
  ip link del "$BRIDGE" 2>/dev/null || true
  rm -f "$RIG/.lock"; rmdir "$RIG" 2>/dev/null || true
}

cmd=${1:-}
shift || true
case "$cmd" in
  up)
    mkdir -p "$RIG"
    exec 9>"$RIG/.lock"
    flock -w 300 9 || die "another swarm-rig run holds $RIG/.lock"
    net_up
    for n in "${NODES[@]}"; do start_node "$n" & done
    wait
    for n in "${NODES[@]}"; do alive "$n" || die "dockerd $n is not answering; see $RIG/$n/dockerd.log"; done
    swarm_up
    load_images "$@"
    print_env
    ;;
  load) load_images "$@" ;;
  stop-node) stop_node "${1:?node name (n1|n2|n3)}" ;;
  start-node) start_node "${1:?node name (n1|n2|n3)}" ;;
  env) print_env ;;
  down)
    [ -d "$RIG" ] || { fwd_rule -D 2>/dev/null || true; ip link del "$BRIDGE" 2>/dev/null || true; exit 0; }
    exec 9>"$RIG/.lock"
    flock -w 300 9 || die "another swarm-rig run holds $RIG/.lock"
    down
    ;;
  *) die "usage: swarm-rig.sh up [image…] | load image… | stop-node nX | start-node nX | env | down" ;;
esac
