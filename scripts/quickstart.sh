#!/usr/bin/env bash
# The README's first command: install modelship (project-local Node 24 when the machine's Node is
# older), then run its main jobs on the bundled defaults in ./demo: write a config and secrets,
# validate it, render the whole production stack, and classify the bundled sample photos locally.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
ensure_node
ensure_deps_and_build
ms() { node "$ROOT/bin/modelship.js" "$@"; }
demo="$ROOT/demo"
mkdir -p "$demo"
if [ ! -f "$demo/modelship.config.yaml" ]; then ms init --dir "$demo"; fi
ms -c "$demo/modelship.config.yaml" config validate
ms -c "$demo/modelship.config.yaml" render
echo
echo "== classify the sample photos with the bundled models (no server, no database) =="
photos=("$ROOT"/test/fixtures/images/{astronaut,chelsea,coffee,motorcycle}.jpg)
ms classify "${photos[@]}" --top 3
echo
echo "== detect objects =="
ms classify "${photos[@]}" --task detect --top 3
echo
echo "== text sentiment =="
ms classify --text "The release went smoothly, great work" --text "Everything is broken again"
echo
echo "next: edit $demo/modelship.config.yaml, then see README (deploy, serve, backup)."
