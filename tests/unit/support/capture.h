/* What a piece of code writes to stderr (log lines), for tests that count
 * or match them. */
#ifndef IOVIRT_TESTS_SUPPORT_CAPTURE_H
#define IOVIRT_TESTS_SUPPORT_CAPTURE_H

/* Runs fn(arg) with stderr going to a temporary file and returns what it
 * wrote, NUL-terminated (free it). Fails the test on any error. */
char *capture_stderr(void (*fn)(void *arg), void *arg);

/* How many times what occurs in text. */
int count_occurrences(const char *text, const char *what);

#endif
