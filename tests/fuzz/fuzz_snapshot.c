// fuzz-sources: src/migrate/snapshot_file.c src/migrate/snapshot_manifest.c -ljson-c -lz
/* A snapshot's files as hostile input (src/migrate/snapshot_file.c,
 * snapshot_manifest.c): the first byte picks the reader (even: the state
 * file, odd: manifest.json), the rest is the file.
 *
 * Checked invariants: no crash, leak or UB; a refusal says why and leaves
 * nothing (no sections, no options); an accepted state file has sections
 * inside the input with names and unique ids, each found by its id, and
 * written again section by section it is the input byte for byte (the
 * format has one encoding); an accepted manifest has plain file names and
 * its caps kept, and written and read again it is the same manifest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/snapshot_file.h"
#include "migrate/snapshot_manifest.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static struct snap_file f;

static void state_file(const uint8_t *data, size_t size)
{
	char why[200] = "";
	if (snap_file_parse(&f, data, size, why, sizeof(why)) < 0) {
		CHECK(why[0] != 0);
		CHECK(f.count == 0);
		return;
	}
	CHECK(f.count <= SNAP_MAX_SECTIONS);
	struct snap_file_writer w;
	snap_file_writer_init(&w);
	for (unsigned i = 0; i < f.count; i++) {
		const struct snap_section *s = &f.sections[i];
		CHECK(memchr(s->kind, 0, sizeof(s->kind)) && memchr(s->id, 0, sizeof(s->id)));
		CHECK(s->data >= data && s->len <= size && s->data + s->len <= data + size);
		CHECK(snap_file_find(&f, s->id) == s);
		snap_file_add(&w, s->kind, s->id, s->version, s->data, s->len);
	}
	CHECK(snap_file_finish(&w) == 0);
	CHECK(w.len == size && memcmp(w.buf, data, size) == 0);
	snap_file_writer_free(&w);
}

static void file_name_ok(const char *name, size_t cap)
{
	CHECK(memchr(name, 0, cap));
	CHECK(name[0] && name[0] != '.' && !strchr(name, '/'));
}

static char manifest_path[64];

static void same_manifest(const struct snap_manifest *a, const struct snap_manifest *b)
{
	CHECK(a->format == b->format && a->nargs == b->nargs && a->nmem == b->nmem &&
	      a->vcpus == b->vcpus && a->ndev == b->ndev && a->state_bytes == b->state_bytes &&
	      a->state_crc == b->state_crc);
	CHECK(!strcmp(a->iovirt, b->iovirt) && !strcmp(a->created, b->created) &&
	      !strcmp(a->state_file, b->state_file));
	for (unsigned i = 0; i < a->nargs; i++)
		CHECK(!strcmp(a->args[i], b->args[i]));
	for (unsigned i = 0; i < a->nmem; i++)
		CHECK(a->mem[i].gpa == b->mem[i].gpa && a->mem[i].size == b->mem[i].size &&
		      a->mem[i].data_bytes == b->mem[i].data_bytes &&
		      !strcmp(a->mem[i].file, b->mem[i].file));
	for (unsigned i = 0; i < a->ndev; i++)
		CHECK(!strcmp(a->dev[i].id, b->dev[i].id) && !strcmp(a->dev[i].kind, b->dev[i].kind));
}

static void manifest(const uint8_t *data, size_t size)
{
	static struct snap_manifest m, again;
	char why[200] = "";
	if (snap_manifest_parse(&m, (const char *)data, size, why, sizeof(why)) < 0) {
		CHECK(why[0] != 0);
		CHECK(m.args == NULL && m.nargs == 0);
		return;
	}
	CHECK(m.format == SNAP_MANIFEST_FORMAT);
	CHECK(m.nargs <= SNAP_MAX_ARGS && m.nmem >= 1 && m.nmem <= SNAP_MAX_REGIONS &&
	      m.ndev <= SNAP_MAX_DEVICES);
	CHECK(m.args[m.nargs] == NULL);
	for (unsigned i = 0; i < m.nmem; i++)
		file_name_ok(m.mem[i].file, sizeof(m.mem[i].file));
	file_name_ok(m.state_file, sizeof(m.state_file));

	/* Written (to tmpfs where there is one: no disk sync per input) and
	 * read again: the same manifest. */
	if (!manifest_path[0]) {
		const char *d = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
		snprintf(manifest_path, sizeof(manifest_path), "%s/fuzz_snapshot-%d.json", d,
			 (int)getpid());
	}
	CHECK(snap_manifest_write(manifest_path, &m, why, sizeof(why)) == 0);
	CHECK(snap_manifest_read(&again, manifest_path, why, sizeof(why)) == 0);
	same_manifest(&m, &again);
	snap_manifest_free(&again);
	snap_manifest_free(&m);
	unlink(manifest_path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	/* A copy of exactly the file's bytes, so that ASan sees any read past
	 * its end. */
	size_t len = size - 1;
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, len);
	if (data[0] & 1)
		manifest(copy, len);
	else
		state_file(copy, len);
	free(copy);
	return 0;
}
