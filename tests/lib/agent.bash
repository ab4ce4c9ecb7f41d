# agent.bash - sourced by the tests that run the agent and wait for it
# (tests/e2e/live_*.sh, alerts_lab.sh, attribution_agent.sh):
#
#   wait_for SECONDS COMMAND...  run COMMAND every 0.1 s until it succeeds;
#                                status 1 once SECONDS (fractions allowed)
#                                of tries have failed
#   status_get FILE EXPR         print the Python expression EXPR over s, the
#                                agent's status JSON in FILE; nothing (and
#                                status 1) while FILE cannot be read

wait_for() {
	local tries
	tries=$(awk -v s="$1" 'BEGIN { printf "%d", s * 10 + 0.5 }')
	shift
	until "$@"; do
		tries=$((tries - 1))
		[ "$tries" -gt 0 ] || return 1
		sleep 0.1
	done
}

status_get() {
	python3 -c "import json, sys; s = json.load(open(sys.argv[1])); print($2)" \
		"$1" 2>/dev/null
}
