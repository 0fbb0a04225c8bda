/* QEMU's firmware configuration device (QEMU docs/specs/fw_cfg.rst), the
 * way SeaBIOS reads it: a 16-bit selector at port 0x510, a byte-wide data
 * port at 0x511, and the DMA interface at 0x514 (the big-endian address of
 * a FWCfgDmaAccess in guest RAM, high half at 0x514, the low half at 0x518
 * starting the transfer). Items are numbered; named files live from 0x20 on
 * and are listed in the file directory (item 0x19).
 *
 * The contents are the machine's (firmware boot: e820, the ACPI tables and
 * their loader script, boot order, ...), added before any vCPU runs and
 * read-only to the guest: a DMA write fails with the error bit. */
#ifndef IOVIRT_DEVICES_FW_CFG_H
#define IOVIRT_DEVICES_FW_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "bus/iobus.h"
#include "core/device.h"
#include "core/guest_mem.h"

#define FW_CFG_PORT 0x510
#define FW_CFG_PORT_LEN 12      /* selector, data, (2 unused), DMA address */

/* Items with fixed numbers (fw_cfg.rst, "Selector Register"). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_MAX_CPUS 0x0f
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20

#define FW_CFG_NAME_MAX 56      /* a file name with its NUL */
#define FW_CFG_MAX_ITEMS 48
/* A DMA read past an item's end (or of no item) gives zeros, as QEMU's
 * does, up to this many; a longer one fails with the error bit. */
#define FW_CFG_DMA_ZERO_MAX (64u << 10)

/* DMA control bits (fw_cfg.rst, "DMA interface"). */
#define FW_CFG_DMA_ERROR 0x01
#define FW_CFG_DMA_READ 0x02
#define FW_CFG_DMA_SKIP 0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE 0x10

struct fw_cfg;

/* mem: where DMA transfers go (through the guest-memory accessor). NULL on
 * allocation failure. */
struct fw_cfg *fw_cfg_create(const struct guest_mem *mem);
void fw_cfg_destroy(struct fw_cfg *c);

/* Copies len bytes in as item key (one of the fixed numbers) or as the
 * named file (the next free number from 0x20). 0, -EEXIST (key or name
 * taken), -ENOSPC (table full), -EINVAL (name too long, len >= 4 GiB),
 * -ENOMEM. */
int fw_cfg_add_item(struct fw_cfg *c, uint16_t key, const void *data, size_t len);
int fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, size_t len);

/* Its device contract (core/device.h): kind "fw-cfg". Counters: exits
 * (port accesses), requests (DMA transfers), rejected (DMA transfers that
 * ended with the error bit: outside RAM, past the item, a write). State:
 * the selector, the read position and the latched DMA address high half;
 * the contents are the machine's and made again from its options. */
struct device *fw_cfg_device(struct fw_cfg *c);

extern const struct iobus_ops fw_cfg_ops; /* opaque = struct fw_cfg *, at FW_CFG_PORT */

#endif
