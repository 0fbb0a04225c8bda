/* A vCPU's state for snapshots; see vcpu_state.h. */
#include "kvm/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "core/log.h"
#include "core/state.h"
#include "kvm/vcpu.h"
#include "kvm/vm.h"

#define STATE_VERSION 1
#define MAX_CPUID_ENTRIES 256
#define MAX_MSRS 2048
#define MSR_CHUNK 64

/* KVM_GET_CPUID2/KVM_SET_CPUID2's argument with room for every entry. */
struct cpuid_buf {
	struct kvm_cpuid2 hdr;
	struct kvm_cpuid_entry2 e[MAX_CPUID_ENTRIES];
};
#define MSR_IA32_TSC 0x10
#define MSR_KVM_ASYNC_PF_EN 0x4b564d02

/* KVM_GET_XSAVE2's size where the kernel has it (AMX makes it larger than
 * struct kvm_xsave), else struct kvm_xsave's. */
static size_t xsave_size(struct vcpu *vcpu)
{
	int n = ioctl(vcpu->vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	return n > (int)sizeof(struct kvm_xsave) ? (size_t)n : sizeof(struct kvm_xsave);
}

/* The MSRs KVM saves and restores for a guest (KVM_GET_MSR_INDEX_LIST):
 * a malloc'd list, or NULL. */
static struct kvm_msr_list *msr_index_list(int kvm_fd)
{
	struct kvm_msr_list probe = {.nmsrs = 0};
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG)
		return NULL;
	if (probe.nmsrs == 0 || probe.nmsrs > MAX_MSRS)
		return NULL;
	struct kvm_msr_list *list = malloc(sizeof(*list) + probe.nmsrs * sizeof(uint32_t));
	if (!list)
		return NULL;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		free(list);
		return NULL;
	}
	return list;
}

/* Every listed MSR this vCPU has a value for, into out (room for all of
 * them); the ones KVM will not read for this guest (features its CPUID
 * lacks) are left out. Returns how many, or -errno. */
static int read_msrs(struct vcpu *vcpu, const struct kvm_msr_list *list,
		     struct kvm_msr_entry *out)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[MSR_CHUNK];
	} req;
	unsigned n = 0;
	for (unsigned i = 0; i < list->nmsrs;) {
		unsigned chunk = list->nmsrs - i < MSR_CHUNK ? list->nmsrs - i : MSR_CHUNK;
		memset(&req, 0, sizeof(req));
		req.hdr.nmsrs = chunk;
		for (unsigned k = 0; k < chunk; k++)
			req.e[k].index = list->indices[i + k];
		int got = ioctl(vcpu->fd, KVM_GET_MSRS, &req);
		if (got < 0)
			return -errno;
		memcpy(&out[n], req.e, (size_t)got * sizeof(req.e[0]));
		n += (unsigned)got;
		/* KVM stops at the first MSR it cannot read: skip that one. */
		i += (unsigned)got + ((unsigned)got < chunk ? 1 : 0);
	}
	return (int)n;
}

static int save_msrs(struct vcpu *vcpu, struct state_writer *w)
{
	struct kvm_msr_list *list = msr_index_list(vcpu->vm->kvm_fd);
	if (!list)
		return -ENOTSUP;
	struct kvm_msr_entry *e = calloc(list->nmsrs, sizeof(*e));
	int n = e ? read_msrs(vcpu, list, e) : -ENOMEM;
	if (n >= 0)
		state_put_bytes(w, "msrs", e, (size_t)n * sizeof(*e));
	free(e);
	free(list);
	return n < 0 ? n : 0;
}

/* One ioctl's struct into the record under name. */
static int put_ioctl(struct vcpu *vcpu, struct state_writer *w, const char *name,
		     unsigned long req, void *buf, size_t len)
{
	memset(buf, 0, len);
	if (ioctl(vcpu->fd, req, buf) < 0)
		return -errno;
	state_put_bytes(w, name, buf, len);
	return 0;
}

