/* `iovirt run --counters`: a counter_sink that prints what it is given as
 * one line per device and scope, to a stream (stderr):
 *
 *   counters: nvme0 exits=12 kicks=1024 ...
 *   counters: nvme0 sq1 requests=1024 bytes_in=4194304 ...
 *   counters: kvm vcpu0 exits=5230 halt_exits=101 ...
 *
 * A line is written whole (one fputs) when the device or scope changes and
 * at counters_print_end, so a report never interleaves with a log line. */
#ifndef IOVIRT_CMD_COUNTERS_PRINT_H
#define IOVIRT_CMD_COUNTERS_PRINT_H

#include <stdio.h>

#include "core/counters.h"
#include "core/device.h"

struct counters_print {
	FILE *out;
	char device[DEVICE_ID_MAX];
	char scope[32];
	char line[4096];
	size_t len;       /* 0: no line started */
};

/* A sink writing to out; finish each report with counters_print_end. */
struct counter_sink counters_print_begin(struct counters_print *p, FILE *out);
void counters_print_end(struct counters_print *p);

#endif
