/* iovirt's commands, one file each (src/cmd/): main.c picks one by
 * argv[1] and returns its exit status. */
#ifndef IOVIRT_CMD_COMMANDS_H
#define IOVIRT_CMD_COMMANDS_H

#include <stdio.h>

/* `iovirt sriov ...` (argv[0] is "sriov"): the exit status. */
int sriov_main(int argc, char **argv);

/* `iovirt ctl SOCKET VERB [--json]` and `iovirt stat SOCKET [--once]
 * [--interval SEC]` (argv[0] is the command), the control plane's
 * clients: what they print goes to out, a failure's one line to err
 * (main: stdout, stderr; the tests: memory streams). The exit status. */
int ctl_main(int argc, char **argv, FILE *out, FILE *err);
int stat_main(int argc, char **argv, FILE *out, FILE *err);

/* `iovirt extract-vmlinux BZIMAGE OUT`: the exit status. */
int extract_vmlinux_main(int argc, char **argv);

#endif
