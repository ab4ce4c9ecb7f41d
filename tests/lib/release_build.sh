# release_build.sh - sourced by script tests that need an optimised build
# beside the (sanitized) one under test: measuring memory without ASan's
# shadow and quarantine, or running a hundred crash-and-restart rounds in
# the time one sanitized round takes.
#
#   . "$EW_SOURCE/tests/lib/release_build.sh"
#   ew_release_build egresswatch gen_flood || exit 77    # sets EW_REL
#
# Builds the named targets with -DCMAKE_BUILD_TYPE=Release (no sanitizers)
# in $EW_BUILD/release from the same source tree; the first test pays for
# the configure and build, the others find it up to date.  Concurrent tests
# share it under a lock.  EW_REL is the build directory.  Returns 1, with
# the build log on stderr, when the build fails.
ew_release_build() {
	EW_REL="${EW_BUILD:?EW_BUILD not set}/release"
	mkdir -p "$EW_REL" || return 1
	(
		flock 9
		if [ ! -f "$EW_REL/CMakeCache.txt" ]; then
			cmake -S "${EW_SOURCE:?EW_SOURCE not set}" -B "$EW_REL" \
				-DCMAKE_BUILD_TYPE=Release >"$EW_REL/build.log" 2>&1 ||
				exit 1
		fi
		cmake --build "$EW_REL" -j"$(nproc)" --target "$@" \
			>>"$EW_REL/build.log" 2>&1
	) 9>"$EW_REL.lock" || { tail -n 30 "$EW_REL/build.log" >&2; return 1; }
}
