/* The control plane's clients (cmd/ctl.c, cmd/stat.c over
 * cmd/api_client.c) against a fake server: a thread on a UNIX socket that
 * answers each connection with canned bytes and keeps what the client
 * sent. Each verb's method and path; human and --json output; the one
 * line of every failure (no socket, nobody listening, 404/409/500 bodies,
 * a reply cut short, none at all, a body that is not JSON) with exit
 * status 1, usage errors with 2; `ctl snapshot DIR`'s body (DIR made
 * absolute), also against the real API server; `ctl migrate URL`'s body
 * and options, the passes it prints while it polls vm.migration and the
 * end it reports, migrate-status; `stat --once` on two samples. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "cmd/commands.h"
#include "core/exit_codes.h"

#define MAX_CONN 8

struct fake {
	char dir[48], path[96];
	int lfd;
	pthread_t thread;
	unsigned nreplies;
	const char *replies[MAX_CONN];  /* one per connection; NULL: close unanswered */
	char requests[MAX_CONN][2048];  /* each request, as it came */
	unsigned served;
};

/* The request's length so far: its head, and the Content-Length bytes
 * after it; 0 while the head is not all in. */
static size_t request_len(const char *buf)
{
	const char *end = strstr(buf, "\r\n\r\n");
	if (!end)
		return 0;
	const char *cl = strcasestr(buf, "\r\nContent-Length:");
	size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
	return (size_t)(end + 4 - buf) + body;
}

/* The request: its head, up to the blank line, and its body. */
static void read_request(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	buf[0] = '\0';
	while (len + 1 < cap && (!request_len(buf) || len < request_len(buf))) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 5000) <= 0)
			break;
		ssize_t n = read(fd, buf + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		buf[len] = '\0';
	}
}

static void *serve(void *opaque)
{
	struct fake *f = opaque;
	for (unsigned i = 0; i < f->nreplies; i++) {
		int fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			break;
		read_request(fd, f->requests[i], sizeof(f->requests[i]));
		if (f->replies[i]) {
			size_t len = strlen(f->replies[i]), off = 0;
			while (off < len) {
				ssize_t n = send(fd, f->replies[i] + off, len - off, MSG_NOSIGNAL);
				if (n <= 0)
					break;
				off += (size_t)n;
			}
		}
		close(fd);
		__atomic_store_n(&f->served, i + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void fake_bind(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/iovirt-test-ctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/api.sock", f->dir);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
}

/* A server that answers its connections with replies, in order. */
static void fake_start(struct fake *f, unsigned n, const char *const *replies)
{
	fake_bind(f);
	assert_true(n <= MAX_CONN);
	f->nreplies = n;
	for (unsigned i = 0; i < n; i++)
		f->replies[i] = replies[i];
	assert_int_equal(listen(f->lfd, MAX_CONN), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, serve, f), 0);
}

static void fake_stop(struct fake *f)
{
	if (f->nreplies) {
		/* A connection that never came (a client that failed first)
		 * must not leave accept() waiting. */
		shutdown(f->lfd, SHUT_RDWR);
		pthread_join(f->thread, NULL);
	}
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
}

/* An HTTP reply with a body (Content-Length set), as a static string
 * the caller frees. */
static char *http(const char *status, const char *body)
{
	char *s = NULL;
	assert_true(asprintf(&s, "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\n\r\n%s", status, strlen(body), body) > 0);
	return s;
}

struct result {
	int status;
	char *out, *err;
};

/* Runs `iovirt ctl|stat ARGS...` (args: NULL-terminated, at most 15) with
 * its output kept. */
static struct result run_args(int (*cmd)(int, char **, FILE *, FILE *), const char *const *args)
{
	char *argv[16];
	int argc = 0;
	while (argc < 15 && args[argc]) {
		argv[argc] = (char *)args[argc];  /* main's argv is not const */
		argc++;
	}
	argv[argc] = NULL;
	struct result r = {0};
	size_t olen, elen;
	FILE *out = open_memstream(&r.out, &olen), *err = open_memstream(&r.err, &elen);
	assert_non_null(out);
	assert_non_null(err);
	r.status = cmd(argc, argv, out, err);
	assert_int_equal(fclose(out), 0);
	assert_int_equal(fclose(err), 0);
	return r;
}
#define RUN(cmd, ...) run_args(cmd, (const char *const[]){__VA_ARGS__, NULL})

static void result_free(struct result *r)
{
	free(r->out);
	free(r->err);
}

/* err is exactly one line that holds what. */
static void assert_one_line(const char *err, const char *what)
{
	if (!strstr(err, what))
		fail_msg("\"%s\" does not say \"%s\"", err, what);
	size_t len = strlen(err);
	assert_true(len > 0 && err[len - 1] == '\n');
	assert_ptr_equal(strchr(err, '\n'), err + len - 1);
}

/* One verb: a reply of status and body, the request it must send. */
static struct result ctl_once(const char *verb, const char *json, const char *status,
			      const char *body, struct fake *f)
{
	char *reply = http(status, body);
	const char *replies[] = {reply};
	fake_start(f, 1, replies);
	struct result r = json ? RUN(ctl_main, "ctl", f->path, verb, json)
			       : RUN(ctl_main, "ctl", f->path, verb);
	fake_stop(f);
	free(reply);
	return r;
}

static void test_every_verb_sends_its_request(void **state)
{
	(void)state;
	static const struct {
		const char *verb, *line;
	} verbs[] = {
		{"ping", "GET /api/v1/vmm.ping HTTP/1.1\r\n"},
		{"info", "GET /api/v1/vm.info HTTP/1.1\r\n"},
		{"counters", "GET /api/v1/vm.counters HTTP/1.1\r\n"},
		{"pause", "PUT /api/v1/vm.pause HTTP/1.1\r\n"},
		{"resume", "PUT /api/v1/vm.resume HTTP/1.1\r\n"},
		{"power-button", "PUT /api/v1/vm.power-button HTTP/1.1\r\n"},
		{"reboot", "PUT /api/v1/vm.reboot HTTP/1.1\r\n"},
		{"shutdown", "PUT /api/v1/vm.shutdown HTTP/1.1\r\n"},
		{"migrate-status", "GET /api/v1/vm.migration HTTP/1.1\r\n"},
		{"migrate-cancel", "PUT /api/v1/vm.migration-cancel HTTP/1.1\r\n"},
	};
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		struct fake f;
		bool put = verbs[i].line[0] == 'P';
		char *reply = put ? strdup("HTTP/1.1 204 No Content\r\n\r\n")
				  : http("200 OK", "{}");
		const char *replies[] = {reply};
		fake_start(&f, 1, replies);
		struct result r = RUN(ctl_main, "ctl", f.path, verbs[i].verb);
		fake_stop(&f);
		if (r.status != IOVIRT_EXIT_OK)
			fail_msg("%s: status %d: %s", verbs[i].verb, r.status, r.err);
		if (strncmp(f.requests[0], verbs[i].line, strlen(verbs[i].line)) != 0)
			fail_msg("%s sent \"%s\"", verbs[i].verb, f.requests[0]);
		/* An action has an empty body, said so: no chunking, no Expect. */
		if (put) {
			assert_non_null(strstr(f.requests[0], "\r\nContent-Length: 0\r\n"));
			assert_null(strstr(f.requests[0], "Expect:"));
			assert_string_equal(r.out, "");   /* quiet on success */
		}
		assert_string_equal(r.err, "");
		result_free(&r);
		free(reply);
	}
}

static void test_ping_human_and_json(void **state)
{
	(void)state;
	static const char body[] = "{\"version\":\"0.1.0 (git abc)\",\"pid\":4242}";
	struct fake f;
	struct result r = ctl_once("ping", NULL, "200 OK", body, &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out, "iovirt 0.1.0 (git abc) (pid 4242)\n");
	result_free(&r);
	r = ctl_once("ping", "--json", "200 OK", body, &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out, "{\"version\":\"0.1.0 (git abc)\",\"pid\":4242}\n");
	result_free(&r);
}

static void test_info_table(void **state)
{
	(void)state;
	static const char body[] =
		"{\"state\":\"Paused\",\"cpus\":2,\"memory\":402653184,\"kernel\":\"/k/vmlinuz\","
		"\"initrd\":null,\"cmdline\":\"console=ttyS0\",\"devices\":["
		"{\"id\":\"serial0\",\"kind\":\"serial\",\"io_model\":\"emulated\",\"pci\":null},"
		"{\"id\":\"virtio-blk0\",\"kind\":\"virtio-blk\",\"io_model\":\"virtio\","
		"\"pci\":\"0000:00:03.0\"},"
		"{\"id\":\"nvme0\",\"kind\":\"nvme\",\"io_model\":\"emulated\",\"pci\":\"0000:00:04.0\"}]}";
	struct fake f;
	struct result r = ctl_once("info", NULL, "200 OK", body, &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_non_null(strstr(r.out, "state    Paused\n"));
	assert_non_null(strstr(r.out, "memory   384 MiB\n"));
	assert_non_null(strstr(r.out, "initrd   -\n"));
	char id[32], kind[32], model[32], pci[32];
	const char *line = strstr(r.out, "\nnvme0 ");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "%31s %31s %31s %31s", id, kind, model, pci), 4);
	assert_string_equal(kind, "nvme");
	assert_string_equal(model, "emulated");
	assert_string_equal(pci, "0000:00:04.0");
	line = strstr(r.out, "\nserial0 ");
	assert_non_null(line);
	assert_int_equal(sscanf(line, "%31s %31s %31s %31s", id, kind, model, pci), 4);
	assert_string_equal(pci, "-");
	assert_non_null(strstr(r.out, "virtio-blk0"));
	result_free(&r);
}

