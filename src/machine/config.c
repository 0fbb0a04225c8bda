#include "machine/config.h"

#include "migrate/migrate_url.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"

int config_parse_size(const char *s, uint64_t *bytes)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	unsigned shift = 20; /* a bare number is MiB, as with QEMU's -m */
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'B': shift = 0; end++; break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	/* Allow "512M", "512MB", "512MiB". */
	if (shift && *end && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
		return -EINVAL;
	if (!shift && *end)
		return -EINVAL;
	if (shift && n > (UINT64_MAX >> shift))
		return -EINVAL;
	*bytes = (uint64_t)n << shift;
	return 0;
}

void config_usage(FILE *out)
{
	fputs("usage: iovirt COMMAND [OPTIONS]\n"
	      "\n"
	      "  run      boot a Linux guest with its devices (iovirt run --help)\n"
	      "  probe    tell whether /dev/kvm runs guests at hardware speed:\n"
	      "           prints hardware or emulated\n"
	      "  sriov    SR-IOV virtual functions and vfio-pci binding (iovirt sriov --help)\n"
	      "  ctl      drive a running VM through its --api-socket: ping, pause, resume,\n"
	      "           power-button, reboot, shutdown, info, counters (iovirt ctl --help)\n"
	      "  stat     live I/O rates of a running VM per device and queue (iovirt stat --help)\n"
	      "  extract-vmlinux BZIMAGE OUT  write the kernel inside a bzImage, decompressed,\n"
	      "           for run --kernel OUT to boot without decompressing it each time\n"
	      "  --version, --help\n"
	      "\n"
	      "Exit status of run: 0 the guest powered off (or rebooted without --reboot,\n"
	      "or the API's vm.shutdown stopped it), 1 an error of iovirt or its input\n"
	      "(or a stop by a signal), 2 a usage error, 3 the guest panicked, 4 the guest\n"
	      "crashed, 159 a thread made a system call its seccomp filter forbids.\n"
	      "See iovirt(1).\n",
	      out);
}

