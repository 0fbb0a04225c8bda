/* The JSON bodies of the control plane (json-c), built apart from the
 * routing so that each body's shape is in one place; docs/api/openapi.json
 * names them (Error, VmmPing, VmInfo, Counters, MigrationStatus). Each returns a malloc'd
 * NUL-terminated string, or NULL when memory runs out. */
#ifndef IOVIRT_API_API_JSON_H
#define IOVIRT_API_API_JSON_H

#include <sys/types.h>

#include "api/api.h"

/* {"error": msg} */
char *api_json_error(const char *msg);
/* {"version": version, "pid": pid} */
char *api_json_ping(const char *version, pid_t pid);
/* {"state", "cpus", "memory", "kernel", "initrd", "cmdline", "devices":
 * [{"id", "kind", "io_model", "pci"}]}; a missing string is null. */
char *api_json_vm_info(const struct api_vm_info *info);
/* {"devices": {DEV: {SCOPE: {NAME: N}}}, "kvm": {SCOPE: {NAME: N}}}: what
 * ops->counters emits, with the device "kvm" (KVM's statistics) apart. */
char *api_json_counters(const struct api_vm_ops *ops, void *vm);
/* {"state", "phase", "destination_url", "error", "pass", ... "downtime_ms"}:
 * phase is null unless the state is "active", destination_url null where
 * empty, error left out where empty, the counts as they are. */
char *api_json_migrate_status(const struct api_migrate_status *st);

#endif
