/* iovirt stat's samples, rates and table: see stat_rates.h. */
#include "cmd/stat_rates.h"

#include <json-c/json.h>
#include <string.h>

#include "cmd/api_client.h"

/* A row's counters are read by core's counter_fields (the names
 * counters_emit gives them); KVM's statistics the view shows, by their
 * kernel names, into struct stat_vcpu. */
static const struct counter_field vcpu_names[] = {
	{"exits", offsetof(struct stat_vcpu, exits)},
	{"io_exits", offsetof(struct stat_vcpu, io_exits)},
	{"mmio_exits", offsetof(struct stat_vcpu, mmio_exits)},
	{"halt_exits", offsetof(struct stat_vcpu, halt_exits)},
};

static bool copy_name(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* value as a count: a non-negative JSON integer. */
static bool get_count(json_object *value, uint64_t *n)
{
	if (!json_object_is_type(value, json_type_int))
		return false;
	/* json-c keeps integers above INT64_MAX unsigned; below, signed. */
	if (json_object_get_int64(value) < 0 && json_object_get_uint64(value) <= INT64_MAX)
		return false;
	*n = json_object_get_uint64(value);
	return true;
}

#define NAMES(table) table, sizeof(table) / sizeof(table[0])

/* Reads the counters of scope (an object of name: count) into base, at
 * the offsets table gives their names; other names are skipped. where
 * names the scope in an error. */
static int read_scope(json_object *scope, const struct counter_field *table, size_t n, void *base,
		      const char *where, char *err, size_t errlen)
{
	if (!json_object_is_type(scope, json_type_object)) {
		snprintf(err, errlen, "vm.counters: %s is not an object", where);
		return -1;
	}
	API_JSON_EACH(scope, it, end) {
		const char *name = json_object_iter_peek_name(&it);
		json_object *value = json_object_iter_peek_value(&it);
		uint64_t count;
		if (!get_count(value, &count)) {
			snprintf(err, errlen, "vm.counters: %s.%s is not a count", where, name);
			return -1;
		}
		for (size_t i = 0; i < n; i++)
			if (strcmp(table[i].name, name) == 0)
				memcpy((char *)base + table[i].offset, &count, sizeof(count));
	}
	return 0;
}

static int parse_devices(json_object *devices, struct stat_sample *s, char *err, size_t errlen)
{
	if (!json_object_is_type(devices, json_type_object)) {
		snprintf(err, errlen, "vm.counters: \"devices\" is not an object");
		return -1;
	}
	API_JSON_EACH(devices, d, d_end) {
		const char *dev = json_object_iter_peek_name(&d);
		json_object *scopes = json_object_iter_peek_value(&d);
		if (!json_object_is_type(scopes, json_type_object)) {
			snprintf(err, errlen, "vm.counters: devices.%s is not an object", dev);
			return -1;
		}
		API_JSON_EACH(scopes, s_it, s_end) {
			const char *scope = json_object_iter_peek_name(&s_it);
			json_object *counters = json_object_iter_peek_value(&s_it);
			char where[DEVICE_ID_MAX + STAT_SCOPE_MAX + 16];
			snprintf(where, sizeof(where), "devices.%s.%s", dev, scope);
			if (s->nrows == STAT_MAX_ROWS) {
				snprintf(err, errlen, "vm.counters: more than %u device scopes",
					 STAT_MAX_ROWS);
				return -1;
			}
			struct stat_row *r = &s->rows[s->nrows];
			memset(r, 0, sizeof(*r));
			if (!copy_name(r->device, sizeof(r->device), dev) ||
			    !copy_name(r->scope, sizeof(r->scope), scope)) {
				snprintf(err, errlen, "vm.counters: %s: name too long", where);
				return -1;
			}
			if (read_scope(counters, counter_fields, counter_nfields, &r->c, where, err, errlen) < 0)
				return -1;
			s->nrows++;
		}
	}
	return 0;
}

/* KVM's scopes: "vm" (the VM's own) and "vcpuN"; only the vCPUs are shown. */
static int parse_kvm(json_object *kvm, struct stat_sample *s, char *err, size_t errlen)
{
	if (!json_object_is_type(kvm, json_type_object)) {
		snprintf(err, errlen, "vm.counters: \"kvm\" is not an object");
		return -1;
	}
	API_JSON_EACH(kvm, it, end) {
		const char *scope = json_object_iter_peek_name(&it);
		json_object *stats = json_object_iter_peek_value(&it);
		if (strncmp(scope, "vcpu", 4) != 0)
			continue;
		char where[STAT_SCOPE_MAX + 16];
		snprintf(where, sizeof(where), "kvm.%s", scope);
		if (s->nvcpus == STAT_MAX_VCPUS) {
			snprintf(err, errlen, "vm.counters: more than %u vCPUs", STAT_MAX_VCPUS);
			return -1;
		}
		struct stat_vcpu *v = &s->vcpus[s->nvcpus];
		memset(v, 0, sizeof(*v));
		if (!copy_name(v->scope, sizeof(v->scope), scope)) {
			snprintf(err, errlen, "vm.counters: %s: name too long", where);
			return -1;
		}
		if (read_scope(stats, NAMES(vcpu_names), v, where, err, errlen) < 0)
			return -1;
		s->nvcpus++;
	}
	return 0;
}

int stat_sample_parse(const char *json, struct stat_sample *s, char *err, size_t errlen)
{
	s->nrows = s->nvcpus = 0;
	json_object *root = json_tokener_parse(json);
	json_object *devices, *kvm;
	int ret = -1;
	if (!json_object_is_type(root, json_type_object))
		snprintf(err, errlen, "vm.counters: the reply is not a JSON object");
	else if (!json_object_object_get_ex(root, "devices", &devices))
		snprintf(err, errlen, "vm.counters: the reply has no \"devices\"");
	else if (parse_devices(devices, s, err, errlen) == 0)
		/* A kernel without binary statistics gives no "kvm". */
		ret = json_object_object_get_ex(root, "kvm", &kvm) ? parse_kvm(kvm, s, err, errlen) : 0;
	json_object_put(root);
	if (ret < 0)
		s->nrows = s->nvcpus = 0;
	return ret;
}

/* b - a, or b where the counter went backwards (it restarted from 0). */
static uint64_t delta(uint64_t a, uint64_t b)
{
	return b >= a ? b - a : b;
}

static const struct stat_row *find_row(const struct stat_sample *s, const struct stat_row *like)
{
	for (unsigned i = 0; i < s->nrows; i++)
		if (!strcmp(s->rows[i].device, like->device) && !strcmp(s->rows[i].scope, like->scope))
			return &s->rows[i];
	return NULL;
}

static const struct stat_vcpu *find_vcpu(const struct stat_sample *s, const char *scope)
{
	for (unsigned i = 0; i < s->nvcpus; i++)
		if (!strcmp(s->vcpus[i].scope, scope))
			return &s->vcpus[i];
	return NULL;
}

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : -1;
}

