/* Diagnostics: one line on stderr, prefixed "iovirt: ". */
#ifndef IOVIRT_CORE_LOG_H
#define IOVIRT_CORE_LOG_H

#include <stdbool.h>

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_set_verbose(bool verbose);

/* Guest errors (a protocol violation, a bad address, a refused request):
 * the one path every device logs them through. A guest repeats an error as
 * often as it likes, so each (call site, device) pair may log
 * LOG_GUEST_BURST lines per LOG_GUEST_WINDOW_MS; the rest are counted, and
 * the next line that gets through says how many were suppressed. dev names
 * the device instance ("virtio-blk0", "0000:01:00.0"); fmt the reason. */
#define LOG_GUEST_BURST 3
#define LOG_GUEST_WINDOW_MS 60000
#define LOG_GUEST_DEVS 8 /* devices tracked apart per call site; more share one */

struct log_guest_slot {
	char dev[32];
	unsigned long long window_start_ms;
	unsigned lines, suppressed;
};
struct log_guest_site {
	struct log_guest_slot slot[LOG_GUEST_DEVS];
};

/* prefix: "guest error: " for log_guest_error, "" for log_guest_event. */
void log_guest_limited(struct log_guest_site *site, const char *prefix, const char *dev,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_guest_error(dev, ...)                                              \
	do {                                                                   \
		static struct log_guest_site site_;                            \
		log_guest_limited(&site_, "guest error: ", (dev), __VA_ARGS__); \
	} while (0)

/* The same limit for what a guest makes happen that is not its error but
 * that it can repeat at will (a pvpanic write, an I/O error it reads again
 * and again from a failing disk). */
#define log_guest_event(dev, ...)                                              \
	do {                                                                   \
		static struct log_guest_site site_;                            \
		log_guest_limited(&site_, "", (dev), __VA_ARGS__);             \
	} while (0)

/* Tests: the clock the rate limit reads (NULL: CLOCK_MONOTONIC). */
void log_set_clock(unsigned long long (*now_ms)(void));

#endif
