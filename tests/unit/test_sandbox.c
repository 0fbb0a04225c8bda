/* sandbox: each kind's filter builds and loads; a forbidden syscall under
 * it ends the process with the one-line report, an allowed one works;
 * --seccomp and --user parse; the drop to --user leaves no capability.
 * Filters are for life, so each case that loads one runs in a child. */
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "api/api.h"
#include "machine/config.h"
#include "sandbox/sandbox.h"

typedef int (*child_fn)(void);

struct child_result {
	int status;
	char err[512];
};

/* Runs fn in a child whose stderr is captured; the child's return value
 * is its exit status (_exit: no atexit handlers, no leak check). */
static void run_child(child_fn fn, struct child_result *res)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		_exit(fn());
	}
	close(pipefd[1]);
	memset(res, 0, sizeof(*res));
	size_t n = 0;
	ssize_t r;
	while (n < sizeof(res->err) - 1 &&
	       (r = read(pipefd[0], res->err + n, sizeof(res->err) - 1 - n)) > 0)
		n += (size_t)r;
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &res->status, 0), pid);
}

static int prepare(enum sandbox_seccomp mode, bool slirp)
{
	struct sandbox_config cfg = {.seccomp = mode};
	if (slirp) {
		cfg.slirp = true;
	}
	return sandbox_prepare(&cfg);
}

static void assert_exited(const struct child_result *res, int status)
{
	if (!WIFEXITED(res->status) || WEXITSTATUS(res->status) != status)
		fail_msg("child status 0x%x, stderr: %s", res->status, res->err);
}

static int build_all(void)
{
	return prepare(SANDBOX_SECCOMP_ON, false) == 0 && prepare(SANDBOX_SECCOMP_ON, true) == 0 &&
	       prepare(SANDBOX_SECCOMP_LOG, true) == 0 && prepare(SANDBOX_SECCOMP_OFF, false) == 0
		       ? 0 : 1;
}

static void test_every_kind_builds(void **state)
{
	struct child_result res;
	run_child(build_all, &res);
	assert_exited(&res, 0);
}

/* Enters kind, then makes the syscalls everyone needs (write, getpid,
 * pthread_kill's signals to itself, mmap) and one kind-specific call. */
static int enter_and_work(enum sandbox_kind kind)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(kind);
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED || munmap(p, 4096) < 0)
		return 3;
	if (syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) < 0)
		return 4;
	if (kind == SANDBOX_VCPU && (ioctl(-1, KVM_RUN, 0) == 0 || errno != EBADF))
		return 5;
	if (kind == SANDBOX_BLOCK_WORKER && (fdatasync(-1) == 0 || errno != EBADF))
		return 6;
	if (kind == SANDBOX_LOOP) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return 7;
		close(fd);
	}
	return write(STDERR_FILENO, "ok", 2) == 2 ? 0 : 8;
}

static int vcpu_works(void) { return enter_and_work(SANDBOX_VCPU); }
static int loop_works(void) { return enter_and_work(SANDBOX_LOOP); }
static int worker_works(void) { return enter_and_work(SANDBOX_BLOCK_WORKER); }

static void test_allowed_syscalls_work(void **state)
{
	static const child_fn fns[] = {vcpu_works, loop_works, worker_works};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		struct child_result res;
		run_child(fns[i], &res);
		assert_exited(&res, 0);
		assert_string_equal(res.err, "ok");
	}
}

static int vcpu_opens_file(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_VCPU);
	syscall(SYS_openat, AT_FDCWD, "/etc/passwd", O_RDONLY);
	return 0; /* not reached */
}

/* A thread that blocks every signal still dies (the kernel forces SIGSYS). */
static int blocked_worker_forks(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	sandbox_enter(SANDBOX_BLOCK_WORKER);
	pthread_sigmask(SIG_SETMASK, &all, NULL);
	syscall(SYS_fork);
	return 0;
}

static void test_forbidden_syscall_reports_and_kills(void **state)
{
	struct child_result res;
	run_child(vcpu_opens_file, &res);
	assert_exited(&res, SANDBOX_EXIT_VIOLATION);
	assert_non_null(strstr(res.err, "iovirt: seccomp: thread vcpu made a forbidden syscall "
					"257 (openat)"));
	run_child(blocked_worker_forks, &res);
	if (WIFEXITED(res.status))
		assert_int_equal(WEXITSTATUS(res.status), SANDBOX_EXIT_VIOLATION);
	else
		assert_int_equal(WTERMSIG(res.status), SIGSYS);
}

