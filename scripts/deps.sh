#!/bin/sh
# Install the Debian 12 packages asmname needs, only those missing.
# Run as root (CI, fresh machines); otherwise it prints what to install.
set -eu
PKGS="build-essential make pkg-config libcapstone-dev libmsgpack-dev zlib1g-dev libopenblas-dev
libpcre2-dev libutf8proc-dev libjansson-dev binutils file jq universal-ctags clang libclang-rt-14-dev"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing" >&2
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: not root; as root run: apt-get install -y$missing" >&2; exit 1
	fi
else SUDO=""; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2 || true
$SUDO apt-get install -y -qq --no-install-recommends $missing >&2
