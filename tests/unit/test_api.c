/* The control plane (src/api/): every endpoint and every error against a
 * fake VM, first through api_handle alone, then through the real UNIX
 * socket (raw HTTP/1.1), and the OpenAPI document against the route table. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "api/api_routes.h"
#include "support/capture.h"

/* ---- the fake VM: records which op ran, returns what the test chose ---- */

enum fake_op { OP_INFO, OP_COUNTERS, OP_PAUSE, OP_RESUME, OP_POWER, OP_REBOOT, OP_SHUTDOWN,
	       OP_SNAPSHOT, OP_MIGRATE, OP_MIGRATE_STATUS, OP_MIGRATE_CANCEL, NOPS };

struct fake_vm {
	unsigned calls[NOPS];
	int ret;            /* what the actions return */
	const char *state;
	unsigned ndevices;
	char dir[PATH_MAX + 16];  /* what vm.snapshot was given */
	const char *why;          /* what vm.snapshot and vm.send-migration say */
	struct api_migrate_params migrate;    /* what vm.send-migration was given */
	struct api_migrate_status status;     /* what vm.migration reports */
};

static void fake_info(void *vm, struct api_vm_info *out)
{
	struct fake_vm *f = vm;
	f->calls[OP_INFO]++;
	out->state = f->state;
	out->cpus = 2;
	out->memory = 512ull << 20;
	out->kernel = "/boot/bzImage";
	out->initrd = "";
	out->cmdline = "console=ttyS0";
	out->nboot_trace = 2;
	out->boot_trace[0] = (struct boot_trace_event){"vcpu-entry", -1, 41.5};
	out->boot_trace[1] = (struct boot_trace_event){"guest-code", 0x60, 812.25};
	out->ndevices = f->ndevices;
	for (unsigned i = 0; i < API_MAX_DEVICES; i++) {
		struct api_device_info *d = &out->devices[i];
		snprintf(d->id, sizeof(d->id), "nvme%u", i);
		d->kind = "nvme";
		d->io_model = "emulated";
		snprintf(d->pci, sizeof(d->pci), "0000:00:%02x.0", i + 3);
	}
	/* One not on PCI, one whose id fills its array (no NUL). */
	snprintf(out->devices[1].id, sizeof(out->devices[1].id), "serial0");
	out->devices[1].kind = "serial";
	out->devices[1].pci[0] = '\0';
	memset(out->devices[2].id, 'x', sizeof(out->devices[2].id));
}

static void fake_counters(void *vm, const struct counter_sink *sink)
{
	struct fake_vm *f = vm;
	f->calls[OP_COUNTERS]++;
	struct dev_counters dev = {.exits = 3, .requests = 9}, q1 = {.kicks = 41, .bytes_in = 4096};
	counters_emit(sink, "nvme0", "", &dev);
	counters_emit(sink, "nvme0", "q1", &q1);
	sink->emit(sink->opaque, "kvm", "vm", "remote_tlb_flush", 5);
	sink->emit(sink->opaque, "kvm", "vcpu0", "io_exits", 77);
}

static int record(void *vm, enum fake_op op)
{
	struct fake_vm *f = vm;
	f->calls[op]++;
	return f->ret;
}

static int fake_pause(void *vm) { return record(vm, OP_PAUSE); }
static int fake_resume(void *vm) { return record(vm, OP_RESUME); }
static int fake_power(void *vm) { return record(vm, OP_POWER); }
static int fake_reboot(void *vm) { return record(vm, OP_REBOOT); }
static int fake_shutdown(void *vm) { return record(vm, OP_SHUTDOWN); }

static int fake_snapshot(void *vm, const char *dir, char *why, size_t why_len)
{
	struct fake_vm *f = vm;
	snprintf(f->dir, sizeof(f->dir), "%s", dir);
	if (f->why)
		snprintf(why, why_len, "%s", f->why);
	return record(vm, OP_SNAPSHOT);
}

static int fake_migrate(void *vm, const struct api_migrate_params *p, char *why, size_t why_len)
{
	struct fake_vm *f = vm;
	f->migrate = *p;
	if (f->why)
		snprintf(why, why_len, "%s", f->why);
	return record(vm, OP_MIGRATE);
}

static void fake_migrate_status(void *vm, struct api_migrate_status *out)
{
	struct fake_vm *f = vm;
	f->calls[OP_MIGRATE_STATUS]++;
	*out = f->status;
}

static int fake_migrate_cancel(void *vm) { return record(vm, OP_MIGRATE_CANCEL); }

static const struct api_vm_ops fake_ops = {
	fake_info, fake_counters, fake_pause, fake_resume, fake_power, fake_reboot, fake_shutdown,
	fake_snapshot, fake_migrate, fake_migrate_status, fake_migrate_cancel,
};

static struct fake_vm fake;

static int reset_fake(void **state)
{
	memset(&fake, 0, sizeof(fake));
	fake.state = "Running";
	fake.ndevices = 3;
	return 0;
}

static unsigned total_calls(void)
{
	unsigned n = 0;
	for (int i = 0; i < NOPS; i++)
		n += fake.calls[i];
	return n;
}

/* ---- helpers ---- */

static void handle(const char *method, const char *url, const char *body,
		   struct api_response *r)
{
	api_handle(&fake_ops, &fake, method, url, body, body ? strlen(body) : 0, r);
}

static json_object *parse(const char *text)
{
	assert_non_null(text);
	json_object *obj = json_tokener_parse(text);
	if (!obj)
		fail_msg("not JSON: %s", text);
	return obj;
}

static json_object *member(json_object *obj, const char *key)
{
	json_object *m = NULL;
	if (!json_object_object_get_ex(obj, key, &m))
		fail_msg("no \"%s\" in %s", key, json_object_to_json_string(obj));
	return m;
}

static uint64_t member_u64(json_object *obj, const char *key)
{
	json_object *m = member(obj, key);
	assert_true(json_object_is_type(m, json_type_int));
	return json_object_get_uint64(m);
}

/* A JSON error body with status and a message containing what. */
static void assert_error(const struct api_response *r, unsigned status, const char *what)
{
	if (r->status != status)
		fail_msg("status %u, want %u (%s)", r->status, status, r->body ? r->body : "");
	json_object *obj = parse(r->body);
	const char *msg = json_object_get_string(member(obj, "error"));
	if (!strstr(msg, what))
		fail_msg("error \"%s\" does not say \"%s\"", msg, what);
	json_object_put(obj);
}

/* ---- the endpoints ---- */

static void test_ping(void **state)
{
	api_set_version("9.9.9 (git test)");
	struct api_response r;
	handle("GET", "/api/v1/vmm.ping", NULL, &r);
	assert_int_equal(r.status, 200);
	json_object *obj = parse(r.body);
	assert_string_equal(json_object_get_string(member(obj, "version")), "9.9.9 (git test)");
	assert_int_equal(member_u64(obj, "pid"), getpid());
	json_object_put(obj);
	api_response_free(&r);
	assert_int_equal(total_calls(), 0);
}

