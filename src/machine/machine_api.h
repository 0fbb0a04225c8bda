/* The control plane's view of a machine: the api_vm_ops (api/api.h) that
 * the API server calls on its thread, with a struct machine as the vm
 * (vm.info's state: Running, Paused, or NULL once the VM is stopping):
 *
 *	api_server_start(cfg.api_socket, &machine_api_ops, &m)
 *
 * after machine_create, and api_server_stop before machine_destroy. info
 * and counters answer at any time in between, from the machine's tables
 * and counters (KVM's statistics too, once machine_counters_enable opened
 * them). The verbs are control requests (machine_control.h): run on the
 * event loop, -EBUSY before machine_run started it and once the VM is
 * stopping. */
#ifndef IOVIRT_MACHINE_MACHINE_API_H
#define IOVIRT_MACHINE_MACHINE_API_H

#include "api/api.h"

extern const struct api_vm_ops machine_api_ops;

#endif
