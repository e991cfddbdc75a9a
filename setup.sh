#!/bin/sh
# The first of README's two commands: on a fresh Debian 12 machine (as root),
# install what is missing, build, and run the main job on a real binary.
set -eu
cd "$(dirname "$0")"
sh scripts/deps.sh
make -j"$(nproc)" demo
