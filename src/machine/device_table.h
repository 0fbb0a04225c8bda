/* The table of device kinds (docs/ARCHITECTURE.md "The device contract"):
 * one row per kind of device iovirt can give a guest, with what asks for
 * it on the command line, its sub-options, a one-line summary and how it
 * is created. Machine assembly walks the table; `iovirt run --help` lists
 * the kinds from it, and tests/unit/test_help.c holds the help to it.
 * Adding a device: its own files plus one row here. */
#ifndef IOVIRT_MACHINE_DEVICE_TABLE_H
#define IOVIRT_MACHINE_DEVICE_TABLE_H

#include <stdbool.h>
#include <stdio.h>

#include "core/device.h"
#include "machine/config_devices.h"

struct machine;
struct vm_config;

/* What a row's create gets: the machine being built, this instance's
 * options (the option's entry: a struct disk_config, nic_config, ...; NULL
 * for a fixed device) and its instance name, kind + index ("nvme0"). */
struct device_env {
	struct machine *m;
	const void *options;
	unsigned index;            /* among the instances of this kind */
	char id[DEVICE_ID_MAX];
	int *pci_slot;             /* a PCI device's create records its slot here */
};

/* A command-line option that asks for devices (--disk, --net, ...): how
 * many times it was given, and the entry of each. */
struct device_option {
	const char *name;          /* "--disk" */
	unsigned (*count)(const struct vm_config *cfg);
	const void *(*entry)(const struct vm_config *cfg, unsigned i);
};

struct device_kind {
	const char *name;          /* the kind: "nvme"; also its devices' ops->kind */
	const struct device_option *option; /* NULL: a fixed device every PC has */
	/* A fixed device only some machines have (--firmware's): does this
	 * one? NULL: every machine. when says which, for --help. */
	bool (*present)(const struct vm_config *cfg);
	const char *when;
	const char *selector;      /* what picks this kind among the option's: "if=nvme" */
	const struct config_key *keys; /* the sub-options it takes (NULL: none) */
	const char *summary;
	/* Is the option's entry this kind's? NULL: every entry is. */
	bool (*wants)(const void *options);
	/* Creates the device and puts it on its bus. 0, or -errno after one
	 * line. *dev is set whenever a device exists, even on failure (it may
	 * be on a bus already): the machine destroys it with the others. */
	int (*create)(const struct device_env *env, struct device **dev);
	/* Optional: stops the device while every other device is still whole,
	 * before any is destroyed (virtio: a running vhost hands its irqfds
	 * back through the transport). */
	void (*quiesce)(struct device *dev);
	/* Who does its I/O (docs/ARCHITECTURE.md "The four I/O models"), as
	 * vm.info shows it: "emulated", "virtio", "vhost", "vhost-user",
	 * "vfio". */
	const char *io_model;
	/* Optional: an instance's model where its options decide it (a
	 * virtio-net NIC with vhost=on is "vhost"); NULL: io_model. */
	const char *(*io_model_of)(const void *options);
};

/* The I/O model of an instance of k made for options. */
const char *device_kind_io_model(const struct device_kind *k, const void *options);

extern const struct device_kind device_kinds[];
extern const unsigned device_nkinds;

/* The row of a kind name ("virtio-blk"), or NULL. */
const struct device_kind *device_kind_find(const char *name);

/* An instance's name: kind + index ("nvme0", "virtio-blk1"), with a dash
 * where the kind ends in a digit ("e1000-0"). */
void device_instance_name(const struct device_kind *k, unsigned index, char id[DEVICE_ID_MAX]);

/* The kinds, one line each, for `iovirt run --help`. */
void device_kinds_usage(FILE *out);

#endif
