/* The control plane's endpoints and request handling, apart from any
 * socket: api_server.c adapts libmicrohttpd to api_handle, and the unit
 * tests and the fuzzer call it directly. */
#ifndef IOVIRT_API_API_ROUTES_H
#define IOVIRT_API_API_ROUTES_H

#include <stddef.h>

#include "api/api.h"

#define API_PREFIX "/api/v1/"
/* Request bodies are small JSON objects; more is refused (413). */
#define API_MAX_BODY (64 * 1024)

/* One endpoint: its path and the one method it takes. */
struct api_route {
	const char *path;    /* "/api/v1/vm.pause" */
	const char *method;  /* "GET" or "PUT" */
};

/* The endpoints, for the tests that hold them against the OpenAPI
 * document: the i-th, or NULL past the last. */
const struct api_route *api_route_at(size_t i);

struct api_response {
	unsigned status;     /* HTTP status */
	char *body;          /* JSON, malloc'd; NULL with 204 */
	const char *allow;   /* 405: the Allow header; else NULL */
};

/* Answers one request: method and url (the path, without the query) as
 * the client sent them, body of len bytes (NULL allowed when len is 0 or
 * over API_MAX_BODY, which only the length decides). Calls at most one op.
 * Never fails: out of memory is a 500 with no body. */
void api_handle(const struct api_vm_ops *ops, void *vm, const char *method, const char *url,
		const char *body, size_t len, struct api_response *out);
void api_response_free(struct api_response *r);

/* What vmm.ping reports as "version" (main sets its build's). */
void api_set_version(const char *version);

#endif
