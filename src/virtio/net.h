/* virtio-net (virtio 1.x §5.1): receiveq/transmitq pairs on a net backend
 * (tap or user-mode, backends/net.h), transport-independent. With more
 * than one pair (a multiqueue tap, one tap queue per pair) also CTRL_VQ
 * and MQ: the driver picks how many pairs it uses (MQ_VQ_PAIRS_SET).
 *
 * Offered: MAC, STATUS (link always up), MRG_RXBUF, VERSION_1, EVENT_IDX,
 * INDIRECT_DESC; with a backend that carries a vnet header (tap with
 * vnet_hdr) also CSUM/GUEST_CSUM, HOST_/GUEST_TSO4/6 and HOST_/GUEST_ECN,
 * passed through as the 12-byte virtio_net_hdr_v1 (§5.1.6). A backend that
 * reads frames from a descriptor (tap) reads them straight into the guest's
 * receive buffers (net_rx_direct_fn): no copy in the VMM.
 *
 * With vhost (tap only), the receive and transmit queues are served by the
 * host kernel's vhost-net (vhost/vhost.h), one /dev/vhost-net per pair
 * reading and writing its tap queue: no VMM thread on the data path; the
 * control queue and the interrupts stay in the VMM. */
#ifndef IOVIRT_VIRTIO_NET_H
#define IOVIRT_VIRTIO_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/net.h"
#include "virtio/virtio.h"

/* The largest frame (without the vnet header) the guest may send: a 64 KiB
 * GSO packet plus its Ethernet header. Larger chains are dropped. */
#define VIRTIO_NET_MAX_TX_FRAME 65550

/* Default MAC when none is given: QEMU's first NIC, 52:54:00:12:34:56. */
#define VIRTIO_NET_DEFAULT_MAC {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

/* Queue pairs: each has a tap queue; the queues fit VIRTIO_MAX_QUEUES. */
#define VIRTIO_NET_MAX_QUEUE_PAIRS 16

struct virtio_net_options {
	struct net_options backend;
	uint8_t mac[6];
	bool mac_set;
	unsigned queue_pairs; /* 0 or 1: one pair; more: tap only */
	bool vhost;           /* tap only: the host kernel's vhost-net moves the frames */
};

/* Embeds the struct virtio_dev the transport binds (virtio_net_dev). */
struct virtio_net;

/* Counters kept by the device model (the backend has its own, net_get_stats). */
struct virtio_net_stats {
	uint64_t tx_frames;    /* handed to the backend */
	uint64_t tx_dropped;   /* refused by the backend */
	uint64_t tx_oversize;  /* chains longer than VIRTIO_NET_MAX_TX_FRAME + header */
	uint64_t tx_malformed; /* shorter than the header, or GSO without vnet header */
	uint64_t rx_frames;    /* delivered to the guest */
	uint64_t rx_zero_copy; /* of those, read by the backend straight into guest buffers */
	uint64_t rx_direct_short; /* direct reads given up: too few buffers posted (once
				   * per avail idx: then frames are copied until more come) */
	uint64_t rx_dropped;   /* device not live, or the guest's buffers too small */
	uint64_t rx_redirected; /* of rx_frames, read from the tap queue of a pair the
				 * driver does not use (its queue not detached yet) */
};

/* Opens the backend (its rx callback runs on loop's thread). NULL after
 * logging one line. */
struct virtio_net *virtio_net_create(const struct virtio_net_options *o,
				     const struct guest_mem *mem, struct loop *loop);
struct virtio_dev *virtio_net_dev(struct virtio_net *n);
/* Closes the backend; the transport must be unbound and the loop stopped
 * or this called on the loop thread. */
void virtio_net_destroy(struct virtio_net *n);

void virtio_net_get_stats(struct virtio_net *n, struct virtio_net_stats *st);

#endif
