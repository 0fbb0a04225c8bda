/* Split virtqueues (virtio 1.x §2.7): the only code in iovirt that parses
 * descriptors (docs/ARCHITECTURE.md "virtio").
 *
 * The rings are validated once, when the driver enables the queue
 * (virtq_init). Every chain is then walked by one checked iterator: each
 * (addr, len) goes through guest_mem_ptr(), every descriptor is copied out of
 * guest memory before it is checked, and the walk is bounded by the queue
 * size. A refused chain marks the queue broken; the device must then set
 * DEVICE_NEEDS_RESET (§2.1.2) and every later pop fails.
 *
 * Not thread-safe: the owning device serialises calls with its lock. */
#ifndef IOVIRT_VIRTIO_VIRTQUEUE_H
#define IOVIRT_VIRTIO_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct guest_mem;

#define VIRTQ_MAX_SIZE 1024

/* §2.7.5 The Virtqueue Descriptor Table */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4
/* §2.7.6 The Virtqueue Available Ring, §2.7.8 The Virtqueue Used Ring */
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY     1

/* Guest layouts, little-endian (§2.7.5, §2.7.6, §2.7.8). */
struct virtq_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct virtq_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[]; /* [size], then used_event (§2.7.7) */
};

struct virtq_used_elem {
	uint32_t id;
	uint32_t len;
};

struct virtq_used {
	uint16_t flags;
	uint16_t idx;
	struct virtq_used_elem ring[]; /* [size], then avail_event (§2.7.10) */
};

/* Ring sizes in bytes (§2.7, "Queue Part Sizes"), event fields included. */
#define VIRTQ_DESC_BYTES(n)  (16ULL * (n))
#define VIRTQ_AVAIL_BYTES(n) (6ULL + 2ULL * (n))
#define VIRTQ_USED_BYTES(n)  (6ULL + 8ULL * (n))

struct virtq_chain {
	uint16_t head;            /* descriptor index to push back */
	unsigned n_out;           /* device-readable iovecs: iov[0..n_out) */
	unsigned n_in;            /* device-writable: iov[n_out..n_out+n_in) */
	uint64_t out_len, in_len; /* total bytes each way; sum <= UINT32_MAX */
	struct iovec iov[VIRTQ_MAX_SIZE];
};

struct virtqueue {
	const struct guest_mem *mem;
	uint16_t size;                   /* power of 2, <= VIRTQ_MAX_SIZE */
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx, indirect;        /* negotiated features */
	uint16_t last_avail_idx, used_idx, signalled_used;
	uint16_t published_used;         /* used->idx as the driver sees it */
	bool signalled_used_valid;
	bool broken;                     /* a refused chain: device must set NEEDS_RESET */
	const char *error;               /* why it broke (static string), or NULL */
	uint16_t inuse;                  /* popped, not yet pushed (<= size) */
	bool kicks_disabled;
	uint16_t used_flags;             /* our copy of used->flags (device-owned) */

	/* Host pointers to the rings, validated once at enable. */
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	uint16_t *used_event;            /* &avail->ring[size] */
	uint16_t *avail_event;           /* (uint16_t *)&used->ring[size] */
};

/* The checks virtq_init makes: size (power of 2, 1..VIRTQ_MAX_SIZE),
 * alignment (§2.7: desc 16, avail 2, used 4) and that each ring lies wholly
 * in one RAM region. NULL if they pass, else what failed: "size", "desc",
 * "avail" or "used". */
const char *virtq_check(const struct guest_mem *mem, uint16_t size, uint64_t desc,
			uint64_t avail, uint64_t used);

/* Validates as virtq_check, then resets all indices. Returns 0 or -EINVAL
 * (vq untouched). */
int virtq_init(struct virtqueue *vq, const struct guest_mem *mem, uint16_t size,
	       uint64_t desc, uint64_t avail, uint64_t used, bool event_idx, bool indirect);

/* 1: a chain was popped into *chain; 0: ring empty; -EIO: the ring or chain
 * is invalid — vq->broken and vq->error are set, the error is logged (rate
 * limited) with what and where, and every later pop returns -EIO. */
int virtq_pop(struct virtqueue *vq, struct virtq_chain *chain);

/* Gives back the chain popped last without using it (e.g. net rx with no
 * frame yet): the next pop returns it again. */
void virtq_unpop(struct virtqueue *vq);

/* Returns a chain's head with len bytes written into its device-writable
 * part, not yet visible to the driver: a batch of fills is published by
 * one virtq_flush (one used idx store, one barrier). */
void virtq_fill(struct virtqueue *vq, uint16_t head, uint32_t len);

/* Publishes what was filled: used idx with a release barrier (§2.7.8).
 * Cheap when there is nothing to publish. */
void virtq_flush(struct virtqueue *vq);

/* virtq_fill and virtq_flush: one chain returned and published. */
void virtq_push(struct virtqueue *vq, uint16_t head, uint32_t len);

/* After pushes: must the device interrupt the driver? (§2.7.7.2:
 * VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with event idx.) Flushes
 * first: an interrupt never comes before what it announces. */
bool virtq_should_notify(struct virtqueue *vq);

/* Suppress/enable driver kicks while processing (§2.7.10: used->flags
 * NO_NOTIFY, or avail_event with event idx). Enabling returns true if more
 * work arrived meanwhile: pop again, or a kick may be lost. */
void virtq_disable_kicks(struct virtqueue *vq);
bool virtq_enable_kicks(struct virtqueue *vq);

/* Has the driver made buffers available that were not popped yet? (false
 * once broken) */
bool virtq_has_work(struct virtqueue *vq);

/* The driver's avail idx now: it moves only when the driver posts more. */
uint16_t virtq_avail_idx(struct virtqueue *vq);

/* used->idx as the guest's memory holds it (a state load checks it). */
uint16_t virtq_used_idx(struct virtqueue *vq);

/* A state load: the device's positions in a queue virtq_init just
 * validated; nothing is in flight. */
void virtq_restore(struct virtqueue *vq, uint16_t last_avail_idx, uint16_t used_idx,
		   uint16_t signalled_used, bool signalled_used_valid);

/* Bounded copies over a chain's iovecs, starting skip bytes in. Return the
 * bytes copied: min(len, total - skip), 0 if skip is past the end. */
size_t virtq_iov_to_buf(const struct iovec *iov, unsigned n, size_t skip, void *buf, size_t len);
size_t virtq_buf_to_iov(const struct iovec *iov, unsigned n, size_t skip, const void *buf, size_t len);

#endif
