/* iovirt's command line: `iovirt run | probe | sriov | ctl | stat`; nothing
 * else lives here. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api/api_routes.h"
#include "backends/block.h"
#include "backends/term.h"
#include "cmd/commands.h"
#include "cmd/counters_print.h"
#include "cmd/run_api.h"
#include "cmd/run_restore.h"
#include "machine/machine_migrate.h"
#include "machine/machine_snapshot.h"
#include "core/boot_trace.h"
#include "core/exit_codes.h"
#include "core/log.h"
#include "kvm/vcpu.h"
#include "machine/config.h"
#include "machine/device_table.h"
#include "machine/machine.h"
#include "machine/probe.h"
#include "vfio/sriov.h"

/* build/version.h: the release and `git describe` at build time (Makefile). */
#if __has_include("version.h")
#include "version.h"
#endif
#ifndef IOVIRT_VERSION
#define IOVIRT_VERSION "0.1.0 (unknown revision)"
#endif

static struct machine *running;
/* A stop asked for before `running` was set (while the machine is built,
 * the kernel loaded, /dev/kvm probed) must not be lost. */
static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
	if (running)
		machine_stop_async(running);
}

/* SIGUSR1: a --counters report, printed by the event loop (the handler
 * only wakes it). Without --counters it is ignored. */
static void on_report_signal(int sig)
{
	(void)sig;
	if (running)
		machine_counters_request(running);
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = on_report_signal;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	vcpu_init_signals();
}

/* The exit status for why the VM stopped; says why, unless it is a
 * normal end. */
static int exit_status(enum vm_exit_reason reason, const char *detail)
{
	switch (reason) {
	case VM_EXIT_POWEROFF:
	case VM_EXIT_RESET:
	case VM_EXIT_QUIT:
	case VM_EXIT_API_SHUTDOWN:
		log_debug("%s", detail);
		return IOVIRT_EXIT_OK;
	case VM_EXIT_PANIC:
		log_error("%s", detail);
		return IOVIRT_EXIT_GUEST_PANIC;
	case VM_EXIT_CRASH:
		log_error("guest crashed: %s", detail);
		return IOVIRT_EXIT_GUEST_CRASH;
	case VM_EXIT_SIGNAL:  /* the guest did not stop: an error to the caller */
	default:
		log_error("%s", detail);
		return IOVIRT_EXIT_ERROR;
	}
}

/* --counters: every device's counters, then KVM's, one line per device
 * and scope on stderr. */
static void report_counters(struct machine *m, void *opaque)
{
	const bool *kvm_stats = opaque;
	struct counters_print p;
	struct counter_sink sink = counters_print_begin(&p, stderr);
	machine_counters(m, &sink);
	counters_print_end(&p);
	if (!*kvm_stats)
		fputs("counters: kvm: this kernel has no binary statistics "
		      "(KVM_CAP_BINARY_STATS_FD); device counters only\n", stderr);
}

/* A /dev/kvm that interprets ring-0 code boots Linux in hours, not seconds,
 * and a user would see nothing at all: say so once, then go on. */
static void warn_emulated(void)
{
	log_warn("/dev/kvm here cannot run guests at hardware speed (it interprets ring-0 "
		 "code): this guest will run thousands of times slower; run it in the test "
		 "host instead: tools/vmrun build/iovirt run ... (docs/TESTHOST.md)");
}

/* Loads what the machine starts from: the snapshot it resumes (the first
 * boot only: a reboot boots the kernel), or the kernel. */
static int load_machine(struct machine *m, const struct vm_config *cfg,
			const struct snap_manifest *man, bool first)
{
	if (cfg->incoming && first) {
		char why[512];
		int ret = machine_migrate_incoming(m, cfg->incoming, why, sizeof(why));
		if (ret < 0)
			log_error("--incoming %s: %s", cfg->incoming, why);
		return ret;
	}
	if (!man || !first)
		return cfg->firmware ? machine_load_firmware(m) : machine_load_linux(m);
	char why[512];
	int ret = machine_snapshot_restore(m, cfg->restore, man,
					   cfg->restore_map ? SNAP_MEM_MAP : SNAP_MEM_READ, why,
					   sizeof(why));
	if (ret < 0)
		log_error("--restore %s: %s", cfg->restore, why);
	return ret;
}

/* Runs the machine cfg describes, again after each guest reboot with
 * --reboot; its exit status. man: the snapshot to resume, or NULL. */
