#!/usr/bin/env bash
# The guest tier's scenarios, run where guests run at hardware speed (inside
# the test host on machines that need it: tests/guest/run arranges that).
# Every scenario boots a real Debian kernel under iovirt and checks what the
# guest reports. Prints "guest: N passed, N failed".
#
# Each group's results go to build/guest-tests/groups/GROUP, and
# GROUP.done marks a group that ran to its end: tests/guest/run reruns, in a
# fresh test host, the groups a frozen one did not finish.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=build/guest-tests
KERNEL=build/guest/vmlinuz
CMDLINE="console=ttyS0 quiet panic=-1"
# Results go to a file too, so checks made in subshells count.
RESULTS_DIR=$OUT/groups
mkdir -p "$RESULTS_DIR"
ok()   { echo "ok   $*" | tee -a "$RESULTS"; }
fail() { echo "FAIL $*" | tee -a "$RESULTS"; }
# skip WHAT: a case this machine cannot run; counted, never passed.
skip() { echo "skip $*" | tee -a "$RESULTS"; }
# check NAME DESCRIPTION CONDITION...: one assertion.
check() {
	local name=$1 what=$2; shift 2
	if "$@"; then ok "$name: $what"; else fail "$name: $what"; fi
}
# value LOG KEY: the value the guest printed as KEY=value.
value() { sed -n "s/^$2=\([0-9-]*\).*/\1/p" "$1" | tr -d '\r' | tail -1; }
# text LOG KEY: the rest of the line after KEY=.
text() { sed -n "s/^$2=//p" "$1" | tr -d '\r' | tail -1; }

# boot NAME IMAGE IOVIRT-ARGS...: boots; sets $status and $log, $host_end.
boot() {
	local name=$1 img=$2; shift 2
	log=$OUT/$name.log
	timeout 300 build/iovirt run --kernel "$KERNEL" --initrd "$OUT/$img.img" \
		--cmdline "$CMDLINE" "$@" </dev/null >"$log" 2>&1
	status=$?
	host_end=$(date +%s)
	if [ "$status" -eq 124 ]; then
		echo "---- $name: timed out; last lines:"; tail -20 "$log"
	fi
}

matches() { printf '%s' "$1" | grep -Eq "$2"; }
in_range() { [ -n "$1" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

ran=()
for case in tests/guest/cases/*.sh; do
	group=$(basename "$case" .sh)
	# Case groups may be picked by name: scenarios.sh 20-virtio-blk
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$group"; then
		continue
	fi
	echo "== $group"
	RESULTS=$RESULTS_DIR/$group
	rm -f "$RESULTS.done" && : >"$RESULTS"
	ran+=("$RESULTS")
	group_start=$(date +%s)
	# shellcheck source=/dev/null
	. "$case"
	echo "== $group: $(($(date +%s) - group_start)) s"
	: >"$RESULTS.done"
done

passed=$(cat "${ran[@]}" /dev/null | grep -c '^ok ')
failed=$(cat "${ran[@]}" /dev/null | grep -c '^FAIL ')
skipped=$(cat "${ran[@]}" /dev/null | grep -c '^skip ')
echo "guest: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