static void test_info(void **state)
{
	struct api_response r;
	handle("GET", "/api/v1/vm.info", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fake.calls[OP_INFO], 1);
	json_object *obj = parse(r.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "Running");
	assert_int_equal(member_u64(obj, "cpus"), 2);
	assert_int_equal(member_u64(obj, "memory"), 512ull << 20);
	assert_string_equal(json_object_get_string(member(obj, "kernel")), "/boot/bzImage");
	assert_null(member(obj, "initrd")); /* "" is none */
	assert_string_equal(json_object_get_string(member(obj, "cmdline")), "console=ttyS0");
	assert_true(json_object_is_type(member(obj, "firmware"), json_type_null)); /* direct boot */
	json_object *trace = member(obj, "boot_trace");
	assert_int_equal(json_object_array_length(trace), 2);
	json_object *t0 = json_object_array_get_idx(trace, 0);
	assert_string_equal(json_object_get_string(member(t0, "phase")), "vcpu-entry");
	assert_false(json_object_object_get_ex(t0, "code", NULL));
	assert_true(json_object_get_double(member(t0, "ms")) == 41.5);
	json_object *t1 = json_object_array_get_idx(trace, 1);
	assert_string_equal(json_object_get_string(member(t1, "phase")), "guest-code");
	assert_int_equal(member_u64(t1, "code"), 0x60);
	assert_string_equal(json_object_get_string(member(t1, "source")), "user space");
	assert_true(json_object_get_double(member(t1, "ms")) == 812.25);
	json_object *devs = member(obj, "devices");
	assert_int_equal(json_object_array_length(devs), 3);
	json_object *d0 = json_object_array_get_idx(devs, 0);
	assert_string_equal(json_object_get_string(member(d0, "id")), "nvme0");
	assert_string_equal(json_object_get_string(member(d0, "kind")), "nvme");
	assert_string_equal(json_object_get_string(member(d0, "io_model")), "emulated");
	assert_string_equal(json_object_get_string(member(d0, "pci")), "0000:00:03.0");
	json_object *d1 = json_object_array_get_idx(devs, 1);
	assert_string_equal(json_object_get_string(member(d1, "id")), "serial0");
	assert_null(member(d1, "pci"));
	/* An id that fills its array is cut there, not read past. */
	json_object *d2 = json_object_array_get_idx(devs, 2);
	assert_int_equal(strlen(json_object_get_string(member(d2, "id"))), DEVICE_ID_MAX);
	json_object_put(obj);
	api_response_free(&r);
}

static void test_info_device_count_bounded(void **state)
{
	fake.ndevices = API_MAX_DEVICES + 1000;
	struct api_response r;
	handle("GET", "/api/v1/vm.info", NULL, &r);
	assert_int_equal(r.status, 200);
	json_object *obj = parse(r.body);
	assert_int_equal(json_object_array_length(member(obj, "devices")), API_MAX_DEVICES);
	json_object_put(obj);
	api_response_free(&r);
}

static void test_counters(void **state)
{
	struct api_response r;
	handle("GET", "/api/v1/vm.counters", NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fake.calls[OP_COUNTERS], 1);
	json_object *obj = parse(r.body);
	json_object *devs = member(obj, "devices");
	json_object *nvme = member(devs, "nvme0");
	assert_int_equal(member_u64(member(nvme, ""), "exits"), 3);
	assert_int_equal(member_u64(member(nvme, ""), "requests"), 9);
	assert_int_equal(member_u64(member(nvme, ""), "rejected"), 0); /* zeros too */
	assert_int_equal(member_u64(member(nvme, "q1"), "kicks"), 41);
	assert_int_equal(member_u64(member(nvme, "q1"), "bytes_in"), 4096);
	/* KVM's statistics are apart from the devices. */
	assert_false(json_object_object_get_ex(devs, "kvm", NULL));
	json_object *kvm = member(obj, "kvm");
	assert_int_equal(member_u64(member(kvm, "vm"), "remote_tlb_flush"), 5);
	assert_int_equal(member_u64(member(kvm, "vcpu0"), "io_exits"), 77);
	json_object_put(obj);
	api_response_free(&r);
}

static const struct {
	const char *url;
	enum fake_op op;
	const char *name;
} actions[] = {
	{"/api/v1/vm.pause", OP_PAUSE, "vm.pause"},
	{"/api/v1/vm.resume", OP_RESUME, "vm.resume"},
	{"/api/v1/vm.power-button", OP_POWER, "vm.power-button"},
	{"/api/v1/vm.reboot", OP_REBOOT, "vm.reboot"},
	{"/api/v1/vm.shutdown", OP_SHUTDOWN, "vm.shutdown"},
};
#define NACTIONS (sizeof(actions) / sizeof(actions[0]))

static void test_actions(void **state)
{
	for (size_t i = 0; i < NACTIONS; i++) {
		reset_fake(NULL);
		struct api_response r;
		handle("PUT", actions[i].url, i % 2 ? "{}" : NULL, &r);
		assert_int_equal(r.status, 204);
		assert_null(r.body);
		assert_int_equal(fake.calls[actions[i].op], 1);
		assert_int_equal(total_calls(), 1);
		api_response_free(&r);
	}
}

static void test_action_errors(void **state)
{
	static const struct {
		int ret;
		unsigned status;
		const char *what;
	} cases[] = {
		{-EBUSY, 409, "refused while the VM is Paused"},
		{-ENOTSUP, 501, "not supported"},
		{-EIO, 500, "Input/output error"},
		{-ENOMEM, 500, "Cannot allocate memory"},
		{7, 500, "failed (7)"},
		{-100000, 500, "failed (-100000)"},
	};
	for (size_t i = 0; i < NACTIONS; i++)
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			reset_fake(NULL);
			fake.state = "Paused";
			fake.ret = cases[c].ret;
			struct api_response r;
			handle("PUT", actions[i].url, NULL, &r);
			assert_error(&r, cases[c].status, cases[c].what);
			assert_error(&r, cases[c].status, actions[i].name);
			assert_int_equal(fake.calls[actions[i].op], 1);
			api_response_free(&r);
		}
}

/* A VM without an op answers 501 and calls nothing. */
static void test_missing_ops(void **state)
{
	static const struct api_vm_ops none = {0};
	static const char *const urls[] = {"/api/v1/vm.info", "/api/v1/vm.counters",
					   "/api/v1/vm.pause", "/api/v1/vm.shutdown",
					   "/api/v1/vm.migration", "/api/v1/vm.migration-cancel"};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct api_response r;
		api_handle(&none, &fake, strstr(urls[i], "vm.info") || strstr(urls[i], "counters") ||
						 strcmp(urls[i], "/api/v1/vm.migration") == 0
						 ? "GET" : "PUT",
			   urls[i], NULL, 0, &r);
		assert_error(&r, 501, "not supported by this VM");
		api_response_free(&r);
	}
	/* vmm.ping needs no op. */
	struct api_response r;
	api_handle(&none, NULL, "GET", "/api/v1/vmm.ping", NULL, 0, &r);
	assert_int_equal(r.status, 200);
	api_response_free(&r);
}

/* ---- vm.snapshot: a body with destination_url ---- */

#define SNAPSHOT "/api/v1/vm.snapshot"

static void test_snapshot(void **state)
{
	static const struct {
		const char *body, *dir;
	} cases[] = {
		{"{\"destination_url\": \"file:///var/lib/iovirt/snap1\"}", "/var/lib/iovirt/snap1"},
		{" {\"destination_url\":\"file:///\"}\n", "/"},
		{"{\"destination_url\": \"file:///a b/c?d#e\"}", "/a b/c?d#e"},  /* as it is */
		{"{\"destination_url\": \"file:\\/\\/\\/x\\u00e9\"}", "/x\xc3\xa9"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset_fake(NULL);
		struct api_response r;
		handle("PUT", SNAPSHOT, cases[i].body, &r);
		if (r.status != 204)
			fail_msg("%s: %u %s", cases[i].body, r.status, r.body);
		assert_null(r.body);
		assert_string_equal(fake.dir, cases[i].dir);
		assert_int_equal(fake.calls[OP_SNAPSHOT], 1);
		assert_int_equal(total_calls(), 1);
	}
	/* The longest path there can be. */
	char body[PATH_MAX + 64], dir[PATH_MAX];
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"destination_url\": \"file://%s\"}", dir);
	struct api_response r;
	handle("PUT", SNAPSHOT, body, &r);
	assert_int_equal(r.status, 204);
	assert_string_equal(fake.dir, dir);
}

/* Each wrong body is refused with a message naming the member, and no
 * snapshot is taken. */
