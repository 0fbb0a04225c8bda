/* iovirt stat's arithmetic (cmd/stat_rates.c) on synthetic vm.counters
 * bodies, shaped as the server writes them (api_json_counters:
 * {"devices": {DEV: {SCOPE: {NAME: N}}}, "kvm": {SCOPE: {NAME: N}}}):
 * rates per row and per vCPU, a device's exits per request across its
 * queues, counters that restart (a --reboot), rows that appear, the table
 * (used queues only), and hostile bodies refused naming the field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cmd/stat_rates.h"

/* An NVMe controller (its device row counts the doorbell exits; q0 the
 * admin queue, q1 and q2 I/O queues, q2 never used), a virtio-blk disk,
 * and KVM's VM and two vCPUs. Every count is scaled by k, so two samples
 * of one shape differ by known amounts. */
static char *body(unsigned k)
{
	char *s = NULL;
	int n = asprintf(&s,
		"{\"devices\": {"
		"\"nvme0\": {\"\": {\"exits\": %u, \"kicks\": 0, \"interrupts\": 0, \"requests\": 0,"
		"  \"bytes_in\": 0, \"bytes_out\": 0, \"errors\": 0, \"rejected\": 0},"
		"  \"q0\": {\"exits\": 0, \"kicks\": %u, \"interrupts\": %u, \"requests\": %u,"
		"  \"bytes_in\": 0, \"bytes_out\": 0, \"errors\": 0, \"rejected\": 0},"
		"  \"q1\": {\"exits\": 0, \"kicks\": %u, \"interrupts\": %u, \"requests\": %u,"
		"  \"bytes_in\": %u, \"bytes_out\": %u, \"errors\": %u, \"rejected\": %u},"
		"  \"q2\": {\"exits\": 0, \"kicks\": 0, \"interrupts\": 0, \"requests\": 0,"
		"  \"bytes_in\": 0, \"bytes_out\": 0, \"errors\": 0, \"rejected\": 0}},"
		"\"virtio-blk0\": {\"\": {\"exits\": %u},"
		"  \"q0\": {\"kicks\": %u, \"interrupts\": %u, \"requests\": %u, \"bytes_in\": %u}}},"
		"\"kvm\": {\"vm\": {\"remote_tlb_flush\": 7},"
		"  \"vcpu0\": {\"exits\": %u, \"io_exits\": %u, \"mmio_exits\": %u, \"halt_exits\": %u,"
		"  \"halt_poll_success_ns\": 123456},"
		"  \"vcpu1\": {\"exits\": %u}}}",
		100 * k, k, k, k,                                  /* nvme0, q0 */
		1000 * k, 900 * k, 1000 * k, 4096000 * k, 2048000 * k, 2 * k, k, /* q1 */
		10 * k, 500 * k, 400 * k, 500 * k, 1000000 * k,   /* virtio-blk0 */
		3000 * k, 20 * k, 1100 * k, 50 * k, 40 * k);        /* kvm */
	assert_true(n > 0);
	return s;
}

static void parse(const char *json, struct stat_sample *s)
{
	char err[256] = "";
	if (stat_sample_parse(json, s, err, sizeof(err)) < 0)
		fail_msg("refused: %s", err);
}

static struct stat_sample *sample(unsigned k)
{
	struct stat_sample *s = malloc(sizeof(*s));
	assert_non_null(s);
	char *json = body(k);
	parse(json, s);
	free(json);
	return s;
}

static const struct stat_rate *row(const struct stat_rates *r, const char *dev, const char *scope)
{
	for (unsigned i = 0; i < r->nrows; i++)
		if (!strcmp(r->rows[i].device, dev) && !strcmp(r->rows[i].scope, scope))
			return &r->rows[i];
	fail_msg("no row %s %s", dev, scope);
	return NULL;
}

static void test_parse_rows_in_order(void **state)
{
	(void)state;
	struct stat_sample *s = sample(3);
	assert_int_equal(s->nrows, 6);
	assert_string_equal(s->rows[0].device, "nvme0");
	assert_string_equal(s->rows[0].scope, "");
	assert_int_equal(s->rows[0].c.exits, 300);
	assert_string_equal(s->rows[2].scope, "q1");
	assert_int_equal(s->rows[2].c.bytes_in, 3 * 4096000);
	assert_int_equal(s->rows[2].c.rejected, 3);
	assert_string_equal(s->rows[4].device, "virtio-blk0");
	/* Names a row lacks read as zero. */
	assert_int_equal(s->rows[4].c.kicks, 0);
	assert_int_equal(s->rows[5].c.bytes_out, 0);
	/* KVM: the vCPUs only, by the four names shown. */
	assert_int_equal(s->nvcpus, 2);
	assert_string_equal(s->vcpus[0].scope, "vcpu0");
	assert_int_equal(s->vcpus[0].mmio_exits, 3300);
	assert_int_equal(s->vcpus[1].exits, 120);
	assert_int_equal(s->vcpus[1].halt_exits, 0);
	free(s);
}

