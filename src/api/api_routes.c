/* The endpoint table and its handlers (api_routes.h). A request body, where
 * a client sends one, is a JSON object whose members the route reads
 * (vm.snapshot: destination_url; vm.send-migration: destination_url and
 * its limits); most routes take none, so their body is
 * empty or {}. A member a route does not know is refused (400) rather than
 * ignored, so that a client written for a later iovirt's options learns
 * that this one does not have them. */
#include "api/api_routes.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_json.h"

static const char *vmm_version = "unknown";

void api_set_version(const char *version)
{
	vmm_version = version;
}

/* What a request's body asked for, as its route read it. */
struct route_args {
	char dir[PATH_MAX];   /* vm.snapshot: the directory of destination_url */
	struct api_migrate_params migrate;  /* vm.send-migration */
};

struct route {
	struct api_route api;
	/* Fills out (status, body) for a request that passed the checks. */
	void (*handle)(const struct route *r, const struct api_vm_ops *ops, void *vm,
		       const struct route_args *args, struct api_response *out);
	/* For vm.pause and its kind: the op, or -ENOTSUP where there is none. */
	int (*action)(const struct api_vm_ops *ops, void *vm);
	/* Reads the members of body (NULL: the request had none) into args:
	 * 0, or -EINVAL with why. NULL: the route takes no member. */
	int (*read_body)(const struct route *r, json_object *body, struct route_args *args,
			 char *why, size_t cap);
};

/* "vm.pause": how messages name the endpoint. */
static const char *route_name(const struct route *r)
{
	return r->api.path + strlen(API_PREFIX);
}

static void reply(struct api_response *out, unsigned status, char *body)
{
	out->status = body ? status : 500; /* out of memory: a bare 500 */
	out->body = body;
}

