/* fw_cfg: see fw_cfg.h. Everything the guest sends is checked here: the
 * selector picks an item or nothing (reads as zeros), the read position
 * never passes the item's end, and a DMA descriptor and its buffer are
 * reached only through the guest-memory accessor, with at most the item's
 * remaining bytes and FW_CFG_DMA_ZERO_MAX zeros written per transfer, so a
 * transfer's work is bounded. One lock: vCPUs may use the ports concurrently. */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/byteorder.h"
#include "core/log.h"
#include "core/state.h"

/* FW_CFG_ID: the traditional interface and DMA. */
#define FW_CFG_FEATURES 0x3u
/* What a read of the DMA address register returns: "QEMU CFG". */
static const uint8_t dma_signature[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};

#define PORT_SELECTOR 0
#define PORT_DATA 1
#define PORT_DMA 4   /* 8 bytes: high half, then low half */

struct fw_cfg_item {
	uint16_t key;
	char name[FW_CFG_NAME_MAX]; /* "" for a numbered item */
	uint8_t *data;
	uint32_t len;
};

struct fw_cfg {
	struct device dev;
	const struct guest_mem *mem;
	pthread_mutex_t lock;
	struct fw_cfg_item items[FW_CFG_MAX_ITEMS];
	unsigned nitems;
	uint16_t next_file_key;
	uint16_t selector;
	uint32_t offset;       /* read position in the selected item */
	uint32_t dma_high;     /* latched by a write to 0x514 */
};

static struct fw_cfg_item *find(struct fw_cfg *c, uint16_t key)
{
	for (unsigned i = 0; i < c->nitems; i++)
		if (c->items[i].key == key)
			return &c->items[i];
	return NULL;
}

