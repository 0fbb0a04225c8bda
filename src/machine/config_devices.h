/* Parsing of the device options of `iovirt run`: --disk, --net, --console.
 * Each error is one line naming the option, the value and the reason. */
#ifndef IOVIRT_MACHINE_CONFIG_DEVICES_H
#define IOVIRT_MACHINE_CONFIG_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/block.h"
#include "backends/net.h"

#define CONFIG_MAX_DISKS 8
#define CONFIG_MAX_NICS 4
#define CONFIG_MAX_VFIO 4
#define CONFIG_PATH_MAX 4096

enum disk_model { DISK_VIRTIO, DISK_NVME, DISK_IDE };
enum nic_model { NIC_VIRTIO, NIC_E1000 };

struct disk_config {
	char path[CONFIG_PATH_MAX];
	bool readonly;
	char serial[21];             /* virtio-blk GET_ID: 20 bytes */
	enum disk_model model;
	enum blk_cache cache;
	enum blk_engine engine;
	unsigned queues;             /* 0: one per vCPU */
	bool no_shadow_doorbells;    /* NVMe: hide Doorbell Buffer Config */
	bool no_merge;               /* virtio: one backend I/O per request */
	bool boot;                   /* boot=on: first in the firmware's boot order */
	bool vhost_user;             /* path is a vhost-user backend's socket */
	unsigned reconnect_s;        /* vhost-user: seconds between reconnects, 0: none */
};

struct nic_config {
	struct net_options backend;
	uint8_t mac[6];
	bool mac_set;
	enum nic_model model;
	unsigned queues;   /* virtio queue pairs (tap only); 0: one */
	bool vhost;        /* virtio on a tap: vhost-net in the host kernel */
};

struct console_config {
	bool virtio;                 /* hvc0 */
	char socket[108];            /* UNIX socket path; empty: hvc0 output on stdout */
};

/* A host PCI function passed through with VFIO: bdf itself, or (vf_set)
 * virtual function vf of the SR-IOV PF bdf, bound to vfio-pci for the run. */
struct vfio_config {
	char bdf[16];                /* normalized "0000:01:00.0" */
	bool vf_set;
	unsigned vf;
};

/* A sub-option a device specification takes: its key and what it wants
 * (NULL for a bare flag). The parsers refuse a key missing from its table,
 * and a unit test checks that `iovirt run --help` names every key, so the
 * help cannot fall behind the parser. Each table ends with {NULL, NULL}. */
struct config_key {
	const char *key;
	const char *value;
};
extern const struct config_key config_disk_keys[];
extern const struct config_key config_vhost_user_disk_keys[];
extern const struct config_key config_nic_keys[];
extern const struct config_key config_console_keys[];
extern const struct config_key config_device_keys[];

/* "disk.img[,readonly][,serial=S][,cache=none|writeback][,if=virtio|nvme|ide]
 *  [,aio=io_uring|threads][,queues=N][,shadow-doorbells=on|off]" */
int config_parse_disk(const char *spec, struct disk_config *d);
/* "user[,hostfwd=...]" or "tap=NAME", then [,mac=xx:..][,model=virtio|e1000]
 * [,queues=N][,vhost=on|off] */
int config_parse_nic(const char *spec, struct nic_config *n);
/* The backend part of a --net spec: "user[,hostfwd=RULE]*" or "tap=NAME",
 * in any order among other comma-separated items. Items that are not
 * backend options (mac=, model=, ...) are copied, in order and joined by
 * commas, into leftover (may be NULL if none are expected). opts is filled
 * (zeroed first). Logs one clear line on error and returns -EINVAL. */
int config_parse_net_backend(const char *spec, struct net_options *opts, char *leftover,
			     size_t leftover_len);
/* "vfio=BDF[,vf=N]" */
int config_parse_device(const char *spec, struct vfio_config *d);
/* "virtio[,socket=PATH]" */
int config_parse_console(const char *spec, struct console_config *c);

#endif