static void test_counters_lines(void **state)
{
	(void)state;
	static const char body[] =
		"{\"devices\":{\"nvme0\":{\"\":{\"exits\":12,\"kicks\":0},"
		"\"q1\":{\"kicks\":5,\"requests\":7}}},"
		"\"kvm\":{\"vm\":{\"remote_tlb_flush\":3},\"vcpu0\":{\"exits\":99}}}";
	struct fake f;
	struct result r = ctl_once("counters", NULL, "200 OK", body, &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out, "counters: nvme0 exits=12 kicks=0\n"
				   "counters: nvme0 q1 kicks=5 requests=7\n"
				   "counters: kvm vm remote_tlb_flush=3\n"
				   "counters: kvm vcpu0 exits=99\n");
	result_free(&r);
}

static void test_http_errors_name_the_reason(void **state)
{
	(void)state;
	static const struct {
		const char *verb, *status, *body, *says;
	} cases[] = {
		{"info", "404 Not Found", "{\"error\":\"no such endpoint: /api/v1/vm.info\"}",
		 ": vm.info: HTTP 404: no such endpoint: /api/v1/vm.info\n"},
		{"pause", "409 Conflict", "{\"error\":\"the VM is already paused\"}",
		 ": vm.pause: HTTP 409: the VM is already paused\n"},
		{"reboot", "500 Internal Server Error", "{\"error\":\"Input/output error\"}",
		 ": vm.reboot: HTTP 500: Input/output error\n"},
		/* Not our server's body: its first line. */
		{"resume", "503 Service Unavailable", "busy\nand more", ": vm.resume: HTTP 503: busy\n"},
		{"shutdown", "501 Not Implemented", "", ": vm.shutdown: HTTP 501\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f;
		struct result r = ctl_once(cases[i].verb, NULL, cases[i].status, cases[i].body, &f);
		assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
		char want[256];
		snprintf(want, sizeof(want), "iovirt ctl: %s%s", f.path, cases[i].says);
		assert_string_equal(r.err, want);
		assert_string_equal(r.out, "");
		result_free(&r);
		/* --json does not turn a failure into output. */
		r = ctl_once(cases[i].verb, "--json", cases[i].status, cases[i].body, &f);
		assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
		assert_string_equal(r.out, "");
		assert_one_line(r.err, "HTTP ");
		result_free(&r);
	}
}

static void test_nobody_listening(void **state)
{
	(void)state;
	/* A socket left by a process that is gone: bound, not listening. */
	struct fake f;
	fake_bind(&f);
	struct result r = RUN(ctl_main, "ctl", f.path, "ping");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	char want[256];
	snprintf(want, sizeof(want), "iovirt ctl: %s: no iovirt is listening (connection refused)\n",
		 f.path);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	result_free(&r);
	fake_stop(&f);
	/* No socket at all. */
	r = RUN(ctl_main, "ctl", f.path, "info");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "no such socket");
	result_free(&r);
	r = RUN(stat_main, "stat", f.path, "--once");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "iovirt stat: ");
	assert_one_line(r.err, "no such socket");
	result_free(&r);
}