static void test_snapshot_bad_bodies(void **state)
{
	static const struct {
		const char *body, *what;
	} cases[] = {
		{NULL, "vm.snapshot needs \"destination_url\": \"file:///ABSOLUTE/DIR\""},
		{"{}", "vm.snapshot needs \"destination_url\""},
		{"{\"destination_url\": 3}", "vm.snapshot: \"destination_url\" must be a string"},
		{"{\"destination_url\": null}", "\"destination_url\" must be a string"},
		{"{\"destination_url\": [\"file:///x\"]}", "\"destination_url\" must be a string"},
		{"{\"destination_url\": \"/var/snap\"}",
		 "\"destination_url\" must be a file:// URL (\"file:///ABSOLUTE/DIR\"), not "
		 "\"/var/snap\""},
		{"{\"destination_url\": \"http://h/x\"}", "must be a file:// URL"},
		{"{\"destination_url\": \"FILE:///x\"}", "must be a file:// URL"},
		{"{\"destination_url\": \"file:/x\"}", "must be a file:// URL"},
		{"{\"destination_url\": \"\"}", "must be a file:// URL"},
		{"{\"destination_url\": \"file://\"}", "\"destination_url\" has an empty path"},
		{"{\"destination_url\": \"file://host/x\"}",
		 "\"destination_url\" must name an absolute path and no host"},
		{"{\"destination_url\": \"file://snap1\"}", "absolute path and no host"},
		{"{\"destination_url\": \"file:///snap%201\"}",
		 "\"destination_url\" has a '%': percent-escapes are not decoded"},
		{"{\"destination_url\": \"file:///x\\u0000/y\"}", "\"destination_url\" has a NUL byte"},
		{"{\"destination_url\": \"file:///x\", \"force\": true}",
		 "vm.snapshot takes \"destination_url\" only (the body has \"force\")"},
		{"{\"destination\": \"file:///x\"}", "(the body has \"destination\")"},
		{"{\"destination_url\": \"file:///x\"", "malformed JSON body"},
		{"[\"file:///x\"]", "the body must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response r;
		handle("PUT", SNAPSHOT, cases[i].body, &r);
		assert_error(&r, 400, cases[i].what);
		api_response_free(&r);
	}
	/* One byte over PATH_MAX. */
	char body[PATH_MAX + 64], dir[PATH_MAX + 1];
	memset(dir, 'd', sizeof(dir) - 1);
	dir[0] = '/';
	dir[sizeof(dir) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"destination_url\": \"file://%s\"}", dir);
	struct api_response r;
	handle("PUT", SNAPSHOT, body, &r);
	assert_error(&r, 400, "the path of \"destination_url\" is 4096 bytes, over PATH_MAX (4095)");
	api_response_free(&r);
	assert_int_equal(total_calls(), 0);
	/* The other routes still take no member. */
	handle("PUT", "/api/v1/vm.pause", "{\"destination_url\": \"file:///x\"}", &r);
	assert_error(&r, 400, "vm.pause takes no options (the body has \"destination_url\")");
	api_response_free(&r);
	assert_int_equal(total_calls(), 0);
}

static void test_snapshot_errors(void **state)
{
	static const struct {
		int ret;
		const char *why, *state;
		unsigned status;
		const char *what;
	} cases[] = {
		{-EBUSY, NULL, "Running", 409,
		 "vm.snapshot: refused while the VM is Running: pause it first"},
		{-ENOTSUP, "vfio0 (vfio) cannot be saved", "Paused", 501,
		 "vm.snapshot: cannot snapshot this VM: vfio0 (vfio) cannot be saved"},
		{-EINVAL, "/snap: not an empty directory", "Paused", 400,
		 "vm.snapshot: /snap: not an empty directory"},
		{-ENOSPC, "/snap/ram0: No space left on device", "Paused", 500,
		 "vm.snapshot: /snap/ram0: No space left on device"},
		{-EIO, NULL, "Paused", 500, "vm.snapshot: Input/output error"},
		{7, NULL, "Paused", 500, "vm.snapshot: failed (7)"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		reset_fake(NULL);
		fake.state = cases[c].state;
		fake.ret = cases[c].ret;
		fake.why = cases[c].why;
		struct api_response r;
		handle("PUT", SNAPSHOT, "{\"destination_url\": \"file:///snap\"}", &r);
		assert_error(&r, cases[c].status, cases[c].what);
		assert_int_equal(fake.calls[OP_SNAPSHOT], 1);
		assert_string_equal(fake.dir, "/snap");
		api_response_free(&r);
	}
	/* Refused in another state than Running: the hint would be wrong. */
	reset_fake(NULL);
	fake.state = "Paused";
	fake.ret = -EBUSY;
	struct api_response r;
	handle("PUT", SNAPSHOT, "{\"destination_url\": \"file:///snap\"}", &r);
	assert_error(&r, 409, "vm.snapshot: refused while the VM is Paused");
	assert_null(strstr(r.body, "pause it first"));
	api_response_free(&r);
}

/* A why that fills its buffer without a NUL is cut, not read past. */
static int snapshot_unterminated(void *vm, const char *dir, char *why, size_t why_len)
{
	memset(why, 'w', why_len);
	return -EIO;
}

static void test_snapshot_why_unterminated(void **state)
{
	static const struct api_vm_ops ops = {.snapshot = snapshot_unterminated};
	struct api_response r;
	const char *body = "{\"destination_url\": \"file:///snap\"}";
	api_handle(&ops, &fake, "PUT", SNAPSHOT, body, strlen(body), &r);
	assert_error(&r, 500, "vm.snapshot: wwww");
	json_object *obj = parse(r.body);
	size_t len = strlen(json_object_get_string(member(obj, "error")));
	assert_true(len > 100 && len < 768);
	json_object_put(obj);
	api_response_free(&r);
	/* No op at all: 501, after the body was read. */
	static const struct api_vm_ops none = {0};
	api_handle(&none, &fake, "PUT", SNAPSHOT, body, strlen(body), &r);
	assert_error(&r, 501, "vm.snapshot: not supported by this VM");
	api_response_free(&r);
	api_handle(&none, &fake, "PUT", SNAPSHOT, "{}", 2, &r);
	assert_error(&r, 400, "needs \"destination_url\"");
	api_response_free(&r);
}

/* ---- live migration: vm.send-migration, vm.migration, vm.migration-cancel ---- */

#define SEND_MIGRATION "/api/v1/vm.send-migration"
#define MIGRATION "/api/v1/vm.migration"
#define MIGRATION_CANCEL "/api/v1/vm.migration-cancel"

static void test_migrate(void **state)
{
	static const struct {
		const char *body, *url;
		uint64_t downtime_ms, bandwidth;
		bool auto_converge;
	} cases[] = {
		/* Only the URL: the VM's defaults (0 says "yours"), auto-converge on. */
		{"{\"destination_url\": \"tcp:10.0.0.2:4444\"}", "tcp:10.0.0.2:4444", 0, 0, true},
		{"{\"destination_url\": \"unix:/run/iovirt/in.sock\", \"downtime_ms\": 1, "
		 "\"bandwidth\": 0, \"auto_converge\": false}", "unix:/run/iovirt/in.sock", 1, 0, false},
		{"{\"auto_converge\": true, \"bandwidth\": 18446744073709551615, \"downtime_ms\": 60000, "
		 "\"destination_url\": \"tcp:[::1]:4444\"}", "tcp:[::1]:4444", 60000, UINT64_MAX, true},
		{"{\"destination_url\": \"tcp:h:1\", \"bandwidth\": 104857600}", "tcp:h:1", 0,
		 100ull << 20, true},
		/* The rest of the URL is the machine's to judge. */
		{"{\"destination_url\": \"unix:\"}", "unix:", 0, 0, true},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset_fake(NULL);
		struct api_response r;
		handle("PUT", SEND_MIGRATION, cases[i].body, &r);
		if (r.status != 204)
			fail_msg("%s: %u %s", cases[i].body, r.status, r.body);
		assert_null(r.body);
		assert_int_equal(fake.calls[OP_MIGRATE], 1);
		assert_int_equal(total_calls(), 1);
		assert_string_equal(fake.migrate.url, cases[i].url);
		assert_int_equal(fake.migrate.downtime_ms, cases[i].downtime_ms);
		assert_int_equal(fake.migrate.bandwidth, cases[i].bandwidth);
		assert_int_equal(fake.migrate.auto_converge, cases[i].auto_converge);
	}
	/* The longest URL there can be. */
	char body[API_MIGRATE_URL_MAX + 64], url[API_MIGRATE_URL_MAX];
	memset(url, 'u', sizeof(url) - 1);
	memcpy(url, "unix:/", 6);
	url[sizeof(url) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"destination_url\": \"%s\"}", url);
	struct api_response r;
	handle("PUT", SEND_MIGRATION, body, &r);
	assert_int_equal(r.status, 204);
	assert_string_equal(fake.migrate.url, url);
}

/* Each wrong member is refused with a message naming it, and nothing
 * starts. */
static void test_migrate_bad_bodies(void **state)
{
	static const struct {
		const char *body, *what;
	} cases[] = {
		{NULL, "vm.send-migration needs \"destination_url\": \"tcp:HOST:PORT\" or "
		       "\"unix:/PATH\""},
		{"{}", "vm.send-migration needs \"destination_url\""},
		{"{\"downtime_ms\": 300}", "needs \"destination_url\""},
		{"{\"destination_url\": 4444}", "vm.send-migration: \"destination_url\" must be a "
						"string: \"tcp:HOST:PORT\" or \"unix:/PATH\""},
		{"{\"destination_url\": null}", "\"destination_url\" must be a string"},
		{"{\"destination_url\": \"file:///x\"}",
		 "vm.send-migration: \"destination_url\" must be \"tcp:HOST:PORT\" or \"unix:/PATH\", "
		 "not \"file:///x\""},
		{"{\"destination_url\": \"TCP:h:1\"}", "must be \"tcp:HOST:PORT\" or \"unix:/PATH\""},
		{"{\"destination_url\": \"10.0.0.2:4444\"}", "not \"10.0.0.2:4444\""},
		{"{\"destination_url\": \"\"}", "must be \"tcp:HOST:PORT\""},
		{"{\"destination_url\": \"tcp:h:1\\u0000x\"}", "\"destination_url\" has a NUL byte"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": 0}",
		 "vm.send-migration: \"downtime_ms\" must be an integer from 1 to 60000, not 0"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": 60001}", "not 60001"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": -300}", "not -300"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": 1.5}", "from 1 to 60000, not 1.5"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": \"300\"}", "not \"300\""},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": null}", "not null"},
		{"{\"destination_url\": \"tcp:h:1\", \"downtime_ms\": 18446744073709551615}",
		 "\"downtime_ms\" must be an integer from 1 to 60000"},
		{"{\"destination_url\": \"tcp:h:1\", \"bandwidth\": -1}",
		 "vm.send-migration: \"bandwidth\" must be an integer of bytes/s (0: no cap), not -1"},
		{"{\"destination_url\": \"tcp:h:1\", \"bandwidth\": \"100M\"}", "not \"100M\""},
		{"{\"destination_url\": \"tcp:h:1\", \"bandwidth\": 1e6}", "\"bandwidth\" must be"},
		{"{\"destination_url\": \"tcp:h:1\", \"bandwidth\": false}", "not false"},
		{"{\"destination_url\": \"tcp:h:1\", \"auto_converge\": 1}",
		 "vm.send-migration: \"auto_converge\" must be true or false, not 1"},
		{"{\"destination_url\": \"tcp:h:1\", \"auto_converge\": \"yes\"}", "not \"yes\""},
		{"{\"destination_url\": \"tcp:h:1\", \"auto_converge\": null}", "not null"},
		{"{\"destination_url\": \"tcp:h:1\", \"force\": true}",
		 "vm.send-migration takes \"destination_url\", \"downtime_ms\", \"bandwidth\" and "
		 "\"auto_converge\" only (the body has \"force\")"},
		{"{\"url\": \"tcp:h:1\"}", "(the body has \"url\")"},
		{"{\"destination_url\": \"tcp:h:1\"", "malformed JSON body"},
		{"\"tcp:h:1\"", "the body must be a JSON object"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response r;
		handle("PUT", SEND_MIGRATION, cases[i].body, &r);
		assert_error(&r, 400, cases[i].what);
		api_response_free(&r);
	}
	/* One byte over API_MIGRATE_URL_MAX - 1. */
	char body[API_MIGRATE_URL_MAX + 64], url[API_MIGRATE_URL_MAX + 1];
	memset(url, 'u', sizeof(url) - 1);
	memcpy(url, "tcp:", 4);
	url[sizeof(url) - 1] = '\0';
	snprintf(body, sizeof(body), "{\"destination_url\": \"%s\"}", url);
	struct api_response r;
	handle("PUT", SEND_MIGRATION, body, &r);
	assert_error(&r, 400, "vm.send-migration: \"destination_url\" is 256 bytes, over 255");
	api_response_free(&r);
	assert_int_equal(total_calls(), 0);
}

static void test_migrate_errors(void **state)
{
	static const struct {
		int ret;
		const char *why, *state;
		unsigned status;
		const char *what;
	} cases[] = {
		{-EBUSY, NULL, "Running", 409,
		 "vm.send-migration: refused while the VM is Running: a migration is under way"},
		{-ENOTSUP, "vfio0 (vfio) cannot log its writes to guest RAM", "Running", 501,
		 "vm.send-migration: cannot migrate this VM: vfio0 (vfio) cannot log its writes"},
		{-EINVAL, "tcp:h: no port", "Running", 400, "vm.send-migration: tcp:h: no port"},
		{-ENOMEM, "out of memory for the dirty bitmap", "Running", 500,
		 "vm.send-migration: out of memory for the dirty bitmap"},
		{-EIO, NULL, "Running", 500, "vm.send-migration: Input/output error"},
		{7, NULL, "Running", 500, "vm.send-migration: failed (7)"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		reset_fake(NULL);
		fake.state = cases[c].state;
		fake.ret = cases[c].ret;
		fake.why = cases[c].why;
		struct api_response r;
		handle("PUT", SEND_MIGRATION, "{\"destination_url\": \"tcp:h:1\"}", &r);
		assert_error(&r, cases[c].status, cases[c].what);
		assert_int_equal(fake.calls[OP_MIGRATE], 1);
		assert_string_equal(fake.migrate.url, "tcp:h:1");
		api_response_free(&r);
	}
	/* Not running: the state says why, and the hint would be wrong. */
	reset_fake(NULL);
	fake.state = "Paused";
	fake.ret = -EBUSY;
	struct api_response r;
	handle("PUT", SEND_MIGRATION, "{\"destination_url\": \"tcp:h:1\"}", &r);
	assert_error(&r, 409, "vm.send-migration: refused while the VM is Paused");
	assert_null(strstr(r.body, "under way"));
	api_response_free(&r);
	/* No op: 501, after the body was read. */
	static const struct api_vm_ops none = {0};
	const char *body = "{\"destination_url\": \"tcp:h:1\"}";
	api_handle(&none, &fake, "PUT", SEND_MIGRATION, body, strlen(body), &r);
	assert_error(&r, 501, "vm.send-migration: not supported by this VM");
	api_response_free(&r);
	api_handle(&none, &fake, "PUT", SEND_MIGRATION, "{}", 2, &r);
	assert_error(&r, 400, "needs \"destination_url\"");
	api_response_free(&r);
}

/* The status as it is read, one member per field. */
static void test_migration_status(void **state)
{
	struct api_migrate_status *st = &fake.status;
	st->state = "active";
	st->phase = "pre-copy";
	snprintf(st->url, sizeof(st->url), "tcp:10.0.0.2:4444");
	st->pass = 3;
	st->ram_bytes = 512ull << 20;
	st->pages_sent = 131072;
	st->zero_pages = 9000;
	st->bytes_sent = 500ull << 20;
	st->dirty_pages = 56;
	st->dirty_rate = 1200;
	st->bandwidth = 80ull << 20;
	st->expected_downtime_ms = 12;
	st->throttle_pct = 20;
	st->total_ms = 2300;
	st->downtime_ms = 0;
	struct api_response r;
	handle("GET", MIGRATION, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(fake.calls[OP_MIGRATE_STATUS], 1);
	assert_int_equal(total_calls(), 1);
	json_object *obj = parse(r.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "active");
	assert_string_equal(json_object_get_string(member(obj, "phase")), "pre-copy");
	assert_string_equal(json_object_get_string(member(obj, "destination_url")),
			    "tcp:10.0.0.2:4444");
	assert_false(json_object_object_get_ex(obj, "error", NULL));  /* none */
	assert_int_equal(member_u64(obj, "pass"), 3);
	assert_int_equal(member_u64(obj, "ram_bytes"), 512ull << 20);
	assert_int_equal(member_u64(obj, "pages_sent"), 131072);
	assert_int_equal(member_u64(obj, "zero_pages"), 9000);
	assert_int_equal(member_u64(obj, "bytes_sent"), 500ull << 20);
	assert_int_equal(member_u64(obj, "dirty_pages"), 56);
	assert_int_equal(member_u64(obj, "dirty_rate"), 1200);
	assert_int_equal(member_u64(obj, "bandwidth"), 80ull << 20);
	assert_int_equal(member_u64(obj, "expected_downtime_ms"), 12);
	assert_int_equal(member_u64(obj, "throttle_pct"), 20);
	assert_int_equal(member_u64(obj, "total_ms"), 2300);
	assert_int_equal(member_u64(obj, "downtime_ms"), 0);
	assert_int_equal(json_object_object_length(obj), 15);
	json_object_put(obj);
	api_response_free(&r);

	/* Over: no phase (whatever the VM left there), the reason where
	 * there is one. */
	st->state = "failed";
	snprintf(st->error, sizeof(st->error), "tcp:10.0.0.2:4444: Connection refused");
	st->downtime_ms = UINT64_MAX;
	handle("GET", MIGRATION, "{}", &r);
	assert_int_equal(r.status, 200);
	obj = parse(r.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "failed");
	assert_null(member(obj, "phase"));
	assert_string_equal(json_object_get_string(member(obj, "error")),
			    "tcp:10.0.0.2:4444: Connection refused");
	assert_true(member_u64(obj, "downtime_ms") == UINT64_MAX);
	json_object_put(obj);
	api_response_free(&r);

	/* Never migrated; a URL and an error that fill their arrays (no NUL)
	 * are cut there, not read past. */
	memset(st, 0, sizeof(*st));
	memset(st->url, 'u', sizeof(st->url));
	memset(st->error, 'e', sizeof(st->error));
	handle("GET", MIGRATION, NULL, &r);
	assert_int_equal(r.status, 200);
	obj = parse(r.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "none");
	assert_null(member(obj, "phase"));
	assert_int_equal(strlen(json_object_get_string(member(obj, "destination_url"))),
			 API_MIGRATE_URL_MAX);
	assert_int_equal(strlen(json_object_get_string(member(obj, "error"))),
			 sizeof(st->error));
	json_object_put(obj);
	api_response_free(&r);
	/* An empty URL is null. */
	memset(st, 0, sizeof(*st));
	st->state = "none";
	handle("GET", MIGRATION, NULL, &r);
	obj = parse(r.body);
	assert_null(member(obj, "destination_url"));
	assert_false(json_object_object_get_ex(obj, "error", NULL));
	json_object_put(obj);
	api_response_free(&r);
	/* It takes no options. */
	handle("GET", MIGRATION, "{\"verbose\": true}", &r);
	assert_error(&r, 400, "vm.migration takes no options (the body has \"verbose\")");
	api_response_free(&r);
}

static void test_migration_cancel(void **state)
{
	struct api_response r;
	handle("PUT", MIGRATION_CANCEL, NULL, &r);
	assert_int_equal(r.status, 204);
	assert_null(r.body);
	assert_int_equal(fake.calls[OP_MIGRATE_CANCEL], 1);
	assert_int_equal(total_calls(), 1);
	static const struct {
		int ret;
		unsigned status;
		const char *what;
	} cases[] = {
		/* Whatever the VM's state: there is nothing to cancel. */
		{-EBUSY, 409, "vm.migration-cancel: no migration under way"},
		{-ENOTSUP, 501, "vm.migration-cancel: not supported by this VM"},
		{-EIO, 500, "vm.migration-cancel: Input/output error"},
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		reset_fake(NULL);
		fake.ret = cases[c].ret;
		handle("PUT", MIGRATION_CANCEL, "{}", &r);
		assert_error(&r, cases[c].status, cases[c].what);
		assert_int_equal(fake.calls[OP_MIGRATE_CANCEL], 1);
		assert_int_equal(fake.calls[OP_INFO], 0);
		api_response_free(&r);
	}
	handle("PUT", MIGRATION_CANCEL, "{\"force\": 1}", &r);
	assert_error(&r, 400, "vm.migration-cancel takes no options");
	api_response_free(&r);
	handle("GET", MIGRATION_CANCEL, NULL, &r);
	assert_error(&r, 405, "vm.migration-cancel takes PUT, not GET");
	assert_string_equal(r.allow, "PUT");
	api_response_free(&r);
	handle("PUT", MIGRATION, NULL, &r);
	assert_error(&r, 405, "vm.migration takes GET, not PUT");
	api_response_free(&r);
}

/* ---- errors ---- */

static void test_unknown_endpoint(void **state)
{
	static const char *const urls[] = {
		"/api/v1/vm.nope", "/", "", "/api/v1/", "/api/v1/vm.info/", "/api/v2/vm.info",
		"/api/v1/vm.info?x", "/API/V1/VM.INFO", "api/v1/vm.info", "/api/v1/vm.pausex",
	};
	for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		struct api_response r;
		handle("GET", urls[i], NULL, &r);
		assert_error(&r, 404, "no endpoint");
		assert_null(r.allow);
		api_response_free(&r);
	}
	assert_int_equal(total_calls(), 0);
}

/* What the client sent is quoted printable and short: the body stays
 * valid JSON and one line. */
static void test_unknown_endpoint_quoted(void **state)
{
	char url[600];
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "/\xff\n\x01\x7f", 5);
	struct api_response r;
	handle("GET", url, NULL, &r);
	assert_error(&r, 404, "no endpoint /????");
	assert_error(&r, 404, "aaa...");
	assert_true(strlen(r.body) < 200);
	api_response_free(&r);
}

static void test_wrong_method(void **state)
{
	static const struct {
		const char *method, *url, *allow;
	} cases[] = {
		{"GET", "/api/v1/vm.pause", "PUT"},
		{"POST", "/api/v1/vm.shutdown", "PUT"},
		{"PUT", "/api/v1/vm.info", "GET"},
		{"DELETE", "/api/v1/vm.counters", "GET"},
		{"HEAD", "/api/v1/vmm.ping", "GET"},
		{"get", "/api/v1/vmm.ping", "GET"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response r;
		handle(cases[i].method, cases[i].url, NULL, &r);
		assert_error(&r, 405, cases[i].method);
		assert_non_null(r.allow);
		assert_string_equal(r.allow, cases[i].allow);
		api_response_free(&r);
	}
	assert_int_equal(total_calls(), 0);
}

static void test_bad_bodies(void **state)
{
	static const struct {
		const char *body;
		size_t len;
		const char *what;
	} cases[] = {
		{"{", 1, "malformed JSON body: unexpected end of data at byte 1"},
		{"{\"a\":", 5, "unexpected end of data"},
		{"{}x", 3, "malformed JSON body"},
		{"{} {}", 5, "malformed JSON body"},
		{"{}\0", 3, "malformed JSON body"},
		{"[]", 2, "must be a JSON object"},
		{"42", 2, "must be a JSON object"},
		{"null", 4, "must be a JSON object"},
		{"{\"force\": true}", 15, "vm.pause takes no options (the body has \"force\")"},
		/* json-c takes single quotes even when strict: still no option. */
		{"{'a': 1}", 8, "takes no options (the body has \"a\")"},
		{"{\"\xff\": 1}", 8, "malformed JSON body"},
		{"{/* c */}", 9, "malformed JSON body"},
		{"nul", 3, "malformed JSON body"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct api_response r;
		api_handle(&fake_ops, &fake, "PUT", "/api/v1/vm.pause", cases[i].body, cases[i].len,
			   &r);
		assert_error(&r, 400, cases[i].what);
		api_response_free(&r);
	}
	assert_int_equal(total_calls(), 0);
	/* GETs take the same rule. */
	struct api_response r;
	handle("GET", "/api/v1/vm.info", "[1]", &r);
	assert_error(&r, 400, "must be a JSON object");
	api_response_free(&r);
	/* Whitespace and {} are no body. */
	handle("PUT", "/api/v1/vm.pause", " \r\n\t{ }\n", &r);
	assert_int_equal(r.status, 204);
	handle("PUT", "/api/v1/vm.pause", "  \n", &r);
	assert_int_equal(r.status, 204);
	assert_int_equal(fake.calls[OP_PAUSE], 2);
}

static void test_oversized_body(void **state)
{
	char *big = malloc(API_MAX_BODY + 1);
	assert_non_null(big);
	memset(big, ' ', API_MAX_BODY + 1);
	memcpy(big, "{}", 2);
	struct api_response r;
	/* The limit itself is fine. */
	api_handle(&fake_ops, &fake, "PUT", "/api/v1/vm.resume", big, API_MAX_BODY, &r);
	assert_int_equal(r.status, 204);
	api_handle(&fake_ops, &fake, "PUT", "/api/v1/vm.resume", big, API_MAX_BODY + 1, &r);
	assert_error(&r, 413, "65537 bytes");
	api_response_free(&r);
	/* Only the length decides: the server passes no body it did not keep. */
	api_handle(&fake_ops, &fake, "PUT", "/api/v1/vm.resume", NULL, SIZE_MAX, &r);
	assert_error(&r, 413, "over the limit");
	api_response_free(&r);
	assert_int_equal(fake.calls[OP_RESUME], 1);
	free(big);
}

/* ---- the OpenAPI document ---- */

#define OPENAPI "docs/api/openapi.json"

static json_object *openapi(void)
{
	json_object *doc = json_object_from_file(OPENAPI);
	if (!doc)
		fail_msg("%s (run from the repository root): %s", OPENAPI, json_util_get_last_err());
	return doc;
}

static const char *const http_methods[] = {"get", "put", "post", "delete", "patch", "head",
					   "options", "trace"};

static const struct api_route *route_of(const char *path)
{
	for (size_t i = 0; api_route_at(i); i++)
		if (strcmp(api_route_at(i)->path, path) == 0)
			return api_route_at(i);
	return NULL;
}

static const char *lower(const char *method)
{
	static char buf[16];
	size_t n = 0;
	for (; method[n] && n + 1 < sizeof(buf); n++)
		buf[n] = (char)(method[n] | 0x20);
	buf[n] = '\0';
	return buf;
}

/* The example the document gives for op's request body, where the
 * request needs one (requestBody.required), as text owned by the
 * document; else NULL. */
static const char *example_body(json_object *op)
{
	json_object *body, *required;
	if (!json_object_object_get_ex(op, "requestBody", &body) ||
	    !json_object_object_get_ex(body, "required", &required) ||
	    !json_object_get_boolean(required))
		return NULL;
	json_object *media = member(member(body, "content"), "application/json");
	return json_object_to_json_string_ext(member(media, "example"), JSON_C_TO_STRING_PLAIN);
}

static void test_openapi_matches_routes(void **state)
{
	json_object *doc = openapi();
	assert_string_equal(json_object_get_string(member(doc, "openapi")), "3.0.3");
	json_object *paths = member(doc, "paths");
	size_t nroutes = 0;
	/* Every route is in the document, with its method and no other. */
	for (const struct api_route *rt; (rt = api_route_at(nroutes)); nroutes++) {
		json_object *item = member(paths, rt->path);
		for (size_t m = 0; m < sizeof(http_methods) / sizeof(http_methods[0]); m++) {
			bool served = strcasecmp(rt->method, http_methods[m]) == 0;
			if (json_object_object_get_ex(item, http_methods[m], NULL) != served)
				fail_msg("%s: the document %s %s", rt->path,
					 served ? "lacks" : "has", http_methods[m]);
		}
	}
	/* Every path in the document is served, by the method it names. */
	json_object_object_foreach(paths, path, item) {
		const struct api_route *rt = route_of(path);
		if (!rt)
			fail_msg("the document has %s, which the server does not serve", path);
		struct api_response r;
		if (!json_object_object_get_ex(item, lower(rt->method), NULL))
			fail_msg("the document has %s without %s", path, rt->method);
		reset_fake(NULL);
		handle(rt->method, path, example_body(member(item, lower(rt->method))), &r);
		if (r.status != 200 && r.status != 204)
			fail_msg("%s %s with the document's example: %u %s", rt->method, path,
				 r.status, r.body);
		api_response_free(&r);
	}
	assert_int_equal((size_t)json_object_object_length(paths), nroutes);
	json_object_put(doc);
}

/* The schema a $ref names ("#/components/schemas/X"). */
static json_object *resolve(json_object *doc, json_object *schema)
{
	json_object *ref;
	if (!json_object_object_get_ex(schema, "$ref", &ref))
		return schema;
	const char *s = json_object_get_string(ref);
	const char *prefix = "#/components/schemas/";
	assert_true(strncmp(s, prefix, strlen(prefix)) == 0);
	return member(member(member(doc, "components"), "schemas"), s + strlen(prefix));
}

/* Each status an endpoint answers is in its responses, and each 200 body
 * has the members its schema requires. */
static void test_openapi_describes_responses(void **state)
{
	json_object *doc = openapi();
	json_object *paths = member(doc, "paths");
	for (size_t i = 0; api_route_at(i); i++) {
		const struct api_route *rt = api_route_at(i);
		json_object *op = member(member(paths, rt->path), lower(rt->method));
		json_object *responses = member(op, "responses");
		reset_fake(NULL);
		struct api_response r;
		handle(rt->method, rt->path, example_body(op), &r);
		char code[8];
		snprintf(code, sizeof(code), "%u", r.status);
		json_object *resp = member(responses, code);
		if (r.body) {
			json_object *content = member(member(resp, "content"), "application/json");
			json_object *schema = resolve(doc, member(content, "schema"));
			json_object *body = parse(r.body);
			json_object *required = member(schema, "required");
			assert_true(json_object_array_length(required) > 0);
			for (size_t k = 0; k < json_object_array_length(required); k++)
				member(body, json_object_get_string(
						     json_object_array_get_idx(required, k)));
			json_object_put(body);
		}
		api_response_free(&r);
		/* The error statuses it can give. */
		const char *wrong = strcmp(rt->method, "GET") == 0 ? "PUT" : "GET";
		handle(wrong, rt->path, NULL, &r);
		snprintf(code, sizeof(code), "%u", r.status);
		member(responses, code);
		api_response_free(&r);
		handle(rt->method, rt->path, "[]", &r);
		snprintf(code, sizeof(code), "%u", r.status);
		member(responses, code);
		api_response_free(&r);
		/* A route that needs a body, sent none. */
		handle(rt->method, rt->path, NULL, &r);
		snprintf(code, sizeof(code), "%u", r.status);
		member(responses, code);
		api_response_free(&r);
	}
	json_object_put(doc);
}

/* ---- through the socket ---- */

static char sock_dir[64], sock_path[100];

static int make_dir(void **state)
{
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/iovirt-test-api.XXXXXX");
	if (!mkdtemp(sock_dir))
		return -1;
	snprintf(sock_path, sizeof(sock_path), "%s/api.sock", sock_dir);
	return 0;
}

static int remove_dir(void **state)
{
	unlink(sock_path);
	return rmdir(sock_dir);
}

static int connect_to(const char *path)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		fail_msg("connect %s: %s", path, strerror(errno));
	return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		assert_true(n > 0);
		data += n;
		len -= (size_t)n;
	}
}

/* Reads until the server closes (every request says Connection: close),
 * within 10 s; NUL-terminated. */
static size_t recv_all(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, 10000) != 1)
			fail_msg("no answer within 10 s (have %zu bytes)", len);
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		assert_true(n >= 0);
		if (n == 0 || len + (size_t)n == cap - 1) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}

