#!/usr/bin/env bash
# Builds the benchmarks' image with docker: `build-image.sh WORKDIR TAG`.
# busybox plus four layers of 25 MB each (250 files of 100 kB of random,
# incompressible data), made by docker's classic builder so archives and
# registry blobs are docker's own. Leaves the base image berth-bench-base:1.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$1 tag=$2
docker=/usr/bin/docker
scripts/make-busybox-rootfs.sh "$work/rootfs.tar"
$docker import "$work/rootfs.tar" berth-bench-base:1 >/dev/null
mkdir -p "$work/ctx"
for d in 1 2 3 4; do
    mkdir -p "$work/ctx/d$d"
    for f in $(seq 1 250); do head -c 100000 /dev/urandom > "$work/ctx/d$d/f$f"; done
done
printf 'FROM berth-bench-base:1\nCOPY d1 /d1\nCOPY d2 /d2\nCOPY d3 /d3\nCOPY d4 /d4\n' > "$work/ctx/Dockerfile"
DOCKER_BUILDKIT=0 $docker build -q -t "$tag" "$work/ctx" >/dev/null
