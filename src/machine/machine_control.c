/* The control plane's requests to a machine; see machine_control.h. */
#include "machine/machine_control.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/acpi_pm.h"
#include "kvm/vm_state.h"
#include "machine/machine.h"
#include "machine/machine_snapshot.h"

/* How long a pause lets the backends finish what they have, and how often
 * it looks. */
#define SETTLE_TIMEOUT_S 10
#define SETTLE_POLL_NS 2000000

/* A request still running: the pause, until the vCPUs have parked. */
#define IN_PROGRESS 1

static void set_state(struct machine_ctl *ctl, enum machine_state s)
{
	__atomic_store_n(&ctl->state, (int)s, __ATOMIC_RELEASE);
}

enum machine_state machine_state(struct machine *m)
{
	return (enum machine_state)__atomic_load_n(&m->ctl.state, __ATOMIC_ACQUIRE);
}

static void wake(int fd)
{
	uint64_t one = 1;
	/* write() is async-signal-safe; a full counter still wakes. */
	if (write(fd, &one, sizeof(one)) < 0)
		return;
}

static void drain(int fd)
{
	uint64_t n;
	if (read(fd, &n, sizeof(n)) < 0)
		return; /* EAGAIN: another wake-up read it */
}

/* ---- the posting side (the API thread) ---- */

static int post(struct machine *m, enum machine_request req, const char *dir, char *why,
		size_t why_len)
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	while (ctl->busy && machine_state(m) != MACHINE_STOPPED)
		pthread_cond_wait(&ctl->cond, &ctl->lock);
	enum machine_state state = machine_state(m);
	if (state != MACHINE_RUNNING && state != MACHINE_PAUSED) {
		pthread_mutex_unlock(&ctl->lock);
		return -EBUSY; /* not started, or stopping */
	}
	ctl->busy = true;
	ctl->taken = ctl->done = false;
	ctl->req = req;
	ctl->dir = dir;
	ctl->why = why;
	ctl->why_len = why_len;
	pthread_mutex_unlock(&ctl->lock);
	wake(ctl->fd);

	pthread_mutex_lock(&ctl->lock);
	while (!ctl->done)
		pthread_cond_wait(&ctl->cond, &ctl->lock);
	int result = ctl->result;
	ctl->busy = false;
	pthread_cond_broadcast(&ctl->cond); /* the next poster */
	pthread_mutex_unlock(&ctl->lock);
	return result;
}

int machine_request(struct machine *m, enum machine_request req)
{
	return post(m, req, NULL, NULL, 0);
}

int machine_request_snapshot(struct machine *m, const char *dir, char *why, size_t why_len)
{
	if (why_len)
		why[0] = 0;
	return post(m, MACHINE_SNAPSHOT, dir, why, why_len);
}

/* ---- the setup thread's jobs ---- */

/* On the loop thread, paused: the snapshot runs on the setup thread, this
 * one waits (nothing else can run while paused anyway). */
static int run_snapshot(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	ctl->job_posted = true;
	ctl->job_done = false;
	pthread_cond_broadcast(&ctl->job_cond);
	while (!ctl->job_done)
		pthread_cond_wait(&ctl->job_cond, &ctl->lock);
	int ret = ctl->job_result;
	pthread_mutex_unlock(&ctl->lock);
	return ret;
}

