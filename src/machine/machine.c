#include "machine/machine.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_pm_regs.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpu.h"
#include "backends/term.h"
#include "core/device.h"
#include "core/boot_trace.h"
#include "core/log.h"
#include "kvm/vcpu.h"
#include "machine/device_table.h"
#include "machine/machine_legacy.h"
#include "machine/machine_pci.h"
#include "sandbox/sandbox.h"

/* Creates one device of kind k for options (NULL for a fixed device) and
 * lists it; the instance is named kind + its index among its kind. */
static int add_device(struct machine *m, const struct device_kind *k, const void *options,
		      unsigned *per_kind)
{
	if (m->ndevices == MACHINE_MAX_DEVICES) {
		log_error("%s: more than %d devices", k->name, MACHINE_MAX_DEVICES);
		return -ENOSPC;
	}
	int slot = -1;
	struct device_env env = {.m = m, .options = options, .index = per_kind[k - device_kinds]++,
				 .pci_slot = &slot};
	device_instance_name(k, env.index, env.id);
	struct device *dev = NULL;
	int ret = k->create(&env, &dev);
	if (dev) {
		m->dev_info[m->ndevices] = (struct machine_dev_info){
			.io_model = device_kind_io_model(k, options), .pci_slot = slot,
			.options = options};
		m->devices[m->ndevices++] = dev;
	}
	return ret;
}

/* Walks the device table: the fixed devices, then each option's entries in
 * command-line order, each made by the row whose selector it matches. */
static int create_devices(struct machine *m)
{
	unsigned per_kind[device_nkinds];
	memset(per_kind, 0, sizeof(per_kind));
	int ret = machine_open_console(m);
	for (unsigned i = 0; ret == 0 && i < device_nkinds; i++)
		if (!device_kinds[i].option &&
		    (!device_kinds[i].present || device_kinds[i].present(m->cfg)))
			ret = add_device(m, &device_kinds[i], NULL, per_kind);
	if (ret < 0 || !m->cfg->pci)
		return ret;
	ret = machine_pci_create(m);
	for (unsigned i = 0; ret == 0 && i < device_nkinds; i++) {
		const struct device_option *opt = device_kinds[i].option;
		/* Each option once: at its first row. */
		bool first = opt != NULL;
		for (unsigned j = 0; first && j < i; j++)
			first = device_kinds[j].option != opt;
		for (unsigned n = 0; first && ret == 0 && n < opt->count(m->cfg); n++) {
			const void *entry = opt->entry(m->cfg, n);
			const struct device_kind *k = NULL;
			for (unsigned j = i; !k && j < device_nkinds; j++)
				if (device_kinds[j].option == opt &&
				    (!device_kinds[j].wants || device_kinds[j].wants(entry)))
					k = &device_kinds[j];
			ret = k ? add_device(m, k, entry, per_kind) : -EINVAL;
		}
	}
	return ret;
}

/* Teardown: the host bridge lets go of its slots, every device that needs
 * it stops while the others are whole (a running vhost hands its irqfds
 * back through its transport), then the devices go in reverse order of
 * creation, and the VFIO container after the last passed-through one. */
static void destroy_devices(struct machine *m)
{
	machine_legacy_release(m);
	machine_pci_release(m);
	for (unsigned i = 0; i < m->ndevices; i++) {
		const struct device_kind *k = device_kind_find(m->devices[i]->ops->kind);
		if (k && k->quiesce)
			k->quiesce(m->devices[i]);
	}
	while (m->ndevices)
		device_destroy(m->devices[--m->ndevices]);
	m->serial = NULL;
	m->acpi_pm = NULL;
	machine_pci_destroy(m);
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
	m->counters_fd = -1;
	m->ctl.fd = m->ctl.park_fd = m->ctl.settle_fd = -1; /* machine_stop_async before the VM exists */
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
	machine_migrate_init(m);
	ret = machine_ctl_init(m);
	if (ret < 0) {
		machine_destroy(m);
		return ret;
	}

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
	if (ret == 0) {
		boot_trace_mark(BOOT_PHASE_VM_CREATED);
		ret = create_devices(m);
	}
	if (ret == 0)
		boot_trace_mark(BOOT_PHASE_DEVICES);
	if (ret == 0 && cfg->firmware)
		ret = machine_firmware_setup(m);
	if (ret < 0)
		machine_destroy(m);
	return ret;
}

void machine_destroy(struct machine *m)
{
	/* Devices go first: the RTC takes its timer off the loop. */
	if (m->counters_fd >= 0) {
		if (m->vm.loop)
			loop_del_fd(m->vm.loop, m->counters_fd);
		close(m->counters_fd);
		m->counters_fd = -1;
	}
	destroy_devices(m);
	machine_firmware_release(m);
	term_close(m->term);
	m->term = NULL;
	machine_ctl_destroy(m);
	machine_migrate_destroy(m);
	vm_destroy(&m->vm);
}

