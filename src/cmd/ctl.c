/* `iovirt ctl SOCKET VERB [ARG] [OPTION...] [--json]`: one request to a
 * running iovirt's control plane (docs/api/openapi.json), its answer
 * printed for a person (or the JSON as it came, with --json); migrate then
 * follows the migration it started until it is over. A failure is one
 * line on err naming the socket and the reason, exit status 1; a usage
 * error 2. */
#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/counters_print.h"
#include "core/exit_codes.h"
#include "machine/config.h"

/* The command line, past the verb. */
struct ctl_args {
	const char *sock;
	const char *arg;          /* the verb's ARG; NULL where it takes none */
	bool json;                /* --json */
	/* migrate's options as given; NULL: the VM's default */
	const char *downtime_ms, *bandwidth;
	bool no_auto_converge;
	const char *option;       /* the last of them given: only migrate takes them */
};

typedef void print_fn(json_object *body, FILE *out);
static print_fn print_ping, print_info, print_counters, print_migration;
/* The request body for the verb's argument (malloc'd), or NULL with why. */
typedef char *body_fn(const struct ctl_args *a, char *why, size_t cap);
static body_fn snapshot_body, migrate_body;
/* After the request succeeded, follows what it started: the exit status. */
typedef int follow_fn(const struct ctl_args *a, FILE *out, FILE *err);
static follow_fn follow_migration;

/* A verb's argument, which its request carries as the body. */
struct verb_arg {
	const char *name;     /* in the usage: "DIR" */
	body_fn *body;
	unsigned timeout_ms;  /* the request's; 0: API_CLIENT_TIMEOUT_MS */
	bool options;         /* the body carries migrate's options too */
};

/* A snapshot writes all of guest RAM: minutes for a large guest on a
 * slow disk, where every other request takes milliseconds. */
static const struct verb_arg snapshot_dir = {"DIR", snapshot_body, 60u * 60 * 1000, false};
/* vm.send-migration only starts it: it answers at once. */
static const struct verb_arg migrate_url = {"URL", migrate_body, 0, true};

static const struct verb {
	const char *name, *method, *endpoint;
	const char *what;  /* in the usage; a '\n' goes on under it */
	print_fn *print;  /* NULL: the action prints nothing */
	const struct verb_arg *arg;  /* NULL: the verb takes none */
	follow_fn *follow;  /* NULL: done once answered */
} verbs[] = {
	{"ping", "GET", "vmm.ping", "the version and pid of the iovirt listening", print_ping,
	 NULL, NULL},
	{"info", "GET", "vm.info", "state, vCPUs, memory, boot files and every device", print_info,
	 NULL, NULL},
	{"counters", "GET", "vm.counters", "every device's and queue's counters, then KVM's",
	 print_counters, NULL, NULL},
	{"pause", "PUT", "vm.pause", "stop the vCPUs and quiesce device I/O", NULL, NULL, NULL},
	{"resume", "PUT", "vm.resume", "run a paused VM on", NULL, NULL, NULL},
	{"power-button", "PUT", "vm.power-button",
	 "press the ACPI power button: the guest shuts down cleanly", NULL, NULL, NULL},
	{"reboot", "PUT", "vm.reboot", "reboot the guest (a new boot with --reboot, else the end)",
	 NULL, NULL, NULL},
	{"shutdown", "PUT", "vm.shutdown", "stop the VM now; iovirt exits 0", NULL, NULL, NULL},
	{"snapshot", "PUT", "vm.snapshot",
	 "write the paused VM's snapshot into DIR (which the VM creates;\n"
	 "DIR may also be file:///ABSOLUTE/DIR)", NULL, &snapshot_dir, NULL},
	{"migrate", "PUT", "vm.send-migration",
	 "move the running VM to the iovirt waiting at URL (iovirt run\n"
	 "--incoming URL; tcp:HOST:PORT or unix:/PATH), one line per pass\n"
	 "over its memory until it is over", NULL, &migrate_url, follow_migration},
	{"migrate-status", "GET", "vm.migration", "how the last migration goes or went",
	 print_migration, NULL, NULL},
	{"migrate-cancel", "PUT", "vm.migration-cancel",
	 "stop the migration under way: the VM runs on here", NULL, NULL, NULL},
};
#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

/* The usage's column of explanations. */
#define WHAT_COL 19

/* what, its lines after the first indented to WHAT_COL. */
static void print_what(const char *what, FILE *out)
{
	for (const char *nl; (nl = strchr(what, '\n')); what = nl + 1)
		fprintf(out, "%.*s\n%*s", (int)(nl - what), what, WHAT_COL, "");
	fprintf(out, "%s\n", what);
}

