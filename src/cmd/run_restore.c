/* --restore's configuration; see run_restore.h. */
#include "cmd/run_restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/exit_codes.h"
#include "core/log.h"
#include "machine/machine_snapshot.h"

/* The options of this run that are not the snapshot's, word for word. */
static int check_same(const struct vm_config *cfg, const struct snap_manifest *man)
{
	for (unsigned i = 0; i < cfg->nargs || i < man->nargs; i++) {
		const char *given = i < cfg->nargs ? cfg->args[i] : "(nothing)";
		const char *saved = i < man->nargs ? man->args[i] : "(nothing)";
		if (strcmp(given, saved) != 0) {
			log_error("--restore %s: the snapshot's machine has '%s' where this run has "
				  "'%s' (option word %u): give its options unchanged, or none",
				  cfg->restore, saved, given, i + 1);
			return IOVIRT_EXIT_USAGE;
		}
	}
	return 0;
}

int run_restore_config(struct vm_config *cfg, struct run_restore *rr)
{
	memset(rr, 0, sizeof(*rr));
	char path[4200], why[512];
	snprintf(path, sizeof(path), "%s/%s", cfg->restore, SNAPSHOT_MANIFEST);
	if (snap_manifest_read(&rr->man, path, why, sizeof(why)) < 0) {
		log_error("--restore: %s", why);
		return IOVIRT_EXIT_ERROR;
	}
	if (cfg->nargs) {
		int ret = check_same(cfg, &rr->man);
		if (ret)
			return ret;
	}
	rr->argv = calloc(rr->man.nargs + 2, sizeof(char *));
	if (!rr->argv) {
		log_error("--restore: out of memory");
		return IOVIRT_EXIT_ERROR;
	}
	rr->argv[0] = "run";
	for (unsigned i = 0; i < rr->man.nargs; i++)
		rr->argv[i + 1] = rr->man.args[i];
	struct vm_config saved;
	int ret = config_parse_run((int)rr->man.nargs + 1, rr->argv, &saved);
	if (ret) {
		log_error("--restore %s: the snapshot's machine options are not valid here",
			  cfg->restore);
		return IOVIRT_EXIT_ERROR;
	}
	/* The process is this run's. */
	saved.verbose = cfg->verbose;
	saved.counters = cfg->counters;
	saved.api_socket = cfg->api_socket;
	saved.paused = cfg->paused;
	saved.seccomp = cfg->seccomp;
	saved.user = cfg->user;
	saved.version = cfg->version;
	saved.restore_map = cfg->restore_map;
	memcpy(saved.restore_dir, cfg->restore_dir, sizeof(saved.restore_dir));
	saved.restore = saved.restore_dir;
	*cfg = saved;
	cfg->restore = cfg->restore_dir;
	return 0;
}

void run_restore_free(struct run_restore *rr)
{
	snap_manifest_free(&rr->man);
	free(rr->argv);
	rr->argv = NULL;
}