static void test_long_socket_path(void **state)
{
	(void)state;
	char path[200];
	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	struct result r = RUN(ctl_main, "ctl", path, "ping");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "longer than 107 bytes");
	result_free(&r);
}

static void test_reply_cut_short_or_missing(void **state)
{
	(void)state;
	static const struct {
		const char *reply, *says;
	} cases[] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"version\":", "in the middle of the reply"},
		/* Headers cut short: curl sees a 200 without a body. */
		{"HTTP/1.1 200 OK\r\nContent-Le", "vmm.ping: the reply is empty"},
		{NULL, "closed before any reply"},
		{"SSH-2.0-OpenSSH_9.2\r\n", "not HTTP"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f;
		const char *replies[] = {cases[i].reply};
		fake_start(&f, 1, replies);
		struct result r = RUN(ctl_main, "ctl", f.path, "ping", "--json");
		fake_stop(&f);
		if (r.status != IOVIRT_EXIT_ERROR)
			fail_msg("case %zu: status %d, out \"%s\"", i, r.status, r.out);
		assert_one_line(r.err, cases[i].says);
		assert_string_equal(r.out, "");
		result_free(&r);
	}
}

/* A 200 whose body is not JSON: raw with --json, refused for a person. */
static void test_body_not_json(void **state)
{
	(void)state;
	struct fake f;
	struct result r = ctl_once("info", NULL, "200 OK", "<html>hello</html>", &f);
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "vm.info: the reply is not a JSON object");
	result_free(&r);
	r = ctl_once("info", "--json", "200 OK", "<html>hello</html>", &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out, "<html>hello</html>\n");
	result_free(&r);
}

static void test_usage(void **state)
{
	(void)state;
	struct result r = RUN(ctl_main, "ctl");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "usage: iovirt ctl SOCKET VERB");
	result_free(&r);
	r = RUN(ctl_main, "ctl", "/tmp/x.sock");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	result_free(&r);
	r = RUN(ctl_main, "ctl", "/tmp/x.sock", "hibernate");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "hibernate: unknown verb (ping, info, counters, pause, resume, "
			       "power-button, reboot, shutdown, snapshot, migrate, migrate-status, "
			       "migrate-cancel)");
	result_free(&r);
	r = RUN(ctl_main, "ctl", "/tmp/x.sock", "ping", "--yaml");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "--yaml: unknown option");
	result_free(&r);
	r = RUN(ctl_main, "ctl", "/tmp/x.sock", "pause", "resume");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	result_free(&r);
	r = RUN(ctl_main, "ctl", "--help");
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_non_null(strstr(r.out, "power-button"));
	assert_non_null(strstr(r.out, "\n  snapshot DIR  "));
	assert_non_null(strstr(r.out, "\n  migrate URL  "));
	assert_non_null(strstr(r.out, "\n  migrate-status  "));
	assert_non_null(strstr(r.out, "\n  --no-auto-converge  "));
	assert_non_null(strstr(r.out, "--json"));
	assert_string_equal(r.err, "");
	result_free(&r);

	r = RUN(stat_main, "stat");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	result_free(&r);
	r = RUN(stat_main, "stat", "/tmp/x.sock", "--interval");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	result_free(&r);
	static const char *const bad[] = {"0", "-1", "abc", "1s", "nan", "99999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = RUN(stat_main, "stat", "/tmp/x.sock", "--interval", bad[i]);
		assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
		assert_one_line(r.err, "not a number of seconds");
		result_free(&r);
	}
	r = RUN(stat_main, "stat", "--help");
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_non_null(strstr(r.out, "--once"));
	result_free(&r);
}

/* ---- snapshot DIR ---- */

/* The body of the one request f was sent. */
static const char *request_body(const struct fake *f)
{
	const char *end = strstr(f->requests[0], "\r\n\r\n");
	assert_non_null(end);
	return end + 4;
}

/* `ctl SOCK snapshot DIR` from the directory cwd, answered 204: the body
 * it sent holds url. */
static void assert_snapshot_sends(const char *cwd, const char *dir, const char *url)
{
	char old[PATH_MAX];
	assert_non_null(getcwd(old, sizeof(old)));
	char *reply = strdup("HTTP/1.1 204 No Content\r\n\r\n");
	const char *replies[] = {reply};
	struct fake f;
	fake_start(&f, 1, replies);
	assert_int_equal(chdir(cwd), 0);
	struct result r = RUN(ctl_main, "ctl", f.path, "snapshot", dir);
	assert_int_equal(chdir(old), 0);
	fake_stop(&f);
	free(reply);
	if (r.status != IOVIRT_EXIT_OK)
		fail_msg("snapshot %s: status %d: %s", dir, r.status, r.err);
	assert_string_equal(r.out, "");   /* quiet on success, like pause */
	assert_string_equal(r.err, "");
	const char *req = f.requests[0];
	assert_true(strncmp(req, "PUT /api/v1/vm.snapshot HTTP/1.1\r\n", 34) == 0);
	assert_non_null(strstr(req, "\r\nContent-Type: application/json\r\n"));
	assert_null(strstr(req, "Expect:"));
	char want[PATH_MAX + 64], length[48];
	snprintf(want, sizeof(want), "{\"destination_url\":\"%s\"}", url);
	if (strcmp(request_body(&f), want) != 0)
		fail_msg("snapshot %s sent \"%s\", not \"%s\"", dir, request_body(&f), want);
	snprintf(length, sizeof(length), "\r\nContent-Length: %zu\r\n", strlen(want));
	assert_non_null(strstr(req, length));
	result_free(&r);
}

