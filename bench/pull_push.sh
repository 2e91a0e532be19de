#!/usr/bin/env bash
# Cold pull and push of a ~100 MB (compressed) 5-layer image on a loopback
# registry: berth, docker, podman and skopeo in one run, reported as ratios
# (peer time / berth time; above 1 means berth is faster). Needs root,
# hyperfine, docker-registry, podman, skopeo, busybox-static and a running
# dockerd reachable through DOCKER_HOST.
#
#   sudo DOCKER_HOST=unix:///run/docker.sock bench/pull_push.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
docker=/usr/bin/docker
cargo build --release --quiet -p berth-cli
berth=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg="bench/registry.sh"
img=127.0.0.1:$port/bench/image:1
podman="podman --root $work/podman --runroot $work/podman-run --runtime runc"
cleanup() {
    $reg stop "$work/registry" "$port" || true
    $docker rmi -f "$img" berth-bench-base:1 >/dev/null 2>&1 || true
    $podman rmi -af >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
$reg start "$work/registry" "$port"

bench/build-image.sh "$work" "$img"
$docker push -q "$img" >/dev/null
echo "registry holds $(du -sh "$work/registry/data" | cut -f1) for $img"
$docker rmi -f "$img" berth-bench-base:1 >/dev/null

root=$work/berth-root
hyperfine --runs "$runs" --warmup 1 --export-json "$work/pull.json" \
    --prepare "rm -rf $root" -n "berth pull" "$berth --root $root pull -q $img" \
    --prepare "$docker rmi -f $img >/dev/null 2>&1 || true" -n "docker pull" "$docker pull -q $img" \
    --prepare "$podman rmi -af >/dev/null 2>&1 || true" -n "podman pull" "$podman pull -q --tls-verify=false $img" \
    --prepare "rm -rf $work/oci" -n "skopeo copy (no unpack)" "skopeo copy -q --src-tls-verify=false docker://$img oci:$work/oci"

# Every push goes to an empty registry, so every layer is really sent.
hyperfine --runs "$runs" --export-json "$work/push.json" \
    --prepare "$reg reset $work/registry $port" \
    -n "berth push" "$berth --root $root push -q $img" \
    -n "docker push" "$docker push -q $img" \
    -n "podman push" "$podman push -q --tls-verify=false $img" \
    -n "skopeo copy" "skopeo copy -q --dest-tls-verify=false oci:$work/oci docker://$img"

python3 - "$work/pull.json" "$work/push.json" <<'PY'
import json, sys
for path in sys.argv[1:]:
    r = json.load(open(path))["results"]
    b = next(x for x in r if x["command"].startswith("berth"))
    for x in r:
        ratio = x["median"] / b["median"]
        print(f"{x['command']:<26} median {x['median']*1000:7.0f} ms   {ratio:5.2f}x berth's time")
PY
