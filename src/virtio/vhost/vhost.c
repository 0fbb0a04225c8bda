/* vhost: see vhost.h. The request order is the one the kernel expects
 * (linux/vhost.h, drivers/vhost/vhost.c), which vhost-user backends accept
 * too: owner, features, memory table, then per ring its size, start index,
 * addresses, call, error and kick. Each request goes to the kernel as an
 * ioctl, or to a vhost-user backend as the matching message. */
#include "virtio/vhost/vhost.h"
#include "virtio/vhost/vhost_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <endian.h>
#include <linux/vhost.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static int vhost_call(struct vhost *v, unsigned long req, void *arg)
{
	if (v->user)
		return vhost_user_call(v, req, arg);
	return ioctl(v->fd, req, arg) < 0 ? -errno : 0;
}

static void on_call(void *opaque, uint32_t events)
{
	struct vhost_ring *r = opaque;
	struct vhost *v = r->v;
	uint64_t n;
	(void)events;
	if (read(r->call_fd, &n, sizeof(n)) < 0)
		return;
	/* The kernel already applied EVENT_IDX / NO_INTERRUPT: signal. */
	pthread_mutex_lock(&v->vdev->lock);
	if (v->running && v->vdev->live && v->vdev->transport) {
		v->vdev->transport->signal_queue(v->vdev, v->first + r->index);
		v->relayed++;
	}
	pthread_mutex_unlock(&v->vdev->lock);
}

static void on_error(void *opaque, uint32_t events)
{
	struct vhost_ring *r = opaque;
	struct vhost *v = r->v;
	uint64_t n;
	(void)events;
	if (read(r->err_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&v->vdev->lock);
	if (v->running)
		virtio_dev_set_broken(v->vdev, v->user ? "its vhost-user backend reported a ring error"
						       : "the kernel's vhost refused a ring or descriptor "
							 "(see the host's kernel log)");
	pthread_mutex_unlock(&v->vdev->lock);
}

static int event_fd(struct vhost *v, int *fd, loop_fd_cb cb, struct vhost_ring *r)
{
	*fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (*fd < 0)
		return -errno;
	int err = loop_add_fd(v->vdev->loop, *fd, EPOLLIN, cb, r);
	if (err < 0) {
		close(*fd);
		*fd = -1;
	}
	return err;
}

void vhost_init(struct vhost *v, struct virtio_dev *vdev, unsigned first, unsigned nq)
{
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->vdev = vdev;
	v->first = first;
	v->nq = nq > VHOST_MAX_RINGS ? VHOST_MAX_RINGS : nq;
	v->reconnect_timer = -1;
	v->inflight_fd = -1;
	v->backend_fd = -1;
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++)
		v->rings[i] = (struct vhost_ring){.v = v, .index = i, .call_fd = -1, .err_fd = -1,
						  .irqfd_fd = -1};
}

int vhost_open(struct vhost *v, const char *dev, struct virtio_dev *vdev, unsigned first,
	       unsigned nq)
{
	vhost_init(v, vdev, first, nq);
	v->fd = open(dev, O_RDWR | O_CLOEXEC);
	if (v->fd < 0) {
		int err = -errno;
		log_error("%s: %s: %s%s", vdev->name, dev, strerror(-err),
			  err == -ENOENT ? " (vhost needs the host's vhost_net module: modprobe vhost_net)"
					 : "");
		return err;
	}
	return vhost_setup(v, dev);
}

int vhost_setup(struct vhost *v, const char *what)
{
	struct virtio_dev *vdev = v->vdev;
	int err = vhost_call(v, VHOST_SET_OWNER, NULL);
	if (err == 0)
		err = vhost_call(v, VHOST_GET_FEATURES, &v->features);
	if (err < 0) {
		log_error("%s: %s: SET_OWNER/GET_FEATURES: %s", vdev->name, what, strerror(-err));
		vhost_close(v);
		return err;
	}
	for (unsigned i = 0; i < v->nq; i++) {
		struct vhost_ring *r = &v->rings[i];
		err = event_fd(v, &r->call_fd, on_call, r);
		if (err == 0)
			err = event_fd(v, &r->err_fd, on_error, r);
		if (err < 0) {
			log_error("%s: cannot set up vhost's eventfds: %s", vdev->name, strerror(-err));
			vhost_close(v);
			return err;
		}
	}
	return 0;
}

