/* `iovirt ctl SOCKET VERB [ARG] [--json]`: one request to a running
 * iovirt's control plane (docs/api/openapi.json), its answer printed for
 * a person (or the JSON as it came, with --json). A failure is one line on
 * err naming the socket and the reason, exit status 1; a usage error 2. */
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/counters_print.h"
#include "core/exit_codes.h"

typedef void print_fn(json_object *body, FILE *out);
static print_fn print_ping, print_info, print_counters;
/* The request body for the verb's argument (malloc'd), or NULL with why. */
typedef char *body_fn(const char *arg, char *why, size_t cap);
static body_fn snapshot_body;

/* A verb's argument, which its request carries as the body. */
struct verb_arg {
	const char *name;     /* in the usage: "DIR" */
	body_fn *body;
	unsigned timeout_ms;  /* the request's; 0: API_CLIENT_TIMEOUT_MS */
};

/* A snapshot writes all of guest RAM: minutes for a large guest on a
 * slow disk, where every other request takes milliseconds. */
static const struct verb_arg snapshot_dir = {"DIR", snapshot_body, 60u * 60 * 1000};

static const struct verb {
	const char *name, *method, *endpoint, *what;
	print_fn *print;  /* NULL: the action prints nothing */
	const struct verb_arg *arg;  /* NULL: the verb takes none */
} verbs[] = {
	{"ping", "GET", "vmm.ping", "the version and pid of the iovirt listening", print_ping,
	 NULL},
	{"info", "GET", "vm.info", "state, vCPUs, memory, boot files and every device", print_info,
	 NULL},
	{"counters", "GET", "vm.counters", "every device's and queue's counters, then KVM's",
	 print_counters, NULL},
	{"pause", "PUT", "vm.pause", "stop the vCPUs and quiesce device I/O", NULL, NULL},
	{"resume", "PUT", "vm.resume", "run a paused VM on", NULL, NULL},
	{"power-button", "PUT", "vm.power-button",
	 "press the ACPI power button: the guest shuts down cleanly", NULL, NULL},
	{"reboot", "PUT", "vm.reboot", "reboot the guest (a new boot with --reboot, else the end)",
	 NULL, NULL},
	{"shutdown", "PUT", "vm.shutdown", "stop the VM now; iovirt exits 0", NULL, NULL},
	{"snapshot", "PUT", "vm.snapshot",
	 "write the paused VM's snapshot into DIR (which the VM creates;\n"
	 "                DIR may also be file:///ABSOLUTE/DIR)", NULL, &snapshot_dir},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static void ctl_usage(FILE *out)
{
	fputs("usage: iovirt ctl SOCKET VERB [ARG] [--json]\n"
	      "\n"
	      "Asks the iovirt listening on SOCKET (iovirt run --api-socket SOCKET):\n",
	      out);
	for (size_t i = 0; i < NVERBS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%s%s", verbs[i].name, verbs[i].arg ? " " : "",
			 verbs[i].arg ? verbs[i].arg->name : "");
		fprintf(out, "  %-13s %s\n", name, verbs[i].what);
	}
	fputs("\n  --json        print the reply's JSON as it came\n"
	      "\nThe same requests with curl: curl --unix-socket SOCKET "
	      "http://localhost/api/v1/vm.info\n"
	      "(-X PUT for the actions; snapshot: -X PUT -d "
	      "'{\"destination_url\": \"file:///ABSOLUTE/DIR\"}').\n"
	      "Exit status: 0 done, 1 no iovirt answered or it refused (the reason on\n"
	      "stderr), 2 a usage error.\n",
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

/* path made absolute: its real path, or, where it does not exist yet,
 * its parent's real path and its last name. NULL with why. */
static char *absolute(const char *path, char *why, size_t cap)
{
	char *abs = realpath(path, NULL);
	if (abs || errno != ENOENT) {
		if (!abs)
			snprintf(why, cap, "%s: %s", path, strerror(errno));
		return abs;
	}
	char *parent = strdup(path);
	if (!parent) {
		snprintf(why, cap, "out of memory");
		return NULL;
	}
	size_t n = strlen(parent);
	while (n > 1 && parent[n - 1] == '/')  /* "snap1/" is snap1 */
		parent[--n] = '\0';
	char *slash = strrchr(parent, '/');
	const char *name = slash ? slash + 1 : parent;
	const char *dir = !slash ? "." : slash == parent ? "/" : parent;
	if (slash && slash != parent)
		*slash = '\0';
	char *real = realpath(dir, NULL);
	if (!real)
		snprintf(why, cap, "%s: its directory %s: %s", path, dir, strerror(errno));
	else if (asprintf(&abs, "%s%s%s", real, strcmp(real, "/") ? "/" : "", name) < 0) {
		abs = NULL;
		snprintf(why, cap, "out of memory");
	}
	free(real);
	free(parent);
	return abs;
}

/* {"destination_url": "file://" + DIR made absolute}; a file:// URL goes
 * as it is, for the server to judge. */
static char *snapshot_body(const char *arg, char *why, size_t cap)
{
	if (!*arg) {
		snprintf(why, cap, "the directory is empty");
		return NULL;
	}
	char *url = NULL;
	if (strncmp(arg, "file://", 7) == 0) {
		url = strdup(arg);
	} else {
		char *abs = absolute(arg, why, cap);
		if (!abs)
			return NULL;
		if (asprintf(&url, "file://%s", abs) < 0)
			url = NULL;
		free(abs);
	}
	json_object *obj = json_object_new_object();
	char *body = NULL;
	if (url && obj &&
	    json_object_object_add(obj, "destination_url", json_object_new_string(url)) == 0)
		body = strdup(json_object_to_json_string_ext(
			obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	if (!body)
		snprintf(why, cap, "out of memory");
	json_object_put(obj);
	free(url);
	return body;
}

static int ask(const char *sock, const struct verb *v, const char *arg, bool json, FILE *out,
	       FILE *err)
{
	struct api_reply reply;
	char why[512];
	struct api_request rq = {v->method, v->endpoint, NULL, v->arg ? v->arg->timeout_ms : 0};
	char *request_body = v->arg ? v->arg->body(arg, why, sizeof(why)) : NULL;
	if (v->arg && !request_body) {
		fprintf(err, "iovirt ctl: %s: %s\n", v->name, why);
		return IOVIRT_EXIT_ERROR;
	}
	rq.body = request_body;
	int called = api_request(sock, &rq, &reply, why, sizeof(why));
	free(request_body);
	if (called < 0) {
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
	const char *pos[3];
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
		} else if (npos == 3) {
			fprintf(err, "iovirt ctl: %s: one verb at a time (try iovirt ctl --help)\n",
				argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos < 2) {
		fprintf(err, "iovirt ctl: usage: iovirt ctl SOCKET VERB [ARG] [--json] (try --help)\n");
		return IOVIRT_EXIT_USAGE;
	}
	for (size_t i = 0; i < NVERBS; i++) {
		const struct verb *v = &verbs[i];
		if (strcmp(pos[1], v->name) != 0)
			continue;
		if (v->arg && npos < 3) {
			fprintf(err, "iovirt ctl: %s needs %s (try iovirt ctl --help)\n", v->name,
				v->arg->name);
			return IOVIRT_EXIT_USAGE;
		}
		if (!v->arg && npos > 2) {
			fprintf(err, "iovirt ctl: %s: one verb at a time (try iovirt ctl --help)\n",
				pos[2]);
			return IOVIRT_EXIT_USAGE;
		}
		return ask(pos[0], v, v->arg ? pos[2] : NULL, json, out, err);
	}
	fprintf(err, "iovirt ctl: %s: unknown verb (", pos[1]);
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(err, "%s%s", i ? ", " : "", verbs[i].name);
	fputs(")\n", err);
	return IOVIRT_EXIT_USAGE;
}
