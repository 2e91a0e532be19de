#!/usr/bin/env bash
# Networks: `run --rm IMAGE true` on the default bridge, and 1 GiB through a
# port published on 127.0.0.1 (busybox nc on the host into busybox nc in
# the container), berth against docker in one run, as ratios (docker time /
# berth time; above 1 means berth is faster). docker is a private dockerd
# started here with its defaults (docker0, iptables, userland proxy), its
# own data and exec roots and socket, stopped by pid at the end; the
# iptables chains it made are removed again. berth uses a config of its
# own (bridge btbench0, 10.213.230.0/24). Needs root, hyperfine,
# busybox-static, socat and docker.io.
#
# Two senders: busybox nc, which writes 1 KiB at a time (one small segment
# per write onto the path to the container), and socat with 128 KiB writes,
# as a program streaming data would. The receiver is busybox nc in both.
#
#   sudo bench/network.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
cargo build --release --quiet -p berth-cli
berth_bin=$PWD/target/release/berth
work=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
root=$work/berth-root
cat > "$work/config.json" <<JSON
{"bridge-name": "btbench0", "firewall-table": "btbench", "bip": "10.213.230.1/24"}
JSON
export BERTH_CONFIG=$work/config.json
berth="$berth_bin --root $root"
sock=$work/docker.sock
docker="/usr/bin/docker -H unix://$sock"
iptables-save > "$work/iptables.before" 2>/dev/null || true
had_docker0=$(ip link show docker0 >/dev/null 2>&1 && echo yes || true)
forward_policy=$(iptables -S FORWARD 2>/dev/null | awk '/^-P FORWARD/ {print $3}')
/usr/sbin/dockerd --data-root "$work/docker-data" --exec-root "$work/docker-exec" \
    -H "unix://$sock" --pidfile "$work/docker.pid" >"$work/dockerd.log" 2>&1 &
dockerd_pid=$!
cleanup() {
    $berth rm -f $($berth ps -aq) >/dev/null 2>&1 || true
    $docker rm -f $($docker ps -aq) >/dev/null 2>&1 || true
    kill "$dockerd_pid" 2>/dev/null || true
    wait "$dockerd_pid" 2>/dev/null || true
    umount -R "$work/docker-data" 2>/dev/null || true
    ip link del btbench0 2>/dev/null || true
    # dockerd keeps docker0 after it stops.
    [ -n "$had_docker0" ] || ip link del docker0 2>/dev/null || true
    nft delete table inet btbench-btbench0 2>/dev/null || true
    # The accept rules berth adds beside docker's FORWARD DROP policy.
    while iptables -D FORWARD -j BERTH-btbench0 2>/dev/null; do :; done
    iptables -F BERTH-btbench0 2>/dev/null || true
    iptables -X BERTH-btbench0 2>/dev/null || true
    # docker's chains, when they were not there before this run.
    if ! grep -q ':DOCKER ' "$work/iptables.before" 2>/dev/null; then
        for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-USER; do
            while iptables -D FORWARD -j "$c" 2>/dev/null; do :; done
        done
        iptables -D FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT 2>/dev/null || true
        iptables -D FORWARD -o docker0 -j DOCKER 2>/dev/null || true
        iptables -D FORWARD -i docker0 ! -o docker0 -j ACCEPT 2>/dev/null || true
        iptables -D FORWARD -i docker0 -o docker0 -j ACCEPT 2>/dev/null || true
        for c in DOCKER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2 DOCKER-USER; do
            iptables -F "$c" 2>/dev/null || true
            iptables -X "$c" 2>/dev/null || true
        done
        iptables -t nat -D PREROUTING -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
        iptables -t nat -D OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER 2>/dev/null || true
        iptables -t nat -D POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE 2>/dev/null || true
        iptables -t nat -F DOCKER 2>/dev/null || true
        iptables -t nat -X DOCKER 2>/dev/null || true
        [ -n "$forward_policy" ] && iptables -P FORWARD "$forward_policy" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 1 60); do $docker version >/dev/null 2>&1 && break; sleep 0.5; done

scripts/make-busybox-rootfs.sh "$work/rootfs.tar"
$berth import "$work/rootfs.tar" bb:1 >/dev/null
$docker import "$work/rootfs.tar" berth-bench-busybox:1 >/dev/null
# Both default bridges exist before timing starts.
$berth run --rm bb:1 true
$docker run --rm berth-bench-busybox:1 true

hyperfine --runs "$runs" --warmup 3 --export-json "$work/run.json" \
    -n "berth run --rm (bridge)" "$berth run --rm bb:1 true" \
    -n "docker run --rm (bridge)" "$docker run --rm berth-bench-busybox:1 true"

# Throughput: 1 GiB from the host to 127.0.0.1:PORT, into nc in the
# container, whose exit ends the run (its stdin a FIFO it holds open
# itself: busybox nc quits at its stdin's end). Three runs each, the median kept.
send() { # sender port
    case $1 in
    nc) head -c 1073741824 /dev/zero | busybox nc 127.0.0.1 "$2" ;;
    socat) head -c 1073741824 /dev/zero | socat -u -b 131072 STDIN "TCP:127.0.0.1:$2" ;;
    esac
}
through() { # name sender port run-command...
    local name=$1 sender=$2 port=$3
    shift 3
    local times=()
    for _ in 1 2 3; do
        id=$("$@" run -d -p "127.0.0.1:$port:80" "$image" sh -c 'mkfifo /tmp/in && nc -l -p 80 <>/tmp/in >/dev/null')
        sleep 0.5
        start=$(date +%s.%N)
        send "$sender" "$port"
        "$@" wait "$id" >/dev/null
        end=$(date +%s.%N)
        "$@" rm -f "$id" >/dev/null
        times+=("$(echo "$end - $start" | bc)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n 2p > "$work/$name-$sender.time"
}
for sender in nc socat; do
    image=bb:1 through berth $sender 18230 $berth
    image=berth-bench-busybox:1 through docker $sender 18231 $docker
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
r = json.load(open(f"{work}/run.json"))["results"]
b = next(x for x in r if x["command"].startswith("berth"))
for x in r:
    print(f"{x['command']:<28} median {x['median']*1000:8.0f} ms   {x['median']/b['median']:5.2f}x berth's time")
for sender, what in [("nc", "busybox nc, 1 KiB writes"), ("socat", "socat, 128 KiB writes")]:
    bt, dt = (float(open(f"{work}/{e}-{sender}.time").read()) for e in ("berth", "docker"))
    print(f"1 GiB via -p 127.0.0.1, {what}:")
    print(f"  {'berth':<8} {bt:8.2f} s   {1024/bt:7.0f} MiB/s")
    print(f"  {'docker':<8} {dt:8.2f} s   {1024/dt:7.0f} MiB/s   {dt/bt:5.2f}x berth's time")
PY