void vhost_close(struct vhost *v)
{
	if (v->fd >= 0 || vhost_user_away(v))
		log_debug("%s: %s, queues %u-%u: %llu interrupts relayed by the event loop "
			  "(with MSI-X the backend signals the vector's irqfd itself), "
			  "%llu reconnections",
			  v->vdev->name, v->user ? "vhost-user" : "vhost", v->first,
			  v->first + v->nq - 1, (unsigned long long)v->relayed,
			  (unsigned long long)v->reconnects);
	if (v->user) {
		vhost_user_unwatch(v);
		vhost_user_drop_inflight(v);
	}
	for (unsigned i = 0; i < VHOST_MAX_RINGS; i++) {
		struct vhost_ring *r = &v->rings[i];
		int *fds[2] = {&r->call_fd, &r->err_fd};
		for (unsigned k = 0; k < 2; k++) {
			if (*fds[k] < 0)
				continue;
			loop_del_fd(v->vdev->loop, *fds[k]);
			close(*fds[k]);
			*fds[k] = -1;
		}
	}
	if (v->fd >= 0)
		close(v->fd);
	v->fd = -1;
}

/* The kernel's memory table: guest RAM as the regions guest_mem laid out. */
static int set_mem_table(struct vhost *v)
{
	const struct guest_mem *mem = v->vdev->mem;
	struct vhost_memory *table =
		calloc(1, sizeof(*table) + mem->nr_regions * sizeof(table->regions[0]));
	if (!table)
		return -ENOMEM;
	table->nregions = mem->nr_regions;
	for (unsigned i = 0; i < mem->nr_regions; i++)
		table->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = mem->regions[i].gpa,
			.memory_size = mem->regions[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)mem->regions[i].hva,
		};
	int ret = vhost_call(v, VHOST_SET_MEM_TABLE, table);
	free(table);
	return ret;
}

/* The VMM's side of handing a ring over: the interrupt goes to the
 * transport's irqfd where it has one, and the loop stops reading the
 * kicks (the backend takes them; they wait in the eventfd meanwhile). */
static void ring_take_over(struct vhost *v, struct vhost_ring *r)
{
	const struct virtio_transport_ops *t = v->vdev->transport;
	r->irqfd_fd = t && t->queue_irqfd_get
			      ? t->queue_irqfd_get(v->vdev, v->first + r->index, &r->irqfd_cookie)
			      : -1;
	r->irqfd = r->irqfd_fd >= 0;
	r->started = true; /* from here on, vhost_stop undoes it */
	loop_mod_fd(v->vdev->loop, v->vdev->queues[v->first + r->index].kick_fd, 0);
}

/* The ring's addresses as the backend takes them (host addresses of the
 * parts, which the transport validated at DRIVER_OK as inside RAM for the
 * queue's size); the used ring's guest address for the dirty log. */
static int ring_addr(struct vhost *v, struct vhost_ring *r, struct vhost_vring_addr *addr,
		     struct vring_used **used_out)
{
	struct virtio_queue *q = &v->vdev->queues[v->first + r->index];
	const struct guest_mem *mem = v->vdev->mem;
	void *desc = guest_mem_ptr(mem, q->desc, 16ULL * q->size);
	void *avail = guest_mem_ptr(mem, q->avail, 6ULL + 2ULL * q->size);
	struct vring_used *used = guest_mem_ptr(mem, q->used, 6ULL + 8ULL * q->size);
	if (!desc || !avail || !used)
		return -EFAULT;
	*addr = (struct vhost_vring_addr){
		.index = r->index,
		.desc_user_addr = (uint64_t)(uintptr_t)desc,
		.avail_user_addr = (uint64_t)(uintptr_t)avail,
		.used_user_addr = (uint64_t)(uintptr_t)used,
		.flags = v->log ? 1u << VHOST_VRING_F_LOG : 0,
		.log_guest_addr = q->used,
	};
	if (used_out)
		*used_out = used;
	return 0;
}

/* A running ring's addresses again: the dirty log switched on or off. */
static int ring_addr_send(struct vhost *v, struct vhost_ring *r)
{
	struct vhost_vring_addr addr;
	int ret = ring_addr(v, r, &addr, NULL);
	return ret < 0 ? ret : vhost_call(v, VHOST_SET_VRING_ADDR, &addr);
}

/* The backend's side: size, start index, addresses, call, error and kick.
 * resume: the ring goes on from the used index the driver sees (a
 * reconnected backend), not from 0. */