static void test_snapshot_sends_absolute_dir(void **state)
{
	(void)state;
	char base[] = "/tmp/iovirt-test-ctl-snap-XXXXXX", sub[64], url[PATH_MAX + 16];
	assert_non_null(mkdtemp(base));
	char *real = realpath(base, NULL);   /* /tmp may be a link */
	assert_non_null(real);
	snprintf(sub, sizeof(sub), "%s/sub", base);
	assert_int_equal(mkdir(sub, 0700), 0);

	/* Not there yet (the VM creates it): from its parent's real path. */
	snprintf(url, sizeof(url), "file://%s/snap1", real);
	assert_snapshot_sends(base, "snap1", url);
	assert_snapshot_sends(base, "snap1/", url);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/snap1", base + 1);
	assert_snapshot_sends("/", path, url);
	snprintf(path, sizeof(path), "%s/snap1", base);
	assert_snapshot_sends("/", path, url);
	snprintf(url, sizeof(url), "file://%s/snap2", real);
	assert_snapshot_sends(base, "sub/../snap2", url);
	/* There already: its real path. */
	snprintf(url, sizeof(url), "file://%s/sub", real);
	assert_snapshot_sends(base, "sub", url);
	snprintf(url, sizeof(url), "file://%s", real);
	assert_snapshot_sends(base, ".", url);
	assert_snapshot_sends(base, "/", "file:///");
	/* JSON-escaped in the body. */
	snprintf(url, sizeof(url), "file://%s/a\\\"b", real);
	assert_snapshot_sends(base, "a\"b", url);
	/* A URL goes as it is, for the server to judge. */
	assert_snapshot_sends(base, "file:///x y", "file:///x y");
	assert_snapshot_sends(base, "file://relative", "file://relative");
	free(real);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(rmdir(base), 0);
}

/* The server's refusal in one line, exit 1; --json does not print it. */
static void test_snapshot_refused(void **state)
{
	(void)state;
	static const struct {
		const char *status, *body, *says;
	} cases[] = {
		{"409 Conflict",
		 "{\"error\":\"vm.snapshot: refused while the VM is Running: pause it first\"}",
		 ": vm.snapshot: HTTP 409: vm.snapshot: refused while the VM is Running: pause it "
		 "first\n"},
		{"501 Not Implemented",
		 "{\"error\":\"vm.snapshot: cannot snapshot this VM: vfio0 cannot be saved\"}",
		 ": vm.snapshot: HTTP 501: vm.snapshot: cannot snapshot this VM: vfio0 cannot be "
		 "saved\n"},
		{"400 Bad Request", "{\"error\":\"vm.snapshot: \\\"destination_url\\\" has a '%'\"}",
		 ": vm.snapshot: HTTP 400: vm.snapshot: \"destination_url\" has a '%'\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int json = 0; json < 2; json++) {
			char *reply = http(cases[i].status, cases[i].body);
			const char *replies[] = {reply};
			struct fake f;
			fake_start(&f, 1, replies);
			struct result r = json ? RUN(ctl_main, "ctl", f.path, "snapshot", "/snap", "--json")
					       : RUN(ctl_main, "ctl", f.path, "snapshot", "/snap");
			fake_stop(&f);
			free(reply);
			assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
			char want[512];
			snprintf(want, sizeof(want), "iovirt ctl: %s%s", f.path, cases[i].says);
			assert_string_equal(r.err, want);
			assert_string_equal(r.out, "");
			assert_string_equal(request_body(&f), "{\"destination_url\":\"file:///snap\"}");
			result_free(&r);
		}
	}
}

/* Wrong or missing DIR: nothing is sent. */
static void test_snapshot_usage(void **state)
{
	(void)state;
	struct fake f;
	char *reply = strdup("HTTP/1.1 204 No Content\r\n\r\n");
	const char *replies[] = {reply};
	fake_start(&f, 1, replies);
	struct result r = RUN(ctl_main, "ctl", f.path, "snapshot");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "iovirt ctl: snapshot needs DIR");
	result_free(&r);
	r = RUN(ctl_main, "ctl", f.path, "snapshot", "/a", "/b");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "/b: one verb at a time");
	result_free(&r);
	r = RUN(ctl_main, "ctl", f.path, "pause", "/a");
	assert_int_equal(r.status, IOVIRT_EXIT_USAGE);
	assert_one_line(r.err, "/a: one verb at a time");
	result_free(&r);
	r = RUN(ctl_main, "ctl", f.path, "snapshot", "");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "iovirt ctl: snapshot: the directory is empty");
	result_free(&r);
	/* Its parent is not there either: it cannot be made absolute. */
	r = RUN(ctl_main, "ctl", f.path, "snapshot", "/nonexistent-iovirt/x/snap1");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "iovirt ctl: snapshot: /nonexistent-iovirt/x/snap1: its directory "
			       "/nonexistent-iovirt/x: No such file or directory");
	result_free(&r);
	r = RUN(ctl_main, "ctl", f.path, "snapshot", "no-such-dir-iovirt/snap1");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "its directory no-such-dir-iovirt: No such file or directory");
	result_free(&r);
	fake_stop(&f);
	free(reply);
	assert_int_equal(f.served, 0);
}

/* ctl against the real server (libcurl's upload read by libmicrohttpd):
 * the op gets the absolute path; its refusal comes back as one line. */
static char snapped[PATH_MAX];
static int snapshot_ret;

static int snapshot_op(void *vm, const char *dir, char *why, size_t why_len)
{
	snprintf(snapped, sizeof(snapped), "%s", dir);
	if (snapshot_ret)
		snprintf(why, why_len, "%s/ram0: No space left on device", dir);
	return snapshot_ret;
}

static void test_snapshot_against_server(void **state)
{
	(void)state;
	static const struct api_vm_ops ops = {.snapshot = snapshot_op};
	char dir[] = "/tmp/iovirt-test-ctl-srv-XXXXXX", sock[64], want[PATH_MAX + 64];
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	struct api_server *s = api_server_start(sock, &ops, NULL);
	assert_non_null(s);
	char *real = realpath(dir, NULL);
	assert_non_null(real);
	char target[PATH_MAX];
	snprintf(target, sizeof(target), "%s/snap \"1\"", dir);
	struct result r = RUN(ctl_main, "ctl", sock, "snapshot", target);
	if (r.status != IOVIRT_EXIT_OK)
		fail_msg("status %d: %s", r.status, r.err);
	assert_string_equal(r.out, "");
	snprintf(want, sizeof(want), "%s/snap \"1\"", real);
	assert_string_equal(snapped, want);
	result_free(&r);

	snapshot_ret = -ENOSPC;
	r = RUN(ctl_main, "ctl", sock, "snapshot", "file:///snap");
	snapshot_ret = 0;
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	snprintf(want, sizeof(want), "iovirt ctl: %s: vm.snapshot: HTTP 500: vm.snapshot: "
		 "/snap/ram0: No space left on device\n", sock);
	assert_string_equal(r.err, want);
	result_free(&r);
	r = RUN(ctl_main, "ctl", sock, "snapshot", "file://snap");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "HTTP 400: vm.snapshot: \"destination_url\" must name an absolute "
			       "path");
	result_free(&r);
	api_server_stop(s);
	free(real);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- migrate URL, migrate-status ---- */

