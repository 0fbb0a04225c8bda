/* Compiling each kind's filter with libseccomp, once per machine on the
 * main thread before any filtered thread starts (threads only load them). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "sandbox/sandbox_priv.h"
#include "sandbox/sandbox_rules.h"

static void free_programs(void)
{
	for (int k = 0; k < SANDBOX_NKINDS; k++) {
		free(sandbox_programs[k].filter);
		sandbox_programs[k] = (struct sock_fprog){0};
	}
}

/* libseccomp 2.5 exports BPF only to a file descriptor. */
static int read_program(int fd, struct sock_fprog *out)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	size_t size = (size_t)st.st_size;
	if (size == 0 || size % sizeof(struct sock_filter) ||
	    size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	struct sock_filter *f = malloc(size);
	if (!f)
		return -ENOMEM;
	if (pread(fd, f, size, 0) != (ssize_t)size) {
		free(f);
		return -EIO;
	}
	*out = (struct sock_fprog){.len = (unsigned short)(size / sizeof(*f)), .filter = f};
	return 0;
}

static int compile(enum sandbox_kind kind, const struct sandbox_needs *needs,
		   struct sock_fprog *out)
{
	uint32_t deny = sandbox_mode == SANDBOX_SECCOMP_LOG ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx ctx = seccomp_init(deny);
	if (!ctx)
		return -ENOMEM;
	/* x32 and i386 syscalls from a 64-bit process are an attack, not a bug. */
	int ret = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (ret == 0)
		ret = sandbox_rules_add(ctx, kind, needs);
	int fd = -1;
	if (ret == 0) {
		fd = memfd_create("iovirt-seccomp", MFD_CLOEXEC);
		ret = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	}
	seccomp_release(ctx);
	if (ret == 0)
		ret = read_program(fd, out);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Syscall names for the report, resolved ahead: the handler may not
 * allocate (the violation may come from inside malloc). */
static void resolve_names(void)
{
	for (int nr = 0; nr < SANDBOX_MAX_SYSCALL; nr++)
		if (!sandbox_syscall_names[nr])
			sandbox_syscall_names[nr] =
				seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
}

int sandbox_prepare(const struct sandbox_config *sc)
{
	/* No core dump of iovirt (guest RAM is MADV_DONTDUMP as well): its
	 * heap holds guest data in flight. */
	struct rlimit no_core = {0, 0};
	if (setrlimit(RLIMIT_CORE, &no_core) < 0) {
		log_error("setrlimit(RLIMIT_CORE): %s", strerror(errno));
		return -errno;
	}
	free_programs();
	sandbox_mode = sc->unconfined ? SANDBOX_SECCOMP_OFF : sc->seccomp;
	if (sandbox_mode == SANDBOX_SECCOMP_OFF)
		return 0;
	resolve_names();
	/* glibc reads /etc/localtime the first time any time conversion runs,
	 * gmtime_r and timegm included (the RTC's, on a vCPU thread that may
	 * not open files): have it read now, while opening is allowed. */
	tzset();
	int ret = sandbox_install_reporter();
	if (ret < 0) {
		log_error("seccomp: installing the SIGSYS handler: %s", strerror(-ret));
		return ret;
	}
	struct sandbox_needs needs = {
		.slirp = sc->slirp, .pid = getpid(), .user = sc->user,
	};
	for (int k = 0; k < SANDBOX_NKINDS && ret == 0; k++) {
		ret = compile((enum sandbox_kind)k, &needs, &sandbox_programs[k]);
		if (ret < 0)
			log_error("seccomp: building the %s thread's filter: %s (--seccomp=off runs "
				  "without)", sandbox_kind_name((enum sandbox_kind)k), strerror(-ret));
	}
	if (ret < 0) {
		free_programs();
		sandbox_mode = SANDBOX_SECCOMP_OFF;
	}
	return ret;
}

