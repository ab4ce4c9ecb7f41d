#!/bin/bash
# short.sh - every libFuzzer target of tests/fuzz, briefly: its regression
# inputs first, then a short fuzzing run from seeds built out of the shared
# test data.  Any crash, sanitizer report, leak or broken check fails.
#
#   clang -DEW_FUZZ=ON  --> $EW_BUILD/fuzz/fuzz_<target>   (ASan + UBSan)
#   seeds.py            --> $tmp/seeds/<target>           (from ../shared/testdata)
#   fuzz_<target> tests/fuzz/regressions/<target>/*       each input once
#   fuzz_<target> -max_total_time=$FUZZ_SECONDS $tmp/corpus/<target> $tmp/seeds/<target>
#
# A crash leaves its input in $EW_BUILD/fuzz/artifacts/<target>/: reproduce
# with `$EW_BUILD/fuzz/fuzz_<target> FILE` (FUZZ_DUMP=1 prints the flow
# events of the capture targets), fix the bug, and keep the input as a named
# regression under tests/fuzz/regressions/<target>/.
#
# Environment: FUZZ_SECONDS per target (default 15), FUZZ_JOBS targets at
# once (default 2).  The longer run with figures is bench/fuzz_long.sh.
# Exits 77 (skip) when clang or its libFuzzer runtime (Debian:
# libclang-rt-14-dev) is missing.
set -u

fail() { echo "FAIL: $*"; exit 1; }

: "${EW_BUILD:?EW_BUILD not set}" "${EW_SOURCE:?EW_SOURCE not set}"
: "${EW_TESTDATA:=$EW_SOURCE/../shared/testdata}"
SECONDS_EACH=${FUZZ_SECONDS:-15}
JOBS=${FUZZ_JOBS:-2}
fz="$EW_BUILD/fuzz"

command -v clang >/dev/null || { echo "SKIP: clang is not installed"; exit 77; }
tmp=$(mktemp -d /tmp/ew-fuzz-short.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { return 0; }\n' \
	>"$tmp/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" \
	2>"$tmp/probe.log"; then
	echo "SKIP: clang cannot link libFuzzer (install libclang-rt-14-dev):"
	head -n 3 "$tmp/probe.log"
	exit 77
fi

# One build for all the tests of this build directory, under a lock.
mkdir -p "$fz"
(
	flock 9
	if [ ! -f "$fz/CMakeCache.txt" ]; then
		CC=clang cmake -S "$EW_SOURCE" -B "$fz" -DEW_FUZZ=ON \
			-DCMAKE_BUILD_TYPE=RelWithDebInfo >"$fz/build.log" 2>&1 ||
			exit 1
	fi
	cmake --build "$fz" --target fuzz -j"$(nproc)" >>"$fz/build.log" 2>&1
) 9>"$fz.lock" || { tail -n 40 "$fz/build.log"; fail "the fuzz build failed"; }

targets=()
for f in "$EW_SOURCE"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$f" .c)
	[ -x "$fz/$t" ] || fail "$fz/$t was not built"
	targets+=("${t#fuzz_}")
done
python3 "$EW_SOURCE/tests/fuzz/seeds.py" --testdata "$EW_TESTDATA" \
	--source "$EW_SOURCE" --out "$tmp/seeds" 2>"$tmp/seeds.log" ||
	{ cat "$tmp/seeds.log"; fail "seeds.py failed"; }

# Regression inputs: each must run clean.
for t in "${targets[@]}"; do
	reg="$EW_SOURCE/tests/fuzz/regressions/$t"
	[ -d "$reg" ] || continue
	n=$(find "$reg" -type f | wc -l)
	[ "$n" -gt 0 ] || continue
	if ! "$fz/fuzz_$t" "$reg"/* >"$tmp/$t.reg.log" 2>&1; then
		tail -n 40 "$tmp/$t.reg.log"
		fail "$t: a regression input crashes again"
	fi
	echo "regressions: $t: $n inputs clean"
done

# Inputs longer than this are cut (see bench/fuzz_long.sh).
max_len() {
	case "$1" in
	pcap) echo 16384 ;;
	*) echo 65536 ;;
	esac
}

run() {
	local t=$1
	mkdir -p "$tmp/corpus/$t" "$tmp/seeds/$t" "$fz/artifacts/$t"
	"$fz/fuzz_$t" -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$t")" \
		-timeout=20 -rss_limit_mb=2560 -print_final_stats=1 \
		-artifact_prefix="$fz/artifacts/$t/" \
		"$tmp/corpus/$t" "$tmp/seeds/$t" >"$tmp/$t.log" 2>&1
	echo $? >"$tmp/$t.rc"
}
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do
		wait -n
	done
	run "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do
	rc=$(cat "$tmp/$t.rc" 2>/dev/null || echo "?")
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$tmp/$t.log")
	cov=$(grep -E '^#[0-9]+' "$tmp/$t.log" | tail -n 1 | sed -n 's/.* cov: \([0-9]*\).*/\1/p')
	echo "fuzz: $t: ${execs:-?} runs, coverage ${cov:-?}, exit $rc"
	if [ "$rc" != 0 ]; then
		grep -E 'ERROR|check failed|SUMMARY|Test unit written' "$tmp/$t.log" | head -n 20
		failed=$((failed + 1))
	fi
done
[ "$failed" -eq 0 ] || fail "$failed target(s) crashed; inputs in $fz/artifacts"
echo "PASS"
