/* Live migration of a whole machine; see machine_migrate.h. */
#include "machine/machine_migrate.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backends/block.h"
#include "core/device.h"
#include "core/guest_mem_log.h"
#include "core/log.h"
#include "kvm/dirty_log.h"
#include "kvm/vcpu.h"
#include "machine/machine.h"
#include "machine/machine_snapshot.h"
#include "migrate/migrate_stream.h"
#include "migrate/snapshot_file.h"

#define PAGE MIG_PAGE_SIZE
/* A send or receive that stalls this long: the stream counts as cut. */
#define STREAM_TIMEOUT_S 30
/* Auto-converge as QEMU does it: start at 20%, 10 more each pass that
 * still does not converge, at most 99%. */
#define THROTTLE_FIRST 20
#define THROTTLE_STEP 10
/* Passes before the throttle starts: the first sends all of RAM, the
 * next ones show the dirty rate. */
#define PASSES_BEFORE_THROTTLE 3
/* A pass this small is not timed; until one is, the link is taken to send
 * this much (a guest with a handful of dirty pages stops at once). */
#define MIN_TIMED_BYTES (256 * 1024)
#define ASSUMED_BANDWIDTH (100ULL << 20)

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ULL + (uint64_t)t.tv_nsec;
}

/* ---- status (any thread) ---- */

static void status_update(struct machine *m, void (*fn)(struct api_migrate_status *st, void *arg),
			  void *arg)
{
	struct machine_migration *mig = &m->mig;
	pthread_mutex_lock(&mig->lock);
	fn(&mig->st, arg);
	pthread_mutex_unlock(&mig->lock);
}

static void set_phase(struct api_migrate_status *st, void *arg)
{
	st->phase = arg;
}

void machine_migrate_status(struct machine *m, struct api_migrate_status *out)
{
	struct machine_migration *mig = &m->mig;
	pthread_mutex_lock(&mig->lock);
	*out = mig->st;
	if (!out->state)
		out->state = "none";
	if (mig->active)
		out->total_ms = (now_ns() - mig->start_ns) / 1000000;
	pthread_mutex_unlock(&mig->lock);
}

bool machine_migrate_busy(struct machine *m)
{
	pthread_mutex_lock(&m->mig.lock);
	bool busy = m->mig.active || m->mig.migrated;
	pthread_mutex_unlock(&m->mig.lock);
	return busy;
}

bool machine_migrated(struct machine *m)
{
	pthread_mutex_lock(&m->mig.lock);
	bool done = m->mig.migrated;
	pthread_mutex_unlock(&m->mig.lock);
	return done;
}

void machine_migrate_init(struct machine *m)
{
	memset(&m->mig, 0, sizeof(m->mig));
	pthread_mutex_init(&m->mig.lock, NULL);
}

void machine_migrate_destroy(struct machine *m)
{
	pthread_mutex_destroy(&m->mig.lock);
}

/* ---- the source ---- */

struct source {
	struct machine *m;
	const struct api_migrate_params *p;
	int fd;
	struct dirty_log dl;
	bool logging, paused, held, unlocked, ticking;
	bool state_sent;           /* the destination may be loading it */
	unsigned held_n;
	pthread_t ticker;
	uint64_t pass_bytes;       /* this pass, on the wire */
	uint64_t pass_start_ns;
	uint64_t bandwidth;        /* bytes/s the last pass achieved */
	char why[512];
};

