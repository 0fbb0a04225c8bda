/* The command line of `iovirt run`, parsed and checked before anything is
 * created, so a user error leaves nothing behind. */
#ifndef IOVIRT_MACHINE_CONFIG_H
#define IOVIRT_MACHINE_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>

#include "machine/config_devices.h"
#include "sandbox/sandbox.h"

#define CONFIG_MIN_MEMORY (32ULL << 20)
#define CONFIG_MAX_MEMORY (1ULL << 40)
#define CONFIG_MAX_CPUS 64

#define CONFIG_MAX_ARGS 256

/* --firmware bios: Debian's SeaBIOS, with the drivers for every disk iovirt
 * offers (virtio-blk, NVMe, ATA/ATAPI). */
#define CONFIG_FIRMWARE_BIOS "/usr/share/seabios/bios-256k.bin"

struct vm_config {
	const char *kernel;
	const char *firmware;  /* --firmware: the image's path; NULL: direct kernel boot */
	const char *initrd;
	const char *cmdline;
	/* --kernel-decompress: a bzImage's payload decompressed by iovirt and
	 * entered as the vmlinux it holds (host), or by its own decompressor in
	 * the guest (guest: keeps the kernel's KASLR). */
	bool decompress_in_guest;
	bool boot_trace;      /* --boot-trace: the boot's phases on stderr */
	bool i8042;           /* --i8042 on|off: the keyboard controller, 0x60/0x64 */
	uint64_t memory;      /* bytes */
	unsigned cpus;
	bool hugepages;
	bool shared_memory;    /* guest RAM in a memfd (GUEST_MEM_SHARED) */
	bool reboot;          /* restart the VM when the guest reboots */
	bool verbose;
	bool counters;        /* --counters: every device's and KVM's on stderr at the end, on SIGUSR1 */
	const char *api_socket; /* --api-socket: the control plane's UNIX socket; NULL: none */
	const char *incoming; /* --incoming URL: a live migration's destination */
	bool paused;          /* --paused: the vCPUs wait for vm.resume (needs --api-socket) */
	struct disk_config disks[CONFIG_MAX_DISKS];
	unsigned ndisks;
	const char *cdrom;    /* --cdrom: an ISO image, the IDE CD-ROM; NULL: none */
	struct nic_config nics[CONFIG_MAX_NICS];
	unsigned nnics;
	struct vfio_config vfio[CONFIG_MAX_VFIO];
	unsigned nvfio;
	struct console_config console;
	bool rng;
	bool pci;             /* a PCI bus (on unless a smoke test turns it off) */
	int console_in_fd;    /* -1: no console input */
	int console_out_fd;
	enum sandbox_seccomp seccomp; /* per-thread filters: on unless --seccomp=off|log */
	struct sandbox_user user;     /* --user: drop to it after setup */
	/* The /dev/kvm speed probe's throwaway machine: its fixed payload gets
	 * no filters and no rlimits, so that probing before a run changes
	 * neither the run's filters nor its fd limit. */
	bool unconfined;
	/* The options that make the machine (not --api-socket, --verbose,
	 * --counters, --seccomp, --user, --restore), as given: a snapshot's
	 * manifest keeps them, and a restore makes its machine from them. */
	const char *args[CONFIG_MAX_ARGS];
	unsigned nargs;
	/* --restore DIR[,memory=read|map]: NULL, or the snapshot to resume. */
	const char *restore;
	char restore_dir[4096];
	bool restore_map;     /* memory=map: RAM mapped copy-on-write */
	const char *version;  /* iovirt's, for the manifest (set by the caller) */
};

/* "512M", "2G", "1024" (MiB, as QEMU's -m), "65536K". 0 or -EINVAL. */
int config_parse_size(const char *s, uint64_t *bytes);

/* What config_parse_run returns for --help, after printing the usage: the
 * caller exits 0 (the parser never exits, so fuzzers and tests can call it). */
#define CONFIG_HELP 3

/* Parses `run` options (argv[0] is "run"). Returns 0, or 2 after printing
 * one line for a usage error, or 1 for a bad value, or CONFIG_HELP. */
int config_parse_run(int argc, char **argv, struct vm_config *cfg);

/* iovirt --help: the commands. */
void config_usage(FILE *out);
/* iovirt run --help: every option and sub-option run accepts (the device
 * kinds follow, from the device table: device_kinds_usage). */
void config_run_usage(FILE *out);
/* run's getopt_long table, ending in a zeroed entry (for the help test). */
const struct option *config_run_options(void);

#endif
