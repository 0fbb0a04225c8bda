/* Snapshots of a whole machine; see machine_snapshot.h. */
#include "machine/machine_snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/device.h"
#include "core/log.h"
#include "core/state.h"
#include "kvm/vcpu.h"
#include "kvm/vcpu_state.h"
#include "kvm/vm_state.h"
#include "machine/machine.h"
#include "migrate/snapshot_file.h"

#define SECTION_VERSION 1

static int fail(char *why, size_t why_len, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t why_len, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return err;
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* dir/name into buf; false if it does not fit. */
static bool join(char *buf, size_t cap, const char *dir, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", dir, name);
	return n > 0 && (size_t)n < cap;
}

/* ---- save ---- */

/* One record into the state file: what the callback writes, as a section. */
static void add_section(struct snap_file_writer *sf, const char *kind, const char *id,
			struct state_writer *w)
{
	if (state_writer_finish(w) < 0)
		sf->error = sf->error ? sf->error : w->error;
	else
		snap_file_add(sf, kind, id, SECTION_VERSION, w->buf, w->len);
	state_writer_free(w);
	state_writer_init(w);
}

int machine_state_save(struct machine *m, struct snap_file_writer *sf, char *why,
		       size_t why_len)
{
	struct state_writer w;
	state_writer_init(&w);
	int ret = vm_state_save(&m->vm, &w);
	if (ret < 0) {
		state_writer_free(&w);
		return fail(why, why_len, ret, "saving the VM's interrupt controllers and timer: %s",
			    strerror(-ret));
	}
	add_section(sf, "vm", "vm", &w);
	for (unsigned i = 0; i < m->vm.ncpus; i++) {
		char id[16];
		snprintf(id, sizeof(id), "vcpu%u", i);
		ret = vcpu_state_save(&m->vm.vcpus[i], &w);
		if (ret < 0) {
			state_writer_free(&w);
			return fail(why, why_len, ret, "%s: its state cannot be read: %s", id,
				    strerror(-ret));
		}
		add_section(sf, "vcpu", id, &w);
	}
	for (unsigned i = 0; i < m->ndevices; i++) {
		struct device *dev = m->devices[i];
		ret = device_save(dev, &w);
		/* A device still busy (a backend that hangs) is a failure of
		 * this snapshot, not the VM's state refusing it (-EBUSY, 409). */
		if (ret == -EBUSY)
			ret = -EIO;
		if (ret < 0) {
			state_writer_free(&w);
			return fail(why, why_len, ret,
				    ret == -ENOTSUP
					    ? "%s: a %s cannot be saved (its state is not iovirt's): no "
					      "snapshot taken"
					    : "%s: saving a %s failed: %s",
				    dev->id, dev->ops->kind, strerror(-ret));
		}
		add_section(sf, dev->ops->kind, dev->id, &w);
	}
	state_writer_free(&w);
	if (sf->error)
		return fail(why, why_len, sf->error, "building the state file: %s",
			    strerror(-sf->error));
	return 0;
}

static int write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	const uint8_t *p = data;
	int ret = 0;
	while (ret == 0 && len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EIO;
		p += n > 0 ? n : 0;
		len -= n > 0 ? (size_t)n : 0;
	}
	if (ret == 0 && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* The manifest of this snapshot; its files are named after id, so that a
 * snapshot written into a directory that holds one already never mixes
 * with it (the manifest's rename switches from one set to the other). */
void machine_manifest_fill(struct machine *m, const char *id, struct snap_manifest *man)
{
	const struct vm_config *cfg = m->cfg;
	memset(man, 0, sizeof(*man));
	man->format = SNAP_MANIFEST_FORMAT;
	snprintf(man->iovirt, sizeof(man->iovirt), "%s", cfg->version ? cfg->version : "unknown");
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(man->created, sizeof(man->created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* Relative paths in the options start here (a restore goes there). */
	if (!getcwd(man->cwd, sizeof(man->cwd)))
		man->cwd[0] = 0;
	man->args = (char **)cfg->args;
	man->nargs = cfg->nargs;
	man->vcpus = m->vm.ncpus;
	for (unsigned i = 0; i < m->vm.mem.nr_regions && i < SNAP_MAX_REGIONS; i++) {
		man->mem[i].gpa = m->vm.mem.regions[i].gpa;
		man->mem[i].size = m->vm.mem.regions[i].size;
		snprintf(man->mem[i].file, sizeof(man->mem[i].file), "mem-%s-%u.bin", id, i);
		man->nmem++;
	}
	for (unsigned i = 0; i < m->ndevices && i < SNAP_MAX_DEVICES; i++) {
		snprintf(man->dev[i].id, sizeof(man->dev[i].id), "%s", m->devices[i]->id);
		snprintf(man->dev[i].kind, sizeof(man->dev[i].kind), "%s",
			 m->devices[i]->ops->kind);
		man->ndev++;
	}
	snprintf(man->state_file, sizeof(man->state_file), "state-%s.bin", id);
}

/* A name no earlier snapshot in the directory used. */
static void snapshot_id(char *id, size_t len)
{
	uint64_t r = 0;
	if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		r = ((uint64_t)t.tv_sec << 30) ^ (uint64_t)t.tv_nsec ^ ((uint64_t)getpid() << 48);
	}
	snprintf(id, len, "%016llx", (unsigned long long)r);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* dir's parent, for its fsync once dir is new. */
static void parent_of(const char *dir, char *out, size_t len)
{
	snprintf(out, len, "%s", dir);
	char *slash = strrchr(out, '/');
	while (slash && slash > out && slash[1] == 0) { /* "a/b/" */
		*slash = 0;
		slash = strrchr(out, '/');
	}
	if (!slash)
		snprintf(out, len, ".");
	else if (slash == out)
		out[1] = 0;
	else
		*slash = 0;
}

/* The files of man not in keep (NULL: all of them), unlinked. */
static void remove_set(const char *dir, const struct snap_manifest *man,
		       const struct snap_manifest *keep)
{
	char path[4096];
	for (unsigned i = 0; i <= man->nmem; i++) {
		const char *name = i < man->nmem ? man->mem[i].file : man->state_file;
		bool kept = false;
		for (unsigned k = 0; keep && k <= keep->nmem; k++)
			kept |= strcmp(name, k < keep->nmem ? keep->mem[k].file : keep->state_file) == 0;
		if (name[0] && !kept && join(path, sizeof(path), dir, name))
			unlink(path);
	}
}

/* The RAM and state files, then the manifest under a temporary name,
 * renamed: the moment the snapshot exists. Then the files of the one it
 * replaces go. On failure, everything this call wrote goes. */
static int write_snapshot(struct machine *m, const char *dir, bool dir_is_new,
			  struct snap_file_writer *sf, struct snap_manifest *man, char *why,
			  size_t why_len)
{
	char path[4096], tmp[4096];
	if (!join(tmp, sizeof(tmp), dir, "." SNAPSHOT_MANIFEST ".tmp") ||
	    !join(path, sizeof(path), dir, SNAPSHOT_MANIFEST))
		return fail(why, why_len, -ENAMETOOLONG, "%s: path too long", dir);
	struct snap_manifest old;
	char ignored[256];
	bool had_old = snap_manifest_read(&old, path, ignored, sizeof(ignored)) == 0;

	const struct guest_mem *mem = &m->vm.mem;
	int ret = 0;
	for (unsigned i = 0; ret == 0 && i < man->nmem; i++) {
		const struct guest_mem_region *r = &mem->regions[i];
		/* A memfd is mapped whole at mem->mapping: the region's offset. */
		uint64_t off = (uint64_t)(r->hva - (uint8_t *)mem->mapping);
		char file[4096];
		ret = join(file, sizeof(file), dir, man->mem[i].file)
			      ? snap_mem_save(file, r->hva, r->size, mem->memfd, off,
					      &man->mem[i].data_bytes, why, why_len)
			      : fail(why, why_len, -ENAMETOOLONG, "%s: path too long", dir);
	}
	if (ret == 0) {
		char file[4096];
		if (!join(file, sizeof(file), dir, man->state_file))
			ret = fail(why, why_len, -ENAMETOOLONG, "%s: path too long", dir);
		else if ((ret = write_file(file, sf->buf, sf->len)) < 0)
			fail(why, why_len, ret, "%s: %s", file, strerror(-ret));
	}
	man->state_bytes = sf->len;
	man->state_crc = snap_crc32(sf->buf, sf->len);
	if (ret == 0)
		ret = snap_manifest_write(tmp, man, why, why_len);
	if (ret == 0 && rename(tmp, path) < 0)
		ret = fail(why, why_len, -errno, "%s: %s", path, strerror(errno));
	if (ret < 0) {
		unlink(tmp);
		remove_set(dir, man, had_old ? &old : NULL);
		if (dir_is_new)
			rmdir(dir);
	} else {
		/* Durable before it is reported: the directory's entries, and
		 * a new directory's own entry in its parent. */
		char parent[4096];
		parent_of(dir, parent, sizeof(parent));
		if ((ret = sync_dir(dir)) < 0 || (dir_is_new && (ret = sync_dir(parent)) < 0))
			fail(why, why_len, ret, "%s: fsync: %s", dir, strerror(-ret));
		if (had_old)
			remove_set(dir, &old, man);
	}
	if (had_old)
		snap_manifest_free(&old);
	return ret;
}

int machine_hold_devices(struct machine *m, unsigned *held, char *why, size_t why_len)
{
	int ret = 0;
	for (*held = 0; ret == 0 && *held < m->ndevices; (*held)++)
		if ((ret = device_quiesce(m->devices[*held])) < 0)
			fail(why, why_len, ret, "%s: cannot be stopped: %s", m->devices[*held]->id,
			     strerror(-ret));
	return ret;
}

void machine_release_devices(struct machine *m, unsigned held)
{
	while (held)
		device_unquiesce(m->devices[--held]);
}

int machine_snapshot_save(struct machine *m, const char *dir, char *why, size_t why_len)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (m->vm.mem.nr_regions > SNAP_MAX_REGIONS || m->ndevices > SNAP_MAX_DEVICES)
		return fail(why, why_len, -E2BIG, "this machine has more parts than a snapshot holds");
	/* Every device holds still (the vhost rings come back) until RAM is
	 * written: what runs outside iovirt writes guest RAM too. */
	unsigned held = 0;
	int ret = machine_hold_devices(m, &held, why, why_len);
	struct snap_file_writer sf;
	snap_file_writer_init(&sf);
	if (ret == 0)
		ret = machine_state_save(m, &sf, why, why_len);
	if (ret == 0)
		ret = snap_file_finish(&sf) < 0 ? fail(why, why_len, sf.error, "the state file: %s",
						       strerror(-sf.error))
						  : 0;
	char id[24];
	snapshot_id(id, sizeof(id));
	struct snap_manifest man;
	machine_manifest_fill(m, id, &man);
	/* The directory only once every part has saved: a refused snapshot
	 * leaves nothing behind. */
	struct stat st;
	bool dir_is_new = false;
	if (ret == 0) {
		if (mkdir(dir, 0700) == 0)
			dir_is_new = true;
		else if (errno != EEXIST)
			ret = fail(why, why_len, -errno, "%s: %s", dir, strerror(errno));
	}
	if (ret == 0 && (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)))
		ret = fail(why, why_len, -ENOTDIR, "%s: not a directory", dir);
	if (ret == 0)
		ret = write_snapshot(m, dir, dir_is_new, &sf, &man, why, why_len);
	machine_release_devices(m, held);
	snap_file_writer_free(&sf);
	if (ret < 0)
		return ret; /* the caller says why */
	uint64_t data = 0;
	for (unsigned i = 0; i < man.nmem; i++)
		data += man.mem[i].data_bytes;
	log_info("snapshot %s: %llu MiB of RAM (%.1f MiB not zero), %llu bytes of state, %.0f ms",
		 dir, (unsigned long long)(m->vm.mem.ram_size >> 20), (double)data / (1 << 20),
		 (unsigned long long)man.state_bytes, ms_since(&t0));
	return 0;
}

/* ---- restore ---- */

int machine_manifest_check(struct machine *m, const struct snap_manifest *man, char *why,
			   size_t why_len)
{
	if (man->vcpus != m->vm.ncpus)
		return fail(why, why_len, -EINVAL, "the saved machine has %u vCPUs, this one %u",
			    man->vcpus, m->vm.ncpus);
	if (man->nmem != m->vm.mem.nr_regions)
		return fail(why, why_len, -EINVAL, "the saved machine has %u RAM regions, this one %u",
			    man->nmem, m->vm.mem.nr_regions);
	for (unsigned i = 0; i < man->nmem; i++)
		if (man->mem[i].gpa != m->vm.mem.regions[i].gpa ||
		    man->mem[i].size != m->vm.mem.regions[i].size)
			return fail(why, why_len, -EINVAL,
				    "RAM region %u: the saved machine's is %llu MiB at 0x%llx, "
				    "this one's %llu MiB at 0x%llx", i,
				    (unsigned long long)(man->mem[i].size >> 20),
				    (unsigned long long)man->mem[i].gpa,
				    (unsigned long long)(m->vm.mem.regions[i].size >> 20),
				    (unsigned long long)m->vm.mem.regions[i].gpa);
	if (man->ndev != m->ndevices)
		return fail(why, why_len, -EINVAL, "the saved machine has %u devices, this one %u",
			    man->ndev, m->ndevices);
	for (unsigned i = 0; i < man->ndev; i++)
		if (strcmp(man->dev[i].id, m->devices[i]->id) != 0 ||
		    strcmp(man->dev[i].kind, m->devices[i]->ops->kind) != 0)
			return fail(why, why_len, -EINVAL,
				    "device %u: the saved machine has %s (%s), this one %s (%s)", i,
				    man->dev[i].id, man->dev[i].kind, m->devices[i]->id,
				    m->devices[i]->ops->kind);
	return 0;
}

/* The section of id, of that kind, read by load into what it restores;
 * the record must be consumed whole. */
static int load_section(const struct snap_file *sf, const char *kind, const char *id,
			int (*load)(void *obj, struct state_reader *r), void *obj, char *why,
			size_t why_len)
{
	const struct snap_section *s = snap_file_find(sf, id);
	if (!s)
		return fail(why, why_len, -EINVAL, "the state file has no section for %s", id);
	if (strcmp(s->kind, kind) != 0 || s->version != SECTION_VERSION)
		return fail(why, why_len, -EINVAL,
			    "the state file's section %s is a %s (version %u), expected a %s "
			    "(version %u)",
			    id, s->kind, s->version, kind, SECTION_VERSION);
	struct state_reader r;
	state_reader_init(&r, s->data, s->len, id);
	if (load(obj, &r) < 0 || state_reader_finish(&r) < 0)
		return fail(why, why_len, -EINVAL, "%s", state_error(&r));
	return 0;
}

static int load_vm(void *obj, struct state_reader *r) { return vm_state_load(obj, r); }
static int load_vcpu(void *obj, struct state_reader *r) { return vcpu_state_load(obj, r); }
static int load_device(void *obj, struct state_reader *r) { return device_load(obj, r); }

int machine_snapshot_restore(struct machine *m, const char *dir,
			     const struct snap_manifest *man, enum snap_mem_mode mode, char *why,
			     size_t why_len)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = machine_manifest_check(m, man, why, why_len);
	if (ret < 0)
		return ret;
	char path[4096];
	if (!join(path, sizeof(path), dir, man->state_file))
		return fail(why, why_len, -ENAMETOOLONG, "%s: path too long", dir);
	struct snap_file sf;
	ret = snap_file_read(&sf, path, why, why_len);
	if (ret < 0)
		return ret;
	if (sf.len != man->state_bytes || snap_crc32(sf.buf, sf.len) != man->state_crc)
		ret = fail(why, why_len, -EINVAL,
			   "%s: not the state file the manifest names (size or CRC differ)", path);
	/* RAM is read over fresh memory: holes in the files are left alone,
	 * so nothing may have written guest RAM since machine_create (the
	 * restore runs before any boot loading). A shared memfd is what other
	 * processes map: it gets the data, never a private mapping. */
	if (mode == SNAP_MEM_MAP && m->vm.mem.memfd >= 0) {
		log_info("restore: guest RAM is shared (--shared-memory): reading it in");
		mode = SNAP_MEM_READ;
	}
	for (unsigned i = 0; ret == 0 && i < man->nmem; i++) {
		const struct guest_mem_region *r = &m->vm.mem.regions[i];
		if (!join(path, sizeof(path), dir, man->mem[i].file))
			ret = fail(why, why_len, -ENAMETOOLONG, "%s: path too long", dir);
		else
			ret = snap_mem_load(path, r->hva, r->size, mode, why, why_len);
	}
	double mem_ms = ms_since(&t0);
	if (ret == 0)
		ret = machine_state_load(m, &sf, why, why_len);
	snap_file_free(&sf);
	if (ret < 0)
		return ret;
	log_info("restored %s: RAM %s in %.0f ms, everything in %.0f ms; the guest's clock "
		 "goes on at %.3f s", dir, mode == SNAP_MEM_MAP ? "mapped" : "read", mem_ms,
		 ms_since(&t0), (double)m->vm.paused_clock / 1e9);
	return 0;
}

int machine_state_load(struct machine *m, const struct snap_file *sf, char *why, size_t why_len)
{
	unsigned expected = 1 + m->vm.ncpus + m->ndevices;
	if (sf->count != expected)
		return fail(why, why_len, -EINVAL, "the state has %u sections, this machine needs %u",
			    sf->count, expected);
	int ret = load_section(sf, "vm", "vm", load_vm, &m->vm, why, why_len);
	/* The clock (vm_state.h's policy) before the vCPUs' MSRs: the wall
	 * clock KVM writes for MSR_KVM_WALL_CLOCK_NEW is then the restored
	 * one. No vCPU runs before machine_run. */
	if (ret == 0 && (ret = vm_clock_restore(&m->vm)) < 0)
		fail(why, why_len, ret, "setting the guest's clock (KVM_SET_CLOCK): %s",
		     strerror(-ret));
	for (unsigned i = 0; ret == 0 && i < m->vm.ncpus; i++) {
		char id[16];
		snprintf(id, sizeof(id), "vcpu%u", i);
		ret = load_section(sf, "vcpu", id, load_vcpu, &m->vm.vcpus[i], why, why_len);
	}
	for (unsigned i = 0; ret == 0 && i < m->ndevices; i++)
		ret = load_section(sf, m->devices[i]->ops->kind, m->devices[i]->id, load_device,
				   m->devices[i], why, why_len);
	if (ret == 0)
		vm_state_clock_stopped(&m->vm);
	return ret;
}