void config_run_usage(FILE *out)
{
	fprintf(out,
		"usage: iovirt run --kernel BZIMAGE|VMLINUX [OPTIONS]\n"
		"       iovirt run --firmware bios|PATH --disk IMAGE,boot=on [OPTIONS]\n"
		"\n"
		"  --kernel BZIMAGE|VMLINUX  the Linux kernel to boot: a bzImage or a vmlinux (ELF)\n"
		"  --initrd FILE   an initramfs for it\n"
		"  --cmdline STRING  its command line (default: console=ttyS0)\n"
		"  --kernel-decompress host|guest  who decompresses a bzImage's kernel: iovirt,\n"
		"                  which then enters the vmlinux inside directly (default), or\n"
		"                  the bzImage's own decompressor in the guest (keeps KASLR);\n"
		"                  --kernel may also be an uncompressed vmlinux (ELF)\n"
		"  --boot-trace    print the boot's phases (iovirt's and the guest's) with their\n"
		"                  times on stderr once the guest's init starts\n"
		"  --i8042 on|off  the PS/2 keyboard controller (default: on with --firmware, off\n"
		"                  for a direct kernel boot, which then skips probing for one);\n"
		"                  off tells the guest through ACPI that there is none\n"
		"  --firmware bios|PATH  boot through a PC BIOS instead: bios is Debian's SeaBIOS\n"
		"                  (%s), PATH your own image; the guest\n"
		"                  boots its disk's boot loader (or --cdrom's) as on a PC\n"
		"  --memory SIZE   guest RAM, e.g. 512M or 2G (a bare number is MiB; default 512M)\n"
		"  --cpus N        vCPUs, 1..%d (default 1)\n"
		"  --hugepages     back guest RAM with hugetlbfs pages\n"
		"  --shared-memory back guest RAM with a shareable memfd (default: private, THP)\n"
		"  --reboot        restart the VM when the guest reboots (default: exit 0)\n"
		"  --verbose       log what iovirt does (debug lines)\n"
		"  --counters      print every device's counters and KVM's statistics (per VM,\n"
		"                  per vCPU) on stderr when the VM stops, and on SIGUSR1\n"
		"  --restore DIR[,memory=read|map]  resume the snapshot in DIR (vm.snapshot,\n"
		"                  iovirt ctl SOCK snapshot DIR) in this new process: the machine\n"
		"                  is the snapshot's (machine options may be given only if they\n"
		"                  are the same); memory=map maps its RAM copy-on-write instead\n"
		"                  of reading it in\n"
		"  --incoming tcp:HOST:PORT|unix:PATH  wait there for a live migration (iovirt\n"
		"                  ctl SOCK migrate URL on the source) instead of booting: the\n"
		"                  same machine (vCPUs, memory, devices in the same order), its\n"
		"                  disks on shared storage; the guest runs here once it arrives\n"
		"  --paused        start paused: the guest runs at vm.resume (iovirt ctl SOCK\n"
		"                  resume); needs --api-socket\n"
		"  --api-socket PATH  serve the control plane (REST API: vm.info, vm.pause,\n"
		"                  vm.power-button, vm.counters, ...) on a UNIX socket;\n"
		"                  iovirt ctl PATH and iovirt stat PATH are its clients\n"
		"  --disk PATH[,readonly][,serial=S][,cache=none|writeback][,if=virtio|nvme|ide]\n"
		"                  [,aio=io_uring|threads][,queues=N][,shadow-doorbells=on|off]\n"
		"                  [,merge=on|off][,boot=on|off]\n"
		"                  a virtio-blk disk or an emulated NVMe controller (repeatable);\n"
		"                  shadow-doorbells= is NVMe's, merge= (adjacent requests as one\n"
		"                  backend I/O) virtio-blk's; if=ide: an ATA disk on the PIIX IDE\n"
		"                  controller (primary master, primary slave, secondary slave);\n"
		"                  boot=on: first in --firmware's boot order\n"
		"  --cdrom PATH    an ISO image as the IDE controller's ATAPI CD-ROM (read-only,\n"
		"                  secondary master)\n"
		"  --disk vhost-user=SOCKET[,reconnect=SECONDS]   a virtio-blk disk served by a\n"
		"                  vhost-user backend (e.g. qemu-storage-daemon), reconnected\n"
		"                  every SECONDS after it hangs up (default 1, 0: never);\n"
		"                  implies --shared-memory\n"
		"  --net user[,hostfwd=tcp::HOSTPORT-:GUESTPORT]... | tap=NAME  [,mac=M]\n"
		"                  [,model=virtio|e1000]   a NIC on user-mode networking or a tap\n"
		"                  [,queues=N]   virtio-net queue pairs on a multiqueue tap\n"
		"                  [,vhost=on|off]   the host kernel's vhost-net moves the frames\n"
		"  --device vfio=BDF[,vf=N]   pass a host PCI function through (VFIO); with vf=N,\n"
		"                  VF N of the SR-IOV PF BDF, bound to vfio-pci for the run\n"
		"  --console virtio[,socket=PATH]   hvc0 on stdout or a UNIX socket\n"
		"  --rng           a virtio-rng device (host getrandom)\n"
		"  --seccomp on|off|log  per-thread syscall filters (default on; log: let through)\n"
		"  --user USER[:GROUP]  run as USER once devices are open (no capabilities)\n"
		"  --help          this text\n"
		"The serial console is this terminal; Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.\n",
		CONFIG_FIRMWARE_BIOS, CONFIG_MAX_CPUS);
}

/* The options of `run`, in getopt_long's form; config_run_usage describes
 * each (a unit test checks). */
