/* The allow-lists of sandbox.c's thread kinds, kept apart from the
 * mechanics that compile and load them. */
#ifndef IOVIRT_SANDBOX_SANDBOX_RULES_H
#define IOVIRT_SANDBOX_SANDBOX_RULES_H

#include <seccomp.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sandbox/sandbox.h"

/* What the configuration adds to the lists. */
struct sandbox_needs {
	bool slirp;   /* a --net user: host sockets, /etc/resolv.conf */
	pid_t pid;    /* tgkill (pthread_kill) only within this process */
	struct sandbox_user user; /* the drop to --user after threads are filtered */
};

/* Adds kind's allow-list to ctx: 0 or libseccomp's -errno. */
int sandbox_rules_add(scmp_filter_ctx ctx, enum sandbox_kind kind,
		      const struct sandbox_needs *needs);

#endif
