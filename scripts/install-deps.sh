#!/bin/sh
# Install what wcodec needs to build, test and benchmark, from Debian 12.
# Runs apt-get as root (through sudo when not root).
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential meson ninja-build pkg-config \
    libzstd-dev zstd libjansson-dev libxxhash-dev xxhash \
    libfuse3-dev fuse3 check \
    python3 python3-numpy python3-venv \
    groff-base groff bc \
    squashfs-tools squashfuse valgrind
