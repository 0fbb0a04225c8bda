/* --seccomp and --user as the command line gives them (no libseccomp here:
 * the command-line fuzzer links this file alone). */
#include "sandbox/sandbox.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

int sandbox_parse_seccomp(const char *s, enum sandbox_seccomp *out)
{
	static const char *const names[] = {
		[SANDBOX_SECCOMP_ON] = "on",
		[SANDBOX_SECCOMP_OFF] = "off",
		[SANDBOX_SECCOMP_LOG] = "log",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (s && strcmp(s, names[i]) == 0) {
			*out = (enum sandbox_seccomp)i;
			return 0;
		}
	}
	log_error("--seccomp=%s: must be on, off or log", s ? s : "");
	return -EINVAL;
}


/* A decimal id, or -1 if s is not one. */
static long parse_id(const char *s)
{
	if (!*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -1;
	errno = 0;
	unsigned long v = strtoul(s, NULL, 10);
	return errno || v >= (unsigned long)(uid_t)-1 ? -1 : (long)v;
}

int sandbox_parse_user(const char *spec, struct sandbox_user *u)
{
	char user[256];
	const char *colon = strchr(spec, ':');
	size_t ulen = colon ? (size_t)(colon - spec) : strlen(spec);
	if (ulen == 0 || ulen >= sizeof(user) || (colon && !colon[1])) {
		log_error("--user %s: must be USER or USER:GROUP", spec);
		return -EINVAL;
	}
	memcpy(user, spec, ulen);
	user[ulen] = '\0';

	long id = parse_id(user);
	const struct passwd *pw = id >= 0 ? getpwuid((uid_t)id) : getpwnam(user);
	if (!pw && id < 0) {
		log_error("--user %s: no such user", user);
		return -EINVAL;
	}
	uid_t uid = pw ? pw->pw_uid : (uid_t)id;
	gid_t gid;
	if (colon) {
		long gnum = parse_id(colon + 1);
		const struct group *gr = gnum >= 0 ? NULL : getgrnam(colon + 1);
		if (gnum < 0 && !gr) {
			log_error("--user %s: no such group %s", spec, colon + 1);
			return -EINVAL;
		}
		gid = gr ? gr->gr_gid : (gid_t)gnum;
	} else if (pw) {
		gid = pw->pw_gid;
	} else {
		log_error("--user %s: no such user to take a group from (use USER:GROUP)", spec);
		return -EINVAL;
	}
	if (uid == 0 || gid == 0) {
		log_error("--user %s: root is no drop of privileges; name an unprivileged user "
			  "and group", spec);
		return -EINVAL;
	}
	*u = (struct sandbox_user){.set = true, .uid = uid, .gid = gid};
	return 0;
}
