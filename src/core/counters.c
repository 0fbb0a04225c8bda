/* Device counters: see counters.h. */
#include "core/counters.h"

#include <stddef.h>

void counters_emit(const struct counter_sink *sink, const char *device, const char *scope,
		   const struct dev_counters *c)
{
	static const struct {
		const char *name;
		size_t offset;
	} fields[] = {
		{"exits", offsetof(struct dev_counters, exits)},
		{"kicks", offsetof(struct dev_counters, kicks)},
		{"interrupts", offsetof(struct dev_counters, interrupts)},
		{"requests", offsetof(struct dev_counters, requests)},
		{"bytes_in", offsetof(struct dev_counters, bytes_in)},
		{"bytes_out", offsetof(struct dev_counters, bytes_out)},
		{"errors", offsetof(struct dev_counters, errors)},
		{"rejected", offsetof(struct dev_counters, rejected)},
	};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		const uint64_t *p = (const uint64_t *)((const char *)c + fields[i].offset);
		sink->emit(sink->opaque, device, scope, fields[i].name, counter_read(p));
	}
}