static void reply_error(struct api_response *out, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void reply_error(struct api_response *out, unsigned status, const char *fmt, ...)
{
	char msg[768];   /* room for an op's why that names a long path */
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(out, status, api_json_error(msg));
}

static void handle_ping(const struct route *r, const struct api_vm_ops *ops, void *vm,
			const struct route_args *args, struct api_response *out)
{
	reply(out, 200, api_json_ping(vmm_version, getpid()));
}

static void handle_info(const struct route *r, const struct api_vm_ops *ops, void *vm,
			const struct route_args *args, struct api_response *out)
{
	if (!ops->info) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	struct api_vm_info info;
	memset(&info, 0, sizeof(info));
	ops->info(vm, &info);
	reply(out, 200, api_json_vm_info(&info));
}

static void handle_counters(const struct route *r, const struct api_vm_ops *ops, void *vm,
			    const struct route_args *args, struct api_response *out)
{
	if (!ops->counters) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	reply(out, 200, api_json_counters(ops, vm));
}

/* An op's error that is not a negative errno still gets words. */
static const char *error_text(int ret, char *buf, size_t cap)
{
	if (ret < 0 && ret > -4096)
		return strerror(-ret);
	snprintf(buf, cap, "failed (%d)", ret);
	return buf;
}

/* 409: why it is refused is the state the VM is in; then the hint, where
 * the VM is in hint_state. */
static void reply_refused(const struct route *r, const struct api_vm_ops *ops, void *vm,
			  const char *hint_state, const char *hint, struct api_response *out)
{
	struct api_vm_info info;
	memset(&info, 0, sizeof(info));
	if (ops->info)
		ops->info(vm, &info);
	const char *state = info.state ? info.state : "busy";
	bool hinted = hint_state && strcmp(state, hint_state) == 0;
	reply_error(out, 409, "%s: refused while the VM is %s%s%s", route_name(r), state,
		    hinted ? ": " : "", hinted ? hint : "");
}

/* What an action's op returned, as api.h maps it: 204, or the error. A 409
 * says busy where the op's -EBUSY has that one reason, else the VM's state. */
static void reply_action(const struct route *r, const struct api_vm_ops *ops, void *vm, int ret,
			 const char *busy, struct api_response *out)
{
	char buf[32];
	if (ret == 0)
		out->status = 204;
	else if (ret == -EBUSY && busy)
		reply_error(out, 409, "%s: %s", route_name(r), busy);
	else if (ret == -EBUSY)
		reply_refused(r, ops, vm, NULL, NULL, out);
	else if (ret == -ENOTSUP)
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
	else
		reply_error(out, 500, "%s: %s", route_name(r), error_text(ret, buf, sizeof(buf)));
}

/* A PUT that makes the VM do something. */
static void handle_action(const struct route *r, const struct api_vm_ops *ops, void *vm,
			  const struct route_args *args, struct api_response *out)
{
	reply_action(r, ops, vm, r->action(ops, vm), NULL, out);
}

/* vm.migration-cancel: refused only when there is nothing to cancel. */
static void handle_migration_cancel(const struct route *r, const struct api_vm_ops *ops,
				    void *vm, const struct route_args *args,
				    struct api_response *out)
{
	reply_action(r, ops, vm, r->action(ops, vm), "no migration under way", out);
}

/* vm.snapshot: the op's why is the message. The API thread waits while
 * the snapshot is written (seconds for a large guest), and so does the
 * client, which asked for exactly that. */
static void handle_snapshot(const struct route *r, const struct api_vm_ops *ops, void *vm,
			    const struct route_args *args, struct api_response *out)
{
	if (!ops->snapshot) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	char why[512] = "", buf[32];
	int ret = ops->snapshot(vm, args->dir, why, sizeof(why));
	why[sizeof(why) - 1] = '\0';
	const char *msg = why[0] ? why : error_text(ret, buf, sizeof(buf));
	if (ret == 0)
		out->status = 204;
	else if (ret == -EBUSY)
		reply_refused(r, ops, vm, "Running", "pause it first", out);
	else if (ret == -ENOTSUP) /* a device that cannot be saved (VFIO) */
		reply_error(out, 501, "%s: cannot snapshot this VM: %s", route_name(r), msg);
	else if (ret == -EINVAL) /* the destination: not a directory, not empty */
		reply_error(out, 400, "%s: %s", route_name(r), msg);
	else
		reply_error(out, 500, "%s: %s", route_name(r), msg);
}

/* vm.send-migration: the op only starts it (vm.migration follows it), so
 * the request returns at once. */
static void handle_migrate(const struct route *r, const struct api_vm_ops *ops, void *vm,
			   const struct route_args *args, struct api_response *out)
{
	if (!ops->migrate) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	char why[512] = "", buf[32];
	int ret = ops->migrate(vm, &args->migrate, why, sizeof(why));
	why[sizeof(why) - 1] = '\0';
	const char *msg = why[0] ? why : error_text(ret, buf, sizeof(buf));
	if (ret == 0)
		out->status = 204;
	else if (ret == -EBUSY) /* running: the one under way is why */
		reply_refused(r, ops, vm, "Running", "a migration is under way", out);
	else if (ret == -ENOTSUP) /* a device that cannot log its writes (VFIO) */
		reply_error(out, 501, "%s: cannot migrate this VM: %s", route_name(r), msg);
	else if (ret == -EINVAL) /* the URL, as the machine parses it */
		reply_error(out, 400, "%s: %s", route_name(r), msg);
	else
		reply_error(out, 500, "%s: %s", route_name(r), msg);
}

static void handle_migration(const struct route *r, const struct api_vm_ops *ops, void *vm,
			     const struct route_args *args, struct api_response *out)
{
	if (!ops->migrate_status) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	struct api_migrate_status st;
	memset(&st, 0, sizeof(st));
	ops->migrate_status(vm, &st);
	reply(out, 200, api_json_migrate_status(&st));
}

static int act_pause(const struct api_vm_ops *o, void *vm)
{
	return o->pause ? o->pause(vm) : -ENOTSUP;
}

static int act_resume(const struct api_vm_ops *o, void *vm)
{
	return o->resume ? o->resume(vm) : -ENOTSUP;
}

static int act_power_button(const struct api_vm_ops *o, void *vm)
{
	return o->power_button ? o->power_button(vm) : -ENOTSUP;
}

static int act_reboot(const struct api_vm_ops *o, void *vm)
{
	return o->reboot ? o->reboot(vm) : -ENOTSUP;
}

static int act_shutdown(const struct api_vm_ops *o, void *vm)
{
	return o->shutdown ? o->shutdown(vm) : -ENOTSUP;
}

static int act_migrate_cancel(const struct api_vm_ops *o, void *vm)
{
	return o->migrate_cancel ? o->migrate_cancel(vm) : -ENOTSUP;
}

/* What a client sent, fit to quote in a message: printable ASCII only,
 * cut short. */
static const char *quote(const char *s, char *buf, size_t cap)
{
	size_t n = 0;
	for (; s[n] && n + 4 < cap; n++)
		buf[n] = s[n] > 0x20 && s[n] < 0x7f ? s[n] : '?';
	if (s[n]) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Refuses a member of body that is not in names (NULL-terminated): 0, or
 * -EINVAL with why. */
static int only_members(const struct route *r, json_object *body, const char *const *names,
			char *why, size_t cap)
{
	if (!body)
		return 0;
	struct json_object_iterator it = json_object_iter_begin(body);
	struct json_object_iterator end = json_object_iter_end(body);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *key = json_object_iter_peek_name(&it);
		size_t i = 0;
		while (names[i] && strcmp(key, names[i]) != 0)
			i++;
		if (names[i])
			continue;
		/* "takes "a" only", "takes "a", "b" and "c" only" */
		char list[160] = "", q[64];
		size_t n = 0;
		for (i = 0; names[i] && n < sizeof(list); i++)
			n += (size_t)snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
					      !i ? "" : names[i + 1] ? ", " : " and ", names[i]);
		snprintf(why, cap, "%s takes %s only (the body has \"%s\")", route_name(r), list,
			 quote(key, q, sizeof(q)));
		return -EINVAL;
	}
	return 0;
}

