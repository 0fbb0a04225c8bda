/* The clients' side of the control plane (`iovirt ctl`, `iovirt stat`):
 * one HTTP/1.1 request to a running iovirt's API socket (libcurl over a
 * UNIX socket: CURLOPT_UNIX_SOCKET_PATH), the reply kept whole. A failure
 * to get any reply is put in the words a user needs ("no iovirt is
 * listening (connection refused)"), not curl's. */
#ifndef IOVIRT_CMD_API_CLIENT_H
#define IOVIRT_CMD_API_CLIENT_H

#include <stddef.h>

/* A reply body larger than this is refused: the API's bodies are a few
 * KiB, and a client must not be made to buffer without end. */
#define API_CLIENT_MAX_BODY (16u << 20)
/* No reply within this many milliseconds: the request failed. A request
 * that touches the VM waits for the event loop, which answers in far
 * less unless the VM is stuck. */
#define API_CLIENT_TIMEOUT_MS 15000u

struct api_reply {
	long status;     /* the HTTP status */
	char *body;      /* NUL-terminated (never NULL after a reply) */
	size_t len;      /* bytes of body, without the NUL */
};

/* One request to /api/v1/endpoint. */
struct api_request {
	const char *method;     /* "GET" or "PUT" */
	const char *endpoint;   /* "vm.info" */
	const char *body;       /* JSON; NULL: none (a PUT says Content-Length: 0) */
	unsigned timeout_ms;    /* 0: API_CLIENT_TIMEOUT_MS */
};

/* rq at the socket. 0: a reply came, whatever its status; -1: none, and
 * why in err (one phrase, no socket path: the caller names it). */
int api_request(const char *socket_path, const struct api_request *rq, struct api_reply *reply,
		char *err, size_t errlen);
/* method on endpoint with no body, within API_CLIENT_TIMEOUT_MS. */
int api_call(const char *socket_path, const char *method, const char *endpoint,
	     struct api_reply *reply, char *err, size_t errlen);
void api_reply_free(struct api_reply *reply);

/* Why a reply of status >= 400 failed, in one line: "409 Conflict: the VM
 * is already paused" (the JSON body's "error"), or the status and the
 * body's first line when it has no such member. */
void api_reply_reason(const struct api_reply *reply, char *buf, size_t len);

/* Every member of a JSON object, in order, for the replies' readers:
 *
 *	API_JSON_EACH(obj, it, end) {
 *		const char *key = json_object_iter_peek_name(&it);
 *		json_object *val = json_object_iter_peek_value(&it);
 *
 * (json-c's json_object_object_foreach does the same, but cppcheck, which
 * is not shown the system headers, cannot expand it.) */
#define API_JSON_EACH(obj, it, end)                                                   \
	for (struct json_object_iterator it = json_object_iter_begin(obj),            \
					 end = json_object_iter_end(obj);             \
	     !json_object_iter_equal(&it, &end); json_object_iter_next(&it))

#endif
