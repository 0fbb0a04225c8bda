/* The snapshot's manifest (issue 21): manifest.json, what a person (or a
 * tool) reads to know what a snapshot holds, and what a restore checks
 * first: the format, the iovirt that wrote it, the machine's options as
 * they were given, the RAM regions and their files, the vCPUs, the
 * devices (instance and kind) and the state file with its size and CRC.
 *
 *   {"format": 1, "iovirt": "0.1.0 (git ...)", "created": "2026-...Z",
 *    "cwd": "/home/me/vms",
 *    "machine": ["--memory", "512M", "--disk", "a.img", ...],
 *    "memory": [{"gpa": 0, "size": 536870912, "file": "mem-5f1c...-0.bin",
 *                "data_bytes": 104857600}],
 *    "vcpus": 2,
 *    "devices": [{"id": "serial0", "kind": "serial"}, ...],
 *    "state": {"file": "state-5f1c....bin", "bytes": 81234, "crc32": 1234567}}
 *
 * The reader takes it as hostile: every type, count and length checked,
 * file names plain (no '/', so a manifest cannot point outside its
 * directory). */
#ifndef IOVIRT_MIGRATE_SNAPSHOT_MANIFEST_H
#define IOVIRT_MIGRATE_SNAPSHOT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#include "migrate/snapshot_file.h"

#define SNAP_MANIFEST_FORMAT 1
#define SNAP_MAX_ARGS 256
#define SNAP_MAX_ARG_LEN 4096
#define SNAP_MAX_REGIONS 8
#define SNAP_MAX_DEVICES 64
#define SNAP_FILE_NAME_MAX 64
#define SNAP_MAX_MANIFEST (1U << 20)

struct snap_region {
	uint64_t gpa, size, data_bytes;
	char file[SNAP_FILE_NAME_MAX];
};

struct snap_device {
	char id[SNAP_NAME_MAX];
	char kind[SNAP_NAME_MAX];
};

struct snap_manifest {
	unsigned format;
	char iovirt[128];
	char created[32];
	char cwd[4096];        /* where the options' relative paths start; "" unknown */
	char **args;           /* the machine's options; malloc'd */
	unsigned nargs;
	struct snap_region mem[SNAP_MAX_REGIONS];
	unsigned nmem;
	unsigned vcpus;
	struct snap_device dev[SNAP_MAX_DEVICES];
	unsigned ndev;
	char state_file[SNAP_FILE_NAME_MAX];
	uint64_t state_bytes;
	uint32_t state_crc;
};

/* m as JSON text (malloc'd), or NULL out of memory. */
char *snap_manifest_to_json(const struct snap_manifest *m);
/* Writes m as JSON to path (fsynced). 0, or -errno with one line in why. */
int snap_manifest_write(const char *path, const struct snap_manifest *m, char *why,
			size_t why_len);

/* Parses text (len bytes) into m. 0, or -EINVAL with one line in why
 * ("devices[2].id: not a string"). */
int snap_manifest_parse(struct snap_manifest *m, const char *text, size_t len, char *why,
			size_t why_len);

/* Reads and parses path. 0, or -errno with one line in why. */
int snap_manifest_read(struct snap_manifest *m, const char *path, char *why, size_t why_len);

void snap_manifest_free(struct snap_manifest *m);
/* Whether m's machine options are args, word for word: 0, or -EINVAL with
 * the first difference in why. */
int snap_manifest_same_args(const struct snap_manifest *m, const char *const *args,
			    unsigned nargs, char *why, size_t why_len);

#endif