struct http_reply {
	char raw[8192];
	unsigned status;
	const char *body;
};

static void http(const char *request, struct http_reply *rep)
{
	int fd = connect_to(sock_path);
	send_all(fd, request, strlen(request));
	recv_all(fd, rep->raw, sizeof(rep->raw));
	close(fd);
	if (sscanf(rep->raw, "HTTP/1.1 %u ", &rep->status) != 1)
		fail_msg("not an HTTP response: %s", rep->raw);
	const char *end = strstr(rep->raw, "\r\n\r\n");
	assert_non_null(end);
	rep->body = end + 4;
}

#define REQ(method, path, extra) \
	method " " path " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" extra "\r\n"

static struct api_server *start(void)
{
	struct api_server *s = api_server_start(sock_path, &fake_ops, &fake);
	assert_non_null(s);
	return s;
}

static void assert_pings(void)
{
	struct http_reply rep;
	http(REQ("GET", "/api/v1/vmm.ping", ""), &rep);
	assert_int_equal(rep.status, 200);
	json_object *obj = parse(rep.body);
	assert_int_equal(member_u64(obj, "pid"), getpid());
	json_object_put(obj);
}

/* The server's thread is there, named. */
static bool api_thread_exists(void)
{
	char path[64], comm[32];
	for (int tid = getpid(); tid < getpid() + 100000; tid++) {
		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool api = fgets(comm, sizeof(comm), f) && strcmp(comm, "api\n") == 0;
		fclose(f);
		if (api)
			return true;
	}
	return false;
}

