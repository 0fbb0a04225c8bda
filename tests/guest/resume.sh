# shellcheck shell=bash
# Sourced by tests/guest/run: runs the guest tier's groups again, in a fresh
# test host, when one freezes or crashes under them (tools/testhost exits
# 125: QEMU 7.2's TCG froze one in CI 867 s into the tier, caught by
# tools/testhost-watchdog). That is no verdict on the product, and one
# frozen test host must not fail the tier; a product failure still does.
#
# Needs RESULTS_DIR (where tests/guest/scenarios.sh leaves GROUP, the
# group's ok/FAIL lines, and GROUP.done once the group ran to its end) and
# ATTEMPTS (test hosts at most).

# groups_left GROUP...: those without a finished run.
groups_left() {
	local g
	for g in "$@"; do [ -e "$RESULTS_DIR/$g.done" ] || echo "$g"; done
}

# resuming GROUP... -- LAUNCH...: runs LAUNCH tests/guest/scenarios.sh
# GROUP..., and again with the groups left while the test host crashes.
# Returns the last run's status, or 1 when a group an earlier test host
# finished has a failed check.
resuming() {
	local all=() left attempt=1 rc g
	while [ "$1" != -- ]; do all+=("$1"); shift; done
	shift
	for g in "${all[@]}"; do rm -f "$RESULTS_DIR/$g" "$RESULTS_DIR/$g.done"; done
	left=("${all[@]}")
	while :; do
		"$@" tests/guest/scenarios.sh "${left[@]}"
		rc=$?
		[ "$rc" -eq 125 ] || break
		echo "guest: the test host itself crashed (not a product failure); see above"
		mapfile -t left < <(groups_left "${left[@]}")
		if [ ${#left[@]} -eq 0 ] || [ "$attempt" -ge "$ATTEMPTS" ]; then break; fi
		attempt=$((attempt + 1))
		echo "guest: ${left[*]} again, in a fresh test host ($attempt of at most $ATTEMPTS)"
	done
	# A crash after the last group finished leaves the results as verdict.
	local crashed_after=
	[ "$rc" -eq 125 ] && [ ${#left[@]} -eq 0 ] && crashed_after=1
	# One test host that finished: its own status and summary.
	[ "$attempt" -gt 1 ] || [ -n "$crashed_after" ] || return "$rc"
	# Over every test host: each group's last run.
	local files=() passed failed skipped
	for g in "${all[@]}"; do [ -e "$RESULTS_DIR/$g" ] && files+=("$RESULTS_DIR/$g"); done
	passed=$(cat "${files[@]}" /dev/null | grep -c '^ok ')
	failed=$(cat "${files[@]}" /dev/null | grep -c '^FAIL ')
	skipped=$(cat "${files[@]}" /dev/null | grep -c '^skip ')
	echo "guest: the groups ran in $attempt test host(s)"
	echo "guest: $passed passed, $failed failed, $skipped skipped"
	[ "$rc" -eq 0 ] || [ -n "$crashed_after" ] || return "$rc"
	[ "$failed" -eq 0 ]
}
