// fuzz-sources: src/machine/config.c src/sandbox/sandbox_parse.c src/machine/config_devices.c src/backends/net.c src/vfio/pci_sysfs.c src/core/log.c src/migrate/migrate_url.c
/* The command line of `iovirt run` (config_parse_run and the --disk, --net,
 * --device, --console and --memory value parsers behind it): the fuzzer's
 * bytes, split on NUL bytes, are the arguments after "run". Each argument
 * is its own malloc of its exact length, so ASan sees any read past one.
 *
 * Checked invariants: no crash, leak or UB, no exit() (--help returns
 * CONFIG_HELP), a result of 0, 1, 2 or CONFIG_HELP, and on success a
 * configuration within the limits the parser promises. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/config.h"

#define MAX_ARGS 64

/* config_devices.c's --net parser lives in net.c, which also opens the
 * backends; parsing never does. */
struct net_backend *net_tap_open(const struct net_options *opts, struct loop *loop, net_rx_fn rx,
				 void *opaque)
{
	abort();
}

struct net_backend *net_slirp_open(const struct net_options *opts, struct loop *loop,
				   net_rx_fn rx, void *opaque)
{
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	/* Errors and the usage text are printed for every bad input. The
	 * streams, not the descriptors, are swapped (as harness.c does), so
	 * libFuzzer's and the sanitizers' reports still get out. */
	if (getenv("FUZZ_VERBOSE"))
		return 0;
	FILE *null = fopen("/dev/null", "w");
	if (!null)
		abort();
	stdout = stderr = null;
	return 0;
}

static void check_string(const char *s, size_t size)
{
	if (strnlen(s, size) == size)
		abort();
}

static void check_config(const struct vm_config *cfg)
{
	/* A machine boots a kernel or firmware (never both) or a snapshot. */
	if ((!cfg->kernel && !cfg->firmware && !cfg->restore) ||
	    (cfg->firmware && (cfg->kernel || cfg->initrd || cfg->cmdline)) ||
	    (cfg->kernel && !cfg->cmdline) || cfg->memory < CONFIG_MIN_MEMORY ||
	    cfg->memory > CONFIG_MAX_MEMORY || cfg->memory % (1ULL << 20) || cfg->cpus < 1 ||
	    cfg->cpus > CONFIG_MAX_CPUS || cfg->ndisks > CONFIG_MAX_DISKS ||
	    cfg->nnics > CONFIG_MAX_NICS || cfg->nvfio > CONFIG_MAX_VFIO ||
	    cfg->nargs > CONFIG_MAX_ARGS || (cfg->paused && !cfg->api_socket))
		abort();
	/* The recorded machine options (a snapshot's manifest) are words of
	 * the command line; --restore's directory is a string in its buffer. */
	for (unsigned i = 0; i < cfg->nargs; i++)
		if (!cfg->args[i])
			abort();
	if (cfg->restore && (cfg->restore != cfg->restore_dir || !cfg->restore_dir[0]))
		abort();
	if (cfg->restore)
		check_string(cfg->restore_dir, sizeof(cfg->restore_dir));
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		const struct disk_config *d = &cfg->disks[i];
		check_string(d->path, sizeof(d->path));
		check_string(d->serial, sizeof(d->serial));
		if (!d->path[0] || d->queues > 64 || (d->vhost_user && !cfg->shared_memory))
			abort();
	}
	for (unsigned i = 0; i < cfg->nnics; i++) {
		const struct nic_config *n = &cfg->nics[i];
		if ((n->mac_set && (n->mac[0] & 1)) || (n->vhost && n->model == NIC_E1000) ||
		    n->backend.n_hostfwd > NET_MAX_HOSTFWD)
			abort();
		check_string(n->backend.ifname, sizeof(n->backend.ifname));
	}
	for (unsigned i = 0; i < cfg->nvfio; i++)
		if (strlen(cfg->vfio[i].bdf) != 12) /* DDDD:BB:DD.F */
			abort();
	check_string(cfg->console.socket, sizeof(cfg->console.socket));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2];
	int argc = 0;
	argv[argc++] = strdup("run");
	for (size_t pos = 0; pos <= size && argc <= MAX_ARGS;) {
		const uint8_t *nul = memchr(data + pos, 0, size - pos);
		size_t len = nul ? (size_t)(nul - (data + pos)) : size - pos;
		char *arg = malloc(len + 1);
		if (!arg)
			abort();
		memcpy(arg, data + pos, len);
		arg[len] = '\0';
		argv[argc++] = arg;
		pos += len + 1;
	}
	argv[argc] = NULL;
	/* getopt permutes argv: keep the pointers to free them. */
	char *owned[MAX_ARGS + 1];
	memcpy(owned, argv, sizeof(*argv) * (size_t)argc);

	struct vm_config cfg;
	int ret = config_parse_run(argc, argv, &cfg);
	if (ret == 0)
		check_config(&cfg);
	else if (ret != 1 && ret != 2 && ret != CONFIG_HELP)
		abort();

	for (int i = 0; i < argc; i++)
		free(owned[i]);
	return 0;
}
