#!/bin/sh
# data-build.sh: time the default data set build (pipelines/data.mk) and
# print its record counts.  Downloads ~130 MB; not part of `make test`, and
# skipped by `make bench` unless DATA_BENCH=1.
#   DATA=dir (default /tmp/asmname-data-bench)  SMALL=1  JOBS=2  O=build dir
set -eu
if [ "${DATA_BENCH:-0}" != 1 ]; then
	echo "data-build: skipped (downloads ~130 MB and takes a while): run with DATA_BENCH=1"
	exit 0
fi
root=$(cd "$(dirname "$0")/../.." && pwd)
DATA=${DATA:-/tmp/asmname-data-bench}
O=${O:-$root}
start=$(date +%s)
make -s -f "$root/pipelines/data.mk" O="$O" DATA="$DATA" ${SMALL:+SMALL=$SMALL} -j"${JOBS:-2}" all
end=$(date +%s)
echo "data build: $((end - start)) s wall on $(nproc) cores ($(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'))"
cat "$DATA/sets/split.report"
for s in train valid test eval; do
	printf '%s\t%s records\n' $s "$("$O/bin/rec-dump" "$DATA/sets/$s.msgpack" | wc -l)"
done
cat "$DATA/reports/baselines.txt"
