#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

static bool verbose;

void log_set_verbose(bool v) { verbose = v; }

static void log_line(const char *level, const char *fmt, va_list ap)
{
	/* One write per line, so lines from vCPU threads do not interleave, and
	 * "\r\n" because the terminal may be in raw mode. */
	char buf[1024];
	int n = snprintf(buf, sizeof(buf), "iovirt: %s", level);
	if (n < 0 || n >= (int)sizeof(buf))
		return;
	int m = vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof(buf) - 3)
		len = sizeof(buf) - 3;
	buf[len++] = '\r';
	buf[len++] = '\n';
	fwrite(buf, 1, len, stderr);
	fflush(stderr);
}

#define DEFINE_LOG(name, level, cond)                                          \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		if (!(cond))                                                   \
			return;                                                \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_line(level, fmt, ap);                                      \
		va_end(ap);                                                    \
	}

DEFINE_LOG(log_error, "", 1)
DEFINE_LOG(log_warn, "warning: ", 1)
DEFINE_LOG(log_info, "", 1)
DEFINE_LOG(log_debug, "debug: ", verbose)
