/* The jailer side of sandbox.h: the drop to --user and the fd ceiling.
 * Everything that needs root is open by the time sandbox_confine runs; what
 * opens later does so as --user: a vhost-user reconnect needs a socket that
 * user may connect to, and --reboot re-creates the whole VM (/dev/kvm, the
 * disks, taps, vhost-net, VFIO) with that user's access only. */
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"

/* Room for what opens while the guest runs: slirp's host sockets (one per
 * guest connection), console clients, vhost-user reconnects, NVMe queues'
 * eventfds, and a --reboot's second machine while the first one's fds are
 * closed. */
#define FD_HEADROOM 1024

static bool has_capabilities(void)
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return true;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		/* Inheritable alone grants nothing to a non-root uid without
		 * file capabilities, and setresuid does not clear it. */
		if (data[i].effective || data[i].permitted)
			return true;
	return false;
}

static bool is_user(const struct sandbox_user *u)
{
	uid_t r, e, s;
	gid_t rg, eg, sg;
	return getresuid(&r, &e, &s) == 0 && r == u->uid && e == u->uid && s == u->uid &&
	       getresgid(&rg, &eg, &sg) == 0 && rg == u->gid && eg == u->gid && sg == u->gid;
}

int sandbox_drop_user(const struct sandbox_user *u, char *why, size_t why_len)
{
	/* A --reboot's second run: dropped already (setgroups would fail). */
	if (is_user(u) && !has_capabilities())
		return 0;
	/* The one group only: root's supplementary groups are access we do
	 * not mean to keep. */
	const char *step = "setgroups";
	int ret = setgroups(1, &u->gid);
	if (ret == 0) {
		step = "setresgid";
		ret = setresgid(u->gid, u->gid, u->gid);
	}
	if (ret == 0) {
		step = "setresuid";
		ret = setresuid(u->uid, u->uid, u->uid);
	}
	if (ret < 0) {
		int err = errno;
		snprintf(why, why_len, "--user %u:%u: %s: %s", (unsigned)u->uid, (unsigned)u->gid,
			 step, strerror(err));
		return -err;
	}
	if (!is_user(u) || has_capabilities()) {
		snprintf(why, why_len, "--user %u:%u: capabilities remain after the drop",
			 (unsigned)u->uid, (unsigned)u->gid);
		return -EPERM;
	}
	return 0;
}

/* The highest fd open now, plus one. */
static int fds_in_use(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -errno;
	int top = 0;
	const struct dirent *e;
	while ((e = readdir(d)))
		if (isdigit((unsigned char)e->d_name[0]) && atoi(e->d_name) >= top)
			top = atoi(e->d_name) + 1;
	closedir(d);
	return top;
}

static int limit_fds(char *why, size_t why_len)
{
	struct rlimit cur;
	int used = fds_in_use();
	if (used < 0 || getrlimit(RLIMIT_NOFILE, &cur) < 0) {
		snprintf(why, why_len, "counting open files: %s", strerror(used < 0 ? -used : errno));
		return used < 0 ? used : -errno;
	}
	rlim_t want = (rlim_t)used + FD_HEADROOM;
	/* Only ever lower: a --reboot's second call may not raise it. */
	if (cur.rlim_max != RLIM_INFINITY && cur.rlim_max < want)
		want = cur.rlim_max;
	struct rlimit lim = {want, want};
	if (setrlimit(RLIMIT_NOFILE, &lim) < 0) {
		snprintf(why, why_len, "setrlimit(RLIMIT_NOFILE, %llu): %s",
			 (unsigned long long)want, strerror(errno));
		return -errno;
	}
	return 0;
}

int sandbox_confine(const struct sandbox_config *sc, char *why, size_t why_len)
{
	if (sc->unconfined)
		return 0;
	int ret = limit_fds(why, why_len);
	if (ret == 0 && sc->user.set)
		ret = sandbox_drop_user(&sc->user, why, why_len);
	return ret;
}
