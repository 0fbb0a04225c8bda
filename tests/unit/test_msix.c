/* MSI-X emulation (src/bus/msix.c) with no KVM (routing NULL): the
 * capability as the guest reads it, the vector table and PBA in the BAR,
 * enable / function mask through config writes, masking and pending bits,
 * delivery into eventfds the test installs, and accesses outside the table
 * and PBA. */
#include <errno.h>
#include <linux/pci_regs.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "bus/msix.h"
#include "bus/pci.h"

#define NVEC      5
#define BIR       2
#define TABLE_OFF 0x0ULL
#define PBA_OFF   0x800ULL

struct fx {
	struct pci_dev dev;
	struct msix m;
	int written;            /* config_written calls */
};

static void on_config_written(struct pci_dev *dev, unsigned offset, unsigned len)
{
	struct fx *f = dev->opaque;
	f->written++;
	msix_config_written(&f->m, offset, len);
}

static const struct pci_dev_ops dev_ops = {.config_written = on_config_written};

static int setup(void **state)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	pci_dev_init(&f->dev, "msix-test", 0x1234, 0x1, 0xff0000, 0, 0, 0);
	f->dev.ops = &dev_ops;
	f->dev.opaque = f;
	assert_int_equal(msix_init(&f->m, &f->dev, NULL, NVEC, BIR, TABLE_OFF, PBA_OFF), 0);
	/* No KVM: every vector starts without an eventfd; give each one. */
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(f->m.eventfd[v], -1);
		f->m.eventfd[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(f->m.eventfd[v] >= 0);
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	msix_destroy(&f->m); /* closes the eventfds */
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++)
		assert_int_equal(f->m.eventfd[v], -1);
	pci_dev_destroy(&f->dev);
	test_free(f);
	return 0;
}

