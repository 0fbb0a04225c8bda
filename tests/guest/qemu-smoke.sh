#!/usr/bin/env bash
# Smoke test of the guest-test plumbing with QEMU as the stand-in VMM:
# build/guest/vmlinuz + a tools/mkguest image boot under `qemu -enable-kvm`
# (inside the test host where this machine's /dev/kvm is too slow, see
# tools/vmrun), run a /test.sh and power off. If this fails, guest tests of
# iovirt cannot mean anything; if it passes and an iovirt guest test fails,
# the fault is iovirt's.
#
#   tests/guest/qemu-smoke.sh          build images, then run via tools/vmrun
#   tests/guest/qemu-smoke.sh --direct run here (what tools/vmrun calls)
#
# Prints stage timings: test-host uptime when the test starts, and the
# second-level guest's wall time and its own uptime when /test.sh ran.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NAME=qemu-smoke
die() { echo "$NAME: FAIL: $*" >&2; exit 1; }

if [[ ${1:-} != --direct ]]; then
    # Build on this machine: the test host has no network for apt-get.
    "$ROOT/tools/mkguest" >/dev/null || die "tools/mkguest failed"
    exec "$ROOT/tools/vmrun" "$ROOT/tests/guest/qemu-smoke.sh" --direct
fi

command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (tools/install-deps)"
[[ -c /dev/kvm ]] || die "no /dev/kvm"
if [[ ${IOVIRT_IN_TESTHOST:-} == 1 ]]; then
    echo "$NAME: test host up after $(cut -d' ' -f1 /proc/uptime)s of its own time"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/test.sh" <<'EOF'
echo "SMOKE nproc=$(nproc)"
echo "SMOKE $(grep MemTotal /proc/meminfo)"
echo "SMOKE date=$(date +%s)"
echo "SMOKE uptime=$(cut -d' ' -f1 /proc/uptime)"
EOF
"$ROOT/tools/mkguest" --script "$work/test.sh" --out "$work/smoke.img" >/dev/null \
    || die "tools/mkguest --script failed"

start=$(date +%s.%N)
set +e
# -cpu host: works on real KVM and inside the test host (not on this
# machine's own paravirtual /dev/kvm: MSR 0x10a). -nic none: no iPXE ROMs.
# quiet: every console byte is a nested exit; the boot log costs ~10 s here.
timeout 300 qemu-system-x86_64 -enable-kvm -cpu host -M pc -m 256 -smp 2 \
    -nographic -no-reboot -nic none \
    -kernel "$ROOT/build/guest/vmlinuz" -initrd "$work/smoke.img" \
    -append "console=ttyS0 panic=-1 quiet" </dev/null > "$work/console.log" 2>&1
rc=$?
set -e
end=$(date +%s.%N)
wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')

# The console carries CRs and SeaBIOS's terminal-reset escapes (which end up
# on the same line as the first output of /test.sh): strip them.
sed 's/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1bc//g; s/\r$//' "$work/console.log" > "$work/clean.log"
grep -a '^SMOKE' "$work/clean.log" || true
show_log() { echo "--- last console lines:" >&2; tail -n 25 "$work/clean.log" >&2; }
((rc == 0)) || { show_log; die "qemu exited $rc"; }
grep -aq '^SMOKE nproc=2' "$work/clean.log" || { show_log; die "guest did not report nproc=2"; }
grep -aq '^SMOKE MemTotal:' "$work/clean.log" || { show_log; die "guest did not report MemTotal"; }
grep -aq '^SMOKE date=[0-9]' "$work/clean.log" || { show_log; die "guest did not report the date"; }
grep -aq '^IOVIRT-TEST-EXIT=0' "$work/clean.log" || { show_log; die "guest /test.sh did not exit 0"; }
guest_up=$(sed -n 's/^SMOKE uptime=//p' "$work/clean.log")
echo "$NAME: second-level guest: ${wall}s wall from qemu start to exit; /test.sh ran at ${guest_up}s of guest uptime"
echo "$NAME: PASS"
