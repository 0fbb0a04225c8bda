/* The Intel 82540EM ("e1000") gigabit NIC, fully emulated: the device QEMU
 * and VirtualBox offer for guests without paravirtual drivers, driven by
 * Linux's e1000 and the in-box drivers of other systems (docs/ARCHITECTURE.md model 1).
 *
 * A PCI function with BAR0 = 128 KiB of memory-mapped registers and BAR1 =
 * the I/O window onto them (IOADDR/IODATA); INTx only (the 82540EM has no
 * MSI). Legacy receive descriptors with checksum offload; legacy and
 * extended transmit descriptors with checksum insertion and TCP
 * segmentation done in software, so that user-mode networking
 * (backends/net.h) carries plain Ethernet frames. A tap is opened with the
 * vnet header (no receive offloads): a TCP segmentation packet goes to it
 * whole, as one GSO frame the host kernel segments (e1000_gso.c). The
 * EEPROM (microwire and EERD), the M88 PHY behind MDIC, interrupt
 * moderation (the delay timers RDTR/RADV and TIDV/TADV, and ITR's
 * throttling) and the statistics counters are modelled. Wake-up and
 * manageability registers read as zero.
 *
 * Threads: register accesses come from vCPU threads; the transmit ring is
 * walked on the loop thread (a TDT write only schedules it) and frames
 * arrive there; one device lock. Every guest address goes through
 * guest_mem_ptr(); a hostile driver's mistakes are dropped and counted
 * (struct e1000_stats). Work per register write and per loop round is
 * bounded. */
#ifndef IOVIRT_DEVICES_E1000_H
#define IOVIRT_DEVICES_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "backends/net.h"
#include "bus/pci.h"
#include "core/guest_mem.h"

struct coalesced_mmio;
struct device;
struct loop;
struct e1000;

struct e1000_options {
	/* A tap is opened with the vnet header, offloads 0; user-mode without */
	struct net_options backend;
	uint8_t mac[6];
	const char *id;             /* the instance's name; NULL: "e1000" */
	/* KVM buffers the guest's RDT writes here instead of exiting (as
	 * QEMU's e1000 does); NULL: every write exits. */
	struct coalesced_mmio *coalesced;
};

/* Counters kept by the device model, besides the guest-visible statistics
 * registers: what was sent and received, and every drop by reason. */
struct e1000_stats {
	uint64_t tx_frames;      /* frames handed to the backend (TSO: each segment, GSO too) */
	uint64_t tx_tso_packets; /* TCP segmentation packets (TSE) sent */
	uint64_t tx_gso_frames;  /* ...of which went whole, as one GSO frame */
	uint64_t tx_dropped;     /* refused by the backend */
	uint64_t tx_oversize;    /* packets beyond E1000_TX_MAX bytes, or too many segments */
	uint64_t tx_bad_desc;    /* unknown descriptor types, empty packets, bad TSO contexts */
	uint64_t tx_dma_errors;  /* buffers outside guest RAM */
	uint64_t tx_ring_errors; /* ring outside RAM, empty, or head/tail beyond it */
	uint64_t rx_frames;      /* frames placed in guest buffers */
	uint64_t rx_filtered;    /* not for us (address or VLAN filters) */
	uint64_t rx_disabled;    /* receiver off or bus mastering off */
	uint64_t rx_bad_length;  /* runts, longer than RCTL allows, or than the whole ring */
	uint64_t rx_no_buffers;  /* refused for lack of descriptors (backend holds them) */
	uint64_t rx_dma_errors;  /* buffers outside guest RAM (data not written) */
	uint64_t rx_ring_errors; /* ring outside RAM, empty, or head/tail beyond it */
	uint64_t irqs;           /* INTx assertions */
	uint64_t irqs_throttled; /* assertions ITR postponed */
	uint64_t irqs_delayed;   /* RXT0/TXDW causes held by a delay timer */
};

/* Opens the backend (its rx callback runs on loop's thread). NULL after
 * logging one line. */
struct e1000 *e1000_create(const struct e1000_options *o, const struct guest_mem *mem,
			   struct loop *loop);
/* The PCI function, for the host bridge. */
struct pci_dev *e1000_pci(struct e1000 *e);
/* The device contract (core/device.h): kind "e1000"; reset is CTRL.RST's
 * power-on reset; counters for the device and queues "rx0" and "tx0";
 * save and load (e1000_state.c) one section "e1000"; destroy is
 * e1000_destroy. */
struct device *e1000_device(struct e1000 *e);
/* Unmaps the BARs and closes the backend; the loop must be stopped or this
 * called on the loop thread. */
void e1000_destroy(struct e1000 *e);

void e1000_get_stats(struct e1000 *e, struct e1000_stats *st);

/* ---- For tests and fuzzers: a device without a backend ---- */

/* Where frames go instead of a backend: send() gets every transmitted
 * frame; rx_resume() is called when receive descriptors appear after
 * e1000_receive() returned false; clock_ns() (NULL: CLOCK_MONOTONIC) is
 * the time ITR and the delay timers measure intervals with. vnet_hdr:
 * frames carry a virtio_net_hdr_v1 (NET_VNET_HDR_LEN bytes) in front both
 * ways, as on a tap opened with it: sent ones a zero header, or a GSO one
 * for a whole segmentation packet; received ones have it stripped. */
struct e1000_port {
	int (*send)(void *opaque, const struct iovec *iov, int iovcnt);
	void (*rx_resume)(void *opaque);
	void *opaque;
	int64_t (*clock_ns)(void *opaque);
	bool vnet_hdr;
};

/* loop may be NULL (then there is no timer: ITR does not throttle and
 * the delay timers do not delay; and a TDT write transmits the whole ring
 * at once). The instance is "e1000". */
struct e1000 *e1000_create_port(const uint8_t mac[6], const struct guest_mem *mem,
				struct loop *loop, const struct e1000_port *port);

/* A TDT or TCTL write that leaves at most this many descriptors to send,
 * with no round due, sends them at once on the writing thread; more go to
 * the loop (e1000_tx.c). */
#define E1000_TX_INLINE_DESCS 4

/* The transmit round a TDT or TCTL write scheduled on the loop (if any), run now on
 * the calling thread, as the loop would (one bounded round; a round that
 * stops short of TDT schedules the next): for tests and fuzzers that
 * drive the device without running its loop. */
void e1000_tx_run(struct e1000 *e);

/* A frame from the wire (the backend's net_rx_fn, e the opaque): false if
 * the guest has no receive descriptors for it yet. */
bool e1000_receive(void *e, const struct iovec *iov, int iovcnt, size_t len);

#endif