void stat_rates(const struct stat_sample *a, const struct stat_sample *b, double seconds,
		struct stat_rates *out)
{
	static const struct dev_counters zero;
	memset(out, 0, sizeof(*out));
	out->seconds = seconds;
	/* Per device: exits and requests over all its rows, for the device row. */
	struct dev_counters d[STAT_MAX_ROWS];
	for (unsigned i = 0; i < b->nrows; i++) {
		const struct stat_row *now = &b->rows[i], *then = find_row(a, now);
		const struct dev_counters *c0 = then ? &then->c : &zero, *c1 = &now->c;
		d[i] = (struct dev_counters){
			.exits = delta(c0->exits, c1->exits),
			.kicks = delta(c0->kicks, c1->kicks),
			.interrupts = delta(c0->interrupts, c1->interrupts),
			.requests = delta(c0->requests, c1->requests),
			.bytes_in = delta(c0->bytes_in, c1->bytes_in),
			.bytes_out = delta(c0->bytes_out, c1->bytes_out),
			.errors = delta(c0->errors, c1->errors),
			.rejected = delta(c0->rejected, c1->rejected),
		};
		struct stat_rate *r = &out->rows[i];
		memcpy(r->device, now->device, sizeof(r->device));
		memcpy(r->scope, now->scope, sizeof(r->scope));
		r->exits = (double)d[i].exits / seconds;
		r->kicks = (double)d[i].kicks / seconds;
		r->interrupts = (double)d[i].interrupts / seconds;
		r->iops = (double)d[i].requests / seconds;
		r->mb_in = (double)d[i].bytes_in / seconds / 1e6;
		r->mb_out = (double)d[i].bytes_out / seconds / 1e6;
		r->errors = (double)(d[i].errors + d[i].rejected) / seconds;
		r->exits_per_io = d[i].exits ? ratio(d[i].exits, d[i].requests) : -1;
		r->active = memcmp(c1, &zero, sizeof(zero)) != 0;
	}
	out->nrows = b->nrows;
	for (unsigned i = 0; i < b->nrows; i++) {
		if (b->rows[i].scope[0])
			continue;
		uint64_t exits = 0, requests = 0;
		for (unsigned j = 0; j < b->nrows; j++) {
			if (strcmp(b->rows[j].device, b->rows[i].device) == 0) {
				exits += d[j].exits;
				requests += d[j].requests;
			}
		}
		out->rows[i].exits_per_io = ratio(exits, requests);
	}
	for (unsigned i = 0; i < b->nvcpus; i++) {
		const struct stat_vcpu *now = &b->vcpus[i], *then = find_vcpu(a, now->scope);
		static const struct stat_vcpu none;
		if (!then)
			then = &none;
		struct stat_vcpu_rate *v = &out->vcpus[i];
		memcpy(v->scope, now->scope, sizeof(v->scope));
		v->exits = (double)delta(then->exits, now->exits) / seconds;
		v->io_exits = (double)delta(then->io_exits, now->io_exits) / seconds;
		v->mmio_exits = (double)delta(then->mmio_exits, now->mmio_exits) / seconds;
		v->halt_exits = (double)delta(then->halt_exits, now->halt_exits) / seconds;
	}
	out->nvcpus = b->nvcpus;
}

