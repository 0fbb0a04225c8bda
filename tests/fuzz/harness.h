/* What the fuzz targets that run a device on the real event loop and block
 * backend share: a quiet log, a temporary image, the loop with a tick that
 * stops it after one round, and a stub io_uring engine (the thread-pool
 * engine is used, so the fuzzers need no liburing). A target lists
 * tests/fuzz/harness.c among its fuzz-sources. */
#ifndef IOVIRT_TESTS_FUZZ_HARNESS_H
#define IOVIRT_TESTS_FUZZ_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "core/loop.h"

/* Device log lines go to /dev/null unless FUZZ_VERBOSE is set (a broken
 * ring logs on every run); sanitizer and libFuzzer reports are unaffected. */
void fuzz_quiet_log(void);

/* Creates a zero-filled image of size bytes in /dev/shm (or /var/tmp) and
 * writes its path to path; aborts on failure. The caller unlinks it once
 * the backend has it open. */
void fuzz_temp_image(const char *tag, size_t size, char *path, size_t path_len);

/* The loop, with its tick registered. Aborts on failure. */
struct loop *fuzz_loop(void);

/* Runs the loop until everything ready now has been handled (one round). */
void fuzz_loop_round(void);

/* Runs rounds while busy() says work is outstanding, at least min_rounds;
 * aborts after 20 s (a hang is a bug). */
void fuzz_loop_drain(bool (*busy)(void), int min_rounds);

/* Reads every byte of a frame a device handed to its backend (so ASan sees
 * any stale or out-of-RAM pointer) and returns its length; aborts on a
 * count outside 1..max_iovcnt. */
size_t fuzz_touch_iov(const struct iovec *iov, int iovcnt, int max_iovcnt);

#endif
