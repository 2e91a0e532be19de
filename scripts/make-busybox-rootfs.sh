#!/usr/bin/env bash
# Writes a tar of a tiny root filesystem (Debian's static busybox and one
# symlink per applet) to the file named by $1, or to standard output.
set -euo pipefail
busybox=/bin/busybox
[ -x "$busybox" ] || { echo "error: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp" "$dir/root"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$busybox" --list); do
    [ "$applet" = busybox ] || ln -s busybox "$dir/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$dir/etc/group"
chmod 1777 "$dir/tmp"
tar --numeric-owner --owner=0 --group=0 -C "$dir" -cf "${1:--}" .