static int ring_send(struct vhost *v, struct vhost_ring *r, bool resume)
{
	struct virtio_queue *q = &v->vdev->queues[v->first + r->index];
	struct vhost_vring_addr addr;
	struct vring_used *used;
	int ret = ring_addr(v, r, &addr, &used);
	if (ret < 0)
		return ret;
	/* A backend that knew the ring goes on from where the guest sees it;
	 * a ring handed over goes on from where iovirt left it (0 on a fresh
	 * DRIVER_OK; vhost_stop's position after a stop, or a loaded one). */
	uint16_t start = resume ? le16toh(__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE))
				: q->vq.last_avail_idx;
	struct vhost_vring_state num = {.index = r->index, .num = q->size};
	struct vhost_vring_state base = {.index = r->index, .num = start};
	struct vhost_vring_file kick = {.index = r->index, .fd = q->kick_fd};
	struct vhost_vring_file call = {.index = r->index, .fd = r->irqfd ? r->irqfd_fd : r->call_fd};
	struct vhost_vring_file err = {.index = r->index, .fd = r->err_fd};
	ret = vhost_call(v, VHOST_SET_VRING_NUM, &num);
	if (ret == 0)
		ret = vhost_call(v, VHOST_SET_VRING_BASE, &base);
	if (ret == 0)
		ret = vhost_call(v, VHOST_SET_VRING_ADDR, &addr);
	if (ret == 0)
		ret = vhost_call(v, VHOST_SET_VRING_CALL, &call);
	if (ret == 0)
		ret = vhost_call(v, VHOST_SET_VRING_ERR, &err);
	if (ret == 0)
		ret = vhost_call(v, VHOST_SET_VRING_KICK, &kick);
	return ret;
}

/* The log's base: the kernel's takes its address, a vhost-user backend
 * maps its memfd. */
static int send_log_base(struct vhost *v)
{
	uint64_t base = (uint64_t)(uintptr_t)v->log;
	return v->user ? vhost_user_set_log_base(v) : vhost_call(v, VHOST_SET_LOG_BASE, &base);
}

/* The features the rings run with, VHOST_F_LOG_ALL while logging. */
static int send_features(struct vhost *v)
{
	uint64_t features = v->acked | (v->log ? 1ULL << VHOST_F_LOG_ALL : 0);
	return vhost_call(v, VHOST_SET_FEATURES, &features);
}

/* Everything the backend needs to run the started rings: features, the
 * guest RAM table, the in-flight log (vhost-user), then each ring. */
static int send_state(struct vhost *v, bool resume)
{
	int ret = send_features(v);
	if (ret == 0)
		ret = set_mem_table(v);
	if (ret == 0 && v->log && v->user)
		ret = send_log_base(v); /* a reconnected backend, mid-migration */
	if (ret == 0 && v->user)
		ret = vhost_user_set_inflight(v);
	for (unsigned i = 0; ret == 0 && i < v->nq; i++)
		if (v->rings[i].started)
			ret = ring_send(v, &v->rings[i], resume);
	return ret;
}

int vhost_start(struct vhost *v, uint64_t features)
{
	/* Device features the kernel has no part in (offloads, MAC) are
	 * not its business: only the ones it knows. */
	v->acked = features & v->features;
	v->running = true;
	for (unsigned i = 0; i < v->nq; i++)
		if (v->vdev->queues[v->first + i].enabled)
			ring_take_over(v, &v->rings[i]);
	/* A vhost-user backend being reconnected to gets it all then. On a
	 * vCPU thread (DRIVER_OK): one deadline for all the replies. */
	vhost_user_begin(v, false);
	int ret = vhost_user_away(v) ? 0 : send_state(v, false);
	vhost_user_end(v);
	if (ret < 0) {
		log_error("%s: handing queues %u..%u to %s failed: %s", v->vdev->name, v->first,
			  v->first + v->nq - 1, v->user ? "the vhost-user backend" : "vhost",
			  strerror(-ret));
		vhost_stop(v);
	}
	return ret;
}

/* The driver moved a running ring's interrupt (another MSI-X vector, MSI-X
 * turned on or off): the backend signals the new target from now on. A
 * signal that raced the switch went to the old one, so the queue is
 * signalled once more on the new (a spurious interrupt costs the driver a
 * look at its used ring; a lost one could stall it). That extra signal
 * covers the race only once the backend has taken the new target: a
 * vhost-user backend's ack is waited for (one deadline for all rings). */
void vhost_irq_moved(struct vhost *v)
{
	const struct virtio_transport_ops *t = v->vdev->transport;
	if (!v->running || !t || !t->queue_irqfd_get)
		return;
	vhost_user_begin(v, false);
	for (unsigned i = 0; i < v->nq; i++) {
		struct vhost_ring *r = &v->rings[i];
		if (!r->started)
			continue;
		unsigned q = v->first + r->index, cookie = 0;
		int fd = t->queue_irqfd_get(v->vdev, q, &cookie);
		bool irqfd = fd >= 0;
		if (irqfd == r->irqfd && (!irqfd || cookie == r->irqfd_cookie)) {
			if (irqfd)
				t->queue_irqfd_put(v->vdev, cookie); /* the ring holds one */
			continue;
		}
		struct vhost_vring_file call = {.index = r->index, .fd = irqfd ? fd : r->call_fd};
		/* A backend away gets it on reconnect; a dead one never. */
		int ret = vhost_user_away(v) || v->user_dead
				  ? 0
				  : vhost_call(v, VHOST_SET_VRING_CALL, &call);
		if (ret < 0) {
			log_error("%s: moving queue %u's interrupt: %s", v->vdev->name, q,
				  strerror(-ret));
			if (irqfd)
				t->queue_irqfd_put(v->vdev, cookie);
			continue;
		}
		if (r->irqfd)
			t->queue_irqfd_put(v->vdev, r->irqfd_cookie);
		r->irqfd = irqfd;
		r->irqfd_fd = irqfd ? fd : -1;
		r->irqfd_cookie = cookie;
		t->signal_queue(v->vdev, q);
	}
	vhost_user_end(v);
}