static void test_server_answers(void **state)
{
	struct api_server *s = start();
	struct stat st;
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(api_thread_exists());
	assert_pings();

	struct http_reply rep;
	http(REQ("PUT", "/api/v1/vm.pause", "Content-Length: 0\r\n"), &rep);
	assert_int_equal(rep.status, 204);
	assert_int_equal(fake.calls[OP_PAUSE], 1);
	http(REQ("PUT", "/api/v1/vm.resume", "Content-Length: 2\r\n") "{}", &rep);
	assert_int_equal(rep.status, 204);
	assert_int_equal(fake.calls[OP_RESUME], 1);
	/* A body with a member, as a client sends it. */
	static const char snap_body[] = "{\"destination_url\": \"file:///var/lib/iovirt/snap 1\"}";
	char req[512];
	snprintf(req, sizeof(req),
		 REQ("PUT", "/api/v1/vm.snapshot", "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n") "%s", strlen(snap_body), snap_body);
	http(req, &rep);
	assert_int_equal(rep.status, 204);
	assert_string_equal(fake.dir, "/var/lib/iovirt/snap 1");
	http(REQ("PUT", "/api/v1/vm.snapshot", ""), &rep);
	assert_int_equal(rep.status, 400);
	assert_non_null(strstr(rep.body, "vm.snapshot needs \\\"destination_url"));
	assert_int_equal(fake.calls[OP_SNAPSHOT], 1);
	/* vm.send-migration's body the same way; vm.migration answers. */
	static const char migrate_body[] = "{\"destination_url\": \"unix:/run/in.sock\", "
					   "\"auto_converge\": false}";
	snprintf(req, sizeof(req),
		 REQ("PUT", "/api/v1/vm.send-migration", "Content-Type: application/json\r\n"
		     "Content-Length: %zu\r\n") "%s", strlen(migrate_body), migrate_body);
	http(req, &rep);
	assert_int_equal(rep.status, 204);
	assert_string_equal(fake.migrate.url, "unix:/run/in.sock");
	assert_false(fake.migrate.auto_converge);
	fake.status.state = "active";
	http(REQ("GET", "/api/v1/vm.migration", ""), &rep);
	assert_int_equal(rep.status, 200);
	json_object *obj = parse(rep.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "active");
	json_object_put(obj);

	http(REQ("GET", "/api/v1/vm.info", ""), &rep);
	assert_int_equal(rep.status, 200);
	assert_non_null(strstr(rep.raw, "Content-Type: application/json\r\n"));
	obj = parse(rep.body);
	assert_string_equal(json_object_get_string(member(obj, "state")), "Running");
	json_object_put(obj);

	http(REQ("GET", "/api/v1/vm.pause", ""), &rep);
	assert_int_equal(rep.status, 405);
	assert_non_null(strstr(rep.raw, "\r\nAllow: PUT\r\n"));
	json_object_put(parse(rep.body));

	http(REQ("GET", "/api/v1/nope", ""), &rep);
	assert_int_equal(rep.status, 404);
	http(REQ("PUT", "/api/v1/vm.pause", "Content-Length: 5\r\n") "{bad}", &rep);
	assert_int_equal(rep.status, 400);
	assert_non_null(strstr(rep.body, "malformed JSON body"));

	fake.ret = -EBUSY;
	fake.state = "Paused";
	http(REQ("PUT", "/api/v1/vm.pause", ""), &rep);
	assert_int_equal(rep.status, 409);
	assert_non_null(strstr(rep.body, "Paused"));
	assert_int_equal(fake.calls[OP_PAUSE], 2);

	api_server_stop(s);
	assert_int_equal(lstat(sock_path, &st), -1);
	assert_int_equal(errno, ENOENT);
}

