#!/usr/bin/env bash
# fuzz_long.sh - the long fuzzing run: every libFuzzer target of tests/fuzz for
# at least N executions (default 10 million), two at a time at low priority,
# then one table of what each run did.
#
#   bench/fuzz_long.sh [--runs N] [--dir DIR] [--jobs J] [--max-len N]
#                      [TARGET...]
#
#   tests/fuzz/seeds.py --> DIR/seeds/<t>   (from ../shared/testdata + fixtures)
#   clang -DEW_FUZZ=ON  --> DIR/build/fuzz_<t>
#   fuzz_<t> -runs=N DIR/corpus/<t> DIR/seeds/<t>  --> DIR/logs/<t>.log
#                                          crashes --> DIR/artifacts/<t>/
#
# The table (also in DIR/summary.tsv): executions, executions per second,
# coverage (edges, "cov") and features ("ft") at the end, corpus entries and
# bytes, peak RSS, crashes found, wall time.  A crash stops its target's
# run (libFuzzer does that); turn the input into a regression under
# tests/fuzz/regressions/<t>/ and fix the bug.
#
# Environment: EW_SOURCE (default: this checkout), EW_TESTDATA (default
# ../shared/testdata).  Needs clang with libFuzzer (libclang-rt-14-dev).
# Exit status 0 when no target crashed, 1 otherwise, 2 on a setup error.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
src=${EW_SOURCE:-$root}
testdata=${EW_TESTDATA:-$src/../shared/testdata}
dir=/var/tmp/ew-fuzz
runs=10000000
jobs=2
max_len_all=
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2; shift 2 ;;
	--dir) dir=$2; shift 2 ;;
	--jobs) jobs=$2; shift 2 ;;
	--max-len) max_len_all=$2; shift 2 ;;
	-h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "fuzz_long.sh: unknown option $1" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done

mkdir -p "$dir"/{logs,corpus,artifacts}
CC=clang cmake -S "$src" -B "$dir/build" -DEW_FUZZ=ON \
	-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$dir/logs/cmake.log" 2>&1 || {
	echo "fuzz_long.sh: configure failed, see $dir/logs/cmake.log" >&2; exit 2; }
nice -n 10 cmake --build "$dir/build" --target fuzz -j"$jobs" \
	>>"$dir/logs/cmake.log" 2>&1 || {
	echo "fuzz_long.sh: build failed, see $dir/logs/cmake.log" >&2; exit 2; }
rm -rf "$dir/seeds"
python3 "$src/tests/fuzz/seeds.py" --testdata "$testdata" --source "$src" \
	--out "$dir/seeds" 2>>"$dir/logs/seeds.log"
if [ ${#targets[@]} -eq 0 ]; then
	for f in "$dir"/build/fuzz_*; do
		[ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')")
	done
fi

# Inputs longer than this are cut: capture files get 16 KiB (a few dozen
# packets, and two readers per input), text formats 64 KiB; --max-len sets
# one limit for all (shorter inputs run faster).
max_len() {
	[ -n "$max_len_all" ] && { echo "$max_len_all"; return; }
	case "$1" in
	pcap) echo 16384 ;;
	*) echo 65536 ;;
	esac
}

run_one() {
	local t=$1 start end
	mkdir -p "$dir/corpus/$t" "$dir/artifacts/$t" "$dir/seeds/$t"
	start=$(date +%s)
	( cd "$dir/artifacts/$t" &&
	  nice -n 19 "$dir/build/fuzz_$t" -runs="$runs" -max_len="$(max_len "$t")" \
		-timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$dir/artifacts/$t/" \
		"$dir/corpus/$t" "$dir/seeds/$t" ) >"$dir/logs/$t.log" 2>&1 || true
	end=$(date +%s)
	echo "$((end - start))" >"$dir/logs/$t.wall"
}

pids=()
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	run_one "$t" &
	pids+=($!)
done
wait

status=0
printf 'target\texecs\texec/s\tcov\tft\tcorpus\tcorpus_bytes\tpeak_rss_mb\tcrashes\twall_s\n' \
	>"$dir/summary.tsv"
for t in "${targets[@]}"; do
	log=$dir/logs/$t.log
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -1)
	last=$(grep -E '^#[0-9]+' "$log" | tail -1)
	cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
	ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
	crashes=$(find "$dir/artifacts/$t" -type f \( -name 'crash-*' -o -name 'leak-*' \
		-o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	n=$(find "$dir/corpus/$t" -type f | wc -l)
	bytes=$(du -sb "$dir/corpus/$t" | cut -f1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "${execs:-?}" \
		"${rate:-?}" "${cov:-?}" "${ft:-?}" "$n" "$bytes" "${rss:-?}" \
		"$crashes" "$(cat "$dir/logs/$t.wall")" >>"$dir/summary.tsv"
	[ "$crashes" -eq 0 ] || status=1
done
column -t -s $'\t' "$dir/summary.tsv"
exit $status