static int fail(struct source *s, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(struct source *s, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	return err;
}

static bool cancelled(struct source *s)
{
	return __atomic_load_n(&s->m->mig.cancel, __ATOMIC_ACQUIRE);
}

/* Between messages: a cancel, the VM stopping, the deadline. */
static int check_going(struct source *s)
{
	if (cancelled(s))
		return fail(s, -ECANCELED, "cancelled by the API");
	if (vm_exit_reason(&s->m->vm) != VM_RUNNING)
		return fail(s, -ESHUTDOWN, "the VM stopped during the migration");
	if (now_ns() - s->m->mig.start_ns > (uint64_t)MIGRATE_DEADLINE_S * 1000000000ULL)
		return fail(s, -ETIMEDOUT,
			    "the guest dirties memory faster than it can be sent (no convergence in "
			    "%d s)", MIGRATE_DEADLINE_S);
	return 0;
}

/* Holds the pass to the bandwidth cap: sleeps until the bytes sent fit. */
static void pace(struct source *s)
{
	uint64_t cap = s->p->bandwidth;
	if (!cap)
		return;
	uint64_t due_ns = s->pass_bytes * 1000000000ULL / cap;
	uint64_t spent = now_ns() - s->pass_start_ns;
	if (due_ns > spent) {
		uint64_t ns = due_ns - spent;
		struct timespec t = {.tv_sec = (time_t)(ns / 1000000000ULL),
				     .tv_nsec = (long)(ns % 1000000000ULL)};
		nanosleep(&t, NULL);
	}
}

struct sent {
	uint64_t data, zero, bytes;
};

static void add_sent(struct api_migrate_status *st, void *arg)
{
	const struct sent *n = arg;
	st->pages_sent += n->data;
	st->zero_pages += n->zero;
	st->bytes_sent += n->bytes;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	for (size_t i = 0; i < PAGE / 8; i++)
		if (w[i])
			return false;
	return true;
}

/* Sends pages [first, first+count) of region r: runs of data pages as
 * PAGES, runs of zero pages as ZERO. */
static int send_run(struct source *s, const struct guest_mem_region *r, uint64_t first,
		    uint64_t count)
{
	struct sent n = {0};
	int ret = 0;
	for (uint64_t i = first; ret == 0 && i < first + count;) {
		bool zero = page_is_zero(r->hva + i * PAGE);
		uint64_t j = i + 1;
		while (j < first + count && (zero || j - i < MIG_MAX_PAGES) &&
		       page_is_zero(r->hva + j * PAGE) == zero)
			j++;
		if (zero) {
			ret = mig_send_zero(s->fd, r->gpa + i * PAGE, j - i);
			n.zero += j - i;
			n.bytes += MIG_HEADER_BYTES + 16;
		} else {
			ret = mig_send_pages(s->fd, r->gpa + i * PAGE, r->hva + i * PAGE, j - i);
			n.data += j - i;
			n.bytes += MIG_HEADER_BYTES + 8 + (j - i) * PAGE;
		}
		i = j;
	}
	s->pass_bytes += n.bytes;
	status_update(s->m, add_sent, &n);
	if (ret < 0)
		return fail(s, ret, "sending guest memory: %s", strerror(-ret));
	pace(s);
	return 0;
}

/* The first pass: every page of RAM. */
static int send_all(struct source *s)
{
	const struct guest_mem *mem = &s->m->vm.mem;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t pages = r->size / PAGE;
		for (uint64_t p = 0; p < pages; p += MIG_MAX_PAGES) {
			int ret = check_going(s);
			if (ret == 0)
				ret = send_run(s, r, p, pages - p < MIG_MAX_PAGES ? pages - p : MIG_MAX_PAGES);
			if (ret < 0)
				return ret;
		}
	}
	return 0;
}

/* A later pass: the pages the last sync found dirty, taken from the log
 * as they go (a page dirtied again meanwhile is found by the next sync).
 * final: the VM is stopped, no check but the stream's. */
static int send_dirty(struct source *s, bool final)
{
	const struct guest_mem *mem = &s->m->vm.mem;
	for (unsigned i = 0; i < mem->nr_regions; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		uint64_t pages = r->size / PAGE;
		for (uint64_t p = 0; p < pages;) {
			if (!dirty_log_take(&s->dl, i, p)) {
				p++;
				continue;
			}
			uint64_t q = p + 1;
			while (q < pages && q - p < MIG_MAX_PAGES && dirty_log_take(&s->dl, i, q))
				q++;
			int ret = final ? 0 : check_going(s);
			if (ret == 0)
				ret = send_run(s, r, p, q - p);
			if (ret < 0)
				return ret;
			p = q;
		}
	}
	return 0;
}

/* Auto-converge's clock: kicks every vCPU out of KVM_RUN each period, and
 * each sleeps its share (vm_throttle_vcpus). */
static void *ticker(void *arg)
{
	struct source *s = arg;
	struct vm *vm = &s->m->vm;
	while (__atomic_load_n(&vm->throttle_pct, __ATOMIC_RELAXED) &&
	       vm_exit_reason(vm) == VM_RUNNING) {
		for (unsigned i = 0; i < vm->ncpus; i++)
			vcpu_kick(&vm->vcpus[i]);
		struct timespec t = {0, VM_THROTTLE_PERIOD_MS * 1000000L};
		nanosleep(&t, NULL);
	}
	return NULL;
}