/* body's "destination_url", a string without a NUL, in *url: 0, or -EINVAL
 * with why, which shows example (quoted) as the form it takes. */
static int read_url(const struct route *r, json_object *body, const char *example,
		    const char **url, char *why, size_t cap)
{
	const char *name = route_name(r);
	json_object *v;
	if (!body || !json_object_object_get_ex(body, "destination_url", &v)) {
		snprintf(why, cap, "%s needs \"destination_url\": %s", name, example);
		return -EINVAL;
	}
	if (!json_object_is_type(v, json_type_string)) {
		snprintf(why, cap, "%s: \"destination_url\" must be a string: %s", name, example);
		return -EINVAL;
	}
	*url = json_object_get_string(v);
	if (strlen(*url) != (size_t)json_object_get_string_len(v)) {
		snprintf(why, cap, "%s: \"destination_url\" has a NUL byte", name);
		return -EINVAL;
	}
	return 0;
}

#define FILE_URL "file://"

/* vm.snapshot's body: {"destination_url": "file:///ABSOLUTE/DIR"}, as
 * Cloud Hypervisor takes it. The rest of the URL after file:// is the
 * path as it is: a host is refused (the path must be absolute), and so is
 * a '%', since percent-escapes are not decoded here and a path that
 * reads one way to the client must not name another directory. */
static int read_snapshot_body(const struct route *r, json_object *body,
			      struct route_args *args, char *why, size_t cap)
{
	static const char *const members[] = {"destination_url", NULL};
	const char *name = route_name(r), *s;
	char q[64];
	int ret = only_members(r, body, members, why, cap);
	if (ret == 0)
		ret = read_url(r, body, "\"" FILE_URL "/ABSOLUTE/DIR\"", &s, why, cap);
	if (ret < 0)
		return ret;
	const char *path = s + strlen(FILE_URL);
	if (strncmp(s, FILE_URL, strlen(FILE_URL)) != 0)
		snprintf(why, cap, "%s: \"destination_url\" must be a " FILE_URL " URL (\"" FILE_URL
			 "/ABSOLUTE/DIR\"), not \"%s\"", name, quote(s, q, sizeof(q)));
	else if (!*path)
		snprintf(why, cap, "%s: \"destination_url\" has an empty path: \"" FILE_URL
			 "/ABSOLUTE/DIR\"", name);
	else if (*path != '/')
		snprintf(why, cap, "%s: \"destination_url\" must name an absolute path and no "
			 "host (\"" FILE_URL "/ABSOLUTE/DIR\"), not \"%s\"", name,
			 quote(s, q, sizeof(q)));
	else if (strchr(path, '%'))
		snprintf(why, cap, "%s: \"destination_url\" has a '%%': percent-escapes are not "
			 "decoded, so the path must be written as it is and without '%%'", name);
	else if (strlen(path) >= sizeof(args->dir))
		snprintf(why, cap, "%s: the path of \"destination_url\" is %zu bytes, over "
			 "PATH_MAX (%zu)", name, strlen(path), sizeof(args->dir) - 1);
	else {
		memcpy(args->dir, path, strlen(path) + 1);
		return 0;
	}
	return -EINVAL;
}

