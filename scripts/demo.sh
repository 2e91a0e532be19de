#!/usr/bin/env bash
# berth's main job so far, end to end: make a base image, import it, list,
# inspect, save and load it back. Uses its own state directory unless
# BERTH_ROOT is set. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export BERTH_ROOT=${BERTH_ROOT:-/var/lib/berth-demo}
berth=${BERTH:-berth}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step "scripts/make-busybox-rootfs.sh $work/rootfs.tar"
scripts/make-busybox-rootfs.sh "$work/rootfs.tar"
step "berth import -c 'CMD [\"sh\"]' rootfs.tar busybox:latest"
$berth import -c 'CMD ["sh"]' -m "busybox from Debian's busybox-static" "$work/rootfs.tar" busybox:latest
step "berth tag busybox localhost:5000/demo/busybox:1"
$berth tag busybox localhost:5000/demo/busybox:1
step "berth images"
$berth images
step "berth image inspect --format '{{.Id}} {{.Config.Cmd}} {{.Os}}/{{.Architecture}}' busybox"
$berth image inspect --format '{{.Id}} {{.Config.Cmd}} {{.Os}}/{{.Architecture}}' busybox
step "berth history busybox"
$berth history busybox
step "berth save -o busybox.tar busybox"
$berth save -o "$work/busybox.tar" busybox
ls -lh "$work/busybox.tar"
step "berth rmi busybox localhost:5000/demo/busybox:1"
$berth rmi busybox localhost:5000/demo/busybox:1
step "berth load -i busybox.tar"
$berth load -i "$work/busybox.tar"
step "berth system df"
$berth system df
