/* A tap device for backend and device tests, in a network namespace of the
 * test's own: a forked child unshares the namespace (root only), so nothing
 * it does reaches the machine's network. Frames are injected into the tap
 * through a packet socket bound to it: the kernel sends them to the tap's
 * reader, the code under test. */
#ifndef IOVIRT_TESTS_TAP_NS_H
#define IOVIRT_TESTS_TAP_NS_H

#include <linux/if_packet.h>
#include <stdbool.h>
#include <stddef.h>

/* Runs child() in a forked process with a network namespace of its own.
 * Returns its exit status (0 = passed); 77 = skipped (no /dev/net/tun or no
 * CLONE_NEWNET: not root), after a "[  SKIP    ] name: ..." line. */
int tap_ns_run(void (*child)(void), const char *name);
/* The same as a cmocka test: skipped (77) or passed (0), else it fails. */
void tap_ns_test(void (*child)(void), const char *name);

struct tap_ns {
	int ps;                 /* packet socket on the tap, 5 s receive timeout */
	struct sockaddr_ll ll;  /* its address, for sendto */
};

/* Brings the (already created) tap named ifname up without IPv6 chatter and
 * opens a packet socket on it. false on failure. */
bool tap_ns_up(struct tap_ns *t, const char *ifname);

/* Sends a frame out through the tap: it arrives at the tap's reader. */
bool tap_ns_inject(const struct tap_ns *t, const void *frame, size_t len);

#endif
