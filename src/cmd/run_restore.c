/* --restore's configuration; see run_restore.h. */
#include "cmd/run_restore.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <errno.h>
#include <unistd.h>
#include <limits.h>

#include "core/exit_codes.h"
#include "core/log.h"
#include "machine/machine_snapshot.h"

/* The options of this run that are not the snapshot's, word for word. */
static int check_same(const struct vm_config *cfg, const struct snap_manifest *man)
{
	char why[512];
	if (snap_manifest_same_args(man, cfg->args, cfg->nargs, why, sizeof(why)) < 0) {
		log_error("--restore %s: %s: give the snapshot's options unchanged, or none",
			  cfg->restore, why);
		return IOVIRT_EXIT_USAGE;
	}
	return 0;
}

/* The snapshot's options name files relative to where they were given
 * (the manifest's cwd): the restore runs there. Paths of this run (the
 * snapshot directory, the API socket) are made absolute first. */
static int go_to_snapshot_cwd(struct vm_config *cfg, struct run_restore *rr)
{
	char here[4096];
	if (!rr->man.cwd[0] || !getcwd(here, sizeof(here)) || strcmp(here, rr->man.cwd) == 0)
		return 0;
	if (!realpath(cfg->restore, rr->restore_abs)) {
		log_error("--restore %s: %s", cfg->restore, strerror(errno));
		return IOVIRT_EXIT_ERROR;
	}
	if (cfg->api_socket && cfg->api_socket[0] != '/') {
		int n = snprintf(rr->api_socket_abs, sizeof(rr->api_socket_abs), "%s%s%s", here,
				 strcmp(here, "/") == 0 ? "" : "/", cfg->api_socket);
		if (n < 0 || (size_t)n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
			log_error("--api-socket %s: too long once made absolute (%s/...)",
				  cfg->api_socket, here);
			return IOVIRT_EXIT_USAGE;
		}
		cfg->api_socket = rr->api_socket_abs;
	}
	snprintf(cfg->restore_dir, sizeof(cfg->restore_dir), "%s", rr->restore_abs);
	if (chdir(rr->man.cwd) < 0) {
		log_error("--restore %s: the snapshot's options are relative to %s: %s",
			  cfg->restore_dir, rr->man.cwd, strerror(errno));
		return IOVIRT_EXIT_ERROR;
	}
	log_info("restore: in %s, where the snapshot's options were given", rr->man.cwd);
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
	/* The options a run records never include these: an edited manifest. */
	for (unsigned i = 0; i < rr->man.nargs; i++) {
		if (strncmp(rr->man.args[i], "--help", 6) == 0 ||
		    strncmp(rr->man.args[i], "--restore", 9) == 0) {
			log_error("--restore %s: the snapshot's options include %s", cfg->restore,
				  rr->man.args[i]);
			return IOVIRT_EXIT_ERROR;
		}
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
	int ret = go_to_snapshot_cwd(cfg, rr);
	if (ret)
		return ret;
	struct vm_config saved;
	/* A refusal is config's one line, naming the option. */
	if (config_parse_run((int)rr->man.nargs + 1, rr->argv, &saved) != 0)
		return IOVIRT_EXIT_ERROR;
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
