/* The console on the user's terminal: raw mode while the VM runs
 * (restored on every exit path), Ctrl-A escapes like QEMU's, input
 * backpressure so a guest that reads slowly loses nothing, and the one
 * writer of the guest's output (the serial port and virtio-console share
 * it).
 *
 * Output never blocks: not the vCPU writing to the serial port, not the
 * loop. The term writes through its own non-blocking description of the
 * output fd (the caller's, shared with the shell on a terminal, keeps its
 * flags) and keeps what the output does not take now in a TERM_OUT_BUF
 * buffer, written when the loop sees the fd writable. A writer that can
 * wait (virtio-console: the guest's ring holds the rest) takes what fits
 * and is called back when there is room again; one that cannot (the
 * serial port) loses what does not fit, counted. A paused terminal
 * (Ctrl-S) or a slow pipe thus stalls only the console. (Where no
 * non-blocking description can be had -- no /proc -- the caller's blocking
 * fd is used, and a warning says that output can then stall.) A reader that
 * goes away is EPIPE, not a signal, only where SIGPIPE is ignored (main()
 * does). */
#ifndef IOVIRT_BACKENDS_TERM_H
#define IOVIRT_BACKENDS_TERM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/loop.h"

#define TERM_ESCAPE_CHAR 0x01 /* Ctrl-A */
#define TERM_OUT_BUF     65536

struct term_stats {
	uint64_t written;  /* bytes the output took */
	uint64_t dropped;  /* did not fit (serial), or the output had failed */
	uint64_t buffered; /* waiting for the output now */
};

/* Hands input to the guest; returns how many bytes it took. */
typedef size_t (*term_deliver_fn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*term_quit_fn)(void *opaque);
/* There is room in the output again; on the loop thread, no term lock. */
typedef void (*term_writable_fn)(void *opaque);

struct term;

/* in_fd may be -1 (no input; deliver and quit are then unused), out_fd -1
 * (output dropped). Raw mode only if in_fd is a terminal. out_fd stays the
 * caller's. */
struct term *term_open(int in_fd, int out_fd, struct loop *loop, term_deliver_fn deliver,
		       term_quit_fn quit, void *opaque);
/* Gives buffered output up to a second to go out. Call it with the loop
 * stopped or on its thread. */
void term_close(struct term *t);

/* Guest → user, callable from any thread; never blocks. term_write drops
 * what does not fit; term_writev returns the bytes it took (all of them
 * once the output has failed: they are dropped), and fewer means "full":
 * the writers are called once there is room. */
void term_write(struct term *t, const uint8_t *buf, size_t len);
size_t term_writev(struct term *t, const struct iovec *iov, unsigned n);
/* At most 4 writers; -ENOSPC beyond. Removed by opaque. */
int term_add_writer(struct term *t, term_writable_fn fn, void *opaque);
void term_del_writer(struct term *t, void *opaque);
void term_get_stats(struct term *t, struct term_stats *st);
/* The receiver has room again; callable from any thread. */
void term_resume_input(struct term *t);

/* Restores the terminal if raw mode is on: for atexit and fatal paths. */
void term_restore_global(void);

/* Escape-sequence filter, exposed for unit tests: copies input to out,
 * dropping escapes; returns bytes written to out (out holds >= len bytes)
 * and sets *quit when Ctrl-A x was seen. state carries "escape pending". */
size_t term_filter_input(int *state, const uint8_t *in, size_t len, uint8_t *out, int *quit);

#endif
