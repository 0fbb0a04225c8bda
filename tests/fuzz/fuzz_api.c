// fuzz-sources: src/api/api_routes.c src/api/api_json.c src/core/boot_trace.c src/core/counters.c -ljson-c
/* The control plane's request handling (api_handle): the fuzzer's bytes
 * are a flags byte, then method NUL url NUL body, handed to api_handle
 * with a fake VM whose actions return what the flags pick. The server
 * adapts libmicrohttpd to exactly this call, so this is every request a
 * client can make, short of HTTP framing (libmicrohttpd's).
 *
 * Checked invariants: no crash, leak or UB; a status the API documents;
 * 204 without a body and every other status with a JSON object body in
 * ASCII (what the client sent is quoted, never echoed raw), errors with an
 * "error" string; Allow with 405 only; an op called only for a request
 * that passed the checks, and at most one action. */
#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_routes.h"

static unsigned actions_called, info_called, counters_called, snapshots_called, migrates_called;
static int action_ret;

static void info(void *vm, struct api_vm_info *out)
{
	info_called++;
	out->state = "Paused";
	out->cpus = 1;
	out->memory = 1 << 20;
	out->ndevices = API_MAX_DEVICES + 1;
	for (unsigned i = 0; i < API_MAX_DEVICES; i++) {
		snprintf(out->devices[i].id, sizeof(out->devices[i].id), "virtio-blk%u", i);
		out->devices[i].kind = "virtio-blk";
		out->devices[i].io_model = "virtio";
	}
}

static void counters(void *vm, const struct counter_sink *sink)
{
	counters_called++;
	struct dev_counters c = {.kicks = UINT64_MAX};
	counters_emit(sink, "virtio-blk0", "q0", &c);
	sink->emit(sink->opaque, "kvm", "vcpu0", "exits", 1);
}

static int action(void *vm)
{
	actions_called++;
	return action_ret;
}

/* vm.snapshot: an action whose why fills the buffer with no NUL. */
static int snapshot(void *vm, const char *dir, char *why, size_t why_len)
{
	if (dir[0] != '/')
		abort();
	memset(why, 'w', why_len);
	snapshots_called++;
	return action(vm);
}

/* vm.send-migration: what the route read is in range, the URL ends
 * within its array; the why fills the buffer with no NUL. */
static int migrate(void *vm, const struct api_migrate_params *p, char *why, size_t why_len)
{
	size_t n = strnlen(p->url, sizeof(p->url));
	if (n == sizeof(p->url) || (strncmp(p->url, "tcp:", 4) && strncmp(p->url, "unix:", 5)) ||
	    p->downtime_ms > 60000)
		abort();
	memset(why, 'w', why_len);
	migrates_called++;
	return action(vm);
}

/* vm.migration: strings that fill their arrays with no NUL. */
static void migrate_status(void *vm, struct api_migrate_status *out)
{
	info_called++;
	out->state = "failed";
	out->phase = "pre-copy";
	memset(out->url, 'u', sizeof(out->url));
	memset(out->error, '\n', sizeof(out->error));
	out->downtime_ms = UINT64_MAX;
}

static const struct api_vm_ops ops = {info,   counters, action,  action,  action,        action,
				      action, snapshot, migrate, migrate_status, action};
static const struct api_vm_ops no_ops;

/* A C string from data up to the next NUL (or the end), malloc'd to its
 * exact size so that ASan sees a read past it. */
static char *take(const uint8_t **data, size_t *size)
{
	const uint8_t *nul = memchr(*data, 0, *size);
	size_t n = nul ? (size_t)(nul - *data) : *size;
	char *s = malloc(n + 1);
	if (!s)
		abort();
	memcpy(s, *data, n);
	s[n] = '\0';
	*data += nul ? n + 1 : n;
	*size -= nul ? n + 1 : n;
	return s;
}

static void check_body(const struct api_response *r)
{
	for (const char *p = r->body; *p; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			abort();
	json_tokener *tok = json_tokener_new();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *obj = json_tokener_parse_ex(tok, r->body, (int)strlen(r->body) + 1);
	if (json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object))
		abort();
	json_tokener_free(tok);
	json_object *err;
	bool has_error = json_object_object_get_ex(obj, "error", &err);
	/* A 200 has one only where it is vm.migration's: why it failed. */
	bool migration = r->status == 200 && json_object_object_get_ex(obj, "pass", NULL);
	if ((has_error != (r->status >= 400) && !migration) ||
	    (has_error && !json_object_is_type(err, json_type_string)))
		abort();
	json_object_put(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const int rets[] = {0, -EBUSY, -ENOTSUP, -EIO, 1, -100000, -EINVAL, 0};
	uint8_t flags = *data++;
	size--;
	action_ret = rets[flags & 7];
	const struct api_vm_ops *o = flags & 8 ? &no_ops : &ops;
	char *method = take(&data, &size);
	char *url = take(&data, &size);
	char *body = malloc(size ? size : 1);
	if (!body)
		abort();
	memcpy(body, data, size);
	/* The server's oversized case: a length and no body. */
	size_t len = flags & 16 ? API_MAX_BODY + 1 + size : size;

	actions_called = info_called = counters_called = snapshots_called = migrates_called = 0;
	struct api_response r;
	api_handle(o, NULL, method, url, flags & 16 ? NULL : body, len, &r);

	switch (r.status) {
	case 200: case 204: case 400: case 404: case 405: case 409: case 413: case 500: case 501:
		break;
	default:
		abort();
	}
	/* No body: 204, or a 500 for want of memory. */
	if (r.status == 204 ? r.body != NULL : !r.body && r.status != 500)
		abort();
	if (r.body)
		check_body(&r);
	if ((r.status == 405) != (r.allow != NULL))
		abort();
	bool refused = r.status == 400 || r.status == 404 || r.status == 405 || r.status == 413;
	/* (vm.snapshot's and vm.send-migration's ops refuse a destination they
	 * cannot use: -EINVAL, 400.) */
	bool op_refused = r.status == 400 && snapshots_called + migrates_called == 1 &&
			  action_ret == -EINVAL;
	if (refused && !op_refused && actions_called + info_called + counters_called)
		abort();
	if (actions_called > 1 || counters_called > 1)
		abort();
	api_response_free(&r);
	free(method);
	free(url);
	free(body);
	return 0;
}