static int add(struct fw_cfg *c, uint16_t key, const char *name, const void *data, size_t len)
{
	if (len >= UINT32_MAX)
		return -EINVAL;
	if (find(c, key))
		return -EEXIST;
	if (c->nitems == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return -ENOMEM;
	if (len)
		memcpy(copy, data, len);
	struct fw_cfg_item *it = &c->items[c->nitems++];
	*it = (struct fw_cfg_item){.key = key, .data = copy, .len = (uint32_t)len};
	snprintf(it->name, sizeof(it->name), "%s", name);
	return 0;
}



/* The file directory (fw_cfg.rst, "File Directory"): a big-endian count,
 * then {be32 size, be16 select, be16 reserved, char name[56]} per file. */
static int rebuild_dir(struct fw_cfg *c)
{
	size_t n = 0;
	for (unsigned i = 0; i < c->nitems; i++)
		n += c->items[i].name[0] != 0;
	size_t len = 4 + 64 * n;
	uint8_t *dir = calloc(1, len);
	if (!dir)
		return -ENOMEM;
	put_be32(dir, (uint32_t)n);
	uint8_t *e = dir + 4;
	for (unsigned i = 0; i < c->nitems; i++) {
		const struct fw_cfg_item *it = &c->items[i];
		if (!it->name[0])
			continue;
		put_be32(e, it->len);
		e[4] = (uint8_t)(it->key >> 8);
		e[5] = (uint8_t)it->key;
		memcpy(e + 8, it->name, strlen(it->name));
		e += 64;
	}
	struct fw_cfg_item *d = find(c, FW_CFG_FILE_DIR);
	free(d->data);
	d->data = dir;
	d->len = (uint32_t)len;
	return 0;
}

int fw_cfg_add_item(struct fw_cfg *c, uint16_t key, const void *data, size_t len)
{
	if (key >= FW_CFG_FILE_FIRST || key == FW_CFG_FILE_DIR)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	int ret = add(c, key, "", data, len);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int fw_cfg_add_file(struct fw_cfg *c, const char *name, const void *data, size_t len)
{
	if (!name[0] || strlen(name) >= FW_CFG_NAME_MAX)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	int ret = 0;
	for (unsigned i = 0; i < c->nitems; i++)
		if (!strcmp(c->items[i].name, name))
			ret = -EEXIST;
	if (ret == 0)
		ret = add(c, c->next_file_key, name, data, len);
	if (ret == 0) {
		c->next_file_key++;
		ret = rebuild_dir(c);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static void select_item(struct fw_cfg *c, uint16_t key)
{
	c->selector = key;
	c->offset = 0;
}

/* The next byte of the selected item; zero past its end or with no item. */
static uint8_t data_byte(struct fw_cfg *c)
{
	const struct fw_cfg_item *it = find(c, c->selector);
	if (!it || c->offset >= it->len)
		return 0;
	return it->data[c->offset++];
}

static int zero_fill(const struct guest_mem *mem, uint64_t gpa, uint32_t len)
{
	static const uint8_t zeros[4096];
	for (uint32_t done = 0; done < len;) {
		uint32_t n = len - done < sizeof(zeros) ? len - done : (uint32_t)sizeof(zeros);
		if (guest_mem_write(mem, gpa + done, zeros, n) < 0)
			return -EFAULT;
		done += n;
	}
	return 0;
}

/* One DMA transfer (fw_cfg.rst, "DMA interface"): the descriptor at gpa,
 * {be32 control, be32 length, be64 address}; its control word is written
 * back as 0 when done or with the error bit. A descriptor outside RAM
 * cannot be answered and is dropped. */
static void dma_transfer(struct fw_cfg *c, uint64_t gpa)
{
	uint8_t d[16];
	counter_inc(&c->dev.counters.requests);
	if (guest_mem_read(c->mem, gpa, d, sizeof(d)) < 0) {
		counter_inc(&c->dev.counters.rejected);
		log_guest_error("fw-cfg", "DMA descriptor at 0x%llx is outside RAM",
				(unsigned long long)gpa);
		return;
	}
	uint32_t control = get_be32(d), length = get_be32(d + 4);
	uint64_t addr = (uint64_t)get_be32(d + 8) << 32 | get_be32(d + 12);
	bool error = false;
	if (control & FW_CFG_DMA_SELECT)
		select_item(c, (uint16_t)(control >> 16));
	const struct fw_cfg_item *it = find(c, c->selector);
	uint32_t left = it && c->offset < it->len ? it->len - c->offset : 0;
	if (gpa > UINT64_MAX - 16 || addr > UINT64_MAX - length) {
		error = true;
	} else if (control & FW_CFG_DMA_WRITE) {
		error = true; /* nothing here is writable */
	} else if (control & FW_CFG_DMA_READ) {
		/* The item's bytes, then zeros as QEMU gives (SeaBIOS reads
		 * items that may not exist and counts on zeros), at most
		 * FW_CFG_DMA_ZERO_MAX of them: not however much RAM the guest
		 * names. */
		uint32_t have = length < left ? length : left, zeros = length - have;
		if (zeros > FW_CFG_DMA_ZERO_MAX ||
		    (have && guest_mem_write(c->mem, addr, it->data + c->offset, have) < 0) ||
		    (zeros && zero_fill(c->mem, addr + have, zeros) < 0))
			error = true;
		else
			c->offset += have;
	} else if (control & FW_CFG_DMA_SKIP) {
		c->offset += length < left ? length : left;
	}
	if (error)
		counter_inc(&c->dev.counters.rejected);
	put_be32(d, error ? FW_CFG_DMA_ERROR : 0);
	guest_mem_write(c->mem, gpa, d, 4);
}

static void fw_cfg_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct fw_cfg *c = opaque;
	counter_inc(&c->dev.counters.exits);
	pthread_mutex_lock(&c->lock);
	for (unsigned i = 0; i < len; i++) {
		uint64_t at = offset + i;
		if (at == PORT_DATA && len == 1)
			data[i] = data_byte(c);
		else if (at >= PORT_DMA && at < PORT_DMA + sizeof(dma_signature))
			data[i] = dma_signature[at - PORT_DMA];
		else
			data[i] = 0;
	}
	pthread_mutex_unlock(&c->lock);
}

static void fw_cfg_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct fw_cfg *c = opaque;
	counter_inc(&c->dev.counters.exits);
	pthread_mutex_lock(&c->lock);
	if (offset == PORT_SELECTOR && len == 2) {
		select_item(c, (uint16_t)iobus_load_le(data, 2));
	} else if (offset == PORT_DMA && len == 4) {
		c->dma_high = get_be32(data);
	} else if (offset == PORT_DMA + 4 && len == 4) {
		uint64_t gpa = (uint64_t)c->dma_high << 32 | get_be32(data);
		c->dma_high = 0;
		dma_transfer(c, gpa);
	} else if (offset == PORT_DMA && len == 8) {
		uint64_t gpa = (uint64_t)get_be32(data) << 32 | get_be32(data + 4);
		c->dma_high = 0;
		dma_transfer(c, gpa);
	}
	/* Data port writes are ignored, as since QEMU 2.4. */
	pthread_mutex_unlock(&c->lock);
}

const struct iobus_ops fw_cfg_ops = {
	.read = fw_cfg_read,
	.write = fw_cfg_write,
};

/* ---- the device contract (core/device.h) ---- */

#define FW_CFG_STATE_VERSION 1

static int fw_cfg_save(struct device *dev, struct state_writer *w)
{
	struct fw_cfg *c = container_of(dev, struct fw_cfg, dev);
	pthread_mutex_lock(&c->lock);
	state_begin(w, dev->ops->kind, FW_CFG_STATE_VERSION);
	state_put_u16(w, "selector", c->selector);
	state_put_u32(w, "offset", c->offset);
	state_put_u32(w, "dma_high", c->dma_high);
	state_end(w);
	pthread_mutex_unlock(&c->lock);
	return w->error;
}

static int fw_cfg_load(struct device *dev, struct state_reader *r)
{
	struct fw_cfg *c = container_of(dev, struct fw_cfg, dev);
	uint16_t selector;
	uint32_t offset, dma_high;
	if (state_enter(r, dev->ops->kind, FW_CFG_STATE_VERSION, NULL) < 0 ||
	    state_get_u16(r, "selector", &selector) < 0 ||
	    state_get_u32(r, "offset", &offset) < 0 || state_get_u32(r, "dma_high", &dma_high) < 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	const struct fw_cfg_item *it = find(c, selector);
	uint32_t max = it ? it->len : 0;
	pthread_mutex_unlock(&c->lock);
	if (offset > max)
		return state_invalid(r, "offset", "%u, past the selected item's %u bytes", offset,
				     max);
	int ret = state_leave(r);
	if (ret == 0) {
		pthread_mutex_lock(&c->lock);
		c->selector = selector;
		c->offset = offset;
		c->dma_high = dma_high;
		pthread_mutex_unlock(&c->lock);
	}
	return ret;
}

static void fw_cfg_reset(struct device *dev)
{
	struct fw_cfg *c = container_of(dev, struct fw_cfg, dev);
	pthread_mutex_lock(&c->lock);
	select_item(c, FW_CFG_SIGNATURE);
	c->dma_high = 0;
	pthread_mutex_unlock(&c->lock);
}

static void fw_cfg_dev_destroy(struct device *dev)
{
	fw_cfg_destroy(container_of(dev, struct fw_cfg, dev));
}

static const struct device_ops fw_cfg_dev_ops = {
	.kind = "fw-cfg",
	.reset = fw_cfg_reset,
	.save = fw_cfg_save,
	.load = fw_cfg_load,
	.destroy = fw_cfg_dev_destroy,
};

struct fw_cfg *fw_cfg_create(const struct guest_mem *mem)
{
	struct fw_cfg *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	device_init(&c->dev, &fw_cfg_dev_ops, "fw-cfg");
	pthread_mutex_init(&c->lock, NULL);
	c->mem = mem;
	c->next_file_key = FW_CFG_FILE_FIRST;
	uint8_t id[4];
	iobus_store_le(id, 4, FW_CFG_FEATURES);
	if (add(c, FW_CFG_SIGNATURE, "", "QEMU", 4) < 0 || add(c, FW_CFG_ID, "", id, 4) < 0 ||
	    add(c, FW_CFG_FILE_DIR, "", NULL, 0) < 0 || rebuild_dir(c) < 0) {
		fw_cfg_destroy(c);
		return NULL;
	}
	return c;
}

void fw_cfg_destroy(struct fw_cfg *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < c->nitems; i++)
		free(c->items[i].data);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

struct device *fw_cfg_device(struct fw_cfg *c)
{
	return &c->dev;
}