enum { OPT_KERNEL = 256, OPT_INITRD, OPT_CMDLINE, OPT_MEMORY, OPT_CPUS,
       OPT_HUGEPAGES, OPT_REBOOT, OPT_VERBOSE, OPT_HELP, OPT_DISK, OPT_NET,
       OPT_CONSOLE, OPT_RNG, OPT_SHARED, OPT_DEVICE, OPT_SECCOMP, OPT_USER, OPT_COUNTERS,
       OPT_API_SOCKET, OPT_RESTORE, OPT_PAUSED, OPT_INCOMING, OPT_FIRMWARE, OPT_CDROM,
       OPT_KERNEL_DECOMPRESS, OPT_BOOT_TRACE, OPT_I8042 };
static const struct option run_options[] = {
	{"kernel", required_argument, NULL, OPT_KERNEL},
	{"firmware", required_argument, NULL, OPT_FIRMWARE},
	{"initrd", required_argument, NULL, OPT_INITRD},
	{"cmdline", required_argument, NULL, OPT_CMDLINE},
	{"kernel-decompress", required_argument, NULL, OPT_KERNEL_DECOMPRESS},
	{"boot-trace", no_argument, NULL, OPT_BOOT_TRACE},
	{"i8042", required_argument, NULL, OPT_I8042},
	{"memory", required_argument, NULL, OPT_MEMORY},
	{"cpus", required_argument, NULL, OPT_CPUS},
	{"hugepages", no_argument, NULL, OPT_HUGEPAGES},
	{"reboot", no_argument, NULL, OPT_REBOOT},
	{"verbose", no_argument, NULL, OPT_VERBOSE},
	{"counters", no_argument, NULL, OPT_COUNTERS},
	{"api-socket", required_argument, NULL, OPT_API_SOCKET},
	{"restore", required_argument, NULL, OPT_RESTORE},
	{"paused", no_argument, NULL, OPT_PAUSED},
	{"incoming", required_argument, NULL, OPT_INCOMING},
	{"help", no_argument, NULL, OPT_HELP},
	{"disk", required_argument, NULL, OPT_DISK},
	{"cdrom", required_argument, NULL, OPT_CDROM},
	{"net", required_argument, NULL, OPT_NET},
	{"console", required_argument, NULL, OPT_CONSOLE},
	{"rng", no_argument, NULL, OPT_RNG},
	{"device", required_argument, NULL, OPT_DEVICE},
	{"shared-memory", no_argument, NULL, OPT_SHARED},
	{"seccomp", required_argument, NULL, OPT_SECCOMP},
	{"user", required_argument, NULL, OPT_USER},
	{NULL, 0, NULL, 0},
};

/* The options of the process, not of the machine (vm_config.args). */
static bool process_option(int c)
{
	return c == OPT_VERBOSE || c == OPT_COUNTERS || c == OPT_API_SOCKET || c == OPT_HELP ||
	       c == OPT_SECCOMP || c == OPT_USER || c == OPT_RESTORE || c == OPT_PAUSED ||
	       c == OPT_INCOMING || c == OPT_BOOT_TRACE;
}

/* DIR[,memory=read|map]. The directory is checked when it is read. */
static int parse_restore(const char *arg, struct vm_config *cfg)
{
	const char *comma = strrchr(arg, ',');
	size_t len = strlen(arg);
	cfg->restore_map = false;
	if (comma && strncmp(comma + 1, "memory=", 7) == 0) {
		const char *mode = comma + 8;
		if (strcmp(mode, "map") != 0 && strcmp(mode, "read") != 0) {
			log_error("--restore: memory=%s: must be read or map", mode);
			return -EINVAL;
		}
		cfg->restore_map = strcmp(mode, "map") == 0;
		len = (size_t)(comma - arg);
	}
	if (len == 0 || len >= sizeof(cfg->restore_dir)) {
		log_error("--restore: the snapshot's directory must be 1 to %zu bytes",
			  sizeof(cfg->restore_dir) - 1);
		return -EINVAL;
	}
	memcpy(cfg->restore_dir, arg, len);
	cfg->restore_dir[len] = 0;
	cfg->restore = cfg->restore_dir;
	return 0;
}

const struct option *config_run_options(void)
{
	return run_options;
}

