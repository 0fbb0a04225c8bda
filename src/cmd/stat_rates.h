/* `iovirt stat`'s arithmetic, apart from any socket or terminal: a
 * vm.counters body (docs/api/openapi.json "Counters") read into a sample,
 * the rates between two samples, and the table that shows them.
 *
 * One row per device and scope ("" the device, "q0", "rx0", ... a queue),
 * in the order the server lists them; KVM's per-vCPU exits apart. */
#ifndef IOVIRT_CMD_STAT_RATES_H
#define IOVIRT_CMD_STAT_RATES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "core/counters.h"
#include "core/device.h"

#define STAT_SCOPE_MAX 32
#define STAT_MAX_ROWS 1024u /* 64 devices of up to 15 queues each, and then some */
#define STAT_MAX_VCPUS 288u /* KVM's own limit on most hosts */

struct stat_row {
	char device[DEVICE_ID_MAX];
	char scope[STAT_SCOPE_MAX];
	struct dev_counters c;
};

/* KVM's statistics for one vCPU that the view shows. */
struct stat_vcpu {
	char scope[STAT_SCOPE_MAX];  /* "vcpu0" */
	uint64_t exits, io_exits, mmio_exits, halt_exits;
};

struct stat_sample {
	unsigned nrows, nvcpus;
	struct stat_row rows[STAT_MAX_ROWS];
	struct stat_vcpu vcpus[STAT_MAX_VCPUS];
};

/* Reads a vm.counters body. 0, or -1 with err naming what is wrong (a
 * member that is not an object, a counter that is not a count). Counter
 * names a row lacks read as 0; names it does not know are ignored. */
int stat_sample_parse(const char *json, struct stat_sample *s, char *err, size_t errlen);

struct stat_rate {
	char device[DEVICE_ID_MAX];
	char scope[STAT_SCOPE_MAX];
	double exits, kicks, interrupts, iops, mb_in, mb_out, errors;  /* per second */
	/* Device rows: the device's exits per request of all its rows (the
	 * queues do the requests, the PCI function counts the exits); queue
	 * rows: their own, where they count exits. < 0: no request moved. */
	double exits_per_io;
	bool active;       /* it moved in the interval, or ever (a used queue) */
};

struct stat_vcpu_rate {
	char scope[STAT_SCOPE_MAX];
	double exits, io_exits, mmio_exits, halt_exits;  /* per second */
};

struct stat_rates {
	double seconds;
	unsigned nrows, nvcpus;
	struct stat_rate rows[STAT_MAX_ROWS];
	struct stat_vcpu_rate vcpus[STAT_MAX_VCPUS];
};

/* The rates from a (earlier) to b over seconds (> 0), for the rows and
 * vCPUs of b. A row or vCPU new in b counts from zero, and so does a
 * counter that went backwards (a --reboot started a new machine). */
void stat_rates(const struct stat_sample *a, const struct stat_sample *b, double seconds,
		struct stat_rates *out);

/* The table: a header, then one line per device row and per queue that
 * was ever used (the rest would be a wall of zeros: NVMe offers every
 * queue pair), then a line per vCPU. */
void stat_print(const struct stat_rates *r, FILE *out);

#endif
