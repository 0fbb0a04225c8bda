/* virtio-console (virtio 1.x §5.3): one port (hvc0 in a Linux guest),
 * without MULTIPORT or SIZE; receiveq 0 and transmitq 1. Transport-
 * independent.
 *
 * Output (transmitq) goes to the user's terminal (a struct term, shared
 * with the serial port), an fd, or the client of a UNIX socket; with no
 * client it is dropped. It never blocks the loop: while the output is
 * full, the guest's transmit buffers stay unconsumed (the guest waits),
 * and writing resumes when the output drains. Input fills receiveq
 * buffers straight from the fd; when the guest has posted none, the fd is
 * not polled until it kicks receiveq (backpressure: nothing is lost,
 * nothing spins). */
#ifndef IOVIRT_VIRTIO_CONSOLE_H
#define IOVIRT_VIRTIO_CONSOLE_H

#include <stdint.h>

#include "virtio/virtio.h"

/* Embeds the struct virtio_dev the transport binds (virtio_console_dev). */
struct virtio_console;
struct term;

struct virtio_console_stats {
	uint64_t tx_bytes;    /* written to the output */
	uint64_t tx_dropped;  /* bytes dropped: no client, or the output failed */
	uint64_t rx_bytes;    /* delivered to the guest */
	uint64_t in_wakeups;  /* input-fd callbacks (idle while the guest has no buffers) */
};

/* in_fd may be -1 (no input), and may equal out_fd (a socket). The fds stay
 * the caller's: not closed, their flags untouched (a socket is sent to with
 * MSG_DONTWAIT; any other out_fd is written through a term of the
 * console's own). An in_fd that cannot be polled (a regular file,
 * /dev/null) is treated as no input. NULL after logging one line. */
struct virtio_console *virtio_console_create(int in_fd, int out_fd, const struct guest_mem *mem,
					     struct loop *loop);
/* Output only, through t (which must outlive the console); no input. */
struct virtio_console *virtio_console_create_term(struct term *t, const struct guest_mem *mem,
						  struct loop *loop);
/* Listens on a UNIX stream socket at path (a stale socket there is
 * replaced; a live one or another kind of file is an error) and serves one
 * client at a time; others wait in the backlog. NULL after one logged line. */
struct virtio_console *virtio_console_create_socket(const char *path, const struct guest_mem *mem,
						    struct loop *loop);
struct virtio_dev *virtio_console_dev(struct virtio_console *c);
/* Unregisters from the loop (call it with the loop stopped or on its
 * thread), closes the socket and removes its path. */
void virtio_console_destroy(struct virtio_console *c);

void virtio_console_get_stats(struct virtio_console *c, struct virtio_console_stats *st);

#endif
