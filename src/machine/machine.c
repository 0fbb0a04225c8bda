#include "machine/machine.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu.h"
#include "bus/irq.h"
#include "devices/acpi_pm.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "core/log.h"
#include "machine/machine_pci.h"
#include "sandbox/sandbox.h"
#include "backends/term.h"
#include "kvm/vcpu.h"

/* ISA interrupt lines of the PC (and of the MADT/DSDT we describe). */
#define IRQ_KBD    1
#define IRQ_COM1   4
#define IRQ_RTC    8
#define IRQ_SCI    9
#define IRQ_MOUSE 12

#define PORT_COM1    0x3f8
#define PORT_PVPANIC 0x505

static void power_cb(void *opaque, enum power_request req)
{
	struct machine *m = opaque;
	if (req == POWER_OFF)
		vm_request_exit(&m->vm, VM_EXIT_POWEROFF, "guest powered off");
	else
		vm_request_exit(&m->vm, VM_EXIT_RESET, "guest rebooted");
}

static void panic_cb(void *opaque, uint8_t event)
{
	struct machine *m = opaque;
	vm_request_exit(&m->vm, VM_EXIT_PANIC, "guest kernel panicked (pvpanic event 0x%x)", event);
}

static void serial_out_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct machine *m = opaque;
	term_write(m->term, buf, len);
}

static void serial_drained_cb(void *opaque)
{
	struct machine *m = opaque;
	term_resume_input(m->term);
}

static size_t term_deliver_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct machine *m = opaque;
	return serial_receive(m->serial, buf, len);
}

static void term_quit_cb(void *opaque)
{
	struct machine *m = opaque;
	vm_request_exit(&m->vm, VM_EXIT_QUIT, "quit from the console (Ctrl-A x)");
}

/* The legacy devices' port claims, in one table so the PC's port map reads
 * in one place. */
struct port_claim {
	const char *name;
	uint16_t base, len;
	const struct iobus_ops *ops;
	size_t device_offset; /* where the device pointer sits in struct machine */
};

static const struct port_claim legacy_ports[] = {
	{"i8042 data", 0x60, 1, &i8042_data_ops, offsetof(struct machine, i8042)},
	{"i8042 command", 0x64, 1, &i8042_command_ops, offsetof(struct machine, i8042)},
	{"CMOS RTC", 0x70, 2, &rtc_ops, offsetof(struct machine, rtc)},
	{"COM1", PORT_COM1, 8, &serial_ops, offsetof(struct machine, serial)},
	{"pvpanic", PORT_PVPANIC, 1, &pvpanic_ops, offsetof(struct machine, pvpanic)},
	{"ACPI PM", ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops, offsetof(struct machine, acpi_pm)},
};

/* What the CMOS NVRAM says about memory, as PC firmware leaves it. */
static void store_cmos_memory(struct rtc *rtc, uint64_t ram)
{
	uint64_t ext_kib = ram > (1 << 20) ? (ram - (1 << 20)) >> 10 : 0;
	if (ext_kib > 0xffff)
		ext_kib = 0xffff;
	uint64_t above16m = ram > (16 << 20) ? (ram - (16 << 20)) >> 16 : 0;
	if (above16m > 0xffff)
		above16m = 0xffff;
	rtc_set_cmos(rtc, 0x15, 640 & 0xff); /* base memory, KiB */
	rtc_set_cmos(rtc, 0x16, 640 >> 8);
	rtc_set_cmos(rtc, 0x17, ext_kib & 0xff);
	rtc_set_cmos(rtc, 0x18, ext_kib >> 8);
	rtc_set_cmos(rtc, 0x30, ext_kib & 0xff);
	rtc_set_cmos(rtc, 0x31, ext_kib >> 8);
	rtc_set_cmos(rtc, 0x34, above16m & 0xff);
	rtc_set_cmos(rtc, 0x35, above16m >> 8);
}

