#!/usr/bin/env bash
# berth's main job so far, end to end: make a base image, import it, list,
# inspect, save and load it back, run containers from it, then build an
# example app from a Dockerfile and run it. Uses its own state directory unless
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
step "berth run --rm busybox sh -c 'echo hello from \$(hostname); id'"
$berth run --rm busybox sh -c 'echo hello from $(hostname); id'
step "printf 'echo hello from stdin\\nexit 3\\n' | berth run -i --rm busybox sh"
printf 'echo hello from stdin\nexit 3\n' | $berth run -i --rm busybox sh || echo "exit code $?"
# The container's terminal takes this one's size; off a terminal it has
# none, and stty would only complain.
if [ -t 0 ] || [ -t 1 ]; then
    step "berth run -t --rm busybox sh -c 'tty; stty size'"
    $berth run -t --rm busybox sh -c 'tty; stty size'
else
    step "berth run -t --rm busybox tty"
    $berth run -t --rm busybox tty
fi
step "berth run -d --name ticker busybox sh -c 'while true; do date; sleep 1; done'"
$berth run -d --name ticker busybox sh -c 'while true; do date; sleep 1; done'
sleep 2
step "berth ps"
$berth ps
step "berth logs ticker"
$berth logs ticker
step "berth exec ticker ps"
$berth exec ticker ps
step "berth stats --no-stream ticker"
$berth stats --no-stream ticker
step "berth stop -t 1 ticker && berth rm ticker"
$berth stop -t 1 ticker
$berth rm ticker
step "berth build -t hello-web --build-arg GREETING='hello from a berth build' examples/hello-web"
$berth build -t hello-web --build-arg GREETING='hello from a berth build' examples/hello-web
step "berth run -d --name web -p 8080:8080 hello-web && curl http://127.0.0.1:8080/"
$berth run -d --name web -p 8080:8080 hello-web
fetch() { if command -v curl >/dev/null; then curl -fsS "$1"; else busybox wget -qO- "$1"; fi; }
# httpd needs a moment to listen; a page that never comes stops the demo.
fetch_when_up() {
    for _ in $(seq 50); do fetch "$1" 2>/dev/null && return; sleep 0.1; done
    fetch "$1"
}
fetch_when_up http://127.0.0.1:8080/
step "berth port web; berth ps"
$berth port web
$berth ps
step "berth network create demo-net; two containers talk by name"
$berth network create demo-net
$berth run -d --name site --network demo-net --network-alias www hello-web
for _ in $(seq 50); do $berth run --rm --network demo-net busybox sh -c 'printf "GET / HTTP/1.0\r\n\r\n" | nc www 8080' 2>/dev/null | grep -q . && break; sleep 0.1; done
$berth run --rm --network demo-net busybox sh -c 'nslookup www | grep -m1 -A1 "^Name:"; printf "GET / HTTP/1.0\r\n\r\n" | nc www 8080 | tail -1'
$berth rm -f web site >/dev/null
$berth network rm demo-net
step "berth system df"
$berth system df