/* body's member key, where it has one, in *value: an integer from min to
 * max (what says so in the message). 0, or -EINVAL with why. */
static int read_uint(const struct route *r, json_object *body, const char *key, uint64_t min,
		     uint64_t max, const char *what, uint64_t *value, char *why, size_t cap)
{
	json_object *v;
	if (!body || !json_object_object_get_ex(body, key, &v))
		return 0;
	/* json-c keeps a number over INT64_MAX as a uint64, which
	 * json_object_get_int64 caps: the sign comes from it, the value from
	 * json_object_get_uint64. */
	if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0 &&
	    json_object_get_uint64(v) >= min && json_object_get_uint64(v) <= max) {
		*value = json_object_get_uint64(v);
		return 0;
	}
	char q[48];
	snprintf(why, cap, "%s: \"%s\" must be %s, not %s", route_name(r), key, what,
		 quote(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), q, sizeof(q)));
	return -EINVAL;
}

#define MIGRATE_URLS "\"tcp:HOST:PORT\" or \"unix:/PATH\""

/* vm.send-migration's body, as Cloud Hypervisor's with iovirt's limits:
 * {"destination_url": "tcp:HOST:PORT" | "unix:/PATH", "downtime_ms": 1 to
 * 60000, "bandwidth": bytes/s (0: no cap), "auto_converge": bool}. Only
 * the URL's scheme is checked here: the machine parses the rest (and
 * answers -EINVAL with why). */
static int read_migrate_body(const struct route *r, json_object *body,
			     struct route_args *args, char *why, size_t cap)
{
	static const char *const members[] = {"destination_url", "downtime_ms", "bandwidth",
					      "auto_converge", NULL};
	struct api_migrate_params *p = &args->migrate;
	const char *name = route_name(r), *url;
	char q[64];
	memset(p, 0, sizeof(*p));
	p->auto_converge = true;
	int ret = only_members(r, body, members, why, cap);
	if (ret == 0)
		ret = read_url(r, body, MIGRATE_URLS, &url, why, cap);
	if (ret < 0)
		return ret;
	if (strncmp(url, "tcp:", 4) != 0 && strncmp(url, "unix:", 5) != 0) {
		snprintf(why, cap, "%s: \"destination_url\" must be " MIGRATE_URLS ", not \"%s\"",
			 name, quote(url, q, sizeof(q)));
		return -EINVAL;
	}
	if (strlen(url) >= sizeof(p->url)) {
		snprintf(why, cap, "%s: \"destination_url\" is %zu bytes, over %zu", name,
			 strlen(url), sizeof(p->url) - 1);
		return -EINVAL;
	}
	memcpy(p->url, url, strlen(url) + 1);
	ret = read_uint(r, body, "downtime_ms", 1, 60000, "an integer from 1 to 60000",
			&p->downtime_ms, why, cap);
	if (ret == 0)
		ret = read_uint(r, body, "bandwidth", 0, UINT64_MAX,
				"an integer of bytes/s (0: no cap)", &p->bandwidth, why, cap);
	if (ret < 0)
		return ret;
	json_object *v;
	if (json_object_object_get_ex(body, "auto_converge", &v)) {
		if (!json_object_is_type(v, json_type_boolean)) {
			snprintf(why, cap, "%s: \"auto_converge\" must be true or false, not %s", name,
				 quote(json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN), q,
				       sizeof(q)));
			return -EINVAL;
		}
		p->auto_converge = json_object_get_boolean(v);
	}
	return 0;
}

