/* `iovirt run --restore DIR`: the machine comes from the snapshot's
 * manifest (the options it was made with), the process's own options
 * (--api-socket, --verbose, --counters, --seccomp, --user) from this run. */
#ifndef IOVIRT_CMD_RUN_RESTORE_H
#define IOVIRT_CMD_RUN_RESTORE_H

#include "machine/config.h"
#include "migrate/snapshot_manifest.h"

struct run_restore {
	struct snap_manifest man;
	char **argv;          /* "run" + the manifest's options, for the parser */
	char restore_abs[4096];   /* --restore DIR made absolute, where a restore moves */
	char api_socket_abs[4096]; /* a relative --api-socket, likewise */
};

/* Reads DIR's manifest into rr and replaces *cfg with the machine it
 * describes (this run's process options kept). Machine options given with
 * --restore must be the snapshot's, word for word: else one line saying
 * the first that differs. 0, or an exit status after one line. */
int run_restore_config(struct vm_config *cfg, struct run_restore *rr);
void run_restore_free(struct run_restore *rr);

#endif
