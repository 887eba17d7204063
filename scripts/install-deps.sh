#!/bin/sh
# Install what wcodec needs to build, test and benchmark, from Debian 12.
# Runs apt-get as root (through sudo when not root). python3-torch (CPU,
# 1.13) is for the loader test tests/loader/hf.sh, which adds transformers
# and safetensors from PyPI in a venv of its own that sees it.
set -eu
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends \
    build-essential meson ninja-build pkg-config \
    libzstd-dev zstd libjansson-dev libxxhash-dev xxhash \
    libfuse3-dev fuse3 check \
    python3 python3-numpy python3-venv python3-torch \
    groff-base groff bc \
    squashfs-tools squashfuse valgrind