static void set_throttle(struct source *s, unsigned pct)
{
	vm_throttle_vcpus(&s->m->vm, pct);
	if (pct && !s->ticking)
		s->ticking = pthread_create(&s->ticker, NULL, ticker, s) == 0;
	if (!pct && s->ticking) {
		pthread_join(s->ticker, NULL);
		s->ticking = false;
	}
}

struct pass_result {
	unsigned pass;
	uint64_t dirty, rate, bandwidth, downtime_ms;
	unsigned throttle;
};

static void set_pass(struct api_migrate_status *st, void *arg)
{
	const struct pass_result *p = arg;
	st->pass = p->pass;
	st->dirty_pages = p->dirty;
	st->dirty_rate = p->rate;
	st->bandwidth = p->bandwidth;
	st->expected_downtime_ms = p->downtime_ms;
	st->throttle_pct = p->throttle;
}

/* Pre-copy: all of RAM, then the dirty pages, pass after pass, until
 * what is left fits the downtime budget. */
static int precopy(struct source *s)
{
	struct machine *m = s->m;
	uint64_t downtime_ms = s->p->downtime_ms ? s->p->downtime_ms : MIGRATE_DEFAULT_DOWNTIME_MS;
	struct pass_result pr = {0};
	uint64_t last_dirty = UINT64_MAX;
	unsigned not_converging = 0;
	for (;;) {
		s->pass_bytes = 0;
		s->pass_start_ns = now_ns();
		int ret = pr.pass == 0 ? send_all(s) : send_dirty(s, false);
		if (ret < 0)
			return ret;
		uint64_t spent_ns = now_ns() - s->pass_start_ns;
		pr.pass++;
		if (spent_ns && s->pass_bytes >= MIN_TIMED_BYTES)
			s->bandwidth = s->pass_bytes * 1000000000ULL / spent_ns;
		uint64_t bandwidth = s->bandwidth ? s->bandwidth : ASSUMED_BANDWIDTH;
		if ((ret = dirty_log_sync(&m->vm, &s->dl, &pr.dirty)) < 0)
			return fail(s, ret, "reading the dirty log: %s", strerror(-ret));
		pr.rate = spent_ns ? pr.dirty * 1000000000ULL / spent_ns : 0;
		pr.bandwidth = s->bandwidth;
		pr.downtime_ms = pr.dirty * PAGE * 1000 / bandwidth;
		status_update(m, set_pass, &pr);
		log_debug("migration pass %u: %llu bytes in %.0f ms, %llu pages dirty, expected "
			  "downtime %llu ms", pr.pass, (unsigned long long)s->pass_bytes,
			  (double)spent_ns / 1e6, (unsigned long long)pr.dirty,
			  (unsigned long long)pr.downtime_ms);
		/* Once what is left fits, one more pass while it still halves
		 * what is left: a guest that dirties little then stops with
		 * next to nothing to send (QEMU's 300 ms budget is a bound, not
		 * a target); one that dirties steadily stops at once. */
		bool fits = pr.downtime_ms <= downtime_ms;
		bool halving = pr.dirty * 2 < last_dirty;
		if (pr.dirty == 0 || (fits && (!halving || pr.downtime_ms <= downtime_ms / 16)))
			return 0;
		if (fits) {
			last_dirty = pr.dirty;
			continue;
		}
		/* Not converging: the guest dirtied at least half of what the
		 * pass sent, twice in a row (QEMU's rule). */
		if (pr.dirty * PAGE * 2 >= s->pass_bytes || pr.dirty >= last_dirty)
			not_converging++;
		else
			not_converging = 0;
		last_dirty = pr.dirty;
		/* Once slowing has begun, each pass that still does not fit
		 * slows the guest more. */
		if (s->p->auto_converge && pr.pass >= PASSES_BEFORE_THROTTLE &&
		    (not_converging >= 2 || pr.throttle)) {
			pr.throttle = pr.throttle ? pr.throttle + THROTTLE_STEP : THROTTLE_FIRST;
			if (pr.throttle > 99)
				pr.throttle = 99;
			set_throttle(s, pr.throttle);
			log_info("migration: the guest dirties %llu pages/s; its vCPUs are slowed by "
				 "%u%%", (unsigned long long)pr.rate, pr.throttle);
		}
	}
}