/* ioctl is allowed per request: a tap's TUNSETIFF is setup, not vCPU work. */
static int vcpu_sets_tap(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_VCPU);
	ioctl(-1, TUNSETIFF, NULL);
	return 0;
}

static void test_ioctl_filtered_by_request(void **state)
{
	struct child_result res;
	run_child(vcpu_sets_tap, &res);
	assert_exited(&res, SANDBOX_EXIT_VIOLATION);
	char want[64];
	snprintf(want, sizeof(want), "(ioctl 0x%lx)", (unsigned long)TUNSETIFF);
	assert_non_null(strstr(res.err, want));
}

/* No thread maps code at run time. */
static int worker_maps_exec(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_BLOCK_WORKER);
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static void test_exec_mapping_forbidden(void **state)
{
	struct child_result res;
	run_child(worker_maps_exec, &res);
	assert_exited(&res, SANDBOX_EXIT_VIOLATION);
	assert_non_null(strstr(res.err, "thread blk-worker made a forbidden syscall 9 (mmap)"));
}

/* Only slirp's loop opens INET sockets. */
static int loop_inet_socket(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_LOOP);
	socket(AF_INET, SOCK_STREAM, 0);
	return 0;
}

static int slirp_loop_inet_socket(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, true) < 0)
		return 2;
	sandbox_enter(SANDBOX_LOOP);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	return fd >= 0 ? 0 : 3;
}

static void test_inet_sockets_only_with_slirp(void **state)
{
	struct child_result res;
	run_child(loop_inet_socket, &res);
	assert_exited(&res, SANDBOX_EXIT_VIOLATION);
	assert_non_null(strstr(res.err, "thread loop made a forbidden syscall 41 (socket)"));
	run_child(slirp_loop_inet_socket, &res);
	assert_exited(&res, 0);
}

