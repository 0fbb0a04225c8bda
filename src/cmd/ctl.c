/* `iovirt ctl SOCKET VERB [--json]`: one request to a running iovirt's
 * control plane (docs/api/openapi.json), its answer printed for a person
 * (or the JSON as it came, with --json). A failure is one line on err
 * naming the socket and the reason, exit status 1; a usage error 2. */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/counters_print.h"
#include "core/exit_codes.h"

typedef void print_fn(json_object *body, FILE *out);
static print_fn print_ping, print_info, print_counters;

static const struct verb {
	const char *name, *method, *endpoint, *what;
	print_fn *print;  /* NULL: the action prints nothing */
} verbs[] = {
	{"ping", "GET", "vmm.ping", "the version and pid of the iovirt listening", print_ping},
	{"info", "GET", "vm.info", "state, vCPUs, memory, boot files and every device", print_info},
	{"counters", "GET", "vm.counters", "every device's and queue's counters, then KVM's",
	 print_counters},
	{"pause", "PUT", "vm.pause", "stop the vCPUs and quiesce device I/O", NULL},
	{"resume", "PUT", "vm.resume", "run a paused VM on", NULL},
	{"power-button", "PUT", "vm.power-button",
	 "press the ACPI power button: the guest shuts down cleanly", NULL},
	{"reboot", "PUT", "vm.reboot", "reboot the guest (a new boot with --reboot, else the end)",
	 NULL},
	{"shutdown", "PUT", "vm.shutdown", "stop the VM now; iovirt exits 0", NULL},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void ctl_usage(FILE *out)
{
	fputs("usage: iovirt ctl SOCKET VERB [--json]\n"
	      "\n"
	      "Asks the iovirt listening on SOCKET (iovirt run --api-socket SOCKET):\n",
	      out);
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(out, "  %-13s %s\n", verbs[i].name, verbs[i].what);
	fputs("\n  --json        print the reply's JSON as it came\n"
	      "\nThe same requests with curl: curl --unix-socket SOCKET "
	      "http://localhost/api/v1/vm.info\n"
	      "(-X PUT for the actions). Exit status: 0 done, 1 no iovirt answered or it\n"
	      "refused (the reason on stderr), 2 a usage error.\n",
	      out);
}

/* A string member, or "-" where it is missing or null. */
static const char *str(json_object *obj, const char *key)
{
	json_object *v;
	if (!json_object_object_get_ex(obj, key, &v) || !json_object_is_type(v, json_type_string))
		return "-";
	return json_object_get_string(v);
}

static void print_ping(json_object *body, FILE *out)
{
	json_object *pid;
	fprintf(out, "iovirt %s", str(body, "version"));
	if (json_object_object_get_ex(body, "pid", &pid) && json_object_is_type(pid, json_type_int))
		fprintf(out, " (pid %lld)", (long long)json_object_get_int64(pid));
	fputc('\n', out);
}

static void print_info(json_object *body, FILE *out)
{
	json_object *v, *devices;
	fprintf(out, "state    %s\n", str(body, "state"));
	if (json_object_object_get_ex(body, "cpus", &v))
		fprintf(out, "cpus     %llu\n", (unsigned long long)json_object_get_uint64(v));
	if (json_object_object_get_ex(body, "memory", &v)) {
		uint64_t bytes = json_object_get_uint64(v);
		if (bytes && bytes % (1u << 20) == 0)
			fprintf(out, "memory   %llu MiB\n", (unsigned long long)(bytes >> 20));
		else
			fprintf(out, "memory   %llu bytes\n", (unsigned long long)bytes);
	}
	fprintf(out, "kernel   %s\ninitrd   %s\ncmdline  %s\n", str(body, "kernel"),
		str(body, "initrd"), str(body, "cmdline"));
	if (!json_object_object_get_ex(body, "devices", &devices) ||
	    !json_object_is_type(devices, json_type_array))
		return;
	fprintf(out, "\n%-15s %-16s %-11s %s\n", "DEVICE", "KIND", "I/O MODEL", "PCI");
	for (size_t i = 0; i < json_object_array_length(devices); i++) {
		json_object *d = json_object_array_get_idx(devices, i);
		fprintf(out, "%-15s %-16s %-11s %s\n", str(d, "id"), str(d, "kind"),
			str(d, "io_model"), str(d, "pci"));
	}
}

/* Emits every count of a {SCOPE: {NAME: N}} object under device. */
static void emit_scopes(const struct counter_sink *sink, const char *device, json_object *scopes)
{
	if (!json_object_is_type(scopes, json_type_object))
		return;
	API_JSON_EACH(scopes, s, s_end) {
		json_object *names = json_object_iter_peek_value(&s);
		if (!json_object_is_type(names, json_type_object))
			continue;
		API_JSON_EACH(names, n, n_end) {
			json_object *value = json_object_iter_peek_value(&n);
			if (json_object_is_type(value, json_type_int))
				sink->emit(sink->opaque, device, json_object_iter_peek_name(&s),
					   json_object_iter_peek_name(&n),
					   json_object_get_uint64(value));
		}
	}
}

/* As iovirt run --counters prints them: one line per device and scope. */
static void print_counters(json_object *body, FILE *out)
{
	struct counters_print p;
	struct counter_sink sink = counters_print_begin(&p, out);
	json_object *devices, *kvm;
	if (json_object_object_get_ex(body, "devices", &devices) &&
	    json_object_is_type(devices, json_type_object)) {
		API_JSON_EACH(devices, d, d_end)
			emit_scopes(&sink, json_object_iter_peek_name(&d),
				    json_object_iter_peek_value(&d));
	}
	if (json_object_object_get_ex(body, "kvm", &kvm))
		emit_scopes(&sink, "kvm", kvm);
	counters_print_end(&p);
}

static int ask(const char *sock, const struct verb *v, bool json, FILE *out, FILE *err)
{
	struct api_reply reply;
	char why[512];
	if (api_call(sock, v->method, v->endpoint, &reply, why, sizeof(why)) < 0) {
		fprintf(err, "iovirt ctl: %s: %s\n", sock, why);
		return IOVIRT_EXIT_ERROR;
	}
	int ret = IOVIRT_EXIT_OK;
	if (reply.status < 200 || reply.status > 299) {
		api_reply_reason(&reply, why, sizeof(why));
		fprintf(err, "iovirt ctl: %s: %s: %s\n", sock, v->endpoint, why);
		ret = IOVIRT_EXIT_ERROR;
	} else if (v->print && !reply.len) {
		/* Every GET answers with a body; curl takes a reply whose
		 * headers were cut short for an empty one. */
		fprintf(err, "iovirt ctl: %s: %s: the reply is empty\n", sock, v->endpoint);
		ret = IOVIRT_EXIT_ERROR;
	} else if (json) {
		if (reply.len)
			fprintf(out, "%s%s", reply.body, reply.body[reply.len - 1] == '\n' ? "" : "\n");
	} else if (v->print) {
		json_object *body = json_tokener_parse(reply.body);
		if (json_object_is_type(body, json_type_object)) {
			v->print(body, out);
		} else {
			fprintf(err, "iovirt ctl: %s: %s: the reply is not a JSON object\n", sock,
				v->endpoint);
			ret = IOVIRT_EXIT_ERROR;
		}
		json_object_put(body);
	}
	api_reply_free(&reply);
	return ret;
}

int ctl_main(int argc, char **argv, FILE *out, FILE *err)
{
	const char *pos[2];
	int npos = 0;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			ctl_usage(out);
			return IOVIRT_EXIT_OK;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(err, "iovirt ctl: %s: unknown option (try iovirt ctl --help)\n", argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else if (npos == 2) {
			fprintf(err, "iovirt ctl: %s: one verb at a time (try iovirt ctl --help)\n",
				argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos < 2) {
		fprintf(err, "iovirt ctl: usage: iovirt ctl SOCKET VERB [--json] (try --help)\n");
		return IOVIRT_EXIT_USAGE;
	}
	for (size_t i = 0; i < NVERBS; i++)
		if (!strcmp(pos[1], verbs[i].name))
			return ask(pos[0], &verbs[i], json, out, err);
	fprintf(err, "iovirt ctl: %s: unknown verb (", pos[1]);
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(err, "%s%s", i ? ", " : "", verbs[i].name);
	fputs(")\n", err);
	return IOVIRT_EXIT_USAGE;
}