int config_parse_run(int argc, char **argv, struct vm_config *cfg)
{
	*cfg = (struct vm_config){
		.memory = 512ULL << 20,
		.cpus = 1,
		.pci = true,
		.console_in_fd = STDIN_FILENO,
		.console_out_fd = STDOUT_FILENO,
	};
	int i8042 = -1; /* not given */
	optind = 0; /* glibc: 0 fully reinitializes getopt */
	opterr = 0;
	int c, next = 1; /* optind 0 starts at argv[1] */
	while ((c = getopt_long(argc, argv, "", run_options, NULL)) != -1) {
		if (c != '?' && !process_option(c) && optind > next) {
			if (cfg->nargs + (unsigned)(optind - next) > CONFIG_MAX_ARGS) {
				log_error("run: more than %d option words", CONFIG_MAX_ARGS);
				return 1;
			}
			for (int i = next; i < optind; i++)
				cfg->args[cfg->nargs++] = argv[i];
		}
		next = optind;
		switch (c) {
		case OPT_KERNEL: cfg->kernel = optarg; break;
		case OPT_FIRMWARE:
			cfg->firmware = strcmp(optarg, "bios") ? optarg : CONFIG_FIRMWARE_BIOS;
			break;
		case OPT_INITRD: cfg->initrd = optarg; break;
		case OPT_CMDLINE: cfg->cmdline = optarg; break;
		case OPT_KERNEL_DECOMPRESS:
			if (strcmp(optarg, "host") && strcmp(optarg, "guest")) {
				log_error("--kernel-decompress %s: must be host or guest", optarg);
				return 1;
			}
			cfg->decompress_in_guest = strcmp(optarg, "guest") == 0;
			break;
		case OPT_BOOT_TRACE: cfg->boot_trace = true; break;
		case OPT_I8042:
			if (strcmp(optarg, "on") && strcmp(optarg, "off")) {
				log_error("--i8042 %s: must be on or off", optarg);
				return 1;
			}
			i8042 = strcmp(optarg, "on") == 0;
			break;
		case OPT_MEMORY:
			if (config_parse_size(optarg, &cfg->memory) < 0) {
				log_error("--memory %s: not a size (use e.g. 512M or 2G)", optarg);
				return 1;
			}
			break;
		case OPT_CPUS: {
			char *end;
			errno = 0;
			long n = strtol(optarg, &end, 10);
			if (errno || *end || end == optarg || n < 1 || n > CONFIG_MAX_CPUS) {
				log_error("--cpus %s: must be a number from 1 to %d", optarg,
					  CONFIG_MAX_CPUS);
				return 1;
			}
			cfg->cpus = (unsigned)n;
			break;
		}
		case OPT_HUGEPAGES: cfg->hugepages = true; break;
		case OPT_REBOOT: cfg->reboot = true; break;
		case OPT_VERBOSE: cfg->verbose = true; break;
		case OPT_COUNTERS: cfg->counters = true; break;
		case OPT_API_SOCKET:
			/* bind() takes at most sun_path's size, its NUL included. */
			if (!*optarg || strlen(optarg) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
				log_error("--api-socket %s: a UNIX socket path must be 1 to %zu bytes",
					  optarg, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
				return 1;
			}
			cfg->api_socket = optarg;
			break;
		case OPT_HELP: config_run_usage(stdout); return CONFIG_HELP;
		case OPT_PAUSED: cfg->paused = true; break;
		case OPT_INCOMING:
			if (!mig_url_valid(optarg)) {
				log_error("--incoming %s: must be tcp:HOST:PORT or unix:PATH", optarg);
				return 2;
			}
			cfg->incoming = optarg;
			break;
		case OPT_RESTORE:
			if (parse_restore(optarg, cfg) < 0)
				return 1;
			break;
		case OPT_DISK:
			if (cfg->ndisks == CONFIG_MAX_DISKS) {
				log_error("--disk: at most %d disks", CONFIG_MAX_DISKS);
				return 1;
			}
			if (config_parse_disk(optarg, &cfg->disks[cfg->ndisks]) < 0)
				return 1;
			/* The backend process maps guest RAM. */
			if (cfg->disks[cfg->ndisks].vhost_user)
				cfg->shared_memory = true;
			cfg->ndisks++;
			break;
		case OPT_CDROM:
			if (cfg->cdrom) {
				log_error("--cdrom %s: one CD-ROM only (already %s)", optarg, cfg->cdrom);
				return 1;
			}
			cfg->cdrom = optarg;
			break;
		case OPT_NET:
			if (cfg->nnics == CONFIG_MAX_NICS) {
				log_error("--net: at most %d network interfaces", CONFIG_MAX_NICS);
				return 1;
			}
			if (config_parse_nic(optarg, &cfg->nics[cfg->nnics]) < 0)
				return 1;
			cfg->nnics++;
			break;
		case OPT_DEVICE:
			if (cfg->nvfio == CONFIG_MAX_VFIO) {
				log_error("--device: at most %d passed-through devices", CONFIG_MAX_VFIO);
				return 1;
			}
			if (config_parse_device(optarg, &cfg->vfio[cfg->nvfio]) < 0)
				return 1;
			cfg->nvfio++;
			break;
		case OPT_CONSOLE:
			if (config_parse_console(optarg, &cfg->console) < 0)
				return 1;
			break;
		case OPT_RNG: cfg->rng = true; break;
		case OPT_SHARED: cfg->shared_memory = true; break;
		case OPT_SECCOMP:
			if (sandbox_parse_seccomp(optarg, &cfg->seccomp) < 0)
				return 1;
			break;
		case OPT_USER:
			if (sandbox_parse_user(optarg, &cfg->user) < 0)
				return 1;
			break;
		default:
			log_error("run: %s: unknown option or missing value", argv[optind - 1]);
			return 2;
		}
	}
	if (optind < argc) {
		log_error("run: unexpected argument %s", argv[optind]);
		return 2;
	}
	if (cfg->paused && !cfg->api_socket) {
		log_error("--paused: needs --api-socket (vm.resume is the way to start)");
		return 2;
	}
	if (cfg->incoming && cfg->api_socket && strncmp(cfg->incoming, "unix:", 5) == 0 &&
	    strcmp(cfg->incoming + 5, cfg->api_socket) == 0) {
		log_error("--incoming %s: the same path as --api-socket", cfg->incoming);
		return 2;
	}
	if (cfg->incoming && cfg->restore) {
		log_error("--incoming: the machine comes from the source, not from --restore");
		return 2;
	}
	if (cfg->firmware && (cfg->kernel || cfg->initrd || cfg->cmdline)) {
		log_error("--firmware: the firmware boots the disk's own boot loader; --kernel, "
			  "--initrd and --cmdline are for direct kernel boot");
		return 2;
	}
	if (!cfg->cmdline && !cfg->firmware)
		cfg->cmdline = "console=ttyS0";
	/* A firmware expects the PC's keyboard controller; Linux booted
	 * directly only spends time probing it. */
	cfg->i8042 = i8042 >= 0 ? i8042 == 1 : cfg->firmware != NULL;
	if (!cfg->kernel && !cfg->firmware && !cfg->restore) {
		log_error("run: --kernel (or --firmware, or --restore) is required");
		return 2;
	}
	if (cfg->memory < CONFIG_MIN_MEMORY) {
		log_error("--memory: %llu MiB is too small (at least %llu MiB)",
			  (unsigned long long)(cfg->memory >> 20),
			  (unsigned long long)(CONFIG_MIN_MEMORY >> 20));
		return 1;
	}
	if (cfg->memory > CONFIG_MAX_MEMORY) {
		log_error("--memory: %llu GiB is more than iovirt supports (%llu GiB)",
			  (unsigned long long)(cfg->memory >> 30),
			  (unsigned long long)(CONFIG_MAX_MEMORY >> 30));
		return 1;
	}
	if (cfg->memory & ((1ULL << 20) - 1)) {
		log_error("--memory: must be a whole number of MiB");
		return 1;
	}
	return 0;
}
