/* The PC's fixed devices: see machine_legacy.h. */
#include "machine/machine_legacy.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "arch/x86/acpi.h"
#include "arch/x86/acpi_pm_regs.h"
#include "backends/term.h"
#include "bus/irq.h"
#include "core/log.h"
#include "arch/x86/firmware.h"
#include "devices/acpi_pm.h"
#include "devices/debug_port.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/pvpanic.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "machine/machine.h"

/* ISA interrupt lines of the PC (and of the MADT/DSDT we describe). */
#define IRQ_KBD    1
#define IRQ_COM1   4
#define IRQ_RTC    8
#define IRQ_MOUSE 12

#define PORT_COM1    0x3f8
#define PORT_PVPANIC 0x505

/* The fixed devices' port claims, in one table so the PC's port map reads
 * in one place. */
static const struct port_claim {
	const char *name;
	uint16_t base, len;
	const struct iobus_ops *ops;
} ports[] = {
	{"i8042 data", 0x60, 1, &i8042_data_ops},
	{"i8042 command", 0x64, 1, &i8042_command_ops},
	{"CMOS RTC", 0x70, 2, &rtc_ops},
	{"COM1", PORT_COM1, 8, &serial_ops},
	{"pvpanic", PORT_PVPANIC, 1, &pvpanic_ops},
	{"debug port", DEBUG_PORT, 1, &debug_port_ops},
	{"ACPI PM", ACPI_PM_BASE, ACPI_PM_LEN, &acpi_pm_ops},
	/* Firmware boot only (--firmware). */
	{"fw_cfg", FW_CFG_PORT, FW_CFG_PORT_LEN, &fw_cfg_ops},
	{"firmware debug console", DEBUGCON_PORT, 1, &debugcon_ops},
};