/* 413 before the body (Content-Length), and after it (chunked). */
static void test_server_oversized(void **state)
{
	struct api_server *s = start();
	struct http_reply rep;
	http(REQ("PUT", "/api/v1/vm.pause", "Content-Length: 1000000\r\n"), &rep);
	assert_int_equal(rep.status, 413);
	json_object_put(parse(rep.body));
	http(REQ("PUT", "/api/v1/vm.pause", "Content-Length: 99999999999999999999999\r\n"), &rep);
	assert_true(rep.status == 413 || rep.status == 400);

	/* A chunked body of 70 000 bytes. */
	size_t chunk = 7000, n = 10;
	size_t cap = 256 + n * (chunk + 16);
	char *req = malloc(cap);
	assert_non_null(req);
	size_t len = (size_t)snprintf(req, cap, "%s",
				      REQ("PUT", "/api/v1/vm.pause",
					  "Transfer-Encoding: chunked\r\n"));
	for (size_t i = 0; i < n; i++) {
		len += (size_t)snprintf(req + len, cap - len, "%zx\r\n", chunk);
		memset(req + len, ' ', chunk);
		len += chunk;
		len += (size_t)snprintf(req + len, cap - len, "\r\n");
	}
	len += (size_t)snprintf(req + len, cap - len, "0\r\n\r\n");
	int fd = connect_to(sock_path);
	send_all(fd, req, len);
	recv_all(fd, rep.raw, sizeof(rep.raw));
	close(fd);
	free(req);
	assert_non_null(strstr(rep.raw, "HTTP/1.1 413 "));
	assert_non_null(strstr(rep.raw, "over the limit"));
	assert_int_equal(total_calls(), 0);

	/* One that goes on sending past 16 times the limit is cut off. */
	fd = connect_to(sock_path);
	const char *head = REQ("PUT", "/api/v1/vm.pause", "Transfer-Encoding: chunked\r\n");
	send_all(fd, head, strlen(head));
	static char piece[65536 + 16];
	int m = snprintf(piece, sizeof(piece), "10000\r\n");
	memset(piece + m, ' ', 65536);
	memcpy(piece + m + 65536, "\r\n", 2);
	size_t sent = 0;
	for (int i = 0; i < 64; i++) {
		ssize_t k = send(fd, piece, (size_t)m + 65536 + 2, MSG_NOSIGNAL);
		if (k < 0)
			break;
		sent += (size_t)k;
	}
	assert_true(sent < 64 * (65536 + 8));
	close(fd);
	assert_int_equal(total_calls(), 0);
	assert_pings();
	api_server_stop(s);
}

