/* Device counters: see counters.h. */
#include "core/counters.h"

const struct counter_field counter_fields[] = {
	{"exits", offsetof(struct dev_counters, exits)},
	{"kicks", offsetof(struct dev_counters, kicks)},
	{"interrupts", offsetof(struct dev_counters, interrupts)},
	{"requests", offsetof(struct dev_counters, requests)},
	{"bytes_in", offsetof(struct dev_counters, bytes_in)},
	{"bytes_out", offsetof(struct dev_counters, bytes_out)},
	{"errors", offsetof(struct dev_counters, errors)},
	{"rejected", offsetof(struct dev_counters, rejected)},
};
const unsigned counter_nfields = sizeof(counter_fields) / sizeof(counter_fields[0]);

void counters_emit(const struct counter_sink *sink, const char *device, const char *scope,
		   const struct dev_counters *c)
{
	for (unsigned i = 0; i < counter_nfields; i++) {
		const uint64_t *p = (const uint64_t *)((const char *)c + counter_fields[i].offset);
		sink->emit(sink->opaque, device, scope, counter_fields[i].name, counter_read(p));
	}
}