void machine_ctl_serve_jobs(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	for (;;) {
		while (!ctl->job_posted && !ctl->async_job && !ctl->loop_ended)
			pthread_cond_wait(&ctl->job_cond, &ctl->lock);
		if (ctl->async_job) {
			void (*fn)(struct machine *) = ctl->async_job;
			pthread_mutex_unlock(&ctl->lock);
			fn(m);
			pthread_mutex_lock(&ctl->lock);
			ctl->async_job = NULL;
			continue;
		}
		if (!ctl->job_posted)
			break;
		ctl->job_posted = false;
		/* The poster waits for this answer: the slot's fields hold. */
		pthread_mutex_unlock(&ctl->lock);
		char fallback[8];
		char *why = ctl->why ? ctl->why : fallback;
		size_t why_len = ctl->why ? ctl->why_len : sizeof(fallback);
		int ret = machine_snapshot_save(m, ctl->dir, why, why_len);
		if (ret < 0)
			log_error("snapshot %s: %s", ctl->dir, why);
		pthread_mutex_lock(&ctl->lock);
		ctl->job_result = ret;
		ctl->job_done = true;
		pthread_cond_broadcast(&ctl->job_cond);
	}
	pthread_mutex_unlock(&ctl->lock);
}

int machine_ctl_post_async(struct machine *m, void (*fn)(struct machine *m))
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	int ret = ctl->loop_ended || ctl->async_job ? -EBUSY : 0;
	if (ret == 0) {
		ctl->async_job = fn;
		pthread_cond_broadcast(&ctl->job_cond);
	}
	pthread_mutex_unlock(&ctl->lock);
	return ret;
}

void machine_ctl_loop_ended(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	ctl->loop_ended = true;
	pthread_cond_broadcast(&ctl->job_cond);
	pthread_mutex_unlock(&ctl->lock);
}

/* ---- the loop thread's side ---- */

static void answer(struct machine_ctl *ctl, int result)
{
	pthread_mutex_lock(&ctl->lock);
	if (ctl->busy && !ctl->done) {
		ctl->result = result;
		ctl->done = true;
		pthread_cond_broadcast(&ctl->cond);
	}
	pthread_mutex_unlock(&ctl->lock);
}

/* The posted request, once: false if there is none to run. */
static bool take(struct machine_ctl *ctl, enum machine_request *req)
{
	pthread_mutex_lock(&ctl->lock);
	bool fresh = ctl->busy && !ctl->taken && !ctl->done;
	if (fresh) {
		ctl->taken = true;
		*req = ctl->req;
	}
	pthread_mutex_unlock(&ctl->lock);
	return fresh;
}

/* The requests both states run alike. */
static int run_common(struct machine *m, enum machine_request req)
{
	if (vm_exit_reason(&m->vm) != VM_RUNNING)
		return -EBUSY; /* stopping already */
	switch (req) {
	case MACHINE_POWER_BUTTON:
		if (!m->acpi_pm)
			return -ENOTSUP;
		/* While paused the SCI waits in the IOAPIC for the resume. */
		acpi_pm_press_power_button(m->acpi_pm);
		log_info("ACPI power button pressed (API)");
		return 0;
	case MACHINE_REBOOT:
		vm_request_exit(&m->vm, VM_EXIT_RESET, "rebooted by the API");
		return 0;
	case MACHINE_SHUTDOWN:
		vm_request_exit(&m->vm, VM_EXIT_API_SHUTDOWN, "stopped by the API");
		return 0;
	default:
		return -EINVAL;
	}
}

/* A request while the loop runs: on the loop thread. */
static int run_running(struct machine *m, enum machine_request req)
{
	switch (req) {
	case MACHINE_PAUSE:
		if (vm_exit_reason(&m->vm) != VM_RUNNING)
			return -EBUSY;
		/* Answered once every vCPU has parked and the loop has stopped
		 * (vcpu_parked, then machine_ctl_run). */
		m->ctl.pausing = true;
		vm_pause_vcpus(&m->vm, m->ctl.park_fd);
		return IN_PROGRESS;
	case MACHINE_RESUME:
	case MACHINE_SNAPSHOT:
		return -EBUSY; /* not paused */
	default:
		return run_common(m, req);
	}
}

static void request_posted(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	drain(m->ctl.fd);
	enum machine_request req;
	if (!take(&m->ctl, &req))
		return; /* a stop's wake-up, or the pause still in progress */
	int ret = run_running(m, req);
	if (ret != IN_PROGRESS)
		answer(&m->ctl, ret);
}

