#include "arch/x86/kernel_payload.h"

#include <asm/bootparam.h>
#include <bzlib.h>
#include <errno.h>
#include <lz4.h>
#include <lzma.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "core/byteorder.h"
#include "core/log.h"

/* payload_offset and payload_length came with boot protocol 2.08. */
#define PAYLOAD_PROTOCOL 0x0208
/* liblzma's memory for the dictionary: the kernel's xz uses 32 MiB, lzma -9
 * 64 MiB; a header asking for more is refused rather than allocated. */
#define LZMA_MEMLIMIT (256u << 20)
/* lz4 -l (legacy frames): every block decompresses to at most 8 MiB. */
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)

static const char *const TOO_MUCH = "it holds more than the size its last 4 bytes record";
static const char *const TRUNCATED = "it ends early";

/* Each decoder fills out[0, cap) from in[0, len) and returns how many bytes
 * it wrote; if it fails, it sets *why. */
typedef size_t decode_fn(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			 const char **why);

static size_t decode_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			  const char **why)
{
	z_stream s = {.next_in = (Bytef *)in, .avail_in = (uInt)len,
		      .next_out = out, .avail_out = (uInt)cap};
	if (inflateInit2(&s, 16 + MAX_WBITS) != Z_OK) { /* gzip wrapper only */
		*why = "out of memory";
		return 0;
	}
	int ret;
	do
		ret = inflate(&s, Z_FINISH);
	while (ret == Z_OK);
	if (ret == Z_BUF_ERROR)
		*why = s.avail_out ? TRUNCATED : TOO_MUCH;
	else if (ret != Z_STREAM_END)
		*why = s.msg ? s.msg : "corrupt data";
	size_t done = s.total_out;
	inflateEnd(&s);
	return done;
}

static const char *lzma_why(lzma_ret ret, size_t room)
{
	switch (ret) {
	case LZMA_STREAM_END:
		return NULL;
	case LZMA_BUF_ERROR:
		return room ? TRUNCATED : TOO_MUCH;
	case LZMA_MEMLIMIT_ERROR:
		return "its dictionary is over 256 MiB";
	case LZMA_MEM_ERROR:
		return "out of memory";
	case LZMA_FORMAT_ERROR:
		return "bad header";
	case LZMA_OPTIONS_ERROR:
		return "unsupported options";
	default:
		return "corrupt data";
	}
}

/* Runs a liblzma decoder (ret: its init's result) and ends it. */
static size_t lzma_run(lzma_stream *s, lzma_ret ret, const uint8_t *in, size_t len,
		       uint8_t *out, size_t cap, const char **why)
{
	s->next_in = in;
	s->avail_in = len;
	s->next_out = out;
	s->avail_out = cap;
	while (ret == LZMA_OK)
		ret = lzma_code(s, LZMA_FINISH);
	size_t room = s->avail_out;
	lzma_end(s);
	*why = lzma_why(ret, room);
	return cap - room;
}

static size_t decode_xz(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			const char **why)
{
	lzma_stream s = LZMA_STREAM_INIT;
	return lzma_run(&s, lzma_stream_decoder(&s, LZMA_MEMLIMIT, 0), in, len, out, cap, why);
}

static size_t decode_lzma(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			  const char **why)
{
	lzma_stream s = LZMA_STREAM_INIT;
	return lzma_run(&s, lzma_alone_decoder(&s, LZMA_MEMLIMIT), in, len, out, cap, why);
}

static size_t decode_bzip2(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			   const char **why)
{
	unsigned int n = (unsigned int)cap;
	int ret = BZ2_bzBuffToBuffDecompress((char *)out, &n, (char *)in, (unsigned int)len, 0, 0);
	switch (ret) {
	case BZ_OK:
		return n;
	case BZ_OUTBUFF_FULL:
		*why = TOO_MUCH;
		break;
	case BZ_UNEXPECTED_EOF:
		*why = TRUNCATED;
		break;
	case BZ_MEM_ERROR:
		*why = "out of memory";
		break;
	default:
		*why = "corrupt data";
	}
	return 0;
}

/* lz4 -l: the magic, then blocks of [LE32 compressed size][data] up to the
 * end; the magic again starts a new frame (concatenated files). */
