/* What sandbox_filters.c compiles on the main thread and sandbox.c loads
 * and reports with on the filtered threads (which only read it). */
#ifndef IOVIRT_SANDBOX_SANDBOX_PRIV_H
#define IOVIRT_SANDBOX_SANDBOX_PRIV_H

#include <linux/filter.h>

#include "sandbox/sandbox.h"

#define SANDBOX_MAX_SYSCALL 512

extern enum sandbox_seccomp sandbox_mode;
extern struct sock_fprog sandbox_programs[SANDBOX_NKINDS];
/* Resolved ahead: the SIGSYS handler may not allocate. */
extern char *sandbox_syscall_names[SANDBOX_MAX_SYSCALL];

/* The SIGSYS handler, once per process: 0 or -errno. */
int sandbox_install_reporter(void);

#endif