/* --seccomp=log lets the call through (the kernel logs it). */
static int log_mode_lets_through(void)
{
	if (prepare(SANDBOX_SECCOMP_LOG, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_VCPU);
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
	return fd >= 0 ? 0 : 3;
}

static void test_log_mode(void **state)
{
	struct child_result res;
	run_child(log_mode_lets_through, &res);
	assert_exited(&res, 0);
}

/* --seccomp=off: sandbox_enter loads nothing. */
static int off_mode_loads_nothing(void)
{
	if (prepare(SANDBOX_SECCOMP_OFF, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_VCPU);
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
	return fd >= 0 ? 0 : 3;
}

static void test_off_mode(void **state)
{
	struct child_result res;
	run_child(off_mode_loads_nothing, &res);
	assert_exited(&res, 0);
}

static void test_parse_seccomp(void **state)
{
	enum sandbox_seccomp m = SANDBOX_SECCOMP_ON;
	assert_int_equal(sandbox_parse_seccomp("off", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_OFF);
	assert_int_equal(sandbox_parse_seccomp("log", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_LOG);
	assert_int_equal(sandbox_parse_seccomp("on", &m), 0);
	assert_int_equal(m, SANDBOX_SECCOMP_ON);
	assert_int_equal(sandbox_parse_seccomp("yes", &m), -EINVAL);
	assert_int_equal(sandbox_parse_seccomp("", &m), -EINVAL);
}

static int parse_run(struct vm_config *cfg, const char *a, const char *b)
{
	char *argv[] = {"run", "--kernel", "bz", (char *)a, (char *)b, NULL};
	return config_parse_run(b ? 5 : 4, argv, cfg);
}

static void test_run_options(void **state)
{
	struct vm_config cfg;
	assert_int_equal(parse_run(&cfg, "--kernel", "bz"), 0);
	assert_int_equal(cfg.seccomp, SANDBOX_SECCOMP_ON); /* the default */
	assert_false(cfg.user.set);
	assert_int_equal(parse_run(&cfg, "--seccomp=off", NULL), 0);
	assert_int_equal(cfg.seccomp, SANDBOX_SECCOMP_OFF);
	assert_int_equal(parse_run(&cfg, "--seccomp", "log"), 0);
	assert_int_equal(cfg.seccomp, SANDBOX_SECCOMP_LOG);
	assert_int_equal(parse_run(&cfg, "--seccomp=maybe", NULL), 1);
	assert_int_equal(parse_run(&cfg, "--user=nobody", NULL), 0);
	assert_true(cfg.user.set);
	assert_int_equal(cfg.user.uid, 65534);
	assert_int_equal(parse_run(&cfg, "--user", "root"), 1);
}

static void test_parse_user(void **state)
{
	struct sandbox_user u;
	assert_int_equal(sandbox_parse_user("nobody", &u), 0);
	assert_true(u.set);
	assert_int_equal(u.uid, 65534);
	assert_int_equal(u.gid, 65534); /* nogroup, nobody's primary group */
	assert_int_equal(sandbox_parse_user("nobody:daemon", &u), 0);
	assert_int_equal(u.gid, 1);
	assert_int_equal(sandbox_parse_user("65534:65534", &u), 0);
	assert_int_equal(u.uid, 65534);
	/* A uid with no passwd entry needs its group named. */
	assert_int_equal(sandbox_parse_user("4000000:4000000", &u), 0);
	assert_int_equal(sandbox_parse_user("4000000", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("no-such-user-iovirt", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("nobody:no-such-group-iovirt", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("nobody:", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user(":nogroup", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("", &u), -EINVAL);
	/* Root is no drop. */
	assert_int_equal(sandbox_parse_user("root", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("0:65534", &u), -EINVAL);
	assert_int_equal(sandbox_parse_user("nobody:root", &u), -EINVAL);
}

static int drop_to_nobody(void)
{
	struct sandbox_user u = {.set = true, .uid = 65534, .gid = 65534};
	char why[128] = "";
	if (sandbox_drop_user(&u, why, sizeof(why)) < 0)
		return 2;
	if (getuid() != 65534 || geteuid() != 65534 || getgid() != 65534)
		return 3;
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return 4;
	for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++)
		if (data[i].effective || data[i].permitted || data[i].inheritable)
			return 5;
	if (setuid(0) == 0)
		return 6;
	/* Dropped already: a --reboot's second call succeeds. */
	return sandbox_drop_user(&u, why, sizeof(why)) == 0 ? 0 : 7;
}

static void test_drop_user(void **state)
{
	if (geteuid() != 0)
		skip();
	struct child_result res;
	run_child(drop_to_nobody, &res);
	assert_exited(&res, 0);
}

/* The drop after a thread entered its filter (as block workers have by
 * then): glibc makes every thread repeat setgroups/setresgid/setresuid,
 * which the filters allow only towards --user's ids. */
static int entered[2], never[2];

static void *filtered_thread(void *arg)
{
	(void)arg;
	sandbox_enter(SANDBOX_BLOCK_WORKER);
	char c = 1;
	if (write(entered[1], &c, 1) != 1)
		return NULL;
	/* Waits (never woken) while the setxid signal comes; on a pipe of its
	 * own, or it could read back its own byte and leave the test waiting. */
	ssize_t r = read(never[0], &c, 1);
	(void)r;
	return NULL;
}

static int drop_under_filter(void)
{
	struct sandbox_config cfg = {.seccomp = SANDBOX_SECCOMP_ON};
	cfg.user = (struct sandbox_user){.set = true, .uid = 65534, .gid = 65534};
	if (sandbox_prepare(&cfg) < 0 || pipe(entered) < 0 || pipe(never) < 0)
		return 2;
	pthread_t t;
	char c;
	if (pthread_create(&t, NULL, filtered_thread, NULL) != 0 || read(entered[0], &c, 1) != 1)
		return 3;
	char why[128] = "";
	return sandbox_drop_user(&cfg.user, why, sizeof(why)) == 0 ? 0 : 4;
}

static void test_drop_user_under_filter(void **state)
{
	if (geteuid() != 0)
		skip();
	struct child_result res;
	run_child(drop_under_filter, &res);
	assert_exited(&res, 0);
}

/* The API server's thread, under SANDBOX_API, serves requests: accepts,
 * reads, calls the VM's ops, answers, frees, and exits when stopped. */
static void api_info(void *vm, struct api_vm_info *out)
{
	out->state = "Running";
	out->ndevices = 1;
	snprintf(out->devices[0].id, sizeof(out->devices[0].id), "nvme0");
}

/* As the machine's: the devices' counters, then KVM's statistics read
 * from their fd (opened before the filters, as KVM_GET_STATS_FD is). */
static int api_stats_fd = -1;

static void api_counters(void *vm, const struct counter_sink *sink)
{
	struct dev_counters c = {.kicks = 1};
	counters_emit(sink, "nvme0", "q0", &c);
	uint64_t exits = 0;
	if (pread(api_stats_fd, &exits, sizeof(exits), 0) == (ssize_t)sizeof(exits))
		sink->emit(sink->opaque, "kvm", "vcpu0", "exits", exits);
}

static int api_pause(void *vm)
{
	return -EBUSY;
}

static int api_ok(void *vm)
{
	return 0;
}

static const struct api_vm_ops api_ops = {
	.info = api_info, .counters = api_counters, .pause = api_pause, .resume = api_ok,
	.power_button = api_ok, .reboot = api_ok, .shutdown = api_ok,
};

/* The status of one request on a fresh connection; -1 on failure. */
static int api_request(const char *path, const char *request)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	char reply[4096];
	size_t len = 0;
	ssize_t n = -1;
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, request, strlen(request)) != (ssize_t)strlen(request))
		return -1;
	while (len < sizeof(reply) - 1 && (n = read(fd, reply + len, sizeof(reply) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	reply[len] = '\0';
	unsigned status;
	return sscanf(reply, "HTTP/1.1 %u ", &status) == 1 ? (int)status : -1;
}

#define API_REQ(m, p, body) \
	m " /api/v1/" p " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: " \
	  body "\r\n\r\n"

static int api_serves(void)
{
	api_stats_fd = memfd_create("kvm-stats", MFD_CLOEXEC);
	if (api_stats_fd < 0 || ftruncate(api_stats_fd, 4096) < 0)
		return 5;
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	char path[64];
	snprintf(path, sizeof(path), "/tmp/iovirt-test-sandbox-api.%d", (int)getpid());
	struct api_server *s = api_server_start(path, &api_ops, NULL);
	if (!s)
		return 3;
	static const struct {
		const char *request;
		int status;
	} reqs[] = {
		{API_REQ("GET", "vmm.ping", "0"), 200},
		{API_REQ("GET", "vm.info", "0"), 200},
		{API_REQ("GET", "vm.counters", "0"), 200},
		{API_REQ("PUT", "vm.resume", "2") "{}", 204},
		{API_REQ("PUT", "vm.pause", "0"), 409},
		{API_REQ("PUT", "vm.pause", "3") "{x}", 400},
		{API_REQ("PUT", "vm.pause", "100000"), 413},
		{API_REQ("GET", "vm.nope", "0"), 404},
		{API_REQ("GET", "vm.pause", "0"), 405},
	};
	for (int round = 0; round < 20; round++)
		for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++)
			if (api_request(path, reqs[i].request) != reqs[i].status)
				return 10 + (int)i;
	api_server_stop(s); /* the thread exits under its filter */
	return write(STDERR_FILENO, "ok", 2) == 2 ? 0 : 4;
}

static void test_api_thread_serves(void **state)
{
	struct child_result res;
	run_child(api_serves, &res);
	assert_exited(&res, 0);
	assert_string_equal(res.err, "ok");
}

/* The API thread opens nothing, and makes no socket of its own. */
static int api_thread_makes_socket(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_API);
	socket(AF_UNIX, SOCK_STREAM, 0);
	return 0;
}

static int api_thread_opens(void)
{
	if (prepare(SANDBOX_SECCOMP_ON, false) < 0)
		return 2;
	sandbox_enter(SANDBOX_API);
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY);
	return fd < 0 && errno == EACCES ? 0 : 3;
}

static void test_api_thread_confined(void **state)
{
	struct child_result res;
	run_child(api_thread_makes_socket, &res);
	assert_exited(&res, SANDBOX_EXIT_VIOLATION);
	assert_non_null(strstr(res.err, "thread api made a forbidden syscall 41 (socket)"));
	run_child(api_thread_opens, &res);
	assert_exited(&res, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_kind_builds),
		cmocka_unit_test(test_allowed_syscalls_work),
		cmocka_unit_test(test_forbidden_syscall_reports_and_kills),
		cmocka_unit_test(test_ioctl_filtered_by_request),
		cmocka_unit_test(test_exec_mapping_forbidden),
		cmocka_unit_test(test_inet_sockets_only_with_slirp),
		cmocka_unit_test(test_log_mode),
		cmocka_unit_test(test_off_mode),
		cmocka_unit_test(test_parse_seccomp),
		cmocka_unit_test(test_run_options),
		cmocka_unit_test(test_parse_user),
		cmocka_unit_test(test_drop_user),
		cmocka_unit_test(test_drop_user_under_filter),
		cmocka_unit_test(test_api_thread_serves),
		cmocka_unit_test(test_api_thread_confined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
