#!/usr/bin/env bash
# `build` of a context of 5,000 small files and one 50 MB file with a COPY
# and a RUN step on a busybox base: berth against docker's classic builder,
# docker's BuildKit and buildah in one run, reported as ratios (peer time /
# berth time; above 1 means berth is faster). Four cases, each the median of
# RUNS builds:
#   cold    no cache at all (fresh berth root, docker images and build
#           cache pruned, buildah's intermediate images removed)
#   warm    the same build again, nothing changed
#   edit    one small file's content changed before each build
#   touch   one small file's mtime changed before each build, content kept
# Every builder runs RUN steps with runc and no network. Needs root,
# hyperfine, buildah, busybox-static and a running dockerd reachable
# through DOCKER_HOST.
#
#   sudo DOCKER_HOST=unix:///run/docker.sock bench/build.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
docker=/usr/bin/docker
cargo build --release --quiet -p berth-cli
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
root=$work/berth-root
ctx=$work/ctx
base=berth-bench-base:1
buildah="buildah --root $work/buildah --runroot $work/buildah-run --storage-driver overlay"
cleanup() {
    $docker rmi -f berth-bench-build:classic berth-bench-build:buildkit "$base" >/dev/null 2>&1 || true
    $docker image prune -f >/dev/null 2>&1 || true
    $docker builder prune -af >/dev/null 2>&1 || true
    $buildah rmi -af >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

scripts/make-busybox-rootfs.sh "$work/rootfs.tar"
$docker import "$work/rootfs.tar" "$base" >/dev/null
$docker save -o "$work/base.tar" "$base"
$buildah pull -q "docker-archive:$work/base.tar" >/dev/null

# The context: 50 directories of 100 files of 200-1000 random bytes, and
# one 50 MB file of random (incompressible) data.
mkdir -p "$ctx"
python3 - "$ctx" <<'PY'
import os, random, sys
ctx = sys.argv[1]
rng = random.Random(4)
for d in range(50):
    os.makedirs(f"{ctx}/small/d{d:02}")
    for f in range(100):
        with open(f"{ctx}/small/d{d:02}/f{f:03}", "wb") as out:
            out.write(rng.randbytes(rng.randint(200, 1000)))
PY
head -c 50000000 /dev/urandom > "$ctx/big.bin"
cat > "$ctx/Dockerfile" <<EOF
FROM $base
COPY . /app
RUN ls /app/small/* | wc -l > /summary && wc -c < /app/big.bin >> /summary
EOF
edited=$ctx/small/d00/f000

reset_berth="rm -rf $root && $berth --root $root import $work/rootfs.tar $base >/dev/null"
reset_classic="$docker rmi -f berth-bench-build:classic >/dev/null 2>&1; $docker image prune -f >/dev/null"
reset_buildkit="$docker rmi -f berth-bench-build:buildkit >/dev/null 2>&1; $docker builder prune -af >/dev/null"
reset_buildah="$buildah rmi -f berth-bench-build:buildah >/dev/null 2>&1; $buildah rmi --prune >/dev/null 2>&1 || true"
build_berth="$berth --root $root build -q -t berth-bench-build:berth $ctx"
build_classic="DOCKER_BUILDKIT=0 $docker build -q --network none -t berth-bench-build:classic $ctx"
build_buildkit="DOCKER_BUILDKIT=1 $docker build -q --network none -t berth-bench-build:buildkit $ctx"
build_buildah="$buildah bud -q --layers --isolation oci --runtime runc --network none -t berth-bench-build:buildah $ctx"
eval "$reset_berth"

# bench NAME HYPERFINE-OPTIONS... : the four builders under the same options;
# a --prepare given here runs before every build of every builder.
bench() {
    local name=$1
    shift
    hyperfine --runs "$runs" --export-json "$work/$name.json" "$@" \
        -n "berth" "$build_berth" \
        -n "docker classic" "$build_classic" \
        -n "docker buildkit" "$build_buildkit" \
        -n "buildah" "$build_buildah"
}
hyperfine --runs "$runs" --export-json "$work/cold.json" \
    --prepare "$reset_berth" -n "berth" "$build_berth" \
    --prepare "$reset_classic" -n "docker classic" "$build_classic" \
    --prepare "$reset_buildkit" -n "docker buildkit" "$build_buildkit" \
    --prepare "$reset_buildah" -n "buildah" "$build_buildah"
bench warm --warmup 1
bench edit --prepare "date +%s%N > $edited"
bench touch --warmup 1 --prepare "touch $edited"

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
cases = ["cold", "warm", "edit", "touch"]
results = {c: {r["command"]: r["median"] for r in json.load(open(f"{work}/{c}.json"))["results"]} for c in cases}
tools = list(results["cold"])
print("| builder | " + " | ".join(cases) + " |")
print("|---|" + "---|" * len(cases))
for tool in tools:
    cells = []
    for c in cases:
        t, b = results[c][tool], results[c]["berth"]
        cells.append(f"{t:.2f} s" if tool == "berth" else f"{t:.2f} s ({t / b:.1f}×)")
    print(f"| {tool} | " + " | ".join(cells) + " |")
PY