/* Claims every port of the table with ops for model; 0 or -errno. */
static int claim_ports(struct machine *m, const struct iobus_ops *ops, void *model)
{
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++) {
		const struct port_claim *p = &ports[i];
		if (p->ops != ops)
			continue;
		int ret = iobus_register(m->vm.pio, p->base, p->len, p->ops, model);
		if (ret < 0) {
			log_error("%s: cannot claim ports 0x%x+%u: %s", p->name, p->base, p->len,
				  strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void machine_legacy_release(struct machine *m)
{
	if (!m->vm.pio)
		return;
	for (size_t i = 0; i < sizeof(ports) / sizeof(ports[0]); i++)
		iobus_unregister(m->vm.pio, ports[i].base);
}

/* A created model with its ports claimed; *out is set either way. */
static int finish(const struct device_env *env, struct device *dev,
		  const struct iobus_ops *const *ops, unsigned nops, void *model,
		  struct device **out)
{
	if (!dev) {
		log_error("%s: cannot create it (out of memory)", env->id);
		return -ENOMEM;
	}
	*out = dev; /* a fixed device keeps its model's name: "serial0", "rtc" */
	for (unsigned i = 0; i < nops; i++) {
		int ret = claim_ports(env->m, ops[i], model);
		if (ret < 0)
			return ret;
	}
	return 0;
}

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
	return m->serial ? serial_receive(m->serial, buf, len) : 0;
}

static void term_quit_cb(void *opaque)
{
	struct machine *m = opaque;
	vm_request_exit(&m->vm, VM_EXIT_QUIT, "quit from the console (Ctrl-A x)");
}

int machine_open_console(struct machine *m)
{
	m->term = term_open(m->cfg->console_in_fd, m->cfg->console_out_fd, m->vm.loop,
			    term_deliver_cb, term_quit_cb, m);
	if (!m->term) {
		log_error("cannot set up the terminal for the console");
		return -ENOMEM;
	}
	return 0;
}

int machine_create_serial(const struct device_env *env, struct device **dev)
{
	struct machine *m = env->m;
	struct serial *s = serial_create(irq_line_kvm(&m->vm.vm_fd, IRQ_COM1), serial_out_cb,
					 serial_drained_cb, m);
	static const struct iobus_ops *const ops[] = {&serial_ops};
	m->serial = s;
	return finish(env, s ? serial_device(s) : NULL, ops, 1, s, dev);
}

int machine_create_i8042(const struct device_env *env, struct device **dev)
{
	struct machine *m = env->m;
	struct power_ctl power = {.request = power_cb, .opaque = m};
	struct i8042 *k = i8042_create(irq_line_kvm(&m->vm.vm_fd, IRQ_KBD),
				       irq_line_kvm(&m->vm.vm_fd, IRQ_MOUSE), power);
	static const struct iobus_ops *const ops[] = {&i8042_data_ops, &i8042_command_ops};
	return finish(env, k ? i8042_device(k) : NULL, ops, 2, k, dev);
}

static void set_cmos(void *opaque, uint8_t index, uint8_t value)
{
	rtc_set_cmos(opaque, index, value);
}

int machine_create_rtc(const struct device_env *env, struct device **dev)
{
	struct machine *m = env->m;
	struct rtc *r = rtc_create(irq_line_kvm(&m->vm.vm_fd, IRQ_RTC), NULL, m->vm.loop);
	/* What the CMOS NVRAM says about memory and CPUs, as PC firmware
	 * leaves it (and SeaBIOS reads it). */
	if (r)
		firmware_cmos(&m->vm.mem, m->cfg->cpus, set_cmos, r);
	m->rtc = r;
	static const struct iobus_ops *const ops[] = {&rtc_ops};
	return finish(env, r ? rtc_device(r) : NULL, ops, 1, r, dev);
}

int machine_create_acpi_pm(const struct device_env *env, struct device **dev)
{
	struct power_ctl power = {.request = power_cb, .opaque = env->m};
	struct acpi_pm *pm = acpi_pm_create(power);
	if (pm)
		acpi_pm_set_sci(pm, irq_line_kvm(&env->m->vm.vm_fd, MACHINE_IRQ_SCI));
	env->m->acpi_pm = pm; /* the power button's (vm.power-button) */
	static const struct iobus_ops *const ops[] = {&acpi_pm_ops};
	return finish(env, pm ? acpi_pm_device(pm) : NULL, ops, 1, pm, dev);
}

int machine_create_pvpanic(const struct device_env *env, struct device **dev)
{
	struct pvpanic *p = pvpanic_create(panic_cb, env->m);
	static const struct iobus_ops *const ops[] = {&pvpanic_ops};
	return finish(env, p ? pvpanic_device(p) : NULL, ops, 1, p, dev);
}

int machine_create_fw_cfg(const struct device_env *env, struct device **dev)
{
	struct fw_cfg *c = fw_cfg_create(&env->m->vm.mem);
	env->m->fw_cfg = c; /* filled by machine_firmware_setup */
	static const struct iobus_ops *const ops[] = {&fw_cfg_ops};
	return finish(env, c ? fw_cfg_device(c) : NULL, ops, 1, c, dev);
}

/* SeaBIOS's log: shown with --verbose; it says there, and on a screen
 * nobody reads, that nothing booted, and would then retry for ever. Only
 * the firmware's word counts: once it jumped to a boot sector ("Booting
 * from SEG:OFF"), whatever writes the port is the guest's. */
static bool is_boot_jump(const char *line)
{
	static const char prefix[] = "Booting from ";
	const size_t n = sizeof(prefix) - 1;
	if (strncmp(line, prefix, n) != 0 || strlen(line) < n + 9 || line[n + 4] != ':')
		return false;
	for (size_t i = n; i < n + 9; i++)
		if (i != n + 4 && !isxdigit((unsigned char)line[i]))
			return false;
	return true;
}

static void firmware_line(void *opaque, const char *line)
{
	struct machine *m = opaque;
	log_debug("firmware: %s", line);
	if (is_boot_jump(line))
		__atomic_store_n(&m->firmware.handed_over, true, __ATOMIC_RELEASE);
	else if (!strncmp(line, "No bootable device", 18) &&
		 !__atomic_load_n(&m->firmware.handed_over, __ATOMIC_ACQUIRE))
		vm_request_exit(&m->vm, VM_EXIT_ERROR,
				"firmware: no bootable device (no boot loader on any disk or "
				"CD-ROM it tried)");
}

int machine_create_debug_port(const struct device_env *env, struct device **dev)
{
	struct debug_port *d = debug_port_create();
	static const struct iobus_ops *const ops[] = {&debug_port_ops};
	return finish(env, d ? debug_port_device(d) : NULL, ops, 1, d, dev);
}

int machine_create_debugcon(const struct device_env *env, struct device **dev)
{
	struct debugcon *d = debugcon_create(firmware_line, env->m);
	static const struct iobus_ops *const ops[] = {&debugcon_ops};
	return finish(env, d ? debugcon_device(d) : NULL, ops, 1, d, dev);
}