static void ctl_usage(FILE *out)
{
	fputs("usage: iovirt ctl SOCKET VERB [ARG] [OPTION...] [--json]\n"
	      "\n"
	      "Asks the iovirt listening on SOCKET (iovirt run --api-socket SOCKET):\n",
	      out);
	for (size_t i = 0; i < NVERBS; i++) {
		char name[32];
		snprintf(name, sizeof(name), "%s%s%s", verbs[i].name, verbs[i].arg ? " " : "",
			 verbs[i].arg ? verbs[i].arg->name : "");
		fprintf(out, "  %-*s ", WHAT_COL - 3, name);
		print_what(verbs[i].what, out);
	}
	fputs("\n  --json           print the reply's JSON as it came (migrate: the last\n"
	      "                   vm.migration's)\n"
	      "\nmigrate's options:\n"
	      "  --downtime-ms N       the longest pause the guest may see at the end, 1 to\n"
	      "                        60000 ms (default 300)\n"
	      "  --bandwidth SIZE      bytes/s at most on the link; with K, M or G: KiB/s,\n"
	      "                        MiB/s, GiB/s (default 0: no cap)\n"
	      "  --no-auto-converge    never slow the vCPUs of a guest that dirties its memory\n"
	      "                        faster than the link sends it\n"
	      "\nThe same requests with curl: curl --unix-socket SOCKET "
	      "http://localhost/api/v1/vm.info\n"
	      "(-X PUT for the actions; snapshot: -X PUT -d "
	      "'{\"destination_url\": \"file:///ABSOLUTE/DIR\"}';\n"
	      "migrate: -X PUT -d '{\"destination_url\": \"tcp:HOST:PORT\"}' to vm.send-migration,\n"
	      "then GET vm.migration).\n"
	      "Exit status: 0 done (migrate: the migration completed), 1 no iovirt answered\n"
	      "or it refused, or the migration failed or was cancelled (the reason on\n"
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

/* obj as a request's body (malloc'd), or NULL with why; releases obj. */
static char *json_body(json_object *obj, char *why, size_t cap)
{
	const char *text = obj ? json_object_to_json_string_ext(
					 obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
			       : NULL;
	char *body = text ? strdup(text) : NULL;
	if (!body)
		snprintf(why, cap, "out of memory");
	json_object_put(obj);
	return body;
}

/* {"destination_url": "file://" + DIR made absolute}; a file:// URL goes
 * as it is, for the server to judge. */
static char *snapshot_body(const struct ctl_args *a, char *why, size_t cap)
{
	const char *arg = a->arg;
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
	json_object *obj = url ? json_object_new_object() : NULL;
	if (obj &&
	    json_object_object_add(obj, "destination_url", json_object_new_string(url)) < 0) {
		json_object_put(obj);
		obj = NULL;
	}
	free(url);
	return json_body(obj, why, cap);
}

/* --downtime-ms: 1 to 60000, as the server takes it. */
static int parse_downtime(const char *s, uint64_t *ms)
{
	char *end;
	errno = 0;
	unsigned long long n = isdigit((unsigned char)*s) ? strtoull(s, &end, 10) : 0;
	if (!n || errno || *end || n > 60000)
		return -EINVAL;
	*ms = n;
	return 0;
}

/* --bandwidth: bytes/s; a bare number is bytes here, where
 * config_parse_size takes it as MiB (as --memory does). */
static int parse_bandwidth(const char *s, uint64_t *bytes)
{
	if (!*s || s[strspn(s, "0123456789")])
		return config_parse_size(s, bytes);
	char *end;
	errno = 0;
	unsigned long long n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	*bytes = n;
	return 0;
}

/* {"destination_url": URL, and the options given}: the URL goes as it is,
 * for the server to judge; the options are checked here, so that a typo
 * is not a request. */
static char *migrate_body(const struct ctl_args *a, char *why, size_t cap)
{
	uint64_t downtime = 0, bandwidth = 0;
	if (a->downtime_ms && parse_downtime(a->downtime_ms, &downtime) < 0) {
		snprintf(why, cap, "--downtime-ms %s: not a number of milliseconds from 1 to 60000",
			 a->downtime_ms);
		return NULL;
	}
	if (a->bandwidth && parse_bandwidth(a->bandwidth, &bandwidth) < 0) {
		snprintf(why, cap, "--bandwidth %s: not a size in bytes/s (such as 1000000, 512K, "
			 "100M, 1G)", a->bandwidth);
		return NULL;
	}
	json_object *obj = json_object_new_object();
	if (obj) {
		json_object_object_add(obj, "destination_url", json_object_new_string(a->arg));
		if (a->downtime_ms)
			json_object_object_add(obj, "downtime_ms", json_object_new_uint64(downtime));
		if (a->bandwidth)
			json_object_object_add(obj, "bandwidth", json_object_new_uint64(bandwidth));
		if (a->no_auto_converge)
			json_object_object_add(obj, "auto_converge", json_object_new_boolean(0));
	}
	return json_body(obj, why, cap);
}

/* The members of a vm.migration reply as iovirt ctl shows them. */
enum field_kind {
	FIELD_TEXT,       /* a string; "-" where null */
	FIELD_COUNT,      /* a number, then its unit */
	FIELD_BYTES,      /* a number of bytes, then the size in KiB, MiB, ... */
	FIELD_BYTE_RATE,  /* bytes/s, then the rate in KiB/s, MiB/s, ... */
};

static const struct field {
	const char *key, *unit;
	enum field_kind kind;
} migration_fields[] = {
	{"state", "", FIELD_TEXT},
	{"phase", "", FIELD_TEXT},
	{"destination_url", "", FIELD_TEXT},
	{"error", "", FIELD_TEXT},  /* only where the reply has one */
	{"pass", "", FIELD_COUNT},
	{"ram_bytes", "", FIELD_BYTES},
	{"pages_sent", "", FIELD_COUNT},
	{"zero_pages", "", FIELD_COUNT},
	{"bytes_sent", "", FIELD_BYTES},
	{"dirty_pages", "", FIELD_COUNT},
	{"dirty_rate", " pages/s", FIELD_COUNT},
	{"bandwidth", " bytes/s", FIELD_BYTE_RATE},
	{"expected_downtime_ms", " ms", FIELD_COUNT},
	{"throttle_pct", "%", FIELD_COUNT},
	{"total_ms", " ms", FIELD_COUNT},
	{"downtime_ms", " ms", FIELD_COUNT},
};

/* An integer member in *v: false where it is missing or not one. */
static bool number(json_object *obj, const char *key, uint64_t *v)
{
	json_object *m;
	if (!json_object_object_get_ex(obj, key, &m) || !json_object_is_type(m, json_type_int))
		return false;
	*v = json_object_get_uint64(m);
	return true;
}

/* An integer member, 0 where it is missing. */
static uint64_t count(json_object *obj, const char *key)
{
	uint64_t v = 0;
	number(obj, key, &v);
	return v;
}

/* "512 MiB", "4.8 MiB", "300 bytes". */
static const char *size_text(uint64_t bytes, char *buf, size_t cap)
{
	static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;
	while (u + 1 < sizeof(units) / sizeof(units[0]) && bytes >> (10 * (u + 1)))
		u++;
	uint64_t unit = 1ull << (10 * u);
	if (bytes % unit == 0)
		snprintf(buf, cap, "%llu %s", (unsigned long long)(bytes / unit), units[u]);
	else
		snprintf(buf, cap, "%.1f %s", (double)bytes / (double)unit, units[u]);
	return buf;
}

/* `migrate-status`: one member a line. */
static void print_migration(json_object *body, FILE *out)
{
	for (size_t i = 0; i < sizeof(migration_fields) / sizeof(migration_fields[0]); i++) {
		const struct field *f = &migration_fields[i];
		uint64_t v;
		char size[32];
		if (f->kind == FIELD_TEXT && !strcmp(f->key, "error") &&
		    !json_object_object_get_ex(body, f->key, NULL))
			continue;
		fprintf(out, "%-21s ", f->key);
		if (f->kind == FIELD_TEXT)
			fprintf(out, "%s\n", str(body, f->key));
		else if (!number(body, f->key, &v))
			fputs("-\n", out);
		else if (f->kind == FIELD_COUNT)
			fprintf(out, "%llu%s\n", (unsigned long long)v, f->unit);
		else
			fprintf(out, "%llu%s (%s%s)\n", (unsigned long long)v, f->unit,
				size_text(v, size, sizeof(size)), f->kind == FIELD_BYTE_RATE ? "/s" : "");
	}
}

/* "pass 3: 1234 pages sent, 56 dirty, 80 MiB/s, expected downtime 12 ms" */
static void print_pass(json_object *st, FILE *out)
{
	char rate[32];
	fprintf(out, "pass %llu: %llu pages sent, %llu dirty, %s/s, expected downtime %llu ms",
		(unsigned long long)count(st, "pass"), (unsigned long long)count(st, "pages_sent"),
		(unsigned long long)count(st, "dirty_pages"),
		size_text(count(st, "bandwidth"), rate, sizeof(rate)),
		(unsigned long long)count(st, "expected_downtime_ms"));
	if (count(st, "throttle_pct"))
		fprintf(out, ", vCPUs throttled %llu%%",
			(unsigned long long)count(st, "throttle_pct"));
	fputc('\n', out);
}

/* The guest's pages are 4 KiB. */
#define PAGE_BYTES 4096ull

/* "migrated to URL: 5 passes, 131072 pages (512 MiB) sent, 9000 zero
 * pages, downtime 45 ms, total 2300 ms" */
static void print_migrated(const char *url, json_object *st, FILE *out)
{
	char size[32];
	uint64_t passes = count(st, "pass"), pages = count(st, "pages_sent");
	fprintf(out, "migrated to %s: %llu pass%s, %llu pages (%s) sent, %llu zero pages, "
		"downtime %llu ms, total %llu ms\n", url, (unsigned long long)passes,
		passes == 1 ? "" : "es", (unsigned long long)pages,
		size_text(pages * PAGE_BYTES, size, sizeof(size)),
		(unsigned long long)count(st, "zero_pages"),
		(unsigned long long)count(st, "downtime_ms"),
		(unsigned long long)count(st, "total_ms"));
}

/* reply as the verb's answer: 0 where its status is 2xx, else -1 after
 * one line on err. */
static int check_status(const char *sock, const char *endpoint, const struct api_reply *reply,
			FILE *err)
{
	char why[512];
	if (reply->status >= 200 && reply->status <= 299)
		return 0;
	api_reply_reason(reply, why, sizeof(why));
	fprintf(err, "iovirt ctl: %s: %s: %s\n", sock, endpoint, why);
	return -1;
}

/* reply's body as a JSON object (the caller puts it), or NULL after one
 * line on err. */
static json_object *reply_object(const char *sock, const char *endpoint,
				 const struct api_reply *reply, FILE *err)
{
	/* Every GET answers with a body; curl takes a reply whose headers
	 * were cut short for an empty one. */
	if (!reply->len) {
		fprintf(err, "iovirt ctl: %s: %s: the reply is empty\n", sock, endpoint);
		return NULL;
	}
	json_object *body = json_tokener_parse(reply->body);
	if (json_object_is_type(body, json_type_object))
		return body;
	json_object_put(body);
	fprintf(err, "iovirt ctl: %s: %s: the reply is not a JSON object\n", sock, endpoint);
	return NULL;
}

/* How often migrate asks how the migration goes. */
#define MIGRATE_POLL_MS 200

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* The migration's end as st says it: the summary (or, with --json, the
 * reply as it came) and 0 where it completed, else one line on err and 1. */
static int migration_over(const struct ctl_args *a, json_object *st,
			  const struct api_reply *reply, FILE *out, FILE *err)
{
	const char *state = str(st, "state"), *error = str(st, "error");
	bool completed = !strcmp(state, "completed");
	if (a->json)
		fprintf(out, "%s%s", reply->body, reply->body[reply->len - 1] == '\n' ? "" : "\n");
	else if (completed)
		print_migrated(a->arg, st, out);
	if (completed)
		return IOVIRT_EXIT_OK;
	if (!strcmp(state, "failed") || !strcmp(state, "cancelled"))
		fprintf(err, "iovirt ctl: %s: migration to %s %s%s%s\n", a->sock, a->arg, state,
			strcmp(error, "-") ? ": " : "", strcmp(error, "-") ? error : "");
	else  /* "none": the machine it started on is gone (a reboot) */
		fprintf(err, "iovirt ctl: %s: migration to %s: the VM reports it %s\n", a->sock,
			a->arg, state);
	return IOVIRT_EXIT_ERROR;
}

/* After vm.send-migration: vm.migration every MIGRATE_POLL_MS, a line for
 * each pass seen, until the migration is no longer active. */
static int follow_migration(const struct ctl_args *a, FILE *out, FILE *err)
{
	uint64_t shown = 0;
	for (;;) {
		struct api_reply reply;
		char why[512];
		if (api_call(a->sock, "GET", "vm.migration", &reply, why, sizeof(why)) < 0) {
			fprintf(err, "iovirt ctl: %s: the source iovirt went away while migrating to "
				"%s (%s)\n", a->sock, a->arg, why);
			return IOVIRT_EXIT_ERROR;
		}
		json_object *st = check_status(a->sock, "vm.migration", &reply, err) < 0
					  ? NULL : reply_object(a->sock, "vm.migration", &reply, err);
		int ret = IOVIRT_EXIT_ERROR;
		bool active = st && !strcmp(str(st, "state"), "active");
		if (active && !a->json && count(st, "pass") > shown) {
			shown = count(st, "pass");
			print_pass(st, out);
			fflush(out);  /* a person watches it, through a pipe too */
		} else if (st && !active) {
			ret = migration_over(a, st, &reply, out, err);
		}
		json_object_put(st);
		api_reply_free(&reply);
		if (!active)
			return ret;
		sleep_ms(MIGRATE_POLL_MS);
	}
}

static int ask(const struct verb *v, const struct ctl_args *a, FILE *out, FILE *err)
{
	struct api_reply reply;
	char why[512];
	struct api_request rq = {v->method, v->endpoint, NULL, v->arg ? v->arg->timeout_ms : 0};
	char *request_body = v->arg ? v->arg->body(a, why, sizeof(why)) : NULL;
	if (v->arg && !request_body) {
		fprintf(err, "iovirt ctl: %s: %s\n", v->name, why);
		return IOVIRT_EXIT_ERROR;
	}
	rq.body = request_body;
	int called = api_request(a->sock, &rq, &reply, why, sizeof(why));
	free(request_body);
	if (called < 0) {
		fprintf(err, "iovirt ctl: %s: %s\n", a->sock, why);
		return IOVIRT_EXIT_ERROR;
	}
	int ret = IOVIRT_EXIT_OK;
	if (check_status(a->sock, v->endpoint, &reply, err) < 0) {
		ret = IOVIRT_EXIT_ERROR;
	} else if (v->print && !reply.len) {
		reply_object(a->sock, v->endpoint, &reply, err);  /* says it is empty */
		ret = IOVIRT_EXIT_ERROR;
	} else if (a->json) {
		if (reply.len)
			fprintf(out, "%s%s", reply.body, reply.body[reply.len - 1] == '\n' ? "" : "\n");
	} else if (v->print) {
		json_object *body = reply_object(a->sock, v->endpoint, &reply, err);
		if (body)
			v->print(body, out);
		else
			ret = IOVIRT_EXIT_ERROR;
		json_object_put(body);
	}
	api_reply_free(&reply);
	if (ret == IOVIRT_EXIT_OK && v->follow)
		ret = v->follow(a, out, err);
	return ret;
}

/* Takes argv[*i], one of migrate's options, and its value into a: 0; 1
 * where it is not one of them; -1 after one line on err (no value). */
static int migrate_option(int argc, char **argv, int *i, struct ctl_args *a, FILE *err)
{
	const char *o = argv[*i];
	const char **value = !strcmp(o, "--downtime-ms") ? &a->downtime_ms
			     : !strcmp(o, "--bandwidth") ? &a->bandwidth : NULL;
	if (!strcmp(o, "--no-auto-converge")) {
		a->no_auto_converge = true;
	} else if (!value) {
		return 1;
	} else if (*i + 1 == argc) {
		fprintf(err, "iovirt ctl: %s needs a value (try iovirt ctl --help)\n", o);
		return -1;
	} else {
		*value = argv[++*i];
	}
	a->option = o;
	return 0;
}

int ctl_main(int argc, char **argv, FILE *out, FILE *err)
{
	const char *pos[3];
	int npos = 0;
	struct ctl_args a = {0};
	for (int i = 1; i < argc; i++) {
		int opt;
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			ctl_usage(out);
			return IOVIRT_EXIT_OK;
		} else if (!strcmp(argv[i], "--json")) {
			a.json = true;
		} else if ((opt = migrate_option(argc, argv, &i, &a, err)) <= 0) {
			if (opt < 0)
				return IOVIRT_EXIT_USAGE;
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
		fprintf(err, "iovirt ctl: usage: iovirt ctl SOCKET VERB [ARG] [OPTION...] [--json] "
			"(try --help)\n");
		return IOVIRT_EXIT_USAGE;
	}
	a.sock = pos[0];
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
		if (a.option && !(v->arg && v->arg->options)) {
			fprintf(err, "iovirt ctl: %s: only migrate takes it (try iovirt ctl --help)\n",
				a.option);
			return IOVIRT_EXIT_USAGE;
		}
		a.arg = v->arg ? pos[2] : NULL;
		return ask(v, &a, out, err);
	}
	fprintf(err, "iovirt ctl: %s: unknown verb (", pos[1]);
	for (size_t i = 0; i < NVERBS; i++)
		fprintf(err, "%s%s", i ? ", " : "", verbs[i].name);
	fputs(")\n", err);
	return IOVIRT_EXIT_USAGE;
}
