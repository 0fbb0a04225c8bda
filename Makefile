# iovirt — see README.md. `make` builds build/iovirt; `make check` runs every
# test tier; `make demo` boots a Debian guest and shows what it sees.

CC      ?= cc
BUILD   ?= build
CFLAGS_COMMON = -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
		 -D_GNU_SOURCE -Isrc -g -pthread -MMD -MP $(PKG_CFLAGS)
CFLAGS  ?= -O2
# liburing (block I/O), libslirp (user-mode networking), libseccomp,
# libmicrohttpd + json-c (the API server), libcurl (its clients), zlib
# (snapshots) and, with liblzma, liblz4, libzstd and libbz2 (no .pc), a
# bzImage's kernel decompressed on the host: Debian's.
PKGS    := liburing slirp libseccomp libmicrohttpd json-c libcurl zlib liblzma liblz4 libzstd
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS   = -pthread $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lbz2

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/cmd/main.c,$(SRCS))
OBJS      := $(SRCS:%.c=$(BUILD)/obj/%.o)

# The test build: every unit test and the smoke tests run under ASan+UBSan.
SAN_FLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/unit/%)
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
SMOKE_BIN := $(BUILD)/smoke/smoke

.PHONY: all check layers unit tools-test smoke guest fresh-clone soak fuzz fuzz-short fuzz-coverage demo bench bench-virtio bench-counters bench-emulated bench-passthrough bench-io-models bench-snapshot bench-migrate bench-firmware cppcheck clean deps
all: $(BUILD)/iovirt

# --version: the release and the commit it was built from (git describe),
# rewritten only when it changes so that main.c is not rebuilt every time.
VERSION  := 0.1.0
REVISION := $(shell git describe --always --dirty 2>/dev/null || echo unknown)
$(BUILD)/version.h: FORCE
	@mkdir -p $(dir $@)
	@echo '#define IOVIRT_VERSION "$(VERSION) (git $(REVISION))"' >$@.tmp
	@cmp -s $@.tmp $@ && rm -f $@.tmp || mv $@.tmp $@
$(BUILD)/obj/src/cmd/main.o: $(BUILD)/version.h
$(BUILD)/obj/src/cmd/main.o: CFLAGS_COMMON += -I$(BUILD)
.PHONY: FORCE

$(BUILD)/iovirt: $(OBJS)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/unit/%: tests/unit/%.c $(UNIT_SUPPORT) $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -Itests/unit -o $@ $(filter %.c %.o,$^) -lcmocka $(LDLIBS)

$(SMOKE_BIN): tests/smoke/smoke.c $(SAN_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $(SAN_FLAGS) -o $@ $(filter %.c %.o,$^) -lcmocka $(LDLIBS)

# Installs the Debian packages the build, the tests and the demo need.
deps:
	tools/install-deps

unit: $(UNIT_BINS)
	tests/run-unit $(UNIT_BINS)

smoke: $(SMOKE_BIN) $(BUILD)/iovirt
	tests/smoke/run $(SMOKE_BIN) $(BUILD)/iovirt

guest: $(BUILD)/iovirt
	tests/guest/run

# The durability soak: 80-faults with IOVIRT_FAULT_TRIALS SIGKILL trials per
# disk model (virtio-blk, NVMe; io_uring and threads alternating), 50 each
# by default, and the plumbing case (console never read, tap deleted).
# Hours in the software-emulated test host; not part of check.
soak: $(BUILD)/iovirt
	IOVIRT_FAULT_TRIALS=$${IOVIRT_FAULT_TRIALS:-50} IOVIRT_FAULT_PLUMBING=1 \
	IOVIRT_TESTHOST_ARGS="--timeout 14400 $${IOVIRT_TESTHOST_ARGS:-}" tests/guest/run 80-faults

# A new user's first steps on what git has: clone HEAD, `make demo` there,
# `make install` into a staging folder.
fresh-clone:
	tests/fresh-clone/run

# The test harness's own logic (the test-host watchdog's hang detectors,
# the guest tier's rerun after a test-host crash).
tools-test:
	python3 -m unittest discover -s tests/tools -p 'test_*.py'

# libFuzzer targets for every parser of guest data (clang).
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-120} tests/fuzz/run