/* Clients that go away mid-request leave the server serving and the VM
 * untouched. */
static void test_client_disconnects(void **state)
{
	struct api_server *s = start();
	static const char *const partial[] = {
		"GET /api/v1/vm.in",
		"PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\n",
		"PUT /api/v1/vm.pause HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\"",
		"",
	};
	for (size_t i = 0; i < sizeof(partial) / sizeof(partial[0]); i++) {
		int fd = connect_to(sock_path);
		send_all(fd, partial[i], strlen(partial[i]));
		close(fd);
	}
	/* One that stops reading: the answer is dropped with it. */
	int fd = connect_to(sock_path);
	send_all(fd, REQ("GET", "/api/v1/vm.counters", ""), strlen(REQ("GET", "/api/v1/vm.counters", "")));
	shutdown(fd, SHUT_RD);
	close(fd);
	/* Not HTTP at all: libmicrohttpd answers it itself, or hangs up. */
	fd = connect_to(sock_path);
	send_all(fd, "\x01\x02\r\n\r\n", 6);
	char buf[2048];
	recv_all(fd, buf, sizeof(buf));
	assert_true(buf[0] == '\0' || strncmp(buf, "HTTP/1.1 400", 12) == 0);
	close(fd);
	assert_pings();
	assert_int_equal(fake.calls[OP_PAUSE], 0);
	api_server_stop(s);
}

