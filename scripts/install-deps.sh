#!/bin/sh
# Installs the Debian packages nsr builds with, when they are missing (run as root).
# Idempotent: does nothing when everything is already there.
set -e
need="gcc make pkg-config libpng-dev libjpeg62-turbo-dev libwebp-dev zlib1g-dev libopenmpi-dev openmpi-bin"
missing=
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y --no-install-recommends $missing ||
    { $SUDO apt-get update && $SUDO apt-get install -y --no-install-recommends $missing; }