int vhost_set_log(struct vhost *v, uint64_t *log)
{
	if (v->user && !vhost_user_can_log(v))
		return -ENOTSUP;
	if (v->fd < 0 || (!log && !v->log))
		return 0;
	uint64_t *was = v->log;
	v->log = log;
	if (v->user && (vhost_user_away(v) || v->user_dead))
		return 0; /* a reconnected backend gets it all (send_state) */
	vhost_user_begin(v, false);
	/* The base first: the kernel checks the log covers RAM when logging
	 * is switched on. */
	int ret = log ? send_log_base(v) : 0;
	if (ret == 0 && v->running) {
		ret = send_features(v);
		for (unsigned i = 0; ret == 0 && i < v->nq; i++)
			if (v->rings[i].started)
				ret = ring_addr_send(v, &v->rings[i]);
	}
	vhost_user_end(v);
	if (ret < 0)
		v->log = was;
	return ret;
}

int vhost_resume(struct vhost *v)
{
	return v->running ? send_state(v, true) : 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* After GET_VRING_BASE said the backend popped up to base: wait, until
 * the stop's one deadline for all its rings (wait_until, ms), for it to
 * complete those requests; then the queue's position is iovirt's again (a
 * later vhost_start, or a save, goes on from it). The used index is in
 * guest RAM, so the guest can make it anything: what it says is bounded
 * by the queue size, and the wait by the deadline, never more. Requests
 * not completed in time count as in flight (a save refuses; a reset
 * forgets them). */
static void take_position(struct vhost *v, struct vhost_ring *r, uint16_t base,
			  uint64_t wait_until)
{
	struct virtqueue *vq = &v->vdev->queues[v->first + r->index].vq;
	if (!vq->used)
		return;
	uint16_t used;
	for (;;) {
		used = le16toh(__atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE));
		if (used == base || (uint16_t)(base - used) > vq->size || now_ms() >= wait_until)
			break;
		poll(NULL, 0, 1); /* the sleep the vCPU and loop filters allow */
	}
	uint16_t inflight = (uint16_t)(base - used);
	vq->last_avail_idx = base;
	vq->used_idx = vq->published_used = used;
	vq->inuse = inflight <= vq->size ? inflight : vq->size;
	if (inflight)
		log_guest_event(v->vdev->name,
				"queue %u: %u requests unfinished when the backend stopped",
				v->first + r->index, inflight);
}

void vhost_stop(struct vhost *v)
{
	if (!v->running)
		return;
	/* On a vCPU thread (reset): only the GET_VRING_BASE replies are
	 * waited for, one deadline for them all. */
	vhost_user_begin(v, true);
	uint64_t wait_until = now_ms() + (v->user ? vhost_user_timeout_ms : 1000);
	for (unsigned i = 0; i < v->nq; i++) {
		struct vhost_ring *r = &v->rings[i];
		if (!r->started)
			continue;
		r->started = false;
		struct vhost_vring_file unbind = {.index = r->index, .fd = VHOST_FILE_UNBIND};
		struct vhost_vring_state base = {.index = r->index};
		/* No more kicks to the kernel, then wait for its last pass (a
		 * vhost-user backend stops the ring on GET_VRING_BASE). */
		if (!v->user)
			vhost_call(v, VHOST_SET_VRING_KICK, &unbind);
		if (vhost_call(v, VHOST_GET_VRING_BASE, &base) == 0)
			take_position(v, r, (uint16_t)base.num, wait_until);
		vhost_call(v, VHOST_SET_VRING_CALL, &unbind);
		vhost_call(v, VHOST_SET_VRING_ERR, &unbind);
		if (r->irqfd)
			v->vdev->transport->queue_irqfd_put(v->vdev, r->irqfd_cookie);
		r->irqfd = false;
		r->irqfd_fd = -1;
		int kick_fd = v->vdev->queues[v->first + r->index].kick_fd;
		if (kick_fd >= 0)
			loop_mod_fd(v->vdev->loop, kick_fd, EPOLLIN);
	}
	vhost_user_end(v);
	/* The rings start from 0 next time: what was in flight is history. */
	if (v->user)
		vhost_user_drop_inflight(v);
	v->running = false;
}