/* A vm.migration reply: the members that change from one poll to the next
 * as given, the others fixed. */
static char *migration(const char *state, unsigned pass, uint64_t pages, uint64_t dirty,
		       uint64_t bandwidth, unsigned throttle, const char *error)
{
	char body[1024], err[300] = "";
	if (error)
		snprintf(err, sizeof(err), "\"error\":\"%s\",", error);
	snprintf(body, sizeof(body),
		 "{\"state\":\"%s\",\"phase\":%s,\"destination_url\":\"tcp:h:4444\",%s"
		 "\"pass\":%u,\"ram_bytes\":536870912,\"pages_sent\":%llu,\"zero_pages\":9000,"
		 "\"bytes_sent\":%llu,\"dirty_pages\":%llu,\"dirty_rate\":1200,\"bandwidth\":%llu,"
		 "\"expected_downtime_ms\":%llu,\"throttle_pct\":%u,\"total_ms\":2300,"
		 "\"downtime_ms\":45}",
		 state, strcmp(state, "active") ? "null" : "\"pre-copy\"", err, pass,
		 (unsigned long long)pages, (unsigned long long)pages * 4100,
		 (unsigned long long)dirty, (unsigned long long)bandwidth,
		 (unsigned long long)(bandwidth ? dirty * 4096 * 1000 / bandwidth : 0), throttle);
	return http("200 OK", body);
}

#define NO_CONTENT "HTTP/1.1 204 No Content\r\n\r\n"

/* `ctl SOCK migrate URL OPTS...` (args after the socket, NULL-terminated)
 * against replies (the first answers vm.send-migration). */
static struct result migrate_run(struct fake *f, unsigned n, const char *const *replies,
				 const char *const *args)
{
	fake_start(f, n, replies);
	const char *argv[16] = {"ctl", f->path};
	for (int i = 0; i < 13 && args[i]; i++)
		argv[i + 2] = args[i];
	struct result r = run_args(ctl_main, argv);
	fake_stop(f);
	return r;
}

/* The request of connection i: its first line and its body. */
static void assert_request(const struct fake *f, unsigned i, const char *line, const char *body)
{
	if (strncmp(f->requests[i], line, strlen(line)) != 0)
		fail_msg("request %u: \"%s\", not \"%s\"", i, f->requests[i], line);
	const char *end = strstr(f->requests[i], "\r\n\r\n");
	assert_non_null(end);
	if (strcmp(end + 4, body) != 0)
		fail_msg("request %u's body: \"%s\", not \"%s\"", i, end + 4, body);
}

static void test_migrate_follows_passes(void **state)
{
	(void)state;
	char *replies[] = {
		strdup(NO_CONTENT),
		migration("active", 0, 0, 0, 0, 0, NULL),  /* setup: no pass yet */
		migration("active", 1, 131072, 2048, 80ull << 20, 0, NULL),
		migration("active", 1, 131072, 2048, 80ull << 20, 0, NULL),  /* no new line */
		migration("active", 2, 133120, 56, 1572864, 20, NULL),
		migration("completed", 3, 133176, 0, 1572864, 0, NULL),
	};
	struct fake f;
	struct result r = migrate_run(&f, 6, (const char *const *)replies,
				      (const char *const[]){"migrate", "tcp:h:4444", NULL});
	if (r.status != IOVIRT_EXIT_OK)
		fail_msg("status %d: %s", r.status, r.err);
	assert_string_equal(r.out,
			    "pass 1: 131072 pages sent, 2048 dirty, 80 MiB/s, expected downtime "
			    "100 ms\n"
			    "pass 2: 133120 pages sent, 56 dirty, 1.5 MiB/s, expected downtime 145 ms, "
			    "vCPUs throttled 20%\n"
			    "migrated to tcp:h:4444: 3 passes, 133176 pages (520.2 MiB) sent, 9000 zero "
			    "pages, downtime 45 ms, total 2300 ms\n");
	assert_string_equal(r.err, "");
	assert_request(&f, 0, "PUT /api/v1/vm.send-migration HTTP/1.1\r\n",
		       "{\"destination_url\":\"tcp:h:4444\"}");
	assert_non_null(strstr(f.requests[0], "\r\nContent-Type: application/json\r\n"));
	for (unsigned i = 1; i < 6; i++)
		assert_request(&f, i, "GET /api/v1/vm.migration HTTP/1.1\r\n", "");
	result_free(&r);
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++)
		free(replies[i]);
}

