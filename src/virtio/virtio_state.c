/* The virtio common state of a device: see virtio.h ("state").
 *
 * What a saved device looks like: idle (nothing popped and not pushed), so
 * a queue's last_avail_idx equals its used_idx, and the ring in guest RAM
 * (restored before the device) agrees with the positions saved here. A
 * queue that is not live has no positions (they are saved as 0). The
 * loader refuses anything a device could not have been in. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/state.h"
#include "virtio/virtio.h"

#define STATE_VERSION 1

/* Bits a device's status can hold (§2.1). */
#define STATUS_BITS                                                                  \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK | \
	 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)

bool virtio_dev_idle(const struct virtio_dev *vdev, unsigned *q, unsigned *inflight)
{
	for (unsigned i = 0; i < vdev->nqueues; i++) {
		if (vdev->queues[i].vq.inuse) {
			*q = i;
			*inflight = vdev->queues[i].vq.inuse;
			return false;
		}
	}
	return true;
}

void virtio_state_save(const struct virtio_dev *vdev, const struct virtio_selects *sel,
		       struct state_writer *w)
{
	state_begin(w, "virtio", STATE_VERSION);
	state_put_u8(w, "status", vdev->status);
	state_put_bool(w, "live", vdev->live);
	state_put_u64(w, "features", vdev->acked_features);
	state_put_u8(w, "config_generation", vdev->config_generation);
	state_put_u16(w, "config_vector", vdev->config_vector);
	state_put_u32(w, "device_feature_select", sel->device_feature);
	state_put_u32(w, "driver_feature_select", sel->driver_feature);
	state_put_u16(w, "queue_select", sel->queue);
	state_put_u32(w, "queues", vdev->nqueues);
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		const struct virtio_queue *vq = &vdev->queues[q];
		/* Positions only where the queue runs: elsewhere they are
		 * leftovers (a broken device's) that no one reads again. */
		bool running = vdev->live && vq->enabled;
		char name[16];
		snprintf(name, sizeof(name), "q%u", q);
		state_begin(w, name, STATE_VERSION);
		state_put_u16(w, "size", vq->size);
		state_put_bool(w, "enabled", vq->enabled);
		state_put_u16(w, "msix_vector", vq->msix_vector);
		state_put_u64(w, "desc", vq->desc);
		state_put_u64(w, "avail", vq->avail);
		state_put_u64(w, "used", vq->used);
		state_put_u16(w, "last_avail_idx", running ? vq->vq.last_avail_idx : 0);
		state_put_u16(w, "used_idx", running ? vq->vq.used_idx : 0);
		state_put_u16(w, "signalled_used", running ? vq->vq.signalled_used : 0);
		state_put_bool(w, "signalled_used_valid", running && vq->vq.signalled_used_valid);
		state_end(w);
	}
	state_end(w);
}

static int check_vector(struct state_reader *r, const char *name, uint16_t v, unsigned nvec)
{
	if (v != VIRTIO_NO_VECTOR && v >= nvec)
		return state_invalid(r, name, "vector %u, the device has %u", v, nvec);
	return 0;
}

/* A running queue's positions against its ring in guest RAM: the driver
 * may have made buffers available since (at most a ring's worth), the
 * used ring must be where the device left it, and nothing is in flight. */
static int check_positions(const struct virtio_dev *vdev, struct state_reader *r,
			   const struct virtio_state_queue *sq)
{
	struct virtqueue ring;
	if (virtq_init(&ring, vdev->mem, sq->size, sq->desc, sq->avail, sq->used, false, false) < 0)
		return state_invalid(r, "size", "the rings do not validate");
	uint16_t avail = virtq_avail_idx(&ring), used = virtq_used_idx(&ring);
	if ((uint16_t)(avail - sq->last_avail_idx) > sq->size)
		return state_invalid(r, "last_avail_idx",
				     "%u is more than the queue size (%u) behind the ring's avail "
				     "idx %u", sq->last_avail_idx, sq->size, avail);
	if (sq->used_idx != used)
		return state_invalid(r, "used_idx", "%u, the ring's used idx is %u", sq->used_idx,
				     used);
	if (sq->last_avail_idx != sq->used_idx)
		return state_invalid(r, "last_avail_idx",
				     "%u with used_idx %u: requests in flight (a saved device "
				     "has none)", sq->last_avail_idx, sq->used_idx);
	return 0;
}

