/* One request to the API socket: see api_client.h. */
#include "cmd/api_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

struct body {
	char *data;
	size_t len, cap;
};

/* Appends what curl received; a short count makes curl stop with
 * CURLE_WRITE_ERROR, which is how a body over the limit is refused. */
static size_t on_data(char *ptr, size_t size, size_t nmemb, void *opaque)
{
	struct body *b = opaque;
	size_t n = size * nmemb;
	if (n > API_CLIENT_MAX_BODY - b->len)
		return 0;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->data, cap);
		if (!p)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* What is left of the request body to send. */
struct upload {
	const char *data;
	size_t left;
};

/* curl asks for the PUT's body here (none: 0 at once). */
static size_t on_upload(char *ptr, size_t size, size_t nmemb, void *opaque)
{
	struct upload *u = opaque;
	size_t n = size * nmemb < u->left ? size * nmemb : u->left;
	memcpy(ptr, u->data, n);
	u->data += n;
	u->left -= n;
	return n;
}

/* What a failed connect means to someone who asked a VM something. */
static void connect_reason(long os_errno, char *err, size_t errlen)
{
	switch (os_errno) {
	case ECONNREFUSED:
		snprintf(err, errlen, "no iovirt is listening (connection refused)");
		break;
	case ENOENT:
		snprintf(err, errlen, "no such socket (is iovirt running with --api-socket?)");
		break;
	case 0:
		snprintf(err, errlen, "cannot connect");
		break;
	default:
		snprintf(err, errlen, "cannot connect: %s", strerror((int)os_errno));
	}
}

static void failure_reason(CURLcode rc, long os_errno, unsigned timeout_ms, char *err,
			   size_t errlen)
{
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
		connect_reason(os_errno, err, errlen);
		break;
	case CURLE_GOT_NOTHING:
		snprintf(err, errlen, "the connection closed before any reply");
		break;
	case CURLE_PARTIAL_FILE:
	case CURLE_RECV_ERROR:
		snprintf(err, errlen, "the connection closed in the middle of the reply");
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(err, errlen, "no reply within %u s", timeout_ms / 1000);
		break;
	case CURLE_WRITE_ERROR:
		snprintf(err, errlen, "the reply is larger than %u MiB", API_CLIENT_MAX_BODY >> 20);
		break;
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(err, errlen, "the reply is not HTTP");
		break;
	default:
		snprintf(err, errlen, "%s", curl_easy_strerror(rc));
	}
}

int api_request(const char *socket_path, const struct api_request *rq, struct api_reply *reply,
		char *err, size_t errlen)
{
	memset(reply, 0, sizeof(*reply));
	if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		snprintf(err, errlen, "the socket path is longer than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	CURL *curl = curl_easy_init();
	if (!curl) {
		snprintf(err, errlen, "cannot start libcurl");
		return -1;
	}
	/* The host name is only the Host header: the socket is the server. */
	char url[256];
	snprintf(url, sizeof(url), "http://localhost/api/v1/%s", rq->endpoint);
	unsigned timeout_ms = rq->timeout_ms ? rq->timeout_ms : API_CLIENT_TIMEOUT_MS;
	struct body b = {0};
	struct upload up = {rq->body, rq->body ? strlen(rq->body) : 0};
	struct curl_slist *headers = NULL;
	curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, socket_path);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	if (strcmp(rq->method, "PUT") == 0) {
		/* "PUT ... Content-Length: N", the body in one go: no
		 * chunking, and no Expect (the server answers no 100). */
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.left);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_upload);
		curl_easy_setopt(curl, CURLOPT_READDATA, &up);
		if (rq->body) {
			struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
			headers = h ? curl_slist_append(h, "Expect:") : NULL;
			if (!headers) {
				curl_slist_free_all(h);
				curl_easy_cleanup(curl);
				snprintf(err, errlen, "out of memory");
				return -1;
			}
			curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		}
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	CURLcode rc = curl_easy_perform(curl);
	if (rc != CURLE_OK) {
		long os_errno = 0;
		curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
		failure_reason(rc, os_errno, timeout_ms, err, errlen);
		curl_easy_cleanup(curl);
		curl_slist_free_all(headers);
		free(b.data);
		return -1;
	}
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply->status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	reply->body = b.data ? b.data : strdup("");
	reply->len = b.len;
	if (!reply->body) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

int api_call(const char *socket_path, const char *method, const char *endpoint,
	     struct api_reply *reply, char *err, size_t errlen)
{
	const struct api_request rq = {method, endpoint, NULL, 0};
	return api_request(socket_path, &rq, reply, err, errlen);
}

void api_reply_free(struct api_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
	reply->len = 0;
}

void api_reply_reason(const struct api_reply *reply, char *buf, size_t len)
{
	json_object *obj = json_tokener_parse(reply->body ? reply->body : "");
	json_object *msg;
	if (obj && json_object_object_get_ex(obj, "error", &msg) &&
	    json_object_is_type(msg, json_type_string)) {
		snprintf(buf, len, "HTTP %ld: %s", reply->status, json_object_get_string(msg));
	} else {
		/* Not our server's error body: its first line, if any. */
		const char *body = reply->body ? reply->body : "";
		int n = (int)strcspn(body, "\r\n");
		snprintf(buf, len, "HTTP %ld%s%.*s", reply->status, n ? ": " : "", n > 200 ? 200 : n,
			 body);
	}
	json_object_put(obj);
}