/* Each option in the body, in its type; before the socket too. */
static void test_migrate_options(void **state)
{
	(void)state;
	static const struct {
		const char *args[9], *body;
	} cases[] = {
		{{"migrate", "unix:/run/in.sock", "--downtime-ms", "50", "--bandwidth", "100M",
		  "--no-auto-converge", NULL},
		 "{\"destination_url\":\"unix:/run/in.sock\",\"downtime_ms\":50,"
		 "\"bandwidth\":104857600,\"auto_converge\":false}"},
		{{"--bandwidth", "1000", "migrate", "tcp:h:1", NULL},
		 "{\"destination_url\":\"tcp:h:1\",\"bandwidth\":1000}"},
		{{"migrate", "--bandwidth", "0", "tcp:h:1", "--downtime-ms", "60000", NULL},
		 "{\"destination_url\":\"tcp:h:1\",\"downtime_ms\":60000,\"bandwidth\":0}"},
		{{"migrate", "tcp:h:1", "--bandwidth", "512K", "--downtime-ms", "1", NULL},
		 "{\"destination_url\":\"tcp:h:1\",\"downtime_ms\":1,\"bandwidth\":524288}"},
		{{"migrate", "tcp:h:1", "--bandwidth", "2g", NULL},
		 "{\"destination_url\":\"tcp:h:1\",\"bandwidth\":2147483648}"},
		/* The URL goes as it is, for the server to judge. */
		{{"migrate", "/run/in.sock", NULL}, "{\"destination_url\":\"/run/in.sock\"}"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *replies[] = {strdup(NO_CONTENT), migration("completed", 1, 10, 0, 0, 0, NULL)};
		struct fake f;
		struct result r = migrate_run(&f, 2, (const char *const *)replies, cases[i].args);
		if (r.status != IOVIRT_EXIT_OK)
			fail_msg("case %zu: status %d: %s", i, r.status, r.err);
		assert_request(&f, 0, "PUT /api/v1/vm.send-migration HTTP/1.1\r\n", cases[i].body);
		assert_non_null(strstr(r.out, "migrated to "));
		assert_non_null(strstr(r.out, ": 1 pass, 10 pages (40 KiB) sent, "));
		result_free(&r);
		free(replies[0]);
		free(replies[1]);
	}
}

/* Failed or cancelled: the reason in one line, exit 1; --json prints the
 * last status as it came, and no pass. */
static void test_migrate_fails(void **state)
{
	(void)state;
	static const struct {
		const char *state, *error, *says;
	} cases[] = {
		{"failed", "tcp:h:4444: Connection refused",
		 ": migration to tcp:h:4444 failed: tcp:h:4444: Connection refused\n"},
		{"cancelled", "cancelled by vm.migration-cancel",
		 ": migration to tcp:h:4444 cancelled: cancelled by vm.migration-cancel\n"},
		{"failed", NULL, ": migration to tcp:h:4444 failed\n"},
		/* A reboot built a new machine, which has none. */
		{"none", NULL, ": migration to tcp:h:4444: the VM reports it none\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int json = 0; json < 2; json++) {
			char *replies[] = {strdup(NO_CONTENT),
					   migration("active", 1, 100, 50, 1 << 20, 0, NULL),
					   migration(cases[i].state, 1, 100, 50, 1 << 20, 0,
						     cases[i].error)};
			struct fake f;
			struct result r = migrate_run(
				&f, 3, (const char *const *)replies,
				json ? (const char *const[]){"migrate", "tcp:h:4444", "--json", NULL}
				     : (const char *const[]){"migrate", "tcp:h:4444", NULL});
			assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
			char want[512];
			snprintf(want, sizeof(want), "iovirt ctl: %s%s", f.path, cases[i].says);
			assert_string_equal(r.err, want);
			const char *last = strstr(replies[2], "\r\n\r\n") + 4;
			if (json) {
				assert_non_null(strstr(r.out, last));
				assert_int_equal(strlen(r.out), strlen(last) + 1);
			} else {
				assert_string_equal(r.out, "pass 1: 100 pages sent, 50 dirty, 1 MiB/s, "
							   "expected downtime 195 ms\n");
			}
			result_free(&r);
			for (size_t k = 0; k < 3; k++)
				free(replies[k]);
		}
}

/* The source iovirt went away, or answered what ctl cannot follow: one
 * line, exit 1. */
static void test_migrate_source_lost(void **state)
{
	(void)state;
	static const struct {
		const char *status, *body, *says;  /* status NULL: closed unanswered */
	} cases[] = {
		{NULL, NULL, ": the source iovirt went away while migrating to tcp:h:4444 (the "
			     "connection closed before any reply)\n"},
		{"501 Not Implemented", "{\"error\":\"vm.migration: not supported by this VM\"}",
		 ": vm.migration: HTTP 501: vm.migration: not supported by this VM\n"},
		{"200 OK", "[1]", ": vm.migration: the reply is not a JSON object\n"},
		{"200 OK", "", ": vm.migration: the reply is empty\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *replies[] = {strdup(NO_CONTENT), migration("active", 1, 100, 50, 1 << 20, 0, NULL),
				   cases[i].status ? http(cases[i].status, cases[i].body) : NULL};
		struct fake f;
		struct result r = migrate_run(&f, 3, (const char *const *)replies,
					      (const char *const[]){"migrate", "tcp:h:4444", NULL});
		assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
		char want[512];
		snprintf(want, sizeof(want), "iovirt ctl: %s%s", f.path, cases[i].says);
		assert_string_equal(r.err, want);
		assert_int_equal(f.served, 3);
		result_free(&r);
		for (size_t k = 0; k < 3; k++)
			free(replies[k]);
	}
	/* No socket at all by the next poll. */
	char *replies[] = {strdup(NO_CONTENT), migration("active", 1, 100, 50, 1 << 20, 0, NULL)};
	struct fake f;
	struct result r = migrate_run(&f, 2, (const char *const *)replies,
				      (const char *const[]){"migrate", "tcp:h:4444", NULL});
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "the source iovirt went away while migrating to tcp:h:4444 (");
	result_free(&r);
	free(replies[0]);
	free(replies[1]);
}

/* Refused at the start: the server's reason, and no polling. */
static void test_migrate_refused(void **state)
{
	(void)state;
	char *replies[] = {http("409 Conflict", "{\"error\":\"vm.send-migration: refused while the "
						"VM is Running: a migration is under way\"}")};
	struct fake f;
	struct result r = migrate_run(&f, 1, (const char *const *)replies,
				      (const char *const[]){"migrate", "tcp:h:1", NULL});
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	char want[512];
	snprintf(want, sizeof(want), "iovirt ctl: %s: vm.send-migration: HTTP 409: "
		 "vm.send-migration: refused while the VM is Running: a migration is under way\n",
		 f.path);
	assert_string_equal(r.err, want);
	assert_string_equal(r.out, "");
	assert_int_equal(f.served, 1);
	result_free(&r);
	free(replies[0]);
}

/* Wrong or missing URL or options: nothing is sent; a value that does
 * not parse is 1, as iovirt's other bad values. */
static void test_migrate_usage(void **state)
{
	(void)state;
	static const struct {
		const char *args[6];
		int status;
		const char *says;
	} cases[] = {
		{{"migrate", NULL}, IOVIRT_EXIT_USAGE, "iovirt ctl: migrate needs URL"},
		{{"migrate", "--no-auto-converge", NULL}, IOVIRT_EXIT_USAGE, "migrate needs URL"},
		{{"migrate", "tcp:h:1", "--bandwidth", NULL}, IOVIRT_EXIT_USAGE,
		 "iovirt ctl: --bandwidth needs a value"},
		{{"migrate", "tcp:h:1", "--downtime-ms", NULL}, IOVIRT_EXIT_USAGE,
		 "--downtime-ms needs a value"},
		{{"migrate", "tcp:h:1", "tcp:h:2", NULL}, IOVIRT_EXIT_USAGE, "tcp:h:2: one verb at a time"},
		{{"migrate", "tcp:h:1", "--bandwith", "1M", NULL}, IOVIRT_EXIT_USAGE,
		 "--bandwith: unknown option"},
		{{"pause", "--bandwidth", "1M", NULL}, IOVIRT_EXIT_USAGE,
		 "iovirt ctl: --bandwidth: only migrate takes it"},
		{{"migrate-status", "--no-auto-converge", NULL}, IOVIRT_EXIT_USAGE,
		 "--no-auto-converge: only migrate takes it"},
		{{"snapshot", "/snap", "--downtime-ms", "5", NULL}, IOVIRT_EXIT_USAGE,
		 "--downtime-ms: only migrate takes it"},
		{{"migrate", "tcp:h:1", "--bandwidth", "10X", NULL}, IOVIRT_EXIT_ERROR,
		 "iovirt ctl: migrate: --bandwidth 10X: not a size in bytes/s"},
		{{"migrate", "tcp:h:1", "--bandwidth", "-5", NULL}, IOVIRT_EXIT_ERROR,
		 "--bandwidth -5: not a size"},
		{{"migrate", "tcp:h:1", "--bandwidth", "", NULL}, IOVIRT_EXIT_ERROR,
		 "--bandwidth : not a size"},
		{{"migrate", "tcp:h:1", "--bandwidth", "1.5M", NULL}, IOVIRT_EXIT_ERROR,
		 "--bandwidth 1.5M: not a size"},
		{{"migrate", "tcp:h:1", "--bandwidth", "99999999999999999999", NULL}, IOVIRT_EXIT_ERROR,
		 "not a size"},
		{{"migrate", "tcp:h:1", "--bandwidth", "99999999999G", NULL}, IOVIRT_EXIT_ERROR,
		 "not a size"},
		{{"migrate", "tcp:h:1", "--downtime-ms", "0", NULL}, IOVIRT_EXIT_ERROR,
		 "iovirt ctl: migrate: --downtime-ms 0: not a number of milliseconds from 1 to 60000"},
		{{"migrate", "tcp:h:1", "--downtime-ms", "60001", NULL}, IOVIRT_EXIT_ERROR,
		 "--downtime-ms 60001: not a number"},
		{{"migrate", "tcp:h:1", "--downtime-ms", "-1", NULL}, IOVIRT_EXIT_ERROR,
		 "--downtime-ms -1: not a number"},
		{{"migrate", "tcp:h:1", "--downtime-ms", "300ms", NULL}, IOVIRT_EXIT_ERROR,
		 "--downtime-ms 300ms: not a number"},
	};
	char *reply = strdup(NO_CONTENT);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fake f;
		const char *replies[] = {reply};
		struct result r = migrate_run(&f, 1, replies, cases[i].args);
		if (r.status != cases[i].status)
			fail_msg("case %zu: status %d: %s", i, r.status, r.err);
		assert_one_line(r.err, cases[i].says);
		assert_string_equal(r.out, "");
		assert_int_equal(f.served, 0);
		result_free(&r);
	}
	free(reply);
}