static int send_hello(struct source *s)
{
	struct snap_manifest man;
	machine_manifest_fill(s->m, "stream", &man);
	char *json = snap_manifest_to_json(&man);
	if (!json)
		return fail(s, -ENOMEM, "out of memory");
	size_t jlen = strlen(json), len = 12 + jlen;
	uint8_t *msg = malloc(len);
	int ret = -ENOMEM;
	if (msg) {
		uint32_t v = htole32(MIG_VERSION);
		memcpy(msg, MIG_MAGIC, 8);
		memcpy(msg + 8, &v, 4);
		memcpy(msg + 12, json, jlen);
		ret = mig_send(s->fd, MIG_HELLO, msg, len);
	}
	free(msg);
	free(json);
	if (ret < 0)
		return fail(s, ret, "sending the machine's description: %s", strerror(-ret));
	struct mig_header h;
	char why[512];
	if ((ret = mig_recv_header(s->fd, false, &h, why, sizeof(why))) < 0)
		return fail(s, ret, "the destination: %s", why);
	if (h.type == MIG_ACCEPT)
		return 0;
	char text[MIG_MAX_TEXT];
	if (mig_recv_text(s->fd, &h, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "(no reason given)");
	return fail(s, -EINVAL, "the destination refused this machine: %s", text);
}

/* Every device logs the guest RAM its outside helpers write; the probe
 * before anything is sent names a device that cannot. */
static int devices_log(struct source *s, bool on)
{
	struct machine *m = s->m;
	int ret = 0;
	for (unsigned i = 0; i < m->ndevices; i++) {
		char why[256] = "";
		int r = device_dirty_log(m->devices[i], on, why, sizeof(why));
		if (r < 0 && ret == 0) {
			ret = fail(s, r, "%s", why[0] ? why : strerror(-r));
			if (on)
				break;
		}
	}
	return ret;
}

static int start_logging(struct source *s)
{
	struct guest_mem *mem = &s->m->vm.mem;
	int ret = guest_mem_log_start(mem);
	if (ret < 0)
		return fail(s, ret, "the dirty log: out of memory");
	s->logging = true;
	if ((ret = devices_log(s, true)) < 0)
		return ret;
	if ((ret = dirty_log_start(&s->m->vm, &s->dl)) < 0)
		return fail(s, ret, "KVM's dirty log: %s", strerror(-ret));
	return 0;
}

static void stop_logging(struct source *s)
{
	if (!s->logging)
		return;
	devices_log(s, false);
	if (s->dl.nregions)
		dirty_log_stop(&s->m->vm, &s->dl);
	guest_mem_log_stop(&s->m->vm.mem);
	s->logging = false;
}

/* Stop-and-copy: the VM stops, the last pages and the state go, the
 * destination confirms. */
static int stop_and_copy(struct source *s, uint64_t *stop_ns)
{
	struct machine *m = s->m;
	status_update(m, set_phase, "stop-and-copy");
	*stop_ns = now_ns();
	int ret = machine_request(m, MACHINE_PAUSE);
	if (ret < 0)
		return fail(s, ret, "pausing the VM: %s", strerror(-ret));
	s->paused = true;
	uint64_t t_paused = now_ns();
	set_throttle(s, 0);
	/* vhost's rings come back (what it wrote is in the log by then); the
	 * images are flushed for the destination, which locks them. */
	ret = machine_hold_devices(m, &s->held_n, s->why, sizeof(s->why));
	s->held = true;
	if (ret < 0)
		return ret;
	if ((ret = blk_images_unlock()) < 0)
		return fail(s, ret, "handing the disk images over: %s", strerror(-ret));
	s->unlocked = true;
	uint64_t dirty;
	if ((ret = dirty_log_sync(&m->vm, &s->dl, &dirty)) < 0)
		return fail(s, ret, "reading the dirty log: %s", strerror(-ret));
	if ((ret = send_dirty(s, true)) < 0)
		return ret;
	uint64_t t_pages = now_ns();
	struct snap_file_writer sf;
	snap_file_writer_init(&sf);
	ret = machine_state_save(m, &sf, s->why, sizeof(s->why));
	if (ret == 0 && (ret = snap_file_finish(&sf)) < 0)
		fail(s, ret, "the state: %s", strerror(-ret));
	s->state_sent = ret == 0;
	if (ret == 0 && (ret = mig_send(s->fd, MIG_STATE, sf.buf, sf.len)) < 0)
		fail(s, ret, "sending the state: %s", strerror(-ret));
	struct sent n = {.bytes = sf.len + MIG_HEADER_BYTES};
	status_update(m, add_sent, &n);
	snap_file_writer_free(&sf);
	if (ret < 0)
		return ret;
	/* The destination loads and answers; loading takes long in a slow
	 * test host, so the wait is longer than a stall. */
	mig_set_timeouts(s->fd, 4 * STREAM_TIMEOUT_S);
	struct mig_header h;
	char why[512];
	if ((ret = mig_recv_header(s->fd, false, &h, why, sizeof(why))) < 0)
		return fail(s, ret, "waiting for the destination to confirm: %s", why);
	if (h.type == MIG_DONE) {
		uint64_t t_done = now_ns();
		log_debug("migration stop-and-copy: pause %.1f ms, the last %llu pages %.1f ms, state "
			  "(%zu bytes) sent, loaded and confirmed %.1f ms",
			  (double)(t_paused - *stop_ns) / 1e6, (unsigned long long)dirty,
			  (double)(t_pages - t_paused) / 1e6, n.bytes - MIG_HEADER_BYTES,
			  (double)(t_done - t_pages) / 1e6);
		return 0;
	}
	char text[MIG_MAX_TEXT] = "(no reason given)";
	if (h.type == MIG_FAILED || h.type == MIG_REFUSE)
		mig_recv_text(s->fd, &h, text, sizeof(text));
	return fail(s, -EPROTO, "the destination could not take the VM: %s", text);
}

struct outcome {
	const char *state;
	const char *why;
	uint64_t downtime_ms, total_ms;
};

static void set_outcome(struct api_migrate_status *st, void *arg)
{
	const struct outcome *o = arg;
	st->state = o->state;
	st->phase = NULL;
	st->downtime_ms = o->downtime_ms;
	st->total_ms = o->total_ms;
	snprintf(st->error, sizeof(st->error), "%s", o->why ? o->why : "");
}

/* Everything the failed migration changed, undone: the VM runs on here.
 * false when it must not: the state went out and the destination holds
 * the disk images already (it locks them just before it confirms, so a
 * confirmation lost on the way means the guest runs there; two of it on
 * one disk would corrupt it). Without disks nothing can tell, and the VM
 * runs on here. */
static bool roll_back(struct source *s)
{
	struct machine *m = s->m;
	set_throttle(s, 0);
	bool taken = s->unlocked && blk_images_lock() < 0;
	if (taken && s->state_sent)
		return false;
	if (taken)
		log_warn("migration: the disk images could not be locked again");
	if (s->held)
		machine_release_devices(m, s->held_n);
	stop_logging(s);
	if (s->paused && machine_request(m, MACHINE_RESUME) < 0)
		log_warn("migration: resuming the VM here failed");
	return true;
}

static void migrate_job(struct machine *m)
{
	struct machine_migration *mig = &m->mig;
	struct source s = {.m = m, .p = &mig->params, .fd = -1};
	uint64_t stop_ns = 0;
	int ret = mig_connect(s.p->url, s.why, sizeof(s.why));
	if (ret >= 0) {
		s.fd = ret;
		mig_set_timeouts(s.fd, STREAM_TIMEOUT_S);
		ret = send_hello(&s);
	}
	if (ret == 0)
		ret = start_logging(&s);
	if (ret == 0) {
		status_update(m, set_phase, "pre-copy");
		ret = precopy(&s);
	}
	if (ret == 0)
		ret = stop_and_copy(&s, &stop_ns);
	uint64_t end = now_ns();
	struct outcome o = {.total_ms = (end - mig->start_ns) / 1000000};
	bool here = true;
	if (ret == 0) {
		/* The guest runs at the destination: this machine stays stopped
		 * (its devices held, its vCPUs parked) until vm.shutdown. */
		set_throttle(&s, 0);
		stop_logging(&s);
		o.state = "completed";
		o.downtime_ms = (end - stop_ns) / 1000000;
		struct api_migrate_status st;
		machine_migrate_status(m, &st);
		log_info("migrated to %s: %u passes, %llu pages sent (%llu zero), downtime %llu ms, "
			 "%llu ms in all; the guest runs there now", s.p->url, st.pass,
			 (unsigned long long)st.pages_sent, (unsigned long long)st.zero_pages,
			 (unsigned long long)o.downtime_ms, (unsigned long long)o.total_ms);
	} else {
		if (s.fd >= 0)
			mig_send_text(s.fd, MIG_CANCEL, "%s", s.why);
		here = roll_back(&s);
		o.state = ret == -ECANCELED ? "cancelled" : "failed";
		if (!here) {
			size_t n = strlen(s.why);
			snprintf(s.why + n, sizeof(s.why) - n, "; the destination holds the disk images: "
				 "the guest runs there, this VM stays stopped");
		}
		o.why = s.why;
		log_error("migration to %s %s: %s%s", s.p->url, o.state, s.why,
			  here ? "; the VM runs on here" : "");
	}
	if (s.fd >= 0)
		close(s.fd);
	pthread_mutex_lock(&mig->lock);
	set_outcome(&mig->st, &o);
	mig->active = false;
	mig->migrated = ret == 0 || !here; /* the guest runs there */
	pthread_mutex_unlock(&mig->lock);
}

int machine_migrate_start(struct machine *m, const struct api_migrate_params *p, char *why,
			  size_t why_len)
{
	struct machine_migration *mig = &m->mig;
	if (!mig_url_valid(p->url)) {
		snprintf(why, why_len, "%s: not tcp:HOST:PORT or unix:PATH", p->url);
		return -EINVAL;
	}
	/* A device that cannot log is named now, before anything is sent. */
	for (unsigned i = 0; i < m->ndevices; i++) {
		int ret = device_dirty_log(m->devices[i], false, why, why_len);
		if (ret < 0)
			return ret;
	}
	pthread_mutex_lock(&mig->lock);
	if (mig->active || mig->migrated || machine_state(m) != MACHINE_RUNNING) {
		pthread_mutex_unlock(&mig->lock);
		snprintf(why, why_len, "%s", mig->migrated ? "the VM has migrated already"
				   : mig->active	    ? "a migration is under way"
							    : "the VM is not running");
		return -EBUSY;
	}
	mig->params = *p;
	mig->cancel = false;
	mig->start_ns = now_ns();
	memset(&mig->st, 0, sizeof(mig->st));
	mig->st.state = "active";
	mig->st.phase = "setup";
	mig->st.ram_bytes = m->vm.mem.ram_size;
	snprintf(mig->st.url, sizeof(mig->st.url), "%s", p->url);
	mig->active = true;
	int ret = machine_ctl_post_async(m, migrate_job);
	if (ret < 0) {
		mig->active = false;
		mig->st.state = "failed";
		snprintf(why, why_len, "the VM is stopping");
	}
	pthread_mutex_unlock(&mig->lock);
	return ret;
}

int machine_migrate_cancel(struct machine *m)
{
	struct machine_migration *mig = &m->mig;
	pthread_mutex_lock(&mig->lock);
	bool can = mig->active;
	if (can)
		__atomic_store_n(&mig->cancel, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&mig->lock);
	return can ? 0 : -EBUSY;
}

/* ---- the destination ---- */

/* Waits for the source's connection; a stop (a signal) ends the wait. */
static int accept_source(struct machine *m, const char *url, char *why, size_t why_len)
{
	int lfd = mig_listen(url, why, why_len);
	if (lfd < 0)
		return lfd;
	log_info("--incoming: waiting for the source on %s", url);
	int fd = -1;
	while (fd < 0) {
		if (__atomic_load_n(&m->ctl.stop, __ATOMIC_ACQUIRE)) {
			snprintf(why, why_len, "stopped before a source came");
			fd = -EINTR;
			break;
		}
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		if (poll(&pfd, 1, 250) <= 0)
			continue;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0 && errno != EINTR && errno != EAGAIN && errno != ECONNABORTED) {
			fd = -errno;
			snprintf(why, why_len, "%s: accept: %s", url, strerror(errno));
			break;
		}
	}
	close(lfd);
	if (strncmp(url, "unix:", 5) == 0)
		unlink(url + 5);
	return fd;
}