int vcpu_state_save(struct vcpu *vcpu, struct state_writer *w)
{
	size_t xsize = xsave_size(vcpu);
	union {
		struct kvm_mp_state mp;
		struct kvm_regs regs;
		struct kvm_sregs sregs;
		struct kvm_xcrs xcrs;
		struct kvm_lapic_state lapic;
		struct kvm_fpu fpu;
		struct kvm_debugregs dregs;
		struct kvm_vcpu_events events;
	} u;
	struct cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
	void *xsave = calloc(1, xsize);
	int ret = cpuid && xsave ? 0 : -ENOMEM;
	const char *what = "memory";

	state_begin(w, "vcpu", STATE_VERSION);
	/* MP_STATE first: reading it settles a pending INIT/SIPI. */
	if (ret == 0 && (ret = put_ioctl(vcpu, w, "mp_state", KVM_GET_MP_STATE, &u.mp,
					 sizeof(u.mp))) < 0)
		what = "KVM_GET_MP_STATE";
	if (ret == 0) {
		cpuid->hdr.nent = MAX_CPUID_ENTRIES;
		if (ioctl(vcpu->fd, KVM_GET_CPUID2, cpuid) < 0) {
			ret = -errno;
			what = "KVM_GET_CPUID2";
		} else {
			state_put_bytes(w, "cpuid", cpuid->e, cpuid->hdr.nent * sizeof(cpuid->e[0]));
		}
	}
	struct {
		const char *name;
		const char *ioctl_name;
		unsigned long req;
		void *buf;
		size_t len;
	} parts[] = {
		{"regs", "KVM_GET_REGS", KVM_GET_REGS, &u, sizeof(u.regs)},
		{"sregs", "KVM_GET_SREGS", KVM_GET_SREGS, &u, sizeof(u.sregs)},
		{"xsave", xsize > sizeof(struct kvm_xsave) ? "KVM_GET_XSAVE2" : "KVM_GET_XSAVE",
		 xsize > sizeof(struct kvm_xsave) ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, xsave, xsize},
		{"xcrs", "KVM_GET_XCRS", KVM_GET_XCRS, &u, sizeof(u.xcrs)},
		{"lapic", "KVM_GET_LAPIC", KVM_GET_LAPIC, &u, sizeof(u.lapic)},
		{"fpu", "KVM_GET_FPU", KVM_GET_FPU, &u, sizeof(u.fpu)},
		{"debugregs", "KVM_GET_DEBUGREGS", KVM_GET_DEBUGREGS, &u, sizeof(u.dregs)},
		{"events", "KVM_GET_VCPU_EVENTS", KVM_GET_VCPU_EVENTS, &u, sizeof(u.events)},
	};
	for (unsigned i = 0; ret == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
		if ((ret = put_ioctl(vcpu, w, parts[i].name, parts[i].req, parts[i].buf,
				     parts[i].len)) < 0)
			what = parts[i].ioctl_name;
	if (ret == 0) {
		int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
		state_put_u32(w, "tsc_khz", khz > 0 ? (uint32_t)khz : 0);
		if ((ret = save_msrs(vcpu, w)) < 0)
			what = "KVM_GET_MSRS";
	}
	state_end(w);
	free(cpuid);
	free(xsave);
	if (ret < 0)
		log_error("vcpu%u: saving its state: %s: %s", vcpu->index, what, strerror(-ret));
	return ret;
}

/* ---- load ---- */

/* A field's bytes of exactly len into buf; false (error in r) otherwise. */
static bool get_exact(struct state_reader *r, const char *name, void *buf, size_t len)
{
	return state_get_bytes(r, name, buf, len) == 0;
}

/* Applies one part; a refusal names the field and KVM's reason. */
static int set_ioctl(struct vcpu *vcpu, struct state_reader *r, const char *name,
		     unsigned long req, void *buf)
{
	if (ioctl(vcpu->fd, req, buf) < 0)
		return state_invalid(r, name, "KVM refused it: %s", strerror(errno));
	return 0;
}

/* Which pass sets an MSR: the TSC first (TSC_DEADLINE is relative to
 * it), async page faults' enable last (after MSR_KVM_ASYNC_PF_INT, its
 * vector, as QEMU orders them), the others between. */
static int msr_pass(uint32_t index)
{
	return index == MSR_IA32_TSC ? 0 : index == MSR_KVM_ASYNC_PF_EN ? 2 : 1;
}

static int set_msrs(struct vcpu *vcpu, struct state_reader *r, const struct kvm_msr_entry *e,
		    unsigned n)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[MSR_CHUNK];
	} req;
	for (int pass = 0; pass < 3; pass++) {
		for (unsigned i = 0; i < n;) {
			unsigned k = 0;
			memset(&req, 0, sizeof(req));
			for (; i < n && k < MSR_CHUNK; i++)
				if (msr_pass(e[i].index) == pass)
					req.e[k++] = e[i];
			if (k == 0)
				continue;
			req.hdr.nmsrs = k;
			int set = ioctl(vcpu->fd, KVM_SET_MSRS, &req);
			if (set < 0 || (unsigned)set < k)
				return state_invalid(r, "msrs", "KVM refused MSR 0x%x",
						     req.e[set < 0 ? 0 : set].index);
		}
	}
	return 0;
}

