#!/usr/bin/env bash
# Load and save of a ~100 MB, 5-layer image: berth against docker, in one
# run, reported as ratios (docker time / berth time; above 1 means berth is
# faster). Needs root, hyperfine, busybox-static and a running dockerd
# reachable through DOCKER_HOST (or the default socket).
#
#   sudo DOCKER_HOST=unix:///run/docker.sock bench/load_save.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
docker=/usr/bin/docker
cargo build --release --quiet -p berth-cli
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
trap 'rm -rf "$work"; $docker rmi -f berth-bench:1 berth-bench-base:1 >/dev/null 2>&1 || true' EXIT

bench/build-image.sh "$work" berth-bench:1
$docker save -o "$work/image.tar" berth-bench:1
echo "image archive: $(du -h "$work/image.tar" | cut -f1)"

root=$work/root
hyperfine --runs "$runs" --warmup 1 --export-json "$work/load.json" \
    --prepare "rm -rf $root" -n "berth load" "$berth --root $root load -q -i $work/image.tar" \
    --prepare "$docker rmi -f berth-bench:1 >/dev/null 2>&1 || true" -n "docker load" "$docker load -q -i $work/image.tar"
$berth --root "$root" load -q -i "$work/image.tar"
hyperfine --runs "$runs" --warmup 1 --export-json "$work/save.json" \
    -n "berth save" "$berth --root $root save -o $work/out-berth.tar berth-bench:1" \
    -n "docker save" "$docker save -o $work/out-docker.tar berth-bench:1"

python3 - "$work/load.json" "$work/save.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = {x["command"]: x for x in json.load(open(path))["results"]}
    b = next(v for k, v in r.items() if k.startswith("berth"))
    d = next(v for k, v in r.items() if k.startswith("docker"))
    op = b["command"].split()[1]
    print(f"{op}: berth {b['median']*1000:.0f} ms, docker {d['median']*1000:.0f} ms (medians), docker/berth = {d['median']/b['median']:.2f}x")
PY
