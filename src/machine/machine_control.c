/* The control plane's requests to a machine; see machine_control.h. */
#include "machine/machine_control.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/log.h"
#include "devices/acpi_pm.h"
#include "machine/machine.h"

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

int machine_request(struct machine *m, enum machine_request req)
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

/* One more vCPU parked: once all have, the guest's clock is saved and the
 * loop stops; machine_ctl_run answers the pause from outside the loop. */
static void vcpu_parked(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	drain(m->ctl.park_fd);
	if (!m->ctl.pausing || !vm_vcpus_parked(&m->vm))
		return;
	m->ctl.pausing = false;
	int ret = vm_clock_save(&m->vm);
	if (ret < 0)
		log_warn("pause: reading the guest's clock: %s; the guest will see the pause",
			 strerror(-ret));
	set_state(&m->ctl, MACHINE_PAUSED);
	loop_stop(m->vm.loop);
}

static bool stopping(struct machine *m)
{
	return __atomic_load_n(&m->ctl.stop, __ATOMIC_ACQUIRE) ||
	       vm_exit_reason(&m->vm) != VM_RUNNING;
}

static void resume(struct machine *m)
{
	int ret = vm_clock_restore(&m->vm);
	if (ret < 0)
		log_warn("resume: setting the guest's clock back: %s", strerror(-ret));
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
		answer(ctl, req == MACHINE_PAUSE ? -EBUSY : run_common(m, req));
		if (stopping(m))
			return false;
	}
}

void machine_ctl_start(struct machine *m)
{
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
	set_state(ctl, MACHINE_CREATED);
	ctl->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ctl->park_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret = ctl->fd < 0 || ctl->park_fd < 0 ? -errno : 0;
	if (ret == 0)
		ret = loop_add_fd(m->vm.loop, ctl->fd, EPOLLIN, request_posted, m);
	if (ret == 0)
		ret = loop_add_fd(m->vm.loop, ctl->park_fd, EPOLLIN, vcpu_parked, m);
	if (ret < 0)
		log_error("setting up the control requests: %s", strerror(-ret));
	return ret;
}

void machine_ctl_destroy(struct machine *m)
{
	struct machine_ctl *ctl = &m->ctl;
	int *fds[] = {&ctl->fd, &ctl->park_fd};
	for (unsigned i = 0; i < 2; i++) {
		if (*fds[i] < 0)
			continue;
		if (m->vm.loop)
			loop_del_fd(m->vm.loop, *fds[i]);
		close(*fds[i]);
		*fds[i] = -1;
	}
	pthread_cond_destroy(&ctl->cond);
	pthread_mutex_destroy(&ctl->lock);
}