#define NCLIENTS 100

static void test_hundred_clients(void **state)
{
	struct api_server *s = start();
	int fds[NCLIENTS];
	for (int i = 0; i < NCLIENTS; i++)
		fds[i] = connect_to(sock_path);
	const char *req = REQ("GET", "/api/v1/vm.counters", "");
	for (int i = 0; i < NCLIENTS; i++)
		send_all(fds[i], req, strlen(req));
	static char raw[8192];
	for (int i = 0; i < NCLIENTS; i++) {
		recv_all(fds[i], raw, sizeof(raw));
		close(fds[i]);
		if (strncmp(raw, "HTTP/1.1 200 ", 13) != 0)
			fail_msg("client %d: %s", i, raw);
		json_object *obj = parse(strstr(raw, "\r\n\r\n") + 4);
		member(obj, "kvm");
		json_object_put(obj);
	}
	assert_int_equal(fake.calls[OP_COUNTERS], NCLIENTS);
	assert_pings();
	api_server_stop(s);
}

/* A socket left by an iovirt that died: nobody answers, so it is replaced. */
static void test_stale_socket_replaced(void **state)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	struct stat st;
	assert_int_equal(lstat(sock_path, &st), 0);
	struct api_server *s = start();
	assert_pings();
	api_server_stop(s);
}

static struct api_server *second;

/* At arg, or sock_path. */
static void start_second(void *arg)
{
	second = api_server_start(arg ? arg : sock_path, &fake_ops, &fake);
}

/* One a live process answers on is refused, and keeps serving. */
static void test_live_socket_refused(void **state)
{
	struct api_server *s = start();
	char *err = capture_stderr(start_second, NULL);
	assert_null(second);
	char want[200];
	snprintf(want, sizeof(want), "iovirt: %s: another iovirt is listening there", sock_path);
	if (!strstr(err, want) || count_occurrences(err, "\n") != 1)
		fail_msg("stderr: %s", err);
	free(err);
	assert_pings();
	api_server_stop(s);
}

static void test_not_a_socket_refused(void **state)
{
	FILE *f = fopen(sock_path, "w");
	assert_non_null(f);
	fputs("precious", f);
	fclose(f);
	char *err = capture_stderr(start_second, NULL);
	assert_null(second);
	assert_non_null(strstr(err, "exists and is not a socket"));
	free(err);
	struct stat st;
	assert_int_equal(lstat(sock_path, &st), 0);
	assert_int_equal(st.st_size, 8);
	unlink(sock_path);
}

static void test_path_too_long(void **state)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	char *err = capture_stderr(start_second, path);
	assert_null(second);
	assert_non_null(strstr(err, "a UNIX socket path is 1 to 107 bytes"));
	free(err);
}

static int reset_fake_path(void **state)
{
	unlink(sock_path);
	second = NULL;
	return reset_fake(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_ping, reset_fake),
		cmocka_unit_test_setup(test_info, reset_fake),
		cmocka_unit_test_setup(test_info_device_count_bounded, reset_fake),
		cmocka_unit_test_setup(test_counters, reset_fake),
		cmocka_unit_test_setup(test_actions, reset_fake),
		cmocka_unit_test_setup(test_action_errors, reset_fake),
		cmocka_unit_test_setup(test_missing_ops, reset_fake),
		cmocka_unit_test_setup(test_snapshot, reset_fake),
		cmocka_unit_test_setup(test_snapshot_bad_bodies, reset_fake),
		cmocka_unit_test_setup(test_snapshot_errors, reset_fake),
		cmocka_unit_test_setup(test_snapshot_why_unterminated, reset_fake),
		cmocka_unit_test_setup(test_migrate, reset_fake),
		cmocka_unit_test_setup(test_migrate_bad_bodies, reset_fake),
		cmocka_unit_test_setup(test_migrate_errors, reset_fake),
		cmocka_unit_test_setup(test_migration_status, reset_fake),
		cmocka_unit_test_setup(test_migration_cancel, reset_fake),
		cmocka_unit_test_setup(test_unknown_endpoint, reset_fake),
		cmocka_unit_test_setup(test_unknown_endpoint_quoted, reset_fake),
		cmocka_unit_test_setup(test_wrong_method, reset_fake),
		cmocka_unit_test_setup(test_bad_bodies, reset_fake),
		cmocka_unit_test_setup(test_oversized_body, reset_fake),
		cmocka_unit_test_setup(test_openapi_matches_routes, reset_fake),
		cmocka_unit_test_setup(test_openapi_describes_responses, reset_fake),
		cmocka_unit_test_setup(test_server_answers, reset_fake_path),
		cmocka_unit_test_setup(test_server_oversized, reset_fake_path),
		cmocka_unit_test_setup(test_client_disconnects, reset_fake_path),
		cmocka_unit_test_setup(test_hundred_clients, reset_fake_path),
		cmocka_unit_test_setup(test_stale_socket_replaced, reset_fake_path),
		cmocka_unit_test_setup(test_live_socket_refused, reset_fake_path),
		cmocka_unit_test_setup(test_not_a_socket_refused, reset_fake_path),
		cmocka_unit_test_setup(test_path_too_long, reset_fake_path),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