/* Cloud Hypervisor's names and methods. */
static const struct route routes[] = {
	{{API_PREFIX "vmm.ping", "GET"}, handle_ping, NULL, NULL},
	{{API_PREFIX "vm.info", "GET"}, handle_info, NULL, NULL},
	{{API_PREFIX "vm.counters", "GET"}, handle_counters, NULL, NULL},
	{{API_PREFIX "vm.pause", "PUT"}, handle_action, act_pause, NULL},
	{{API_PREFIX "vm.resume", "PUT"}, handle_action, act_resume, NULL},
	{{API_PREFIX "vm.power-button", "PUT"}, handle_action, act_power_button, NULL},
	{{API_PREFIX "vm.reboot", "PUT"}, handle_action, act_reboot, NULL},
	{{API_PREFIX "vm.shutdown", "PUT"}, handle_action, act_shutdown, NULL},
	{{API_PREFIX "vm.snapshot", "PUT"}, handle_snapshot, NULL, read_snapshot_body},
	{{API_PREFIX "vm.send-migration", "PUT"}, handle_migrate, NULL, read_migrate_body},
	{{API_PREFIX "vm.migration", "GET"}, handle_migration, NULL, NULL},
	{{API_PREFIX "vm.migration-cancel", "PUT"}, handle_migration_cancel, act_migrate_cancel,
	 NULL},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const struct api_route *api_route_at(size_t i)
{
	return i < NROUTES ? &routes[i].api : NULL;
}

static bool all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* The body as a JSON object in *obj (NULL where it is empty or blank):
 * 0; else fills why. */
static int parse_body(const char *body, size_t len, json_object **obj, char *why, size_t cap)
{
	*obj = NULL;
	if (len == 0 || all_space(body, len))
		return 0;
	/* With its NUL, so that the tokener knows where the input ends (a
	 * number at the very end would otherwise be waiting for more). */
	char *text = malloc(len + 1);
	json_tokener *tok = json_tokener_new();
	if (!text || !tok) {
		free(text);
		if (tok)
			json_tokener_free(tok);
		snprintf(why, cap, "out of memory");
		return -ENOMEM;
	}
	memcpy(text, body, len);
	text[len] = '\0';
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	json_object *parsed = json_tokener_parse_ex(tok, text, (int)len + 1);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	free(text);
	if (err != json_tokener_success) /* (JSON's null is a NULL obj) */
		snprintf(why, cap, "malformed JSON body: %s at byte %zu",
			 json_tokener_error_desc(err), end);
	else if (end < len && !all_space(body + end, len - end))
		snprintf(why, cap, "malformed JSON body: data after the value at byte %zu", end);
	else if (!json_object_is_type(parsed, json_type_object))
		snprintf(why, cap, "the body must be a JSON object");
	else {
		*obj = parsed;
		return 0;
	}
	json_object_put(parsed);
	return -EINVAL;
}

/* The members of body, for a route that takes none: 0 where there are
 * none; else fills why. */
static int no_members(const struct route *r, json_object *body, char *why, size_t cap)
{
	if (!body || json_object_object_length(body) == 0)
		return 0;
	char key[48];
	struct json_object_iterator it = json_object_iter_begin(body);
	snprintf(why, cap, "%s takes no options (the body has \"%s\")", route_name(r),
		 quote(json_object_iter_peek_name(&it), key, sizeof(key)));
	return -EINVAL;
}

void api_handle(const struct api_vm_ops *ops, void *vm, const char *method, const char *url,
		const char *body, size_t len, struct api_response *out)
{
	*out = (struct api_response){0};
	const struct route *path = NULL;
	for (size_t i = 0; i < NROUTES && !path; i++)
		if (strcmp(url, routes[i].api.path) == 0)
			path = &routes[i];
	char q[80];
	if (!path) {
		reply_error(out, 404, "no endpoint %s", quote(url, q, sizeof(q)));
		return;
	}
	if (strcmp(method, path->api.method) != 0) {
		out->allow = path->api.method;
		reply_error(out, 405, "%s takes %s, not %s", route_name(path), path->api.method,
			    quote(method, q, sizeof(q)));
		return;
	}
	if (len > API_MAX_BODY) {
		reply_error(out, 413, "a request body of %zu bytes is over the limit of %d",
			    len, API_MAX_BODY);
		return;
	}
	char why[256];
	json_object *obj;
	int ret = parse_body(body, len, &obj, why, sizeof(why));
	if (ret == -ENOMEM) {
		reply(out, 500, NULL);
		return;
	}
	struct route_args args;
	args.dir[0] = '\0';
	if (ret == 0)
		ret = path->read_body ? path->read_body(path, obj, &args, why, sizeof(why))
				      : no_members(path, obj, why, sizeof(why));
	json_object_put(obj);
	if (ret < 0)
		reply_error(out, 400, "%s", why);
	else
		path->handle(path, ops, vm, &args, out);
}

void api_response_free(struct api_response *r)
{
	free(r->body);
	r->body = NULL;
}
