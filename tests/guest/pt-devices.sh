# The passthrough devices of a test host booted with `tools/testhost
# --passthrough` (sourced by tests/guest/cases/70-vfio.sh and
# bench/io-models): the NVMe PF (VFs at 01:00.1, 01:00.2) and the e1000e.
# pt_where is the one safety check before anything rebinds them: it
# succeeds only inside such a test host, for its own emulated devices, and
# otherwise prints why not. Nothing on a real machine is ever touched.
PF=0000:01:00.0 NIC=0000:02:00.0
sysid() { cat "/sys/bus/pci/devices/$1/vendor" "/sys/bus/pci/devices/$1/device" 2>/dev/null | tr '\n' ' '; }
pt_where() {
	[ "${IOVIRT_IN_TESTHOST:-}" = 1 ] || { echo "not inside the test host"; return 1; }
	[ -n "${IOVIRT_PT_DISK:-}" ] && [ -f "$IOVIRT_PT_DISK" ] ||
		{ echo "the test host has no passthrough devices (tools/testhost --passthrough)"; return 1; }
	# The devices must be the emulated ones tools/testhost --passthrough
	# made (QEMU's NVMe with serial pf0, the 82574L): nothing else is touched.
	[ "$(sysid $PF)" = "0x1b36 0x0010 " ] && [ "$(sysid $NIC)" = "0x8086 0x10d3 " ] &&
		[ "$(cat /sys/bus/pci/devices/$PF/nvme/nvme*/serial 2>/dev/null | tr -d ' ')" = pf0 ] ||
		{ echo "$PF / $NIC are not the test host's QEMU NVMe (serial pf0) and e1000e"; return 1; }
}
