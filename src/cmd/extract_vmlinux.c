/* iovirt extract-vmlinux BZIMAGE OUT: writes the vmlinux a bzImage holds,
 * decompressed as `iovirt run` does it (src/arch/x86/kernel_payload.c).
 * Booting the vmlinux with --kernel skips the decompression on every boot,
 * the largest part of iovirt's own boot time for an xz kernel. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/x86/boot.h"
#include "cmd/commands.h"
#include "core/exit_codes.h"
#include "core/log.h"

/* Writes data to path through a temporary file renamed over it, so that a
 * failure leaves no half-written kernel behind. 0 or -errno (logged). */
static int write_file(const char *path, const uint8_t *data, size_t size)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
		log_error("%s: path too long", path);
		return -ENAMETOOLONG;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = -errno;
		log_error("%s: cannot create it: %s", path, strerror(errno));
		return err;
	}
	size_t done = 0;
	int err = 0;
	while (done < size && !err) {
		ssize_t n = write(fd, data + done, size - done);
		if (n > 0)
			done += (size_t)n;
		else if (n == 0)
			err = -EIO; /* no progress: do not spin */
		else if (errno != EINTR)
			err = -errno;
	}
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		log_error("%s: cannot write it: %s", path, strerror(-err));
		unlink(tmp);
	}
	return err;
}

int extract_vmlinux_main(int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		puts("usage: iovirt extract-vmlinux BZIMAGE OUT\n"
		     "Writes the vmlinux (ELF) inside BZIMAGE to OUT, decompressed (gzip, xz,\n"
		     "lzma, bzip2, lz4, zstd); iovirt run --kernel OUT then boots it without\n"
		     "decompressing it each time.");
		return IOVIRT_EXIT_OK;
	}
	if (argc != 3) {
		log_error("extract-vmlinux: usage: iovirt extract-vmlinux BZIMAGE OUT");
		return IOVIRT_EXIT_USAGE;
	}
	uint8_t *k, *vmlinux;
	size_t ksize, vsize;
	if (boot_read_file(argv[1], "kernel", &k, &ksize) < 0)
		return IOVIRT_EXIT_ERROR;
	int ret = boot_bzimage_vmlinux(k, ksize, argv[1], &vmlinux, &vsize);
	free(k);
	if (ret < 0)
		return IOVIRT_EXIT_ERROR;
	ret = write_file(argv[2], vmlinux, vsize);
	free(vmlinux);
	return ret < 0 ? IOVIRT_EXIT_ERROR : IOVIRT_EXIT_OK;
}
