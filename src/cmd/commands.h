/* iovirt's commands, one file each (src/cmd/): main.c picks one by
 * argv[1] and returns its exit status. */
#ifndef IOVIRT_CMD_COMMANDS_H
#define IOVIRT_CMD_COMMANDS_H

/* `iovirt sriov ...` (argv[0] is "sriov"): the exit status. */
int sriov_main(int argc, char **argv);

#endif