static bool stopping(struct machine *m)
{
	return __atomic_load_n(&m->ctl.stop, __ATOMIC_ACQUIRE) ||
	       vm_exit_reason(&m->vm) != VM_RUNNING;
}

static bool devices_busy(struct machine *m)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		if (device_busy(m->devices[i]))
			return true;
	return false;
}

static void arm_settle(struct machine *m, long ns)
{
	struct itimerspec its = {.it_interval = {0, ns}, .it_value = {0, ns}};
	if (m->ctl.settle_fd >= 0)
		timerfd_settime(m->ctl.settle_fd, 0, &its, NULL);
}

/* Every vCPU parked and no device busy: the guest's clock is saved and the
 * loop stops; machine_ctl_run answers the pause from outside the loop. */
static void pause_done(struct machine *m)
{
	int ret = vm_clock_save(&m->vm);
	if (ret < 0)
		log_warn("pause: reading the guest's clock: %s; the guest will see the pause",
			 strerror(-ret));
	set_state(&m->ctl, MACHINE_PAUSED);
	loop_stop(m->vm.loop);
}

/* The settling's tick: done once idle, or at the deadline (a backend that
 * hangs: the pause holds, a snapshot will name the busy device). */
static void settle_tick(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	drain(m->ctl.settle_fd);
	if (!m->ctl.settling)
		return;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool late = now.tv_sec > m->ctl.settle_deadline.tv_sec ||
		    (now.tv_sec == m->ctl.settle_deadline.tv_sec &&
		     now.tv_nsec >= m->ctl.settle_deadline.tv_nsec);
	if (devices_busy(m) && !late && !stopping(m))
		return;
	if (late)
		log_warn("pause: requests still with the backends after %d s", SETTLE_TIMEOUT_S);
	m->ctl.settling = false;
	arm_settle(m, 0);
	pause_done(m);
}

/* One more vCPU parked: once all have, the backends finish what they
 * have (settle_tick), then the pause is done. */
static void vcpu_parked(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	drain(m->ctl.park_fd);
	if (!m->ctl.pausing || !vm_vcpus_parked(&m->vm))
		return;
	m->ctl.pausing = false;
	if (!devices_busy(m) || m->ctl.settle_fd < 0) {
		pause_done(m);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &m->ctl.settle_deadline);
	m->ctl.settle_deadline.tv_sec += SETTLE_TIMEOUT_S;
	m->ctl.settling = true;
	arm_settle(m, SETTLE_POLL_NS);
}


static void resume(struct machine *m)
{
	log_debug("resume: the guest's clock goes on from %.3f s",
		  (double)m->vm.paused_clock / 1e9);
	int ret = vm_clock_restore(&m->vm);
	if (ret < 0)
		log_warn("resume: setting the guest's clock back: %s", strerror(-ret));
	/* The guest's lockup watchdogs must not count the pause. */
	vm_state_clock_stopped(&m->vm);
	set_state(&m->ctl, MACHINE_RUNNING);
	vm_resume_vcpus(&m->vm);
}

/* Paused: serves requests on this thread until a resume (true) or a stop
 * (false). Nothing else can stop the VM meanwhile: the vCPUs are parked
 * and the loop does not run; a signal comes through machine_ctl_stop_async,
 * which wakes this wait. */
static bool serve_paused(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	for (;;) {
		struct pollfd p = {.fd = ctl->fd, .events = POLLIN};
		if (poll(&p, 1, -1) < 0 && errno != EINTR) {
			vm_request_exit(&m->vm, VM_EXIT_ERROR, "paused: poll: %s", strerror(errno));
			return false;
		}
		drain(ctl->fd);
		if (stopping(m))
			return false;
		enum machine_request req;
		if (!take(ctl, &req))
			continue;
		if (req == MACHINE_RESUME) {
			resume(m);
			answer(ctl, 0);
			return true;
		}
		int ret = req == MACHINE_PAUSE	  ? -EBUSY
			  : req == MACHINE_SNAPSHOT ? run_snapshot(m)
						    : run_common(m, req);
		answer(ctl, ret);
		if (stopping(m))
			return false;
	}
}

