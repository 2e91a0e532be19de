#!/usr/bin/env bash
# Installs what berth needs on Debian (12 or newer) and puts the `berth`
# binary in /usr/local/bin. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# busybox-static makes the demo's base image; gcc builds the bundled SQLite.
apt-get install -y -qq --no-install-recommends busybox-static runc tini gcc libc6-dev ca-certificates curl tar >/dev/null
if ! command -v cargo >/dev/null; then
    # Debian's own cargo is too old for berth's dependencies.
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
    . "$HOME/.cargo/env"
fi
cargo install --locked --quiet --path crates/cli --root /usr/local
berth --version