static int run_machine(const struct vm_config *cfg_in, const struct snap_manifest *man)
{
	struct vm_config cfg = *cfg_in;
	cfg.restore = cfg.restore ? cfg.restore_dir : NULL; /* into this copy */
	install_signals();

	/* A boot times the probe's loop on its own vCPU 0 before loading the
	 * kernel (probe_machine_speed). A restore or a migration's destination
	 * loads vCPU state that must not follow a run, so it probes in a
	 * throwaway machine, made before the real one: the probe's must not
	 * replace the real one's state (its seccomp filters). The verdict is
	 * said only once everything is loaded, so that bad input fails in one
	 * line. */
	bool resumes = cfg.restore || cfg.incoming;
	enum probe_result speed = PROBE_HARDWARE;
	if (resumes) {
		speed = probe_kvm_speed(NULL);
		if (speed == PROBE_NO_KVM)
			return IOVIRT_EXIT_ERROR; /* the probe said why, in one line */
		boot_trace_mark(BOOT_PHASE_KVM_PROBED);
	}
	bool warned = false, first = true;
	/* The source holds the images until it hands them over. */
	blk_defer_locks(cfg.incoming != NULL);
	/* --api-socket: one server for the whole run, started once the first
	 * machine exists (run_api.h says why it outlives a --reboot). */
	struct run_api *api = NULL;
	api_set_version(IOVIRT_VERSION);
	for (;;) {
		int kvm = vm_open_kvm();
		if (kvm < 0) {
			run_api_stop(api);
			return IOVIRT_EXIT_ERROR;
		}
		struct machine m;
		if (machine_create(&m, &cfg, kvm) < 0) {
			run_api_stop(api);
			return IOVIRT_EXIT_ERROR;
		}
		bool kvm_stats = false;
		if (cfg.counters) {
			int err = machine_counters_enable(&m, report_counters, &kvm_stats);
			kvm_stats = err == 0;
			if (err < 0 && err != -ENOTSUP)
				log_warn("--counters: KVM's statistics: %s; device counters only",
					 strerror(-err));
		} else if (cfg.api_socket) {
			/* vm.counters carries KVM's statistics too (iovirt stat's
			 * exits per vCPU); without them, device counters only. */
			vm_stats_open(&m.vm);
		}
		if (cfg.api_socket && !api && !(api = run_api_start(cfg.api_socket, &cfg))) {
			machine_destroy(&m); /* the socket is taken: said in one line */
			return IOVIRT_EXIT_ERROR;
		}
		run_api_attach(api, &m);
		running = &m;
		if (stop_requested) /* after running is set: the handler sees one or the other */
			machine_stop_async(&m);
		if (first && !resumes) {
			speed = probe_machine_speed(&m, NULL);
			boot_trace_mark(BOOT_PHASE_KVM_PROBED);
		}
		int loaded = load_machine(&m, &cfg, man, first);
		first = false;
		if (loaded == 0)
			boot_trace_mark(BOOT_PHASE_KERNEL_LOADED);
		if (loaded < 0) {
			running = NULL;
			run_api_detach(api);
			machine_destroy(&m);
			run_api_stop(api);
			return IOVIRT_EXIT_ERROR;
		}
		if (speed == PROBE_EMULATED && !warned) {
			warn_emulated();
			warned = true;
		}
		enum vm_exit_reason reason = machine_run(&m);
		running = NULL;
		if (cfg.counters)
			report_counters(&m, &kvm_stats);
		char detail[sizeof(m.vm.exit_detail)];
		memcpy(detail, m.vm.exit_detail, sizeof(detail));
		run_api_detach(api);
		machine_destroy(&m);
		if (reason == VM_EXIT_RESET && cfg.reboot) {
			log_info("guest rebooted: restarting the VM");
			continue;
		}
		run_api_stop(api);
		boot_trace_finish();
		return exit_status(reason, detail);
	}
}

static int cmd_run(int argc, char **argv)
{
	struct vm_config cfg;
	int ret = config_parse_run(argc, argv, &cfg);
	boot_trace_mark(BOOT_PHASE_OPTIONS);
	boot_trace_print_on_init(cfg.boot_trace);
	if (ret == CONFIG_HELP) {
		fputc('\n', stdout);
		device_kinds_usage(stdout);
	}
	if (ret)
		return ret == CONFIG_HELP ? IOVIRT_EXIT_OK : ret == IOVIRT_EXIT_USAGE ? IOVIRT_EXIT_USAGE : IOVIRT_EXIT_ERROR;
	cfg.version = IOVIRT_VERSION;
	log_set_verbose(cfg.verbose);
	struct run_restore restore;
	memset(&restore, 0, sizeof(restore));
	if (cfg.restore && (ret = run_restore_config(&cfg, &restore)) != 0) {
		run_restore_free(&restore);
		return ret;
	}
	ret = run_machine(&cfg, cfg.restore ? &restore.man : NULL);
	run_restore_free(&restore);
	return ret;
}

static int cmd_probe(void)
{
	double ms = 0;
	enum probe_result r = probe_kvm_speed(&ms);
	if (r == PROBE_NO_KVM)
		return IOVIRT_EXIT_ERROR;
	printf("%s\n", r == PROBE_HARDWARE ? "hardware" : "emulated");
	log_debug("ring-0 probe loop took %.1f ms", ms);
	return IOVIRT_EXIT_OK;
}

int main(int argc, char **argv)
{
	boot_trace_start();
	if (argc < 2) {
		config_usage(stderr);
		return IOVIRT_EXIT_USAGE;
	}
	const char *cmd = argv[1];
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(cmd, "sriov") == 0)
		return sriov_main(argc - 1, argv + 1);
	if (strcmp(cmd, "extract-vmlinux") == 0)
		return extract_vmlinux_main(argc - 1, argv + 1);
	if (strcmp(cmd, "ctl") == 0)
		return ctl_main(argc - 1, argv + 1, stdout, stderr);
	if (strcmp(cmd, "stat") == 0)
		return stat_main(argc - 1, argv + 1, stdout, stderr);
	if (strcmp(cmd, "probe") == 0) {
		if (argc > 2 && strcmp(argv[2], "--verbose") == 0)
			log_set_verbose(true);
		vcpu_init_signals();
		return cmd_probe();
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		printf("iovirt %s\n", IOVIRT_VERSION);
		return IOVIRT_EXIT_OK;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
		config_usage(stdout);
		return IOVIRT_EXIT_OK;
	}
	log_error("%s: unknown command (try iovirt --help)", cmd);
	return IOVIRT_EXIT_USAGE;
}