void machine_counters(struct machine *m, const struct counter_sink *sink)
{
	for (unsigned i = 0; i < m->ndevices; i++)
		device_counters(m->devices[i], sink);
	vm_stats_emit(&m->vm, sink);
}

static void counters_requested(void *opaque, uint32_t events)
{
	struct machine *m = opaque;
	uint64_t n;
	if (read(m->counters_fd, &n, sizeof(n)) == (ssize_t)sizeof(n) && m->report)
		m->report(m, m->report_opaque);
}

int machine_counters_enable(struct machine *m, machine_report_fn report, void *opaque)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	m->report = report;
	m->report_opaque = opaque;
	int ret = loop_add_fd(m->vm.loop, fd, EPOLLIN, counters_requested, m);
	if (ret < 0) {
		close(fd);
		return ret;
	}
	__atomic_store_n(&m->counters_fd, fd, __ATOMIC_RELEASE);
	return vm_stats_open(&m->vm);
}

void machine_counters_request(struct machine *m)
{
	int fd = __atomic_load_n(&m->counters_fd, __ATOMIC_ACQUIRE);
	uint64_t one = 1;
	/* write() is async-signal-safe; the loop reads the eventfd. */
	if (fd >= 0 && write(fd, &one, sizeof(one)) < 0)
		return;
}

void machine_acpi_config(const struct machine *m, struct acpi_pci *pci,
			 struct acpi_config *acfg)
{
	*pci = (struct acpi_pci){
		.ecam_base = PCI_ECAM_BASE,
		.io_base = PCI_HOST_IO_BASE, .io_size = PCI_HOST_IO_SIZE,
		.mmio32_base = PCI_MMIO32_BASE, .mmio32_size = PCI_MMIO32_SIZE,
		.mmio32_fw_base = PCI_MMIO32_FW_BASE,
		.mmio32_fw_size = PCI_MMIO32_FW_END - PCI_MMIO32_FW_BASE,
		.mmio64_base = machine_mmio64_base(&m->vm.mem), .mmio64_size = PCI_MMIO64_SIZE,
		.intx_gsi_base = PCI_INTX_GSI_BASE, .intx_gsi_count = PCI_INTX_GSI_COUNT,
	};
	*acfg = (struct acpi_config){
		.ncpus = m->cfg->cpus, .pm_base = ACPI_PM_BASE, .sci_irq = MACHINE_IRQ_SCI,
		.no_i8042 = !m->cfg->i8042,
		.pci = m->pci_up ? pci : NULL,
	};
}

static int load_acpi(struct machine *m, uint64_t *rsdp)
{
	struct acpi_pci pci;
	struct acpi_config acfg;
	machine_acpi_config(m, &pci, &acfg);
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
			.decompress_in_guest = cfg->decompress_in_guest,
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

/* The event loop, and the control requests while paused. */
static void *loop_thread(void *opaque)
{
	struct machine *m = opaque;
	sandbox_enter(SANDBOX_LOOP);
	machine_ctl_run(m);
	machine_ctl_loop_ended(m);
	return NULL;
}

/* The loop gets a thread of its own, so that the caller, which sets up and
 * tears down machines, stays outside the loop's filter. */
static int start_loop(struct machine *m, pthread_t *thread)
{
	/* Signals stay with the caller and the vCPUs (kicks). */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = pthread_create(thread, NULL, loop_thread, m);
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
	machine_ctl_start(m);
	for (unsigned i = 0; i < vm->ncpus && vm_exit_reason(vm) == VM_RUNNING; i++) {
		int ret = vcpu_start(&vm->vcpus[i]);
		if (ret < 0) {
			vm_request_exit(vm, VM_EXIT_ERROR, "starting vCPU %u: %s", i, strerror(-ret));
			break;
		}
	}
	if (vm_exit_reason(vm) == VM_RUNNING) {
		pthread_t loop;
		int ret = start_loop(m, &loop);
		if (ret < 0) {
			vm_request_exit(vm, VM_EXIT_ERROR, "starting the event loop: %s",
					strerror(-ret));
		} else {
			machine_ctl_serve_jobs(m); /* until the loop ends */
			pthread_join(loop, NULL);
		}
	}
	machine_ctl_end(m); /* also where the loop never ran */
	/* The loop also stops for signals, before any vCPU asked to exit. */
	vm_request_exit(vm, VM_EXIT_SIGNAL, "stopped by a signal");
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_join(&vm->vcpus[i]);
	return vm_exit_reason(vm);
}

void machine_stop_async(struct machine *m)
{
	machine_ctl_stop_async(m);
}