void machine_ctl_start(struct machine *m)
{
	if (m->cfg->paused) {
		/* The clock as it stands now (a restore set it) is what resume
		 * sets back. */
		if (vm_clock_save(&m->vm) < 0)
			log_warn("--paused: reading the guest's clock failed");
		vm_pause_vcpus(&m->vm, -1);
		set_state(&m->ctl, MACHINE_PAUSED);
		log_info("paused: the guest runs at vm.resume");
		return;
	}
	set_state(&m->ctl, MACHINE_RUNNING);
}

void machine_ctl_end(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	pthread_mutex_lock(&ctl->lock);
	set_state(ctl, MACHINE_STOPPED);
	if (ctl->busy && !ctl->done) {
		ctl->result = -EBUSY;
		ctl->done = true;
	}
	pthread_cond_broadcast(&ctl->cond);
	pthread_mutex_unlock(&ctl->lock);
}

void machine_ctl_run(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	/* --paused: no vCPU has entered the guest (vm_pause_vcpus before they
	 * started); the first thing served is the paused wait. */
	if (machine_state(m) == MACHINE_PAUSED && !serve_paused(m)) {
		machine_ctl_end(m);
		return;
	}
	for (;;) {
		int ret = loop_run(m->vm.loop);
		if (ret < 0) {
			vm_request_exit(&m->vm, VM_EXIT_ERROR, "event loop: %s", strerror(-ret));
			break;
		}
		/* The loop stops for a pause, a stop or a signal. */
		if (stopping(m) || machine_state(m) != MACHINE_PAUSED)
			break;
		answer(ctl, 0); /* the pause: the loop is quiet now */
		if (!serve_paused(m))
			break;
	}
	machine_ctl_end(m);
}

void machine_ctl_stop_async(struct machine *m)
{
	__atomic_store_n(&m->ctl.stop, true, __ATOMIC_RELEASE);
	if (m->vm.loop)
		loop_stop(m->vm.loop);
	if (m->ctl.fd >= 0)
		wake(m->ctl.fd);
}

int machine_ctl_init(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	memset(ctl, 0, sizeof(*ctl));
	pthread_mutex_init(&ctl->lock, NULL);
	pthread_cond_init(&ctl->cond, NULL);
	pthread_cond_init(&ctl->job_cond, NULL);
	set_state(ctl, MACHINE_CREATED);
	ctl->settle_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	ctl->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ctl->park_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret = ctl->fd < 0 || ctl->park_fd < 0 || ctl->settle_fd < 0 ? -errno : 0;
	if (ret == 0)
		ret = loop_add_fd(m->vm.loop, ctl->fd, EPOLLIN, request_posted, m);
	if (ret == 0)
		ret = loop_add_fd(m->vm.loop, ctl->park_fd, EPOLLIN, vcpu_parked, m);
	if (ret == 0)
		ret = loop_add_fd(m->vm.loop, ctl->settle_fd, EPOLLIN, settle_tick, m);
	if (ret < 0)
		log_error("setting up the control requests: %s", strerror(-ret));
	return ret;
}

void machine_ctl_destroy(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	int *fds[] = {&ctl->fd, &ctl->park_fd, &ctl->settle_fd};
	for (unsigned i = 0; i < 3; i++) {
		if (*fds[i] < 0)
			continue;
		if (m->vm.loop)
			loop_del_fd(m->vm.loop, *fds[i]);
		close(*fds[i]);
		*fds[i] = -1;
	}
	pthread_cond_destroy(&ctl->cond);
	pthread_cond_destroy(&ctl->job_cond);
	pthread_mutex_destroy(&ctl->lock);
}