fuzz-short:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-10} tests/fuzz/run

# Line coverage of the parsers each fuzz target reaches from its corpus
# (run `make fuzz` first to grow the corpora).
fuzz-coverage:
	BUILD=$(BUILD) tools/fuzz-coverage

# No include goes up a layer (docs/ARCHITECTURE.md "Layers").
layers:
	tools/check-layers

cppcheck:
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
		--inline-suppr --std=c11 -D__x86_64__ -Isrc src tests/unit tests/smoke

check: deps
	$(MAKE) all
	$(MAKE) layers
	$(MAKE) cppcheck
	$(MAKE) unit
	$(MAKE) tools-test
	$(MAKE) smoke
	$(MAKE) fuzz-short
	$(MAKE) fresh-clone
	$(MAKE) guest

demo: deps $(BUILD)/iovirt
	tools/demo

bench: $(BUILD)/iovirt
	bench/boot
	BENCH_MODELS=virtio,emulated bench/virtio
	bench/passthrough

bench-virtio: $(BUILD)/iovirt
	bench/virtio

# What the always-on counters cost: iovirt beside a build with them
# compiled out (IOVIRT_NO_COUNTERS), in the same runs, against QEMU.
bench-counters: $(BUILD)/iovirt
	$(MAKE) BUILD=$(BUILD)/nocounters CFLAGS="$(CFLAGS) -DIOVIRT_NO_COUNTERS" $(BUILD)/nocounters/iovirt
	BENCH_IOVIRT_VARIANTS="nocnt:@$(BUILD)/nocounters/iovirt" bench/virtio

# Emulated NVMe + e1000 against QEMU's, next to virtio (what emulation costs).
bench-emulated: $(BUILD)/iovirt
	BENCH_MODELS=virtio,emulated bench/virtio

# Direct and shared assignment (VFIO, SR-IOV) against native and QEMU.
bench-passthrough: $(BUILD)/iovirt
	bench/passthrough

# What each I/O model costs per I/O in iovirt's counters (iovirt stat).
bench-io-models: $(BUILD)/iovirt
	BENCH_IOVIRT=$(BUILD)/iovirt bench/io-models

# Snapshot time, restore-to-running time and snapshot size against QEMU's
# migration to a file and -incoming, 512M and 2G guests (not in `make bench`).
bench-snapshot: $(BUILD)/iovirt
	BENCH_IOVIRT=$(BUILD)/iovirt bench/snapshot

# Live migration against QEMU's, 512M guest, idle and dirtying memory: the
# downtime the guest sees, total time, pages and bytes sent (not in `make bench`).
bench-migrate: $(BUILD)/iovirt
	BENCH_IOVIRT=$(BUILD)/iovirt bench/migrate

# Firmware boot against QEMU -M pc, both on SeaBIOS and GRUB (tools/mkbootdisk):
# process start to the guest's init from virtio-blk, NVMe, IDE and the CD-ROM,
# and direct kernel boot beside them (not in `make bench`).
bench-firmware: $(BUILD)/iovirt
	BENCH_IOVIRT=$(BUILD)/iovirt bench/firmware

clean:
	rm -rf $(BUILD)

# make install [PREFIX=/usr/local] [DESTDIR=staging dir]: the binary, the
# man page and the bash completion; make uninstall removes the three.
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
.PHONY: install uninstall
install: $(BUILD)/iovirt
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(BUILD)/iovirt $(DESTDIR)$(BINDIR)/iovirt
	install -m 644 docs/iovirt.1 $(DESTDIR)$(MANDIR)/man1/iovirt.1
	install -m 644 tools/bash-completion/iovirt $(DESTDIR)$(BASHCOMPDIR)/iovirt

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/iovirt $(DESTDIR)$(MANDIR)/man1/iovirt.1 \
		$(DESTDIR)$(BASHCOMPDIR)/iovirt

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)