/* The source's HELLO: this iovirt's stream, and this machine. */
static int check_hello(struct machine *m, int fd, const struct mig_header *h, char *why,
		       size_t why_len)
{
	char *msg = malloc(h->len + 1);
	if (!msg)
		return -ENOMEM;
	int ret = mig_read_full(fd, msg, h->len);
	if (ret < 0) {
		snprintf(why, why_len, "the stream ended in its first message");
		free(msg);
		return ret;
	}
	uint32_t version;
	memcpy(&version, msg + 8, 4);
	version = le32toh(version);
	struct snap_manifest man;
	char detail[512];
	if (memcmp(msg, MIG_MAGIC, 8) != 0) {
		snprintf(why, why_len, "not an iovirt migration stream");
		ret = -EINVAL;
	} else if (version != MIG_VERSION) {
		snprintf(why, why_len, "the source speaks stream version %u, this iovirt %u",
			 version, (unsigned)MIG_VERSION);
		ret = -EINVAL;
	} else if (snap_manifest_parse(&man, msg + 12, h->len - 12, detail, sizeof(detail)) < 0) {
		snprintf(why, why_len, "the source's description: %s", detail);
		ret = -EINVAL;
	} else {
		ret = machine_manifest_check(m, &man, why, why_len);
		snap_manifest_free(&man);
	}
	free(msg);
	if (ret < 0)
		mig_send_text(fd, MIG_REFUSE, "%s", why);
	else
		ret = mig_send(fd, MIG_ACCEPT, NULL, 0);
	return ret;
}

