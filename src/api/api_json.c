/* The control plane's JSON bodies: see api_json.h. */
#include "api/api_json.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

/* The text of obj, which this releases. */
static char *take_string(json_object *obj)
{
	if (!obj)
		return NULL;
	const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN |
							      JSON_C_TO_STRING_NOSLASHESCAPE);
	char *copy = s ? strdup(s) : NULL;
	json_object_put(obj);
	return copy;
}

/* A string member, null where the VM has none ("" included). */
static void add_string(json_object *obj, const char *key, const char *value)
{
	json_object_object_add(obj, key, value && *value ? json_object_new_string(value) : NULL);
}

/* Fixed-size fields from the VM may lack their NUL. */
static void add_chars(json_object *obj, const char *key, const char *value, size_t cap)
{
	size_t n = strnlen(value, cap);
	json_object_object_add(obj, key, n ? json_object_new_string_len(value, (int)n) : NULL);
}

char *api_json_error(const char *msg)
{
	json_object *obj = json_object_new_object();
	if (obj)
		json_object_object_add(obj, "error", json_object_new_string(msg));
	return take_string(obj);
}

char *api_json_ping(const char *version, pid_t pid)
{
	json_object *obj = json_object_new_object();
	if (obj) {
		json_object_object_add(obj, "version", json_object_new_string(version));
		json_object_object_add(obj, "pid", json_object_new_int64(pid));
	}
	return take_string(obj);
}

/* "boot_trace": [{"phase": "vcpu-entry", "ms": 41.2}, {"phase": "guest-code",
 * "code": 96, "source": "user space", "ms": 5120.7}, ...] */
static void add_boot_trace(json_object *obj, const struct api_vm_info *info)
{
	json_object *arr = json_object_new_array();
	if (!arr)
		return;
	size_t n = info->nboot_trace < BOOT_TRACE_MAX ? info->nboot_trace : BOOT_TRACE_MAX;
	for (size_t i = 0; i < n; i++) {
		const struct boot_trace_event *e = &info->boot_trace[i];
		json_object *ev = json_object_new_object();
		if (!ev)
			break;
		add_string(ev, "phase", e->name);
		if (e->code >= 0) {
			json_object_object_add(ev, "code", json_object_new_int(e->code));
			add_string(ev, "source", boot_trace_code_source(e->code));
		}
		json_object_object_add(ev, "ms", json_object_new_double(e->ms));
		json_object_array_add(arr, ev);
	}
	json_object_object_add(obj, "boot_trace", arr);
}

char *api_json_vm_info(const struct api_vm_info *info)
{
	json_object *obj = json_object_new_object();
	json_object *devices = json_object_new_array();
	if (!obj || !devices) {
		json_object_put(obj);
		json_object_put(devices);
		return NULL;
	}
	add_string(obj, "state", info->state);
	json_object_object_add(obj, "cpus", json_object_new_uint64(info->cpus));
	json_object_object_add(obj, "memory", json_object_new_uint64(info->memory));
	add_string(obj, "kernel", info->kernel);
	add_string(obj, "initrd", info->initrd);
	add_string(obj, "cmdline", info->cmdline);
	add_string(obj, "firmware", info->firmware);
	add_boot_trace(obj, info);
	unsigned n = info->ndevices < API_MAX_DEVICES ? info->ndevices : API_MAX_DEVICES;
	for (unsigned i = 0; i < n; i++) {
		const struct api_device_info *d = &info->devices[i];
		json_object *dev = json_object_new_object();
		if (!dev)
			break;
		add_chars(dev, "id", d->id, sizeof(d->id));
		add_string(dev, "kind", d->kind);
		add_string(dev, "io_model", d->io_model);
		add_chars(dev, "pci", d->pci, sizeof(d->pci));
		json_object_array_add(devices, dev);
	}
	json_object_object_add(obj, "devices", devices);
	return take_string(obj);
}

/* The member key of obj, created empty if missing. */
static json_object *child(json_object *obj, const char *key)
{
	json_object *c;
	if (json_object_object_get_ex(obj, key, &c))
		return c;
	c = json_object_new_object();
	if (c && json_object_object_add(obj, key, c) < 0) {
		json_object_put(c);
		c = NULL;
	}
	return c;
}

struct counters_doc {
	json_object *devices, *kvm;
};

static void emit(void *opaque, const char *device, const char *scope, const char *name,
		 uint64_t value)
{
	struct counters_doc *doc = opaque;
	json_object *dev = strcmp(device, "kvm") == 0 ? doc->kvm : child(doc->devices, device);
	json_object *sc = dev ? child(dev, scope) : NULL;
	if (sc)
		json_object_object_add(sc, name, json_object_new_uint64(value));
}

char *api_json_counters(const struct api_vm_ops *ops, void *vm)
{
	json_object *obj = json_object_new_object();
	struct counters_doc doc = {json_object_new_object(), json_object_new_object()};
	if (!obj || !doc.devices || !doc.kvm) {
		json_object_put(obj);
		json_object_put(doc.devices);
		json_object_put(doc.kvm);
		return NULL;
	}
	json_object_object_add(obj, "devices", doc.devices);
	json_object_object_add(obj, "kvm", doc.kvm);
	struct counter_sink sink = {emit, &doc};
	ops->counters(vm, &sink);
	return take_string(obj);
}

char *api_json_migrate_status(const struct api_migrate_status *st)
{
	json_object *obj = json_object_new_object();
	if (!obj)
		return NULL;
	const char *state = st->state ? st->state : "none";
	json_object_object_add(obj, "state", json_object_new_string(state));
	add_string(obj, "phase", strcmp(state, "active") == 0 ? st->phase : NULL);
	add_chars(obj, "destination_url", st->url, sizeof(st->url));
	if (strnlen(st->error, sizeof(st->error)))
		add_chars(obj, "error", st->error, sizeof(st->error));
	const struct {
		const char *key;
		uint64_t value;
	} counts[] = {
		{"pass", st->pass},
		{"ram_bytes", st->ram_bytes},
		{"pages_sent", st->pages_sent},
		{"zero_pages", st->zero_pages},
		{"bytes_sent", st->bytes_sent},
		{"dirty_pages", st->dirty_pages},
		{"dirty_rate", st->dirty_rate},
		{"bandwidth", st->bandwidth},
		{"expected_downtime_ms", st->expected_downtime_ms},
		{"throttle_pct", st->throttle_pct},
		{"total_ms", st->total_ms},
		{"downtime_ms", st->downtime_ms},
	};
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		json_object_object_add(obj, counts[i].key, json_object_new_uint64(counts[i].value));
	return take_string(obj);
}
