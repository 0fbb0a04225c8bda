/* The endpoint table and its handlers (api_routes.h). Every endpoint takes
 * no options yet, so a request body, where a client sends one, must be an
 * empty JSON object: anything else is refused (400) rather than ignored,
 * so that a client written for a later iovirt's options learns that this
 * one does not have them. */
#include "api/api_routes.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdbool.h>
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

struct route {
	struct api_route api;
	/* Fills out (status, body) for a request that passed the checks. */
	void (*handle)(const struct route *r, const struct api_vm_ops *ops, void *vm,
		       struct api_response *out);
	/* For vm.pause and its kind: the op, or -ENOTSUP where there is none. */
	int (*action)(const struct api_vm_ops *ops, void *vm);
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
	char msg[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	reply(out, status, api_json_error(msg));
}

static void handle_ping(const struct route *r, const struct api_vm_ops *ops, void *vm,
			struct api_response *out)
{
	reply(out, 200, api_json_ping(vmm_version, getpid()));
}

static void handle_info(const struct route *r, const struct api_vm_ops *ops, void *vm,
			struct api_response *out)
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
			    struct api_response *out)
{
	if (!ops->counters) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
		return;
	}
	reply(out, 200, api_json_counters(ops, vm));
}

/* A PUT that makes the VM do something: 204, or the op's error as api.h
 * maps it. */
static void handle_action(const struct route *r, const struct api_vm_ops *ops, void *vm,
			  struct api_response *out)
{
	int ret = r->action(ops, vm);
	if (ret == 0) {
		out->status = 204;
	} else if (ret == -EBUSY) {
		/* Why it is refused is the state the VM is in. */
		struct api_vm_info info;
		memset(&info, 0, sizeof(info));
		if (ops->info)
			ops->info(vm, &info);
		reply_error(out, 409, "%s: refused while the VM is %s", route_name(r),
			    info.state ? info.state : "busy");
	} else if (ret == -ENOTSUP) {
		reply_error(out, 501, "%s: not supported by this VM", route_name(r));
	} else if (ret < 0 && ret > -4096) {
		reply_error(out, 500, "%s: %s", route_name(r), strerror(-ret));
	} else {
		reply_error(out, 500, "%s: failed (%d)", route_name(r), ret);
	}
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

/* Cloud Hypervisor's names and methods. */
static const struct route routes[] = {
	{{API_PREFIX "vmm.ping", "GET"}, handle_ping, NULL},
	{{API_PREFIX "vm.info", "GET"}, handle_info, NULL},
	{{API_PREFIX "vm.counters", "GET"}, handle_counters, NULL},
	{{API_PREFIX "vm.pause", "PUT"}, handle_action, act_pause},
	{{API_PREFIX "vm.resume", "PUT"}, handle_action, act_resume},
	{{API_PREFIX "vm.power-button", "PUT"}, handle_action, act_power_button},
	{{API_PREFIX "vm.reboot", "PUT"}, handle_action, act_reboot},
	{{API_PREFIX "vm.shutdown", "PUT"}, handle_action, act_shutdown},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

const struct api_route *api_route_at(size_t i)
{
	return i < NROUTES ? &routes[i].api : NULL;
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

static bool all_space(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
			return false;
	return true;
}

/* The body is empty, or a JSON object with no members: 0; else fills why. */
static int check_body(const struct route *r, const char *body, size_t len, char *why,
		      size_t cap)
{
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
	json_object *obj = json_tokener_parse_ex(tok, text, (int)len + 1);
	enum json_tokener_error err = json_tokener_get_error(tok);
	size_t end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	free(text);
	int ret = -EINVAL;
	if (err != json_tokener_success) /* (JSON's null is a NULL obj) */
		snprintf(why, cap, "malformed JSON body: %s at byte %zu",
			 json_tokener_error_desc(err), end);
	else if (end < len && !all_space(body + end, len - end))
		snprintf(why, cap, "malformed JSON body: data after the value at byte %zu", end);
	else if (!json_object_is_type(obj, json_type_object))
		snprintf(why, cap, "the body must be a JSON object");
	else if (json_object_object_length(obj) > 0) {
		char key[48];
		struct json_object_iterator it = json_object_iter_begin(obj);
		snprintf(why, cap, "%s takes no options (the body has \"%s\")", route_name(r),
			 quote(json_object_iter_peek_name(&it), key, sizeof(key)));
	} else
		ret = 0;
	json_object_put(obj);
	return ret;
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
	char why[200];
	int ret = check_body(path, body, len, why, sizeof(why));
	if (ret == -ENOMEM) {
		reply(out, 500, NULL);
		return;
	}
	if (ret < 0) {
		reply_error(out, 400, "%s", why);
		return;
	}
	path->handle(path, ops, vm, out);
}

void api_response_free(struct api_response *r)
{
	free(r->body);
	r->body = NULL;
}
