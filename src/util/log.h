/* Diagnostics: one line on stderr, prefixed "iovirt: ". */
#ifndef IOVIRT_UTIL_LOG_H
#define IOVIRT_UTIL_LOG_H

#include <stdbool.h>

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_verbose(bool verbose);

/* Log a guest protocol violation at most once per call site: a bad guest
 * must not be able to flood the host's log. */
#define log_guest_error_once(...)                                              \
	do {                                                                   \
		static int logged_;                                            \
		if (!__atomic_exchange_n(&logged_, 1, __ATOMIC_RELAXED))       \
			log_warn("guest error: " __VA_ARGS__);                 \
	} while (0)

#endif