int vcpu_state_load(struct vcpu *vcpu, struct state_reader *r)
{
	size_t xsize = xsave_size(vcpu);
	struct kvm_mp_state mp;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	struct kvm_xcrs xcrs;
	struct kvm_lapic_state lapic;
	struct kvm_fpu fpu;
	struct kvm_debugregs dregs;
	struct kvm_vcpu_events events;
	uint32_t tsc_khz;
	struct cpuid_buf *cpuid = calloc(1, sizeof(*cpuid));
	struct kvm_msr_entry *msrs = calloc(MAX_MSRS, sizeof(*msrs));
	void *xsave = calloc(1, xsize);
	size_t cpuid_len = 0, msrs_len = 0;
	if (!cpuid || !msrs || !xsave) {
		free(cpuid);
		free(msrs);
		free(xsave);
		return state_invalid(r, "vcpu", "out of memory");
	}

	/* Everything is read and checked before KVM sees any of it. */
	state_enter(r, "vcpu", STATE_VERSION, NULL);
	get_exact(r, "mp_state", &mp, sizeof(mp));
	state_get_bytes_max(r, "cpuid", cpuid->e, sizeof(cpuid->e), &cpuid_len);
	get_exact(r, "regs", &regs, sizeof(regs));
	get_exact(r, "sregs", &sregs, sizeof(sregs));
	get_exact(r, "xsave", xsave, xsize);
	get_exact(r, "xcrs", &xcrs, sizeof(xcrs));
	get_exact(r, "lapic", &lapic, sizeof(lapic));
	get_exact(r, "fpu", &fpu, sizeof(fpu));
	get_exact(r, "debugregs", &dregs, sizeof(dregs));
	get_exact(r, "events", &events, sizeof(events));
	state_get_u32(r, "tsc_khz", &tsc_khz);
	state_get_bytes_max(r, "msrs", msrs, MAX_MSRS * sizeof(*msrs), &msrs_len);
	if (!state_failed(r) && (cpuid_len == 0 || cpuid_len % sizeof(cpuid->e[0])))
		state_invalid(r, "cpuid", "%zu bytes is not a list of CPUID entries", cpuid_len);
	if (!state_failed(r) && msrs_len % sizeof(*msrs))
		state_invalid(r, "msrs", "%zu bytes is not a list of MSRs", msrs_len);
	state_leave(r);

	if (!state_failed(r)) {
		cpuid->hdr.nent = (uint32_t)(cpuid_len / sizeof(cpuid->e[0]));
		/* Pending NMIs and the SIPI vector are restored too. */
		events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
		int khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
		if (set_ioctl(vcpu, r, "cpuid", KVM_SET_CPUID2, cpuid) == 0 &&
		    set_ioctl(vcpu, r, "mp_state", KVM_SET_MP_STATE, &mp) == 0 &&
		    set_ioctl(vcpu, r, "regs", KVM_SET_REGS, &regs) == 0 &&
		    set_ioctl(vcpu, r, "sregs", KVM_SET_SREGS, &sregs) == 0 &&
		    set_ioctl(vcpu, r, "xsave", KVM_SET_XSAVE, xsave) == 0 &&
		    set_ioctl(vcpu, r, "xcrs", KVM_SET_XCRS, &xcrs) == 0 &&
		    set_ioctl(vcpu, r, "lapic", KVM_SET_LAPIC, &lapic) == 0 &&
		    set_ioctl(vcpu, r, "fpu", KVM_SET_FPU, &fpu) == 0 &&
		    set_ioctl(vcpu, r, "debugregs", KVM_SET_DEBUGREGS, &dregs) == 0) {
			/* A host with another TSC rate: the guest keeps its own
			 * where KVM can scale, else it is told in one line. */
			if (tsc_khz && khz > 0 && (uint32_t)khz != tsc_khz &&
			    ioctl(vcpu->fd, KVM_SET_TSC_KHZ, (unsigned long)tsc_khz) < 0)
				log_warn("vcpu%u: the TSC ran at %u kHz, this host's at %d kHz and "
					 "KVM cannot scale it: the guest's TSC clock will drift",
					 vcpu->index, tsc_khz, khz);
			if (set_msrs(vcpu, r, msrs, (unsigned)(msrs_len / sizeof(*msrs))) == 0)
				set_ioctl(vcpu, r, "events", KVM_SET_VCPU_EVENTS, &events);
		}
	}
	free(cpuid);
	free(msrs);
	free(xsave);
	return state_failed(r) ? -EINVAL : 0;
}
