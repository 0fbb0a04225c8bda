/* Running a test's event loop until a condition holds or time runs out. */
#ifndef IOVIRT_TESTS_LOOP_WAIT_H
#define IOVIRT_TESTS_LOOP_WAIT_H

#include <stdbool.h>

#include "core/loop.h"

/* Runs loop until done(arg) (checked every 10 ms; NULL: never) or ms pass. */
void loop_run_until(struct loop *loop, bool (*done)(void *arg), void *arg, int ms);

#endif
