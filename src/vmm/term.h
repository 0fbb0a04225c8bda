/* The serial console on the user's terminal: raw mode while the VM runs
 * (restored on every exit path), Ctrl-A escapes like QEMU's, and input
 * backpressure so a guest that reads slowly loses nothing. */
#ifndef IOVIRT_VMM_TERM_H
#define IOVIRT_VMM_TERM_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/loop.h"

#define TERM_ESCAPE_CHAR 0x01 /* Ctrl-A */

/* Hands input to the guest; returns how many bytes it took. */
typedef size_t (*term_deliver_fn)(void *opaque, const uint8_t *buf, size_t len);
typedef void (*term_quit_fn)(void *opaque);

struct term;

/* in_fd may be -1 (no input). Raw mode only if in_fd is a terminal. */
struct term *term_open(int in_fd, int out_fd, struct loop *loop, term_deliver_fn deliver,
		       term_quit_fn quit, void *opaque);
void term_close(struct term *t);

/* Guest → user; callable from any thread. */
void term_write(struct term *t, const uint8_t *buf, size_t len);
/* The receiver has room again; callable from any thread. */
void term_resume_input(struct term *t);

/* Restores the terminal if raw mode is on: for atexit and fatal paths. */
void term_restore_global(void);

/* Escape-sequence filter, exposed for unit tests: copies input to out,
 * dropping escapes; returns bytes written to out (out holds >= len bytes)
 * and sets *quit when Ctrl-A x was seen. state carries "escape pending". */
size_t term_filter_input(int *state, const uint8_t *in, size_t len, uint8_t *out, int *quit);

#endif
