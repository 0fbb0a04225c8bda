# Host-side helpers of the guest groups that follow a guest's numbered
# records across iovirt processes (cases/95-snapshot.sh, 96-migrate.sh):
# sourced by them inside scenarios.sh, which defines check, fail, value.

ctl() { timeout 120 build/iovirt ctl "$@"; }
py() { python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }
# acks LOG: the ACK numbers the guest printed, one per line.
acks() { sed -n 's/^ACK=\([0-9]*\).*/\1/p' "$1" | tr -d '\r'; }
last_ack() { acks "$1" | tail -1; }
# field LOG KEY: KEY's value in every ACK line, in order.
field() { sed -n "s/^ACK=.* $2=\([0-9.]*\).*/\1/p" "$1" | tr -d '\r'; }
# records_in N IMAGE: the first N records, in order, at the start of IMAGE.
records_in() {
	local i
	for ((i = 0; i < $1; i++)); do printf '%-4095s\n' "record $i"; done >"$T/expected"
	[ "$1" -gt 0 ] && cmp -s -n $(($1 * 4096)) "$T/expected" "$2"
}
# unbroken LOG: the ACKs in LOG are 16, 32, 48, ... with none missing.
unbroken() { acks "$1" | awk '$1 != NR * 16 { bad = 1 } END { exit bad || NR == 0 }'; }
# uptime_monotonic LOG: the UP= of the ACK lines never goes backwards.
uptime_monotonic() { field "$1" UP | awk 'NR > 1 && $1 < prev { bad = 1 } { prev = $1 } END { exit bad || NR < 2 }'; }
wait_for() { # wait_for SECONDS CMD...: until CMD succeeds
	local n=$1; shift
	for _ in $(seq "$((n * 2))"); do "$@" && return 0; sleep 0.5; done
	return 1
}
same_files() { [ -s "$1" ] && cmp -s "$1" "$2"; }
vm_state() { ctl "$1" info 2>/dev/null | awk '$1 == "state" {print $2}'; }
state_is() { [ "$(vm_state "$1")" = "$2" ]; }
acked_at_least() { [ "$(last_ack "$1")" -ge "$2" ] 2>/dev/null; }
