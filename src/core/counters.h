/* Device counters (docs/ARCHITECTURE.md "Counters"): always on, so they
 * must cost next to nothing. Each is a uint64_t bumped with a relaxed
 * atomic add (vCPU threads and the loop may count the same device) and read
 * with a relaxed load; nothing orders on them.
 *
 * Every device keeps one struct dev_counters, and one per queue where it
 * has queues; the device contract's counters op hands them to a sink. */
#ifndef IOVIRT_CORE_COUNTERS_H
#define IOVIRT_CORE_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

#ifndef IOVIRT_NO_COUNTERS
static inline void counter_add(uint64_t *c, uint64_t n)
{
	__atomic_fetch_add(c, n, __ATOMIC_RELAXED);
}

static inline void counter_inc(uint64_t *c)
{
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}
#else
/* make bench-counters' second binary: what the counters cost, measured
 * beside the real one in the same runs. Never shipped. */
static inline void counter_add(uint64_t *c, uint64_t n)
{
	(void)c;
	(void)n;
}

static inline void counter_inc(uint64_t *c)
{
	(void)c;
}
#endif

static inline uint64_t counter_read(const uint64_t *c)
{
	return __atomic_load_n(c, __ATOMIC_RELAXED);
}

struct dev_counters {
	uint64_t exits;       /* guest MMIO/PIO/config accesses that reached iovirt */
	uint64_t kicks;       /* queue notifications, doorbells, tail writes */
	uint64_t interrupts;  /* interrupts raised to the guest */
	uint64_t requests;    /* requests (commands, chains, frames) completed */
	uint64_t bytes_in;    /* bytes from the guest: written to a disk, sent */
	uint64_t bytes_out;   /* bytes to the guest: read from a disk, received */
	uint64_t errors;      /* requests the backend failed */
	uint64_t rejected;    /* guest actions refused (bad descriptor, bad command) */
};

/* Every counter of struct dev_counters by the name counters_emit gives
 * it, in that order: the emitters and the readers (iovirt stat) share it. */
struct counter_field {
	const char *name;
	size_t offset;               /* of its uint64_t (in struct dev_counters, here) */
};
extern const struct counter_field counter_fields[];
extern const unsigned counter_nfields;

/* Where counters go: emit is called once per counter, with the scope
 * ("" for the device, "q0", "sq3", ... for a queue) and the counter's name
 * ("kicks"). */
struct counter_sink {
	void (*emit)(void *opaque, const char *device, const char *scope, const char *name,
		     uint64_t value);
	void *opaque;
};

/* Emits the eight counters of c under device/scope; zero counters too, so
 * a reader sees the same names every time. */
void counters_emit(const struct counter_sink *sink, const char *device, const char *scope,
		   const struct dev_counters *c);

#endif