void stat_print(const struct stat_rates *r, FILE *out)
{
	fprintf(out, "%-16s %-6s %9s %9s %9s %9s %8s %8s %8s %7s\n", "DEVICE", "QUEUE", "EXITS/s",
		"KICKS/s", "IRQS/s", "IOPS", "MB/s-IN", "MB/s-OUT", "EXITS/IO", "ERR/s");
	for (unsigned i = 0; i < r->nrows; i++) {
		const struct stat_rate *s = &r->rows[i];
		if (s->scope[0] && !s->active)
			continue;
		char per_io[16] = "-";
		if (s->exits_per_io >= 0)
			snprintf(per_io, sizeof(per_io), "%.2f", s->exits_per_io);
		fprintf(out, "%-16s %-6s %9.0f %9.0f %9.0f %9.0f %8.2f %8.2f %8s %7.0f\n", s->device,
			s->scope[0] ? s->scope : "-", s->exits, s->kicks, s->interrupts, s->iops,
			s->mb_in, s->mb_out, per_io, s->errors);
	}
	if (r->nvcpus)
		fprintf(out, "\n%-16s %9s %9s %9s %9s\n", "KVM", "EXITS/s", "IO/s", "MMIO/s", "HALT/s");
	for (unsigned i = 0; i < r->nvcpus; i++) {
		const struct stat_vcpu_rate *v = &r->vcpus[i];
		fprintf(out, "%-16s %9.0f %9.0f %9.0f %9.0f\n", v->scope, v->exits, v->io_exits,
			v->mmio_exits, v->halt_exits);
	}
}
