/* `iovirt sriov ...`: list, enable and disable SR-IOV virtual functions, hand
 * devices to vfio-pci and back, resolve "PF + VF index" to a BDF. Usage
 * errors exit 2; bad values (a malformed address or count) and failures
 * exit 1, each with one line on stderr. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/commands.h"
#include "core/exit_codes.h"
#include "core/log.h"
#include "vfio/sriov.h"

enum { CMD_LIST, CMD_ENABLE, CMD_DISABLE, CMD_BIND, CMD_UNBIND, CMD_VF, NCMDS };
static const struct {
	const char *name, *args, *what;
	int nargs;
} cmds[NCMDS] = {
	[CMD_LIST] = {"list", "", "SR-IOV capable functions, their VFs and drivers", 0},
	[CMD_ENABLE] = {"enable", " PF N [--autoprobe]",
			"create N VFs on PF (--autoprobe: let host drivers bind them)", 2},
	[CMD_DISABLE] = {"disable", " PF", "remove PF's VFs", 1},
	[CMD_BIND] = {"bind", " BDF", "hand BDF to vfio-pci (for iovirt run --device)", 1},
	[CMD_UNBIND] = {"unbind", " BDF", "give BDF back to its host driver", 1},
	[CMD_VF] = {"vf", " PF INDEX", "print the PCI address of PF's VF number INDEX", 2},
};

static void sriov_usage(FILE *out)
{
	fprintf(out, "usage:");
	for (int i = 0; i < NCMDS; i++)
		fprintf(out, "%s iovirt sriov %s%s\n", i ? "      " : "", cmds[i].name, cmds[i].args);
	fprintf(out, "\n");
	for (int i = 0; i < NCMDS; i++)
		fprintf(out, "  %-8s %s\n", cmds[i].name, cmds[i].what);
	fprintf(out, "PF and BDF are PCI addresses (DDDD:BB:DD.F or BB:DD.F).\n");
}

static int parse_number(const char *what, const char *s, unsigned *n)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (!isdigit((unsigned char)s[0]) || *end || errno || v >= 65536) {
		log_error("%s %s: not a number from 0 to 65535", what, s);
		return -EINVAL;
	}
	*n = (unsigned)v;
	return 0;
}

/* bind/unbind, then say which driver the device went from and to. */
static int rebind(const char *arg, bool to_vfio)
{
	char bdf[PCI_BDF_LEN], was[PCI_DRIVER_LEN] = "", now[PCI_DRIVER_LEN] = "";
	if (pci_bdf_normalize(arg, bdf) == 0)
		pci_sysfs_driver(bdf, was, sizeof(was));
	if ((to_vfio ? sriov_bind_vfio(arg) : sriov_unbind_vfio(arg)) < 0)
		return -1;
	pci_sysfs_driver(bdf, now, sizeof(now));
	if (strcmp(was, now) == 0)
		printf("%s: driver %s (unchanged)\n", bdf, was[0] ? was : "none");
	else
		printf("%s: driver %s -> %s\n", bdf, was[0] ? was : "none", now[0] ? now : "none");
	return 0;
}

static int run(int cmd, char **arg, bool autoprobe)
{
	char vf[PCI_BDF_LEN];
	unsigned n;
	switch (cmd) {
	case CMD_LIST:
		return sriov_list(stdout);
	case CMD_ENABLE:
		if (parse_number("N", arg[1], &n) < 0)
			return -1;
		return sriov_set_numvfs(arg[0], n, autoprobe, stdout);
	case CMD_DISABLE:
		return sriov_set_numvfs(arg[0], 0, false, stdout);
	case CMD_BIND:
	case CMD_UNBIND:
		return rebind(arg[0], cmd == CMD_BIND);
	default:
		if (parse_number("INDEX", arg[1], &n) < 0 || sriov_vf_bdf(arg[0], n, vf) < 0)
			return -1;
		printf("%s\n", vf);
		return 0;
	}
}

int sriov_main(int argc, char **argv)
{
	if (argc < 2) {
		log_error("sriov: missing subcommand (list, enable, disable, bind, unbind, vf)");
		return IOVIRT_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
		sriov_usage(stdout);
		return IOVIRT_EXIT_OK;
	}
	int cmd = 0;
	while (cmd < NCMDS && strcmp(argv[1], cmds[cmd].name) != 0)
		cmd++;
	if (cmd == NCMDS) {
		log_error("sriov %s: unknown subcommand (list, enable, disable, bind, unbind, vf)", argv[1]);
		return IOVIRT_EXIT_USAGE;
	}
	char *arg[2];
	int nargs = 0;
	bool autoprobe = false;
	for (int i = 2; i < argc; i++) {
		if (cmd == CMD_ENABLE && strcmp(argv[i], "--autoprobe") == 0) {
			autoprobe = true;
		} else if (argv[i][0] == '-' && argv[i][1] == '-') {
			log_error("sriov %s: %s: unknown option", cmds[cmd].name, argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else if (nargs++ < cmds[cmd].nargs) {
			arg[nargs - 1] = argv[i];
		}
	}
	if (nargs != cmds[cmd].nargs) {
		log_error("sriov %s: usage: iovirt sriov %s%s", cmds[cmd].name, cmds[cmd].name,
			  cmds[cmd].args);
		return IOVIRT_EXIT_USAGE;
	}
	return run(cmd, arg, autoprobe) < 0 ? IOVIRT_EXIT_ERROR : IOVIRT_EXIT_OK;
}