static void test_rates_over_the_interval(void **state)
{
	(void)state;
	struct stat_sample *a = sample(1), *b = sample(3);
	struct stat_rates *r = malloc(sizeof(*r));
	assert_non_null(r);
	stat_rates(a, b, 2.0, r);
	assert_int_equal(r->nrows, 6);
	const struct stat_rate *q1 = row(r, "nvme0", "q1");
	assert_float_equal(q1->kicks, 1000, 1e-9);       /* 2000 over 2 s */
	assert_float_equal(q1->interrupts, 900, 1e-9);
	assert_float_equal(q1->iops, 1000, 1e-9);
	assert_float_equal(q1->mb_in, 4.096, 1e-9);      /* 8192000 B over 2 s */
	assert_float_equal(q1->mb_out, 2.048, 1e-9);
	assert_float_equal(q1->errors, 3, 1e-9);         /* 4 errors + 2 rejected */
	assert_true(q1->exits_per_io < 0);               /* the queue counts no exits */
	/* The device row: the controller's doorbell exits (200) per request of
	 * all its queues (2 + 2000). */
	const struct stat_rate *nvme = row(r, "nvme0", "");
	assert_float_equal(nvme->exits, 100, 1e-9);
	assert_float_equal(nvme->exits_per_io, 200.0 / 2002.0, 1e-9);
	const struct stat_rate *blk = row(r, "virtio-blk0", "");
	assert_float_equal(blk->exits_per_io, 20.0 / 1000.0, 1e-9);
	assert_float_equal(row(r, "virtio-blk0", "q0")->mb_in, 1.0, 1e-9);
	assert_true(row(r, "nvme0", "q1")->active);
	assert_false(row(r, "nvme0", "q2")->active);
	assert_int_equal(r->nvcpus, 2);
	assert_float_equal(r->vcpus[0].exits, 3000, 1e-9);
	assert_float_equal(r->vcpus[0].io_exits, 20, 1e-9);
	assert_float_equal(r->vcpus[0].halt_exits, 50, 1e-9);
	assert_float_equal(r->vcpus[1].exits, 40, 1e-9);
	free(a);
	free(b);
	free(r);
}

/* Nothing moved (a paused VM): every rate is zero, and exits per I/O
 * says there was no I/O rather than 0 or a division by zero. */
static void test_idle_interval(void **state)
{
	(void)state;
	struct stat_sample *a = sample(2), *b = sample(2);
	struct stat_rates *r = malloc(sizeof(*r));
	assert_non_null(r);
	stat_rates(a, b, 1.0, r);
	for (unsigned i = 0; i < r->nrows; i++) {
		assert_float_equal(r->rows[i].iops + r->rows[i].kicks + r->rows[i].exits, 0, 0);
		assert_true(r->rows[i].exits_per_io < 0);
	}
	assert_true(row(r, "nvme0", "q1")->active);  /* used before: still listed */
	free(a);
	free(b);
	free(r);
}

/* --reboot: the next machine's counters start at zero; a row new in b
 * (a queue the driver created) counts from zero too. */
static void test_restart_and_new_rows_count_from_zero(void **state)
{
	(void)state;
	struct stat_sample *a = sample(5), *b = sample(1);
	struct stat_rates *r = malloc(sizeof(*r));
	assert_non_null(r);
	stat_rates(a, b, 1.0, r);
	assert_float_equal(row(r, "nvme0", "q1")->kicks, 1000, 1e-9);
	assert_float_equal(r->vcpus[0].exits, 3000, 1e-9);
	a->nrows = 1;       /* only nvme0's device row, and no vCPUs */
	a->nvcpus = 0;
	stat_rates(a, b, 0.5, r);
	assert_float_equal(row(r, "virtio-blk0", "q0")->iops, 1000, 1e-9);
	assert_float_equal(r->vcpus[1].exits, 80, 1e-9);
	free(a);
	free(b);
	free(r);
}

static char *print_table(const struct stat_rates *r)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	stat_print(r, f);
	assert_int_equal(fclose(f), 0);
	return text;
}

/* A line that starts with the device then the scope (columns apart). */
static const char *line_of(const char *text, const char *dev, const char *scope)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char d[64], s[64];
		if (sscanf(p, "%63s %63s", d, s) == 2 && !strcmp(d, dev) && !strcmp(s, scope))
			return p;
	}
	return NULL;
}