static int create_devices(struct machine *m)
{
	struct vm *vm = &m->vm;
	struct power_ctl power = {.request = power_cb, .opaque = m};

	m->term = term_open(m->cfg->console_in_fd, m->cfg->console_out_fd, vm->loop,
			    term_deliver_cb, term_quit_cb, m);
	m->serial = serial_create(irq_line_kvm(&vm->vm_fd, IRQ_COM1), serial_out_cb, serial_drained_cb, m);
	m->i8042 = i8042_create(irq_line_kvm(&vm->vm_fd, IRQ_KBD), irq_line_kvm(&vm->vm_fd, IRQ_MOUSE), power);
	m->rtc = rtc_create(irq_line_kvm(&vm->vm_fd, IRQ_RTC), NULL, vm->loop);
	m->acpi_pm = acpi_pm_create(power);
	m->pvpanic = pvpanic_create(panic_cb, m);
	if (!m->term || !m->serial || !m->i8042 || !m->rtc || !m->acpi_pm || !m->pvpanic) {
		log_error("creating the legacy devices failed (console: %s)",
			  m->term ? "ok" : "cannot set up the terminal");
		return -ENOMEM;
	}
	store_cmos_memory(m->rtc, vm->mem.ram_size);

	for (size_t i = 0; i < sizeof(legacy_ports) / sizeof(legacy_ports[0]); i++) {
		const struct port_claim *p = &legacy_ports[i];
		void *dev = *(void **)((char *)m + p->device_offset);
		int ret = iobus_register(vm->pio, p->base, p->len, p->ops, dev);
		if (ret < 0) {
			log_error("%s: cannot claim ports 0x%x+%u: %s", p->name, p->base, p->len,
				  strerror(-ret));
			return ret;
		}
	}
	return m->cfg->pci ? machine_pci_create(m) : 0;
}

/* What the confinement needs from the run's options. */
static struct sandbox_config sandbox_config_of(const struct vm_config *cfg)
{
	struct sandbox_config sc = {
		.seccomp = cfg->seccomp, .user = cfg->user, .unconfined = cfg->unconfined,
	};
	for (unsigned i = 0; i < cfg->nnics; i++)
		if (cfg->nics[i].backend.kind == NET_USER)
			sc.slirp = true;
	return sc;
}

int machine_create(struct machine *m, const struct vm_config *cfg, int kvm_fd)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	/* Before any thread of this machine starts (block workers do in setup). */
	struct sandbox_config sc = sandbox_config_of(cfg);
	sandbox_set_exit_hook(term_restore_global);
	int ret = sandbox_prepare(&sc);
	if (ret < 0) {
		close(kvm_fd);
		return ret;
	}
	enum guest_mem_backing backing = cfg->hugepages       ? GUEST_MEM_HUGETLB
					: cfg->shared_memory ? GUEST_MEM_SHARED
							     : GUEST_MEM_ANON;
	ret = vm_create(&m->vm, kvm_fd, cfg->memory, backing, cfg->cpus);
	if (ret < 0)
		return ret;

	struct kvm_cpuid2 *cpuid = cpu_supported_cpuid(m->vm.kvm_fd);
	if (!cpuid) {
		machine_destroy(m);
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < cfg->cpus; i++) {
		ret = cpu_init_vcpu(m->vm.vcpus[i].fd, cpuid, i, cfg->cpus);
		if (ret < 0) {
			log_error("/dev/kvm: setting up vCPU %u: %s", i, strerror(-ret));
			break;
		}
	}
	free(cpuid);
	if (ret == 0)
		ret = create_devices(m);
	if (ret < 0)
		machine_destroy(m);
	return ret;
}

void machine_destroy(struct machine *m)
{
	/* Devices go first: the RTC takes its timer off the loop. */
	machine_pci_destroy(m);
	if (m->vm.pio)
		for (size_t i = 0; i < sizeof(legacy_ports) / sizeof(legacy_ports[0]); i++)
			iobus_unregister(m->vm.pio, legacy_ports[i].base);
	rtc_destroy(m->rtc);
	serial_destroy(m->serial);
	i8042_destroy(m->i8042);
	acpi_pm_destroy(m->acpi_pm);
	pvpanic_destroy(m->pvpanic);
	term_close(m->term);
	vm_destroy(&m->vm);
	m->rtc = NULL;
	m->serial = NULL;
	m->i8042 = NULL;
	m->acpi_pm = NULL;
	m->pvpanic = NULL;
	m->term = NULL;
}

static int load_acpi(struct machine *m, uint64_t *rsdp)
{
	struct acpi_pci pci = {
		.ecam_base = PCI_ECAM_BASE,
		.io_base = PCI_HOST_IO_BASE, .io_size = PCI_HOST_IO_SIZE,
		.mmio32_base = PCI_MMIO32_BASE, .mmio32_size = PCI_MMIO32_SIZE,
		.mmio64_base = machine_mmio64_base(&m->vm.mem), .mmio64_size = PCI_MMIO64_SIZE,
		.intx_gsi_base = PCI_INTX_GSI_BASE, .intx_gsi_count = PCI_INTX_GSI_COUNT,
	};
	struct acpi_config acfg = {
		.ncpus = m->cfg->cpus, .pm_base = ACPI_PM_BASE, .sci_irq = IRQ_SCI,
		.pci = m->pci_up ? &pci : NULL,
	};
	uint8_t *buf = guest_mem_ptr(&m->vm.mem, ACPI_TABLES_GPA, ACPI_TABLES_MAX);
	if (!buf) {
		log_error("--memory: too small for the ACPI tables");
		return -ENOMEM;
	}
	long n = acpi_build(buf, ACPI_TABLES_MAX, ACPI_TABLES_GPA, &acfg);
	if (n < 0) {
		log_error("building the ACPI tables: %s", strerror((int)-n));
		return (int)n;
	}
	*rsdp = ACPI_TABLES_GPA;
	return 0;
}

