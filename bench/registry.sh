#!/usr/bin/env bash
# A throwaway docker-registry for benchmarks: `registry.sh start|stop|reset DIR PORT`.
# reset = stop, wipe the storage, start: a cold registry for every push run.
set -euo pipefail
cmd=$1 dir=$2 port=$3
stop() {
    if [ -f "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
        while kill -0 "$(cat "$dir/pid")" 2>/dev/null; do sleep 0.05; done
        rm -f "$dir/pid"
    fi
}
start() {
    mkdir -p "$dir/data"
    cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: 127.0.0.1:$port
YML
    /usr/bin/docker-registry serve "$dir/config.yml" >/dev/null 2>&1 &
    echo $! > "$dir/pid"
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "registry did not start on 127.0.0.1:$port" >&2
    exit 1
}
case $cmd in
    start) start ;;
    stop) stop ;;
    reset) stop; rm -rf "$dir/data"; start ;;
    *) echo "usage: $0 start|stop|reset DIR PORT" >&2; exit 2 ;;
esac
