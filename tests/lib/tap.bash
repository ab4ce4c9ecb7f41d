# tap.bash - sourced by the lab tests (tests/e2e/*lab*.sh, attribution_agent.sh):
# TAP-style checks that count instead of stopping at the first failure.
#
#   ok TEXT / not_ok TEXT     one result line, counted in $passed / $failed
#   check TEXT CMD...         ok when CMD succeeds, else not_ok
#   contains STRING PART      STRING has PART in it
#   bail TEXT                 a failure that makes the rest meaningless:
#                             not_ok, the totals, exit 1
# The caller ends with: echo "$passed passed, $failed failed" and its exit
# status.

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
contains() { [[ $1 == *"$2"* ]]; }
bail() {
	not_ok "$*"
	echo "$passed passed, $failed failed"
	exit 1
}