static void test_migrate_status(void **state)
{
	(void)state;
	char *reply = migration("active", 2, 133120, 56, 1572864, 20, NULL);
	const char *body = strstr(reply, "\r\n\r\n") + 4;
	struct fake f;
	struct result r = ctl_once("migrate-status", NULL, "200 OK", body, &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out,
			    "state                 active\n"
			    "phase                 pre-copy\n"
			    "destination_url       tcp:h:4444\n"
			    "pass                  2\n"
			    "ram_bytes             536870912 (512 MiB)\n"
			    "pages_sent            133120\n"
			    "zero_pages            9000\n"
			    "bytes_sent            545792000 (520.5 MiB)\n"
			    "dirty_pages           56\n"
			    "dirty_rate            1200 pages/s\n"
			    "bandwidth             1572864 bytes/s (1.5 MiB/s)\n"
			    "expected_downtime_ms  145 ms\n"
			    "throttle_pct          20%\n"
			    "total_ms              2300 ms\n"
			    "downtime_ms           45 ms\n");
	assert_string_equal(r.err, "");
	result_free(&r);
	free(reply);
	/* Over, with its reason; members it lacks are "-". */
	r = ctl_once("migrate-status", NULL, "200 OK",
		     "{\"state\":\"failed\",\"phase\":null,\"error\":\"tcp:h:1: Connection refused\"}",
		     &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_non_null(strstr(r.out, "state                 failed\n"
				      "phase                 -\n"
				      "destination_url       -\n"
				      "error                 tcp:h:1: Connection refused\n"
				      "pass                  -\n"));
	result_free(&r);
	r = ctl_once("migrate-status", "--json", "200 OK", "{\"state\":\"none\"}", &f);
	assert_int_equal(r.status, IOVIRT_EXIT_OK);
	assert_string_equal(r.out, "{\"state\":\"none\"}\n");
	result_free(&r);
}

/* Against the real server: the op gets the options, and ctl follows the
 * status the VM reports until it completes. */
static struct api_migrate_params migrate_got;
static unsigned status_calls;

static int migrate_op(void *vm, const struct api_migrate_params *p, char *why, size_t why_len)
{
	migrate_got = *p;
	return 0;
}

static void migrate_status_op(void *vm, struct api_migrate_status *out)
{
	memset(out, 0, sizeof(*out));
	out->state = ++status_calls < 3 ? "active" : "completed";
	out->pass = status_calls;
	out->pages_sent = 256 * status_calls;
	out->bandwidth = 10 << 20;
	snprintf(out->url, sizeof(out->url), "%s", migrate_got.url);
}

static void test_migrate_against_server(void **state)
{
	(void)state;
	static const struct api_vm_ops ops = {.migrate = migrate_op,
					      .migrate_status = migrate_status_op};
	char dir[] = "/tmp/iovirt-test-ctl-mig-XXXXXX", sock[64];
	assert_non_null(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/api.sock", dir);
	struct api_server *s = api_server_start(sock, &ops, NULL);
	assert_non_null(s);
	struct result r = RUN(ctl_main, "ctl", sock, "migrate", "unix:/run/in.sock", "--bandwidth",
			      "10M", "--no-auto-converge");
	if (r.status != IOVIRT_EXIT_OK)
		fail_msg("status %d: %s", r.status, r.err);
	assert_string_equal(migrate_got.url, "unix:/run/in.sock");
	assert_int_equal(migrate_got.bandwidth, 10 << 20);
	assert_int_equal(migrate_got.downtime_ms, 0);
	assert_false(migrate_got.auto_converge);
	assert_string_equal(r.out, "pass 1: 256 pages sent, 0 dirty, 10 MiB/s, expected downtime 0 ms\n"
				   "pass 2: 512 pages sent, 0 dirty, 10 MiB/s, expected downtime 0 ms\n"
				   "migrated to unix:/run/in.sock: 3 passes, 768 pages (3 MiB) sent, "
				   "0 zero pages, downtime 0 ms, total 0 ms\n");
	result_free(&r);
	/* The server's refusal of the URL comes back as one line. */
	r = RUN(ctl_main, "ctl", sock, "migrate", "ssh:h");
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "HTTP 400: vm.send-migration: \"destination_url\" must be "
			       "\"tcp:HOST:PORT\" or \"unix:/PATH\", not \"ssh:h\"");
	result_free(&r);
	api_server_stop(s);
	assert_int_equal(rmdir(dir), 0);
}

static const char sample1[] =
	"{\"devices\":{\"virtio-blk0\":{\"\":{\"exits\":40},"
	"\"q0\":{\"kicks\":100,\"interrupts\":100,\"requests\":100,\"bytes_in\":409600}},"
	"\"nvme0\":{\"\":{\"exits\":10},\"q1\":{\"kicks\":0}}},"
	"\"kvm\":{\"vcpu0\":{\"exits\":1000}}}";
static const char sample2[] =
	"{\"devices\":{\"virtio-blk0\":{\"\":{\"exits\":40},"
	"\"q0\":{\"kicks\":300,\"interrupts\":300,\"requests\":300,\"bytes_in\":1228800}},"
	"\"nvme0\":{\"\":{\"exits\":10},\"q1\":{\"kicks\":0}}},"
	"\"kvm\":{\"vcpu0\":{\"exits\":1500}}}";

/* Is there a line whose first two words are dev and scope? */
static bool has_row(const char *text, const char *dev, const char *scope)
{
	for (const char *p = text; p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char d[64], s[64];
		if (sscanf(p, "%63s %63s", d, s) == 2 && !strcmp(d, dev) && !strcmp(s, scope))
			return true;
	}
	return false;
}

/* --once: two vm.counters a short interval apart, one table. */
static void test_stat_once(void **state)
{
	(void)state;
	char *a = http("200 OK", sample1), *b = http("200 OK", sample2);
	const char *replies[] = {a, b};
	struct fake f;
	fake_start(&f, 2, replies);
	struct result r = RUN(stat_main, "stat", f.path, "--once", "--interval", "0.05");
	fake_stop(&f);
	if (r.status != IOVIRT_EXIT_OK)
		fail_msg("status %d: %s", r.status, r.err);
	assert_int_equal(f.served, 2);
	assert_non_null(strstr(f.requests[1], "GET /api/v1/vm.counters HTTP/1.1\r\n"));
	assert_null(strstr(r.out, "\033["));          /* not a terminal: no clearing */
	assert_non_null(strstr(r.out, "iovirt stat "));
	assert_non_null(strstr(r.out, "EXITS/IO"));
	const char *q0 = strstr(r.out, "\nvirtio-blk0      q0 ");
	assert_non_null(q0);
	double exits, kicks, irqs, iops;
	assert_int_equal(sscanf(q0, "%*s %*s %lf %lf %lf %lf", &exits, &kicks, &irqs, &iops), 4);
	/* 200 requests over at least 0.05 s (and far less than 10 s). */
	assert_true(iops > 20 && iops <= 4000);
	assert_true(kicks == iops);
	assert_true(has_row(r.out, "nvme0", "-"));
	assert_false(has_row(r.out, "nvme0", "q1"));   /* never used */
	assert_non_null(strstr(r.out, "\nvcpu0 "));
	assert_string_equal(r.err, "");
	result_free(&r);
	free(a);
	free(b);
}

/* The VM went away between the samples; then a server that is not ours. */
static void test_stat_failures(void **state)
{
	(void)state;
	char *a = http("200 OK", sample1);
	const char *replies[] = {a, NULL};
	struct fake f;
	fake_start(&f, 2, replies);
	struct result r = RUN(stat_main, "stat", f.path, "--once", "--interval", "0.01");
	fake_stop(&f);
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "closed before any reply");
	assert_string_equal(r.out, "");
	result_free(&r);
	free(a);

	a = http("200 OK", "{\"devices\": 3}");
	replies[0] = a;
	fake_start(&f, 1, replies);
	r = RUN(stat_main, "stat", f.path, "--once");
	fake_stop(&f);
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "\"devices\" is not an object");
	result_free(&r);
	free(a);

	a = http("409 Conflict", "{\"error\":\"rebooting\"}");
	replies[0] = a;
	fake_start(&f, 1, replies);
	r = RUN(stat_main, "stat", f.path, "--once");
	fake_stop(&f);
	assert_int_equal(r.status, IOVIRT_EXIT_ERROR);
	assert_one_line(r.err, "vm.counters: HTTP 409: rebooting");
	result_free(&r);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_verb_sends_its_request),
		cmocka_unit_test(test_ping_human_and_json),
		cmocka_unit_test(test_info_table),
		cmocka_unit_test(test_counters_lines),
		cmocka_unit_test(test_http_errors_name_the_reason),
		cmocka_unit_test(test_nobody_listening),
		cmocka_unit_test(test_long_socket_path),
		cmocka_unit_test(test_reply_cut_short_or_missing),
		cmocka_unit_test(test_body_not_json),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_snapshot_sends_absolute_dir),
		cmocka_unit_test(test_snapshot_refused),
		cmocka_unit_test(test_snapshot_usage),
		cmocka_unit_test(test_snapshot_against_server),
		cmocka_unit_test(test_migrate_follows_passes),
		cmocka_unit_test(test_migrate_options),
		cmocka_unit_test(test_migrate_fails),
		cmocka_unit_test(test_migrate_source_lost),
		cmocka_unit_test(test_migrate_refused),
		cmocka_unit_test(test_migrate_usage),
		cmocka_unit_test(test_migrate_status),
		cmocka_unit_test(test_migrate_against_server),
		cmocka_unit_test(test_stat_once),
		cmocka_unit_test(test_stat_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
