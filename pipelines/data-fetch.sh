#!/bin/sh
# data-fetch.sh: get and unpack one package for pipelines/data.mk.
#   data-fetch.sh apt   APTDIR                 private apt config + index (no /etc/apt change)
#   data-fetch.sh dev   APTDIR PKG OUTDIR      a -dev .deb, unpacked (its .a files are what counts)
#   data-fetch.sh src   APTDIR PKG OUTDIR      a source package's upstream tarball, unpacked in OUTDIR/tree
#   data-fetch.sh dbg   APTDIR GROUP OUTDIR    GROUP = pkg+pkg+...: binaries and their -dbg companions
# With $LOCAL set and $LOCAL/<kind>/<name> present, that directory is copied
# instead (offline fixtures for the tests).  OUTDIR/source gets the Debian
# source package name (the unit of the train/valid/test split).  Everything
# is built in OUTDIR.tmp and renamed at the end, so an interrupted run leaves
# nothing half-made.
set -eu
kind=$1; apt=$2
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${SECURITY_MIRROR:-http://deb.debian.org/debian-security}
SUITE=${SUITE:-bookworm}
aptopts() {
	echo "-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$apt/parts" \
	     "-o Dir::State::Lists=$apt/lists -o Dir::Cache=$apt/cache -o Debug::NoLocking=1" \
	     "-o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache=srcpkgcache.bin" \
	     "$( [ "$(id -u)" = 0 ] && echo "-o APT::Sandbox::User=root" )"
}
if [ "$kind" = apt ]; then
	rm -rf "$apt.tmp"; mkdir -p "$apt.tmp/parts" "$apt.tmp/lists/partial" "$apt.tmp/cache/archives/partial"
	cat > "$apt.tmp/parts/src.sources" <<EOS
Types: deb deb-src
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb deb-src
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOS
	# The index is made in place (apt records absolute paths), then moved.
	rm -rf "$apt"; mv "$apt.tmp" "$apt"
	apt=$apt; O=$(aptopts)
	# Mirrors have bad moments: three tries.
	for try in 1 2 3; do
		apt-get $O -q update >"$apt/update.log" 2>&1 && break
		cat "$apt/update.log" >&2
		[ $try = 3 ] && { echo "data-fetch.sh: apt-get update failed 3 times" >&2; rm -rf "$apt"; exit 1; }
		sleep 5
	done
	# Binary caches, made once here so that the parallel fetches only read
	# them (each apt call would otherwise parse the 20 MB of lists again).
	apt-cache $O gencaches >/dev/null
	touch "$apt/.done"
	exit 0
fi
name=$3; out=$4
rm -rf "$out.tmp"; mkdir -p "$out.tmp"
if [ -n "${LOCAL:-}" ] && [ -d "$LOCAL/$kind/$name" ]; then
	cp -a "$LOCAL/$kind/$name/." "$out.tmp/"
	[ -f "$out.tmp/source" ] || echo "$name" > "$out.tmp/source"
	rm -rf "$out"; mv "$out.tmp" "$out"
	exit 0
fi
O=$(aptopts)
srcname() {  # the Source of a .deb, without a version
	s=$(dpkg-deb -f "$1" Source | cut -d' ' -f1)
	[ -n "$s" ] || s=$(dpkg-deb -f "$1" Package)
	echo "$s"
}
case $kind in
dev)
	(cd "$out.tmp" && apt-get $O -q download "$name" >/dev/null)
	deb=$(ls "$out.tmp"/*.deb)
	dpkg-deb -x "$deb" "$out.tmp/root"
	srcname "$deb" > "$out.tmp/source"
	rm -f "$deb"
	;;
src)
	# The newest version first; if a mirror lacks one of its files (seen:
	# a security update whose .debian.tar.xz answers 404), the release's.
	if ! (cd "$out.tmp" && apt-get $O -q source --download-only "$name" >/dev/null 2>"$out.tmp/err"); then
		cat "$out.tmp/err" >&2
		echo "data-fetch.sh: $name: trying the version of $SUITE" >&2
		rm -f "$out.tmp"/*
		(cd "$out.tmp" && apt-get $O -q source --download-only "$name/$SUITE" >/dev/null)
	fi
	rm -f "$out.tmp/err"
	# The upstream tarball, not the Debian-patched tree: patched trees may
	# need files that only the package build generates.
	tb=$(ls "$out.tmp"/*.orig.tar.* 2>/dev/null | grep -v '\.asc$' | head -1 || true)
	[ -n "$tb" ] || tb=$(ls "$out.tmp"/*.tar.* | grep -v -e '\.debian\.tar' -e '\.asc$' | head -1)
	mkdir -p "$out.tmp/x"
	tar -xf "$tb" -C "$out.tmp/x"
	# one top directory: use it as the tree
	if [ "$(ls "$out.tmp/x" | wc -l)" -eq 1 ] && [ -d "$out.tmp/x/$(ls "$out.tmp/x")" ]; then
		mv "$out.tmp/x/$(ls "$out.tmp/x")" "$out.tmp/tree"; rmdir "$out.tmp/x"
	else
		mv "$out.tmp/x" "$out.tmp/tree"
	fi
	echo "$name" > "$out.tmp/source"
	rm -f "$out.tmp"/*.tar.* "$out.tmp"/*.dsc
	;;
dbg)
	for p in $(echo "$name" | tr '+' ' '); do
		(cd "$out.tmp" && apt-get $O -q download "$p" >/dev/null)
	done
	first=$(ls "$out.tmp"/*.deb | head -1)
	for d in "$out.tmp"/*.deb; do dpkg-deb -x "$d" "$out.tmp/root"; done
	srcname "$first" > "$out.tmp/source"
	rm -f "$out.tmp"/*.deb
	;;
*)
	echo "data-fetch.sh: unknown kind $kind" >&2; exit 2 ;;
esac
rm -rf "$out"; mv "$out.tmp" "$out"