static void test_table_shows_used_queues(void **state)
{
	(void)state;
	struct stat_sample *a = sample(1), *b = sample(3);
	struct stat_rates *r = malloc(sizeof(*r));
	assert_non_null(r);
	stat_rates(a, b, 2.0, r);
	char *text = print_table(r);
	assert_non_null(strstr(text, "EXITS/IO"));
	assert_non_null(line_of(text, "nvme0", "-"));
	assert_non_null(line_of(text, "nvme0", "q0"));
	assert_null(line_of(text, "nvme0", "q2"));   /* never used */
	const char *q1 = line_of(text, "nvme0", "q1");
	assert_non_null(q1);
	double exits, kicks, irqs, iops, in, outb;
	assert_int_equal(sscanf(q1, "%*s %*s %lf %lf %lf %lf %lf %lf", &exits, &kicks, &irqs, &iops,
				&in, &outb), 6);
	assert_float_equal(iops, 1000, 0.5);
	assert_float_equal(in, 4.10, 0.006);
	const char *dev = line_of(text, "nvme0", "-");
	char per_io[16];
	assert_int_equal(sscanf(dev, "%*s %*s %*s %*s %*s %*s %*s %*s %15s", per_io), 1);
	assert_string_equal(per_io, "0.10");
	assert_non_null(line_of(text, "virtio-blk0", "q0"));
	const char *v1 = strstr(text, "\nvcpu1 ");
	assert_non_null(v1);
	assert_int_equal(strtol(v1 + 6, NULL, 10), 40);
	free(text);
	free(a);
	free(b);
	free(r);
}

static void test_no_kvm_member(void **state)
{
	(void)state;
	struct stat_sample *s = malloc(sizeof(*s));
	assert_non_null(s);
	parse("{\"devices\": {\"serial0\": {\"\": {\"exits\": 18446744073709551615}}}}", s);
	assert_int_equal(s->nrows, 1);
	assert_int_equal(s->nvcpus, 0);
	assert_true(s->rows[0].c.exits == UINT64_MAX);
	free(s);
}

/* Hostile bodies: refused with the field named, the sample left empty. */
static void test_hostile_bodies_refused(void **state)
{
	(void)state;
	static const struct {
		const char *json, *field;
	} cases[] = {
		{"", "not a JSON object"},
		{"[1, 2]", "not a JSON object"},
		{"{\"devices\": {\"nvme0\": {\"\": {\"exits\": 1}}", "not a JSON object"},
		{"{\"kvm\": {}}", "\"devices\""},
		{"{\"devices\": []}", "\"devices\""},
		{"{\"devices\": {\"nvme0\": 3}}", "devices.nvme0"},
		{"{\"devices\": {\"nvme0\": {\"q1\": [1]}}}", "devices.nvme0.q1"},
		{"{\"devices\": {\"nvme0\": {\"q1\": {\"kicks\": \"5\"}}}}", "devices.nvme0.q1.kicks"},
		{"{\"devices\": {\"nvme0\": {\"q1\": {\"kicks\": -5}}}}", "devices.nvme0.q1.kicks"},
		{"{\"devices\": {\"nvme0\": {\"q1\": {\"kicks\": 1.5}}}}", "devices.nvme0.q1.kicks"},
		{"{\"devices\": {\"a-device-name-far-too-long-for-iovirt\": {\"\": {}}}}",
		 "name too long"},
		{"{\"devices\": {\"nvme0\": {\"a-scope-name-far-too-long-for-any-queue\": {}}}}",
		 "name too long"},
		{"{\"devices\": {}, \"kvm\": 5}", "\"kvm\""},
		{"{\"devices\": {}, \"kvm\": {\"vcpu0\": {\"exits\": null}}}", "kvm.vcpu0.exits"},
	};
	struct stat_sample *s = malloc(sizeof(*s));
	assert_non_null(s);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		parse("{\"devices\": {\"x0\": {\"\": {\"exits\": 1}}}, \"kvm\": {\"vcpu0\": {}}}", s);
		if (stat_sample_parse(cases[i].json, s, err, sizeof(err)) == 0)
			fail_msg("accepted: %s", cases[i].json);
		if (!strstr(err, cases[i].field))
			fail_msg("%s: error \"%s\" does not name %s", cases[i].json, err, cases[i].field);
		assert_int_equal(s->nrows, 0);
		assert_int_equal(s->nvcpus, 0);
	}
	free(s);
}

/* More rows than the view holds: refused, not cut silently. */
static void test_too_many_rows(void **state)
{
	(void)state;
	size_t cap = 64 + (STAT_MAX_ROWS + 1) * 32, len = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	len += (size_t)snprintf(json + len, cap - len, "{\"devices\": {\"nvme0\": {");
	for (unsigned i = 0; i <= STAT_MAX_ROWS; i++)
		len += (size_t)snprintf(json + len, cap - len, "%s\"q%u\": {}", i ? ", " : "", i);
	snprintf(json + len, cap - len, "}}}");
	struct stat_sample *s = malloc(sizeof(*s));
	assert_non_null(s);
	char err[256] = "";
	assert_int_equal(stat_sample_parse(json, s, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "more than"));
	free(s);
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rows_in_order),
		cmocka_unit_test(test_rates_over_the_interval),
		cmocka_unit_test(test_idle_interval),
		cmocka_unit_test(test_restart_and_new_rows_count_from_zero),
		cmocka_unit_test(test_table_shows_used_queues),
		cmocka_unit_test(test_no_kvm_member),
		cmocka_unit_test(test_hostile_bodies_refused),
		cmocka_unit_test(test_too_many_rows),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
