/* `iovirt run --api-socket PATH`: one control-plane server for the whole
 * run, whose requests go to the machine of the current boot. So with
 * --reboot the socket stays where it is, and stays this iovirt's, while
 * one machine is torn down and the next built (a server restarted per
 * boot would leave a moment where another process could take the path,
 * and would bind it again after the drop to --user). Between two boots
 * the actions answer 409 (the VM is rebooting), vm.info has a null state
 * and no devices, and vm.counters is empty.
 *
 * Every function is a no-op on NULL (no --api-socket). */
#ifndef IOVIRT_CMD_RUN_API_H
#define IOVIRT_CMD_RUN_API_H

#include "machine/config.h"
#include "machine/machine.h"

struct run_api;

/* After the first machine_create (it compiles the API thread's seccomp
 * filter) and before the guest runs. NULL after one line naming path and
 * the reason (a live iovirt holds the socket, the path is not a socket). */
struct run_api *run_api_start(const char *path, const struct vm_config *cfg);
/* The machine of this boot, from after machine_create ... */
void run_api_attach(struct run_api *a, struct machine *m);
/* ... to before machine_destroy: waits for a request in flight on it. */
void run_api_detach(struct run_api *a);
/* Stops the server and removes the socket. */
void run_api_stop(struct run_api *a);

#endif
