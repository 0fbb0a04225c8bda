/* The event loop (epoll) that runs on its own thread: stdin, timers,
 * ioeventfds and backend completions all arrive here. */
#ifndef IOVIRT_CORE_LOOP_H
#define IOVIRT_CORE_LOOP_H

#include <stdint.h>

typedef void (*loop_fd_cb)(void *opaque, uint32_t events);

struct loop;

struct loop *loop_create(void);
void loop_destroy(struct loop *loop);

/* events are EPOLLIN/EPOLLOUT/...; the callback runs on the loop thread. */
int loop_add_fd(struct loop *loop, int fd, uint32_t events, loop_fd_cb cb, void *opaque);
int loop_mod_fd(struct loop *loop, int fd, uint32_t events);
int loop_del_fd(struct loop *loop, int fd);

/* Runs until loop_stop(); returns 0, or -errno if epoll failed. */
int loop_run(struct loop *loop);
/* Safe from any thread or signal context. */
void loop_stop(struct loop *loop);

#endif
