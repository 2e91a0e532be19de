#!/usr/bin/env bash
# `fifty.sh IMAGE CMD...`: starts 50 detached sleepers with CMD (a berth or
# docker command line), then removes them all. Used by bench/run.sh.
set -euo pipefail
image=$1
shift
ids=$(for _ in $(seq 1 50); do "$@" run -d --network none "$image" sleep 600; done)
# shellcheck disable=SC2086
"$@" rm -f $ids >/dev/null