/* The last message: the state, loaded; the images locked. */
static int load_state(struct machine *m, int fd, const struct mig_header *h, char *why,
		      size_t why_len)
{
	uint8_t *buf = malloc(h->len);
	if (!buf)
		return -ENOMEM;
	int ret = mig_read_full(fd, buf, h->len);
	struct snap_file sf;
	if (ret < 0)
		snprintf(why, why_len, "the stream ended inside the state");
	else if ((ret = snap_file_parse(&sf, buf, h->len, why, why_len)) == 0)
		ret = machine_state_load(m, &sf, why, why_len);
	if (ret == 0 && (ret = blk_images_lock()) < 0)
		snprintf(why, why_len, "the disk images could not be locked (is the source still "
			 "using them?)");
	free(buf);
	return ret;
}

/* Tells the network where the guest's addresses are now. */
static void announce(struct machine *m)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		device_announce(m->devices[i]);
}

int machine_migrate_incoming(struct machine *m, const char *url, char *why, size_t why_len)
{
	uint64_t t0 = now_ns();
	int fd = accept_source(m, url, why, why_len);
	if (fd < 0)
		return fd;
	uint64_t t_conn = now_ns();
	mig_set_timeouts(fd, 4 * STREAM_TIMEOUT_S);
	struct mig_header h;
	int ret = mig_recv_header(fd, true, &h, why, why_len);
	if (ret == 0 && h.type != MIG_HELLO) {
		snprintf(why, why_len, "the stream does not start with the machine's description");
		ret = -EPROTO;
	}
	if (ret == 0)
		ret = check_hello(m, fd, &h, why, why_len);
	uint64_t pages = 0, zero = 0;
	bool loaded = false;
	while (ret == 0 && !loaded) {
		if ((ret = mig_recv_header(fd, true, &h, why, why_len)) < 0)
			break;
		uint64_t n = 0;
		switch (h.type) {
		case MIG_PAGES:
		case MIG_ZERO:
			ret = mig_recv_memory(fd, &h, &m->vm.mem, &n, why, why_len);
			*(h.type == MIG_PAGES ? &pages : &zero) += n;
			break;
		case MIG_STATE:
			ret = load_state(m, fd, &h, why, why_len);
			if (ret < 0)
				mig_send_text(fd, MIG_FAILED, "%s", why);
			loaded = ret == 0;
			break;
		case MIG_CANCEL: {
			char text[MIG_MAX_TEXT];
			if (mig_recv_text(fd, &h, text, sizeof(text)) < 0)
				snprintf(text, sizeof(text), "(no reason given)");
			snprintf(why, why_len, "the source gave up: %s", text);
			ret = -ECANCELED;
			break;
		}
		default:
			snprintf(why, why_len, "the stream has a second description");
			ret = -EPROTO;
		}
	}
	if (ret == 0 && (ret = mig_send(fd, MIG_DONE, NULL, 0)) < 0)
		snprintf(why, why_len, "confirming to the source: %s", strerror(-ret));
	close(fd);
	if (ret < 0)
		return ret;
	announce(m);
	uint64_t t1 = now_ns();
	log_info("--incoming: received %llu pages and %llu zero pages in %.0f ms (%.0f ms waiting "
		 "for the source); the guest runs here", (unsigned long long)pages,
		 (unsigned long long)zero, (double)(t1 - t_conn) / 1e6, (double)(t_conn - t0) / 1e6);
	return 0;
}