static int read_queue(const struct virtio_dev *vdev, unsigned nvec, struct state_reader *r,
		      unsigned q, bool live, struct virtio_state_queue *sq)
{
	const struct virtio_queue *vq = &vdev->queues[q];
	char name[16];
	snprintf(name, sizeof(name), "q%u", q);
	if (state_enter(r, name, STATE_VERSION, NULL) < 0)
		return -EINVAL;
	state_get_u16(r, "size", &sq->size);
	if (!state_failed(r) && (sq->size == 0 || sq->size > vq->max_size ||
				 (sq->size & (sq->size - 1))))
		return state_invalid(r, "size", "%u is not a power of two up to %u", sq->size,
				     vq->max_size);
	state_get_bool(r, "enabled", &sq->enabled);
	state_get_u16(r, "msix_vector", &sq->msix_vector);
	if (!state_failed(r) && check_vector(r, "msix_vector", sq->msix_vector, nvec) < 0)
		return -EINVAL;
	state_get_u64(r, "desc", &sq->desc);
	state_get_u64(r, "avail", &sq->avail);
	state_get_u64(r, "used", &sq->used);
	state_get_u16(r, "last_avail_idx", &sq->last_avail_idx);
	state_get_u16(r, "used_idx", &sq->used_idx);
	state_get_u16(r, "signalled_used", &sq->signalled_used);
	state_get_bool(r, "signalled_used_valid", &sq->signalled_used_valid);
	if (state_failed(r))
		return -EINVAL;
	if (live && sq->enabled) {
		/* What DRIVER_OK checked, so the rings still pass at apply. */
		const char *bad = virtq_check(vdev->mem, sq->size, sq->desc, sq->avail, sq->used);
		if (bad)
			return state_invalid(r, bad, "the ring is misaligned or not inside guest RAM");
		if (check_positions(vdev, r, sq) < 0)
			return -EINVAL;
	} else if (sq->last_avail_idx || sq->used_idx || sq->signalled_used ||
		   sq->signalled_used_valid) {
		return state_invalid(r, "last_avail_idx", "positions on a queue that does not run");
	}
	return state_leave(r);
}

int virtio_state_read(const struct virtio_dev *vdev, unsigned nvec, struct state_reader *r,
		      struct virtio_state *s)
{
	memset(s, 0, sizeof(*s));
	if (state_enter(r, "virtio", STATE_VERSION, NULL) < 0)
		return -EINVAL;
	state_get_u8(r, "status", &s->status);
	state_get_bool(r, "live", &s->live);
	state_get_u64(r, "features", &s->acked_features);
	state_get_u8(r, "config_generation", &s->config_generation);
	state_get_u16(r, "config_vector", &s->config_vector);
	state_get_u32(r, "device_feature_select", &s->sel.device_feature);
	state_get_u32(r, "driver_feature_select", &s->sel.driver_feature);
	state_get_u16(r, "queue_select", &s->sel.queue);
	uint32_t nq;
	state_get_u32_range(r, "queues", &nq, vdev->nqueues, vdev->nqueues);
	if (state_failed(r))
		return -EINVAL;

	uint8_t st = s->status;
	if (st & ~STATUS_BITS)
		return state_invalid(r, "status", "0x%x has bits no device sets", st);
	/* FEATURES_OK sticks only for a subset of the offer with VERSION_1
	 * (§3.1.1; virtio_dev_write_status); before it the driver may have
	 * written anything. */
	if (st & VIRTIO_CONFIG_S_FEATURES_OK) {
		uint64_t unknown = s->acked_features & ~vdev->device_features;
		if (unknown)
			return state_invalid(r, "features", "0x%llx were not offered (0x%llx)",
					     (unsigned long long)unknown,
					     (unsigned long long)vdev->device_features);
		if (!(s->acked_features & (1ULL << VIRTIO_F_VERSION_1)))
			return state_invalid(r, "features", "VIRTIO_F_VERSION_1 not acked");
	}
	/* Live: DRIVER_OK after FEATURES_OK, and not broken since. */
	uint8_t live_bits = VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK;
	if (s->live && ((st & live_bits) != live_bits || (st & VIRTIO_CONFIG_S_NEEDS_RESET)))
		return state_invalid(r, "live", "a running device with status 0x%x", st);
	if (check_vector(r, "config_vector", s->config_vector, nvec) < 0)
		return -EINVAL;
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (read_queue(vdev, nvec, r, q, s->live, &s->queues[q]) < 0)
			return -EINVAL;
	return state_leave(r);
}

void virtio_state_apply(struct virtio_dev *vdev, const struct virtio_state *s)
{
	vdev->status = s->status;
	vdev->acked_features = s->acked_features;
	vdev->config_generation = s->config_generation;
	vdev->config_vector = s->config_vector;
	for (unsigned q = 0; q < vdev->nqueues; q++) {
		struct virtio_queue *vq = &vdev->queues[q];
		const struct virtio_state_queue *sq = &s->queues[q];
		vq->size = sq->size;
		vq->enabled = sq->enabled;
		vq->msix_vector = sq->msix_vector;
		vq->desc = sq->desc;
		vq->avail = sq->avail;
		vq->used = sq->used;
	}
	if (!s->live)
		return;
	virtio_dev_activate(vdev, s);
	/* Buffers the driver made available after the save (or whose kick
	 * the save swallowed) are picked up without waiting for a kick. */
	for (unsigned q = 0; q < vdev->nqueues; q++)
		if (virtio_queue_ready(vdev, q) && virtq_has_work(&vdev->queues[q].vq))
			virtio_queue_rekick(vdev, q);
}