int machine_load_linux(struct machine *m)
{
	const struct vm_config *cfg = m->cfg;
	uint8_t *kernel = NULL, *initrd = NULL;
	size_t ksize = 0, isize = 0;
	uint64_t rsdp = 0;
	struct boot_entry entry;
	int ret = boot_read_file(cfg->kernel, "kernel", &kernel, &ksize);
	if (ret == 0 && cfg->initrd)
		ret = boot_read_file(cfg->initrd, "initrd", &initrd, &isize);
	if (ret == 0)
		ret = load_acpi(m, &rsdp);
	if (ret == 0) {
		/* Linux uses the ECAM only if the e820 map reserves it. */
		static const struct boot_e820_extra ecam = {PCI_ECAM_BASE, PCI_ECAM_SIZE, 2};
		struct boot_image img = {
			.kernel = kernel, .kernel_size = ksize,
			.initrd = initrd, .initrd_size = isize,
			.cmdline = cfg->cmdline, .rsdp_gpa = rsdp,
			.e820_extra = m->pci_up ? &ecam : NULL, .nr_e820_extra = m->pci_up ? 1 : 0,
		};
		ret = boot_load_linux(&m->vm.mem, &img, cfg->kernel, cfg->initrd, &entry);
	}
	free(kernel);
	free(initrd);
	if (ret < 0)
		return ret;
	ret = cpu_set_boot_regs(m->vm.vcpus[0].fd, &entry);
	if (ret < 0)
		log_error("/dev/kvm: setting the boot CPU's registers: %s", strerror(-ret));
	return ret;
}

int machine_load_real_mode(struct machine *m, const uint8_t *code, size_t len, uint64_t gpa)
{
	if (gpa > 0xffff || guest_mem_write(&m->vm.mem, gpa, code, len) < 0)
		return -EINVAL;
	int fd = m->vm.vcpus[0].fd;
	struct kvm_sregs sregs;
	if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	struct kvm_regs regs = {.rip = gpa, .rflags = 0x2, .rsp = 0xfff0};
	if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

static void *loop_thread(void *opaque)
{
	struct vm *vm = opaque;
	sandbox_enter(SANDBOX_LOOP);
	int ret = loop_run(vm->loop);
	if (ret < 0)
		vm_request_exit(vm, VM_EXIT_ERROR, "event loop: %s", strerror(-ret));
	return NULL;
}

/* The loop gets a thread of its own, so that the caller, which sets up and
 * tears down machines, stays outside the loop's filter. */
static int start_loop(struct vm *vm, pthread_t *thread)
{
	/* Signals stay with the caller and the vCPUs (kicks). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(thread, NULL, loop_thread, vm);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret == 0)
		pthread_setname_np(*thread, "loop");
	return -ret;
}

enum vm_exit_reason machine_run(struct machine *m)
{
	struct vm *vm = &m->vm;
	char why[sizeof(vm->exit_detail)];
	struct sandbox_config sc = sandbox_config_of(m->cfg);
	if (sandbox_confine(&sc, why, sizeof(why)) < 0)
		vm_request_exit(vm, VM_EXIT_ERROR, "%s", why);
	for (unsigned i = 0; i < vm->ncpus && vm_exit_reason(vm) == VM_RUNNING; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);
		if (ret < 0) {
			vm_request_exit(vm, VM_EXIT_ERROR, "starting vCPU %u: %s", i, strerror(-ret));
			break;
		}
	}
	if (vm_exit_reason(vm) == VM_RUNNING) {
		pthread_t loop;
		int ret = start_loop(vm, &loop);
		if (ret < 0)
			vm_request_exit(vm, VM_EXIT_ERROR, "starting the event loop: %s",
					strerror(-ret));
		else
			pthread_join(loop, NULL);
	}
	/* The loop also stops for signals, before any vCPU asked to exit. */
	vm_request_exit(vm, VM_EXIT_SIGNAL, "stopped by a signal");
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	return vm_exit_reason(vm);
}

void machine_stop_async(struct machine *m)
{
	if (m->vm.loop)
		loop_stop(m->vm.loop);
}