/* How many times vector v's eventfd was signalled since the last call. */
static uint64_t fired(struct fx *f, unsigned v)
{
	uint64_t n = 0;
	if (read(f->m.eventfd[v], &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static uint16_t ctrl(struct fx *f)
{
	uint8_t b[2];
	pci_config_read(&f->dev, (unsigned)f->m.cap + PCI_MSIX_FLAGS, b, 2);
	return (uint16_t)(b[0] | b[1] << 8);
}

static void set_ctrl(struct fx *f, uint16_t v)
{
	uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
	pci_config_write(&f->dev, (unsigned)f->m.cap + PCI_MSIX_FLAGS, b, 2);
}

static uint64_t bar_rd(struct fx *f, uint64_t off, unsigned len)
{
	uint8_t b[8];
	memset(b, 0xee, sizeof(b));
	assert_true(msix_bar_read(&f->m, off, b, len));
	return iobus_load_le(b, len);
}

static void bar_wr(struct fx *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];
	iobus_store_le(b, len, v);
	assert_true(msix_bar_write(&f->m, off, b, len));
}

static uint64_t entry(unsigned v, unsigned field)
{
	return TABLE_OFF + v * PCI_MSIX_ENTRY_SIZE + field;
}

static void unmask(struct fx *f, unsigned v)
{
	bar_wr(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0);
}

static void mask(struct fx *f, unsigned v)
{
	bar_wr(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static uint64_t pba(struct fx *f)
{
	return bar_rd(f, PBA_OFF, 8);
}

/* ---- capability ----------------------------------------------------------- */

static void test_cap_layout(void **state)
{
	struct fx *f = *state;
	int cap = f->m.cap;
	assert_true(cap >= PCI_STD_HEADER_SIZEOF);
	assert_int_equal(pci_cfg_get(&f->dev, PCI_CAPABILITY_LIST, 1), cap);
	assert_true(pci_cfg_get(&f->dev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(pci_cfg_get(&f->dev, (unsigned)cap, 1), PCI_CAP_ID_MSIX);
	assert_int_equal(pci_cfg_get(&f->dev, (unsigned)cap + 1, 1), 0); /* last */
	/* Table size is N-1; enable and function mask start clear. */
	assert_int_equal(ctrl(f), NVEC - 1);
	/* Table and PBA: offset | BIR, as Linux decodes them. */
	uint32_t table = pci_cfg_get(&f->dev, (unsigned)cap + PCI_MSIX_TABLE, 4);
	uint32_t p = pci_cfg_get(&f->dev, (unsigned)cap + PCI_MSIX_PBA, 4);
	assert_int_equal(table & PCI_MSIX_TABLE_BIR, BIR);
	assert_int_equal(table & PCI_MSIX_TABLE_OFFSET, TABLE_OFF);
	assert_int_equal(p & PCI_MSIX_PBA_BIR, BIR);
	assert_int_equal(p & PCI_MSIX_PBA_OFFSET, PBA_OFF);
	/* The capability is 12 bytes (PCI_CAP_MSIX_SIZEOF). */
	assert_int_equal(f->dev.cap_free, (unsigned)cap + PCI_CAP_MSIX_SIZEOF);

	/* Only enable and function mask are writable; table size, table and
	 * PBA registers are read-only. */
	set_ctrl(f, 0xffff);
	assert_int_equal(ctrl(f), PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NVEC - 1));
	uint8_t ones[4] = {0xff, 0xff, 0xff, 0xff};
	pci_config_write(&f->dev, (unsigned)cap + PCI_MSIX_TABLE, ones, 4);
	pci_config_write(&f->dev, (unsigned)cap + PCI_MSIX_PBA, ones, 4);
	pci_config_write(&f->dev, (unsigned)cap, ones, 2);
	assert_int_equal(pci_cfg_get(&f->dev, (unsigned)cap + PCI_MSIX_TABLE, 4), table);
	assert_int_equal(pci_cfg_get(&f->dev, (unsigned)cap + PCI_MSIX_PBA, 4), p);
	assert_int_equal(pci_cfg_get(&f->dev, (unsigned)cap, 2), PCI_CAP_ID_MSIX);
	set_ctrl(f, 0);
	assert_int_equal(ctrl(f), NVEC - 1);
}

static void test_init_rules(void **state)
{
	struct pci_dev dev;
	struct msix m;
	pci_dev_init(&dev, "rules", 1, 2, 0, 0, 0, 0);
	assert_int_equal(msix_init(&m, &dev, NULL, 0, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, NULL, MSIX_MAX_VECTORS + 1, 0, 0, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, NULL, 4, 0, 4, 0x800), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, NULL, 4, 0, 0, 0x804), -EINVAL);
	assert_int_equal(msix_init(&m, &dev, NULL, MSIX_MAX_VECTORS, 0, 0, 0x800), 0);
	uint8_t b[2];
	pci_config_read(&dev, (unsigned)m.cap + PCI_MSIX_FLAGS, b, 2);
	assert_int_equal(b[0] | b[1] << 8, MSIX_MAX_VECTORS - 1);
	for (unsigned v = 0; v < MSIX_MAX_VECTORS; v++)
		assert_int_equal(m.eventfd[v], -1);
	msix_destroy(&m);
	pci_dev_destroy(&dev);
}

/* ---- table ---------------------------------------------------------------- */

static void test_table_reset_values(void **state)
{
	struct fx *f = *state;
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(bar_rd(f, entry(v, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0);
		assert_int_equal(bar_rd(f, entry(v, PCI_MSIX_ENTRY_UPPER_ADDR), 4), 0);
		assert_int_equal(bar_rd(f, entry(v, PCI_MSIX_ENTRY_DATA), 4), 0);
		assert_int_equal(bar_rd(f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4),
				 PCI_MSIX_ENTRY_CTRL_MASKBIT);
		/* Data and control as one qword. */
		assert_int_equal(bar_rd(f, entry(v, PCI_MSIX_ENTRY_DATA), 8),
				 (uint64_t)PCI_MSIX_ENTRY_CTRL_MASKBIT << 32);
	}
	assert_int_equal(pba(f), 0);
	assert_false(msix_enabled(&f->m));
}

static void test_table_rw(void **state)
{
	struct fx *f = *state;
	/* Dword writes, as Linux's __pci_write_msi_msg does. */
	bar_wr(f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 4, 0xfee01000);
	bar_wr(f, entry(1, PCI_MSIX_ENTRY_UPPER_ADDR), 4, 0x1);
	bar_wr(f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x4041);
	assert_int_equal(bar_rd(f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0xfee01000);
	assert_int_equal(bar_rd(f, entry(1, PCI_MSIX_ENTRY_UPPER_ADDR), 4), 0x1);
	assert_int_equal(bar_rd(f, entry(1, PCI_MSIX_ENTRY_DATA), 4), 0x4041);
	assert_int_equal(bar_rd(f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 8), 0x1fee01000ULL);
	/* Qword writes (other guests). */
	bar_wr(f, entry(3, PCI_MSIX_ENTRY_LOWER_ADDR), 8, 0x00000000fee02000ULL);
	assert_int_equal(bar_rd(f, entry(3, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0xfee02000);
	assert_int_equal(bar_rd(f, entry(3, PCI_MSIX_ENTRY_UPPER_ADDR), 4), 0);
	bar_wr(f, entry(3, PCI_MSIX_ENTRY_DATA), 8, 0x0000000000000051ULL); /* data + unmask */
	assert_int_equal(bar_rd(f, entry(3, PCI_MSIX_ENTRY_DATA), 4), 0x51);
	assert_int_equal(bar_rd(f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);
	/* Reserved control bits read as zero; the mask bit sticks. */
	bar_wr(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0xffffffff);
	assert_int_equal(bar_rd(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 1);
	bar_wr(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0xfffffffe);
	assert_int_equal(bar_rd(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);
	/* Byte access to the control word. */
	bar_wr(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 1, 1);
	assert_int_equal(bar_rd(f, entry(2, PCI_MSIX_ENTRY_VECTOR_CTRL), 1), 1);
	/* Neighbours untouched. */
	assert_int_equal(bar_rd(f, entry(0, PCI_MSIX_ENTRY_LOWER_ADDR), 8), 0);
	assert_int_equal(bar_rd(f, entry(4, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 1);
	/* The last dword of the table. */
	bar_wr(f, entry(NVEC - 1, PCI_MSIX_ENTRY_DATA), 4, 0x77);
	assert_int_equal(bar_rd(f, entry(NVEC - 1, PCI_MSIX_ENTRY_DATA), 4), 0x77);
}

static void test_out_of_range(void **state)
{
	struct fx *f = *state;
	uint8_t b[8];
	uint64_t end = TABLE_OFF + NVEC * PCI_MSIX_ENTRY_SIZE;
	/* Past the table (room for 64 vectors in the BAR, but only 5 exist). */
	assert_false(msix_bar_read(&f->m, end, b, 4));
	assert_false(msix_bar_read(&f->m, end - 4, b, 8)); /* straddles the end */
	assert_false(msix_bar_read(&f->m, 0x7f8, b, 8));
	assert_false(msix_bar_read(&f->m, PBA_OFF + 8, b, 4));
	assert_false(msix_bar_read(&f->m, PBA_OFF + 4, b, 8));  /* straddles the PBA end */
	assert_false(msix_bar_read(&f->m, UINT64_MAX - 3, b, 4));
	assert_false(msix_bar_read(&f->m, UINT64_MAX, b, 8));
	iobus_store_le(b, 8, UINT64_MAX);
	assert_false(msix_bar_write(&f->m, end, b, 4));
	assert_false(msix_bar_write(&f->m, end - 4, b, 8));
	assert_false(msix_bar_write(&f->m, UINT64_MAX - 7, b, 8));
	assert_false(msix_bar_write(&f->m, 0x1000, b, 4));
	/* Nothing changed in the table. */
	assert_int_equal(bar_rd(f, entry(NVEC - 1, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 1);
	assert_int_equal(bar_rd(f, entry(NVEC - 1, PCI_MSIX_ENTRY_DATA), 4), 0);
	/* The PBA is read-only: a write is claimed and dropped. */
	assert_true(msix_bar_write(&f->m, PBA_OFF, b, 8));
	assert_int_equal(pba(f), 0);
}

/* ---- delivery ------------------------------------------------------------ */

static void test_disabled_ignores_notify(void **state)
{
	struct fx *f = *state;
	unmask(f, 0);
	assert_false(msix_notify(&f->m, 0));  /* MSI-X off: use INTx */
	assert_int_equal(pba(f), 0);
	assert_int_equal(fired(f, 0), 0);
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_enabled(&f->m));
	assert_false(msix_notify(&f->m, NVEC));
	assert_false(msix_notify(&f->m, 63));
	assert_false(msix_notify(&f->m, 64));
	assert_false(msix_notify(&f->m, ~0U));
	assert_int_equal(pba(f), 0);
	assert_int_equal(f->m.delivered, 0);
}

static void test_enable_via_config_write(void **state)
{
	struct fx *f = *state;
	/* Writes elsewhere in config space do not enable it. */
	uint8_t b[2] = {0xff, 0xff};
	pci_config_write(&f->dev, PCI_COMMAND, b, 2);
	assert_false(msix_enabled(&f->m));
	/* A byte write to the high half of the control word, as Linux's
	 * pci_msix_clear_and_set_ctrl would with a word: both work. */
	uint8_t hi = PCI_MSIX_FLAGS_ENABLE >> 8;
	pci_config_write(&f->dev, (unsigned)f->m.cap + PCI_MSIX_FLAGS + 1, &hi, 1);
	assert_true(msix_enabled(&f->m));
	/* A dword write of the whole capability header. */
	uint8_t dw[4] = {0, 0, 0, 0};
	pci_config_write(&f->dev, (unsigned)f->m.cap, dw, 4);
	assert_false(msix_enabled(&f->m));
	dw[3] = PCI_MSIX_FLAGS_ENABLE >> 8;
	pci_config_write(&f->dev, (unsigned)f->m.cap, dw, 4);
	assert_true(msix_enabled(&f->m));
	set_ctrl(f, 0);
	assert_false(msix_enabled(&f->m));
	assert_true(f->written >= 5);
}

static void test_masked_vector_pending_then_delivered(void **state)
{
	struct fx *f = *state;
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	/* Vector 1 is still masked: pending, nothing delivered. */
	assert_true(msix_notify(&f->m, 1));
	assert_int_equal(pba(f), 1 << 1);
	assert_int_equal(bar_rd(f, PBA_OFF, 4), 1 << 1);
	assert_int_equal(bar_rd(f, PBA_OFF, 1), 1 << 1);
	assert_int_equal(bar_rd(f, PBA_OFF + 4, 4), 0);
	assert_int_equal(f->m.delivered, 0);
	assert_int_equal(fired(f, 1), 0);
	/* Notifying again while pending changes nothing. */
	assert_true(msix_notify(&f->m, 1));
	assert_int_equal(pba(f), 1 << 1);
	/* Another masked vector. */
	assert_true(msix_notify(&f->m, 4));
	assert_int_equal(pba(f), 1 << 1 | 1 << 4);

	/* Unmasking delivers once and clears the bit. */
	unmask(f, 1);
	assert_int_equal(pba(f), 1 << 4);
	assert_int_equal(f->m.delivered, 1);
	assert_int_equal(fired(f, 1), 1);
	assert_int_equal(fired(f, 4), 0);

	/* Unmasked: straight through. */
	assert_true(msix_notify(&f->m, 1));
	assert_true(msix_notify(&f->m, 1));
	assert_int_equal(f->m.delivered, 3);
	assert_int_equal(fired(f, 1), 2);
	assert_int_equal(pba(f), 1 << 4);

	/* Masked again: pending again. */
	mask(f, 1);
	assert_true(msix_notify(&f->m, 1));
	assert_int_equal(pba(f), 1 << 1 | 1 << 4);
	assert_int_equal(fired(f, 1), 0);
	/* Rewriting the address of a masked vector does not deliver. */
	bar_wr(f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 4, 0xfee00000);
	assert_int_equal(fired(f, 1), 0);
	unmask(f, 4);
	assert_int_equal(fired(f, 4), 1);
	assert_int_equal(pba(f), 1 << 1);
	assert_int_equal(f->m.delivered, 4);
}

/* A vector whose eventfd a signaller outside the VMM writes (vhost):
 * what was pending goes into the eventfd when it is handed out, signals
 * go to the eventfd masked or not (with KVM, masking unbinds the irqfd, so
 * they wait there), and once given back masking is the PBA's again. */
static void test_direct_vector(void **state)
{
	struct fx *f = *state;
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_notify(&f->m, 2)); /* masked: pending */
	assert_int_equal(pba(f), 1 << 2);

	assert_int_equal(msix_direct_get(&f->m, 2), f->m.eventfd[2]);
	assert_int_equal(pba(f), 0);
	assert_int_equal(fired(f, 2), 1);
	assert_true(msix_notify(&f->m, 2)); /* still masked: into the eventfd */
	assert_int_equal(pba(f), 0);
	assert_int_equal(fired(f, 2), 1);
	/* A second user of the vector; the first one leaving changes nothing. */
	assert_int_equal(msix_direct_get(&f->m, 2), f->m.eventfd[2]);
	msix_direct_put(&f->m, 2);
	assert_true(msix_notify(&f->m, 2));
	assert_int_equal(pba(f), 0);
	assert_int_equal(fired(f, 2), 1);
	msix_direct_put(&f->m, 2);

	/* Given back: masked signals are pending bits again. */
	assert_true(msix_notify(&f->m, 2));
	assert_int_equal(pba(f), 1 << 2);
	assert_int_equal(fired(f, 2), 0);
	unmask(f, 2);
	assert_int_equal(fired(f, 2), 1);
	assert_int_equal(pba(f), 0);

	/* Out of range, or vectors without an eventfd: none to hand out. */
	assert_int_equal(msix_direct_get(&f->m, NVEC), -1);
	close(f->m.eventfd[3]);
	f->m.eventfd[3] = -1;
	assert_int_equal(msix_direct_get(&f->m, 3), -1);
	msix_direct_put(&f->m, 3); /* not handed out: ignored */
	assert_int_equal(f->m.direct[3], 0);
}

static void test_function_mask(void **state)
{
	struct fx *f = *state;
	unmask(f, 0);
	unmask(f, 2);
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_true(msix_enabled(&f->m));
	assert_true(msix_notify(&f->m, 0));
	assert_true(msix_notify(&f->m, 2));
	assert_true(msix_notify(&f->m, 3)); /* masked both ways */
	assert_int_equal(pba(f), 1 << 0 | 1 << 2 | 1 << 3);
	assert_int_equal(f->m.delivered, 0);
	/* Table writes while function-masked do not deliver. */
	unmask(f, 1);
	assert_int_equal(f->m.delivered, 0);
	/* Lifting the function mask delivers the unmasked pending vectors. */
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(pba(f), 1 << 3);
	assert_int_equal(fired(f, 0), 1);
	assert_int_equal(fired(f, 2), 1);
	assert_int_equal(fired(f, 3), 0);
	assert_int_equal(f->m.delivered, 2);
}

static void test_pending_survives_disable(void **state)
{
	struct fx *f = *state;
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	assert_true(msix_notify(&f->m, 2)); /* masked: pending */
	set_ctrl(f, 0);
	/* Unmasking while MSI-X is off delivers nothing. */
	unmask(f, 2);
	assert_int_equal(fired(f, 2), 0);
	assert_int_equal(pba(f), 1 << 2);
	/* Enabling again delivers it. */
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(fired(f, 2), 1);
	assert_int_equal(pba(f), 0);
}

static void test_no_eventfd(void **state)
{
	struct fx *f = *state;
	/* A vector with no eventfd (no KVM) is neither delivered nor counted,
	 * and nothing crashes. */
	close(f->m.eventfd[0]);
	f->m.eventfd[0] = -1;
	set_ctrl(f, PCI_MSIX_FLAGS_ENABLE);
	unmask(f, 0);
	assert_true(msix_notify(&f->m, 0));
	assert_int_equal(f->m.delivered, 0);
	assert_int_equal(pba(f), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cap_layout, setup, teardown),
		cmocka_unit_test(test_init_rules),
		cmocka_unit_test_setup_teardown(test_table_reset_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disabled_ignores_notify, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enable_via_config_write, setup, teardown),
		cmocka_unit_test_setup_teardown(test_masked_vector_pending_then_delivered, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_direct_vector, setup, teardown),
		cmocka_unit_test_setup_teardown(test_function_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_survives_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_eventfd, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
