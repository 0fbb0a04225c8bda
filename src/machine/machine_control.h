/* The control plane's requests to a machine (issue 20): pause, resume,
 * the ACPI power button, reboot, shutdown. The API thread posts one into a
 * slot and waits for its answer; the event loop runs it, so the VM is
 * touched on the loop thread only and no vCPU ever waits for the API. The
 * loop thread's body (machine_ctl_run) is the event loop plus, while the
 * machine is paused, a small wait that serves these requests alone.
 *
 * What "paused" means here, precisely:
 *  - No vCPU runs: each is parked outside KVM_RUN (vm_pause_vcpus) before
 *    the pause is answered, with the port or MMIO access it was in
 *    completed (so KVM holds all of its state).
 *  - No request is in flight in iovirt's own backends: once the vCPUs
 *    park, the loop runs on until no device is busy (device_busy: a block
 *    request with io_uring or a worker), at most SETTLE_TIMEOUT_S, so the
 *    guest's completions are in its rings and a snapshot finds every
 *    device idle.
 *  - Then the event loop does not run: no queue kick or doorbell is
 *    served, no backend completion is reaped, no frame is taken from the tap or libslirp (the host queues or drops
 *    them, as it would for a slow guest), no device timer fires (RTC,
 *    e1000 throttling), the console's input waits in the terminal.
 *  - Nothing is injected: iovirt raises no interrupt. Interrupts raised
 *    just before the pause, and the SCI of a power button pressed while
 *    paused, stay pending in KVM's irqchip and reach the guest on resume.
 *  - The guest's clock stops: kvmclock is saved once the vCPUs are parked
 *    and set back before they run (vm_clock_save), as QEMU does.
 *  - Nothing is lost, so the resume needs no replay: a kick the guest
 *    made before the pause stays counted in its ioeventfd (the guest, its
 *    only source, is stopped), and the loop serves it when it runs again;
 *    a pending interrupt is KVM's to deliver.
 *  - Not stopped: the data paths that run outside iovirt. vhost-net and a
 *    vhost-user backend keep serving the rings (their kicks come from the
 *    guest, so only what was queued before the pause), and a passed-
 *    through function keeps its DMA; their interrupts wait in KVM too.
 *  - What still works: vm.info, vm.counters, the other requests below,
 *    and a stopping signal. Ctrl-A x (served by the loop) waits.
 *
 * A snapshot (MACHINE_SNAPSHOT, paused only) needs the vCPU and VM ioctls
 * and the file system, which the loop's and the API's seccomp filters do
 * not allow: the loop thread hands it to the thread that set the machine
 * up (machine_ctl_serve_jobs, unfiltered, otherwise waiting for the loop
 * to end) and waits for it.
 */
#ifndef IOVIRT_MACHINE_MACHINE_CONTROL_H
#define IOVIRT_MACHINE_MACHINE_CONTROL_H

#include <pthread.h>
#include <stdbool.h>

struct machine;

enum machine_state {
	MACHINE_CREATED,  /* machine_run has not started the loop yet */
	MACHINE_RUNNING,
	MACHINE_PAUSED,
	MACHINE_STOPPED,  /* the loop has ended: the VM is stopping */
};

enum machine_request {
	MACHINE_PAUSE,        /* -EBUSY if paused already */
	MACHINE_RESUME,       /* -EBUSY if not paused */
	MACHINE_POWER_BUTTON, /* -ENOTSUP without an ACPI PM block */
	MACHINE_REBOOT,       /* as the guest's own reset (VM_EXIT_RESET) */
	MACHINE_SHUTDOWN,     /* stop now (VM_EXIT_API_SHUTDOWN): iovirt exits 0 */
	MACHINE_SNAPSHOT,     /* machine_request_snapshot; -EBUSY unless paused */
};

struct machine_ctl {
	pthread_mutex_t lock;
	pthread_cond_t cond;     /* an answer, or the slot free again */
	int fd;                  /* eventfd: a request posted, or a stop */
	int park_fd;             /* eventfd: a vCPU parked (vm_pause_vcpus) */
	int state;               /* enum machine_state; atomic reads outside lock */
	bool stop;               /* machine_ctl_stop_async */
	/* The slot: one request at a time. */
	bool busy;               /* posted, its poster not yet gone */
	bool taken;              /* the loop thread is running it */
	bool done;               /* answered: result holds the answer */
	enum machine_request req;
	int result;
	bool pausing;            /* a pause waits for the vCPUs to park */
	/* The pause's settling: a timerfd polling device_busy until idle or
	 * the deadline (loop thread only). */
	int settle_fd;
	bool settling;
	struct timespec settle_deadline;
	/* MACHINE_SNAPSHOT's argument and its answer's words. */
	const char *dir;
	char *why;
	size_t why_len;
	/* The job handed to the setup thread (machine_ctl_serve_jobs). */
	pthread_cond_t job_cond;
	bool job_posted, job_done, loop_ended;
	int job_result;
	/* A job nobody waits for (a live migration): run once, beside the
	 * running VM. */
	void (*async_job)(struct machine *m);
};

/* Once the VM exists: the eventfds on its loop. 0 or -errno after one
 * line; machine_ctl_destroy is safe after either. */
int machine_ctl_init(struct machine *m);
/* After the loop thread ended; before vm_destroy. */
void machine_ctl_destroy(struct machine *m);

/* Runs req on the loop thread and returns its answer: 0 or -errno; -EBUSY
 * as each request says, and before the loop started or once it ended (the
 * VM is stopping). From any thread but the loop's and the vCPUs'; one
 * request at a time, the others wait for the slot. */
int machine_request(struct machine *m, enum machine_request req);

/* MACHINE_SNAPSHOT into dir: 0, -EBUSY (not paused, or stopping), or
 * another -errno with one line in why. */
int machine_request_snapshot(struct machine *m, const char *dir, char *why, size_t why_len);

enum machine_state machine_state(struct machine *m);

/* The thread that set the machine up, while the loop runs: does the jobs
 * the loop thread hands it (snapshots) until machine_ctl_loop_ended. */
void machine_ctl_serve_jobs(struct machine *m);
/* Hands fn to the setup thread, which runs it beside the running VM
 * (a live migration); returns at once. -EBUSY once the loop has ended or
 * while another such job is posted. */
int machine_ctl_post_async(struct machine *m, void (*fn)(struct machine *m));
/* The loop thread, as its last act. */
void machine_ctl_loop_ended(struct machine *m);

/* The loop thread's body: the event loop, the paused waits between its
 * runs, until the VM stops; then every waiting poster is answered -EBUSY. */
void machine_ctl_run(struct machine *m);
/* machine_run's bounds: requests are taken from before the first vCPU
 * starts (posted ones wait in the loop's eventfd until the loop runs), and
 * refused once the machine stops, the loop never having run included: a
 * request waiting then is answered -EBUSY. */
void machine_ctl_start(struct machine *m);
void machine_ctl_end(struct machine *m);

/* Stops the machine, paused or not; async-signal-safe. */
void machine_ctl_stop_async(struct machine *m);

#endif
