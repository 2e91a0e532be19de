#!/usr/bin/env bash
# Container start latency: `run --rm IMAGE true`, and 50 detached
# containers started then removed, for berth and docker in one run, reported
# as ratios (docker time / berth time; above 1 means berth is faster). Both
# use runc and no network (`--network none`). podman is left out: on a
# machine without CAP_SYS_RESOURCE (this project's VMs) podman 4.3 as root
# asks runc for an RLIMIT_NPROC above the hard limit and every run fails
# with exit 126 (see docs/benchmarks.md). Needs root, hyperfine, runc,
# busybox-static and a running dockerd reachable through DOCKER_HOST.
#
#   sudo DOCKER_HOST=unix:///run/docker.sock bench/run.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
docker=/usr/bin/docker
cargo build --release --quiet -p berth-cli
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
root=$work/berth-root
cleanup() {
    $docker rmi -f berth-bench-busybox:1 >/dev/null 2>&1 || true
    $berth --root "$root" rm -f $($berth --root "$root" ps -aq) >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
scripts/make-busybox-rootfs.sh "$work/rootfs.tar"
$berth --root "$root" import "$work/rootfs.tar" bb:1 >/dev/null
$docker import "$work/rootfs.tar" berth-bench-busybox:1 >/dev/null

hyperfine --runs "$runs" --warmup 3 --export-json "$work/run.json" \
    -n "berth run --rm" "$berth --root $root run --rm --network none bb:1 true" \
    -n "docker run --rm" "$docker run --rm --network none berth-bench-busybox:1 true"

hyperfine --runs 3 --export-json "$work/fifty.json" \
    -n "berth 50 x run -d, rm -f" "bench/fifty.sh bb:1 $berth --root $root" \
    -n "docker 50 x run -d, rm -f" "bench/fifty.sh berth-bench-busybox:1 $docker"

python3 - "$work/run.json" "$work/fifty.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))["results"]
    b = next(x for x in r if x["command"].startswith("berth"))
    for x in r:
        print(f"{x['command']:<28} median {x['median']*1000:8.0f} ms   {x['median']/b['median']:5.2f}x berth's time")
PY
