/* The control plane across a run's boots: see run_api.h. */
#include "cmd/run_api.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "core/log.h"
#include "machine/machine_api.h"

struct run_api {
	struct api_server *server;
	const struct vm_config *cfg;
	/* Held across each forwarded request, so run_api_detach waits for
	 * one in flight; the machine answers a request once its loop has
	 * ended, so the wait is short. */
	pthread_mutex_t lock;
	struct machine *m;       /* this boot's; NULL between boots */
};

static void fwd_info(void *opaque, struct api_vm_info *out)
{
	struct run_api *a = opaque;
	pthread_mutex_lock(&a->lock);
	if (a->m) {
		machine_api_ops.info(a->m, out);
	} else {
		memset(out, 0, sizeof(*out));
		out->cpus = a->cfg->cpus;
		out->memory = a->cfg->memory;
		out->kernel = a->cfg->kernel;
		out->initrd = a->cfg->initrd;
		out->cmdline = a->cfg->cmdline;
		out->firmware = a->cfg->firmware;
		out->nboot_trace = boot_trace_events(out->boot_trace, BOOT_TRACE_MAX);
	}
	pthread_mutex_unlock(&a->lock);
}

static void fwd_counters(void *opaque, const struct counter_sink *sink)
{
	struct run_api *a = opaque;
	pthread_mutex_lock(&a->lock);
	if (a->m)
		machine_api_ops.counters(a->m, sink);
	pthread_mutex_unlock(&a->lock);
}

/* An action on this boot's machine; -EBUSY (409) between boots. */
#define FORWARD(op)                                                    \
	static int fwd_##op(void *opaque)                              \
	{                                                              \
		struct run_api *a = opaque;                            \
		pthread_mutex_lock(&a->lock);                          \
		int ret = a->m ? machine_api_ops.op(a->m) : -EBUSY;   \
		pthread_mutex_unlock(&a->lock);                        \
		return ret;                                            \
	}
FORWARD(pause)
FORWARD(resume)
FORWARD(power_button)
FORWARD(reboot)
FORWARD(shutdown)
FORWARD(migrate_cancel)

/* The snapshot holds the lock while it writes (seconds): vm.info and
 * vm.counters wait for it, as they would for the paused wait's answer. */
static int fwd_snapshot(void *opaque, const char *dir, char *why, size_t why_len)
{
	struct run_api *a = opaque;
	pthread_mutex_lock(&a->lock);
	int ret = a->m ? machine_api_ops.snapshot(a->m, dir, why, why_len) : -EBUSY;
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* Starting a migration is quick (the machine's own thread does the work),
 * and so is reading how it goes. */
static int fwd_migrate(void *opaque, const struct api_migrate_params *p, char *why,
		       size_t why_len)
{
	struct run_api *a = opaque;
	pthread_mutex_lock(&a->lock);
	int ret = a->m ? machine_api_ops.migrate(a->m, p, why, why_len) : -EBUSY;
	pthread_mutex_unlock(&a->lock);
	return ret;
}

/* Between boots there is no machine, so no migration either. */
static void fwd_migrate_status(void *opaque, struct api_migrate_status *out)
{
	struct run_api *a = opaque;
	pthread_mutex_lock(&a->lock);
	if (a->m) {
		machine_api_ops.migrate_status(a->m, out);
	} else {
		memset(out, 0, sizeof(*out));
		out->state = "none";
	}
	pthread_mutex_unlock(&a->lock);
}

static const struct api_vm_ops forward_ops = {
	.info = fwd_info,
	.counters = fwd_counters,
	.pause = fwd_pause,
	.resume = fwd_resume,
	.power_button = fwd_power_button,
	.reboot = fwd_reboot,
	.shutdown = fwd_shutdown,
	.snapshot = fwd_snapshot,
	.migrate = fwd_migrate,
	.migrate_status = fwd_migrate_status,
	.migrate_cancel = fwd_migrate_cancel,
};

struct run_api *run_api_start(const char *path, const struct vm_config *cfg)
{
	struct run_api *a = calloc(1, sizeof(*a));
	if (!a) {
		log_error("%s: out of memory", path);
		return NULL;
	}
	a->cfg = cfg;
	pthread_mutex_init(&a->lock, NULL);
	a->server = api_server_start(path, &forward_ops, a);
	if (!a->server) {
		pthread_mutex_destroy(&a->lock);
		free(a);
		return NULL;
	}
	return a;
}

void run_api_attach(struct run_api *a, struct machine *m)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->m = m;
	pthread_mutex_unlock(&a->lock);
}

void run_api_detach(struct run_api *a)
{
	run_api_attach(a, NULL);
}

void run_api_stop(struct run_api *a)
{
	if (!a)
		return;
	api_server_stop(a->server);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
