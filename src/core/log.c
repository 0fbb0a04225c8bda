#include "core/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static unsigned long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static unsigned long long (*clock_ms)(void) = monotonic_ms;

void log_set_clock(unsigned long long (*now_ms)(void))
{
	clock_ms = now_ms ? now_ms : monotonic_ms;
}

/* Guest errors are rare on a well-behaved guest: one lock for every site. */
static pthread_mutex_t guest_lock = PTHREAD_MUTEX_INITIALIZER;

void log_guest_limited(struct log_guest_site *site, const char *prefix, const char *dev,
		       const char *fmt, ...)
{
	char line[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (!dev)
		dev = "?";

	pthread_mutex_lock(&guest_lock);
	/* This device's slot, a free one, or (more devices than slots) the last. */
	unsigned i = 0;
	while (i < LOG_GUEST_DEVS - 1 && site->slot[i].dev[0] &&
	       strncmp(site->slot[i].dev, dev, sizeof(site->slot[i].dev) - 1) != 0)
		i++;
	struct log_guest_slot *s = &site->slot[i];
	if (!s->dev[0])
		snprintf(s->dev, sizeof(s->dev), "%s", dev);
	unsigned long long now = clock_ms();
	if (s->lines == 0 || now - s->window_start_ms >= LOG_GUEST_WINDOW_MS) {
		s->window_start_ms = now;
		s->lines = 0;
	}
	unsigned suppressed = 0;
	bool print = s->lines < LOG_GUEST_BURST, last = false;
	if (print) {
		last = ++s->lines == LOG_GUEST_BURST;
		suppressed = s->suppressed;
		s->suppressed = 0;
	} else {
		s->suppressed++;
	}
	pthread_mutex_unlock(&guest_lock);

	if (!print)
		return;
	if (suppressed)
		log_warn("%s%s: %s (%u more like it suppressed)", prefix, dev, line, suppressed);
	else if (last)
		log_warn("%s%s: %s (more like it suppressed for %d s)", prefix, dev, line,
			 LOG_GUEST_WINDOW_MS / 1000);
	else
		log_warn("%s%s: %s", prefix, dev, line);
}