static size_t decode_lz4(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			 const char **why)
{
	size_t pos = 0, done = 0;
	while (pos < len) {
		if (len - pos < 4) {
			*why = TRUNCATED;
			break;
		}
		uint32_t block = get_le32(in + pos);
		pos += 4;
		if (block == LZ4_LEGACY_MAGIC)
			continue;
		if (block > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK)) {
			*why = "corrupt data (a block is too large)";
			break;
		}
		if (block > len - pos) {
			*why = TRUNCATED;
			break;
		}
		if (done == cap) {
			*why = TOO_MUCH;
			break;
		}
		size_t room = cap - done < LZ4_LEGACY_BLOCK ? cap - done : LZ4_LEGACY_BLOCK;
		int n = LZ4_decompress_safe((const char *)in + pos, (char *)out + done, (int)block,
					    (int)room);
		if (n < 0) {
			*why = room < LZ4_LEGACY_BLOCK
				? "corrupt data, or more than its last 4 bytes record"
				: "corrupt data";
			break;
		}
		done += (size_t)n;
		pos += block;
	}
	return done;
}

static size_t decode_zstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
			  const char **why)
{
	size_t n = ZSTD_decompress(out, cap, in, len);
	if (!ZSTD_isError(n))
		return n;
	*why = ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall ? TOO_MUCH
								     : ZSTD_getErrorName(n);
	return 0;
}

/* The compressors the kernel's build offers (arch/x86/boot/compressed),
 * told apart by their magic. All but gzip are followed by the size the
 * payload decompresses to; gzip's own trailer ends with it (ISIZE). */
static const struct codec {
	const char *name;
	uint8_t magic[6];
	size_t magic_len;
	bool size_appended;
	decode_fn *decode; /* NULL: left to the guest's decompressor */
} codecs[] = {
	{"gzip", {0x1f, 0x8b}, 2, false, decode_gzip},
	{"xz", {0xfd, '7', 'z', 'X', 'Z', 0}, 6, true, decode_xz},
	{"lzma", {0x5d, 0, 0}, 3, true, decode_lzma},
	{"bzip2", {'B', 'Z', 'h'}, 3, true, decode_bzip2},
	{"lz4", {0x02, 0x21, 0x4c, 0x18}, 4, true, decode_lz4},
	{"zstd", {0x28, 0xb5, 0x2f, 0xfd}, 4, true, decode_zstd},
	{"lzo", {0x89, 'L', 'Z', 'O'}, 4, true, NULL},
};

static const struct codec *find_codec(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < sizeof(codecs) / sizeof(codecs[0]); i++)
		if (len >= codecs[i].magic_len && !memcmp(p, codecs[i].magic, codecs[i].magic_len))
			return &codecs[i];
	return NULL;
}

/* Decodes p[0, len) with c; NULL or why it failed. */
static const char *decompress(const struct codec *c, const uint8_t *p, size_t len,
			      uint8_t **out, size_t *out_size)
{
	if (len < c->magic_len + 4)
		return "it is too short";
	uint32_t size = get_le32(p + len - 4);
	if (size == 0)
		return "its last 4 bytes record a size of 0";
	if (size > KERNEL_PAYLOAD_MAX)
		return "its last 4 bytes record more than 512 MiB";
	uint8_t *buf = malloc(size);
	if (!buf)
		return "out of memory";
	const char *why = NULL;
	size_t done = c->decode(p, c->size_appended ? len - 4 : len, buf, size, &why);
	if (!why && done != size)
		why = "it holds less than the size its last 4 bytes record";
	if (why) {
		free(buf);
		return why;
	}
	*out = buf;
	*out_size = size;
	return NULL;
}

int kernel_payload_decompress(const struct setup_header *hdr, const uint8_t *pm, size_t pm_size,
			      const char *kernel_name, uint8_t **vmlinux, size_t *vmlinux_size)
{
	if (hdr->version < PAYLOAD_PROTOCOL || hdr->payload_length == 0) {
		log_debug("kernel %s: no payload recorded in its header: the guest decompresses it",
			  kernel_name);
		return -ENOTSUP;
	}
	if (hdr->payload_offset > pm_size || hdr->payload_length > pm_size - hdr->payload_offset) {
		log_error("kernel %s: its payload (%u bytes at %u) runs past the end of the file",
			  kernel_name, hdr->payload_length, hdr->payload_offset);
		return -EINVAL;
	}
	const uint8_t *p = pm + hdr->payload_offset;
	size_t len = hdr->payload_length;
	const struct codec *c = find_codec(p, len);
	if (!c || !c->decode) {
		log_debug("kernel %s: %s payload: the guest decompresses it", kernel_name,
			  c ? c->name : "unknown");
		return -ENOTSUP;
	}
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	const char *why = decompress(c, p, len, vmlinux, vmlinux_size);
	if (why) {
		log_error("kernel %s: its %s payload does not decompress: %s", kernel_name, c->name,
			  why);
		return -EINVAL;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	log_debug("kernel %s: %s payload, %zu bytes, decompressed to %zu in %lld ms", kernel_name,
		  c->name, len, *vmlinux_size,
		  (long long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	return 0;
}
