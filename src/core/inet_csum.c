#include "core/inet_csum.h"

uint32_t inet_csum_add(const uint8_t *buf, size_t len, uint32_t sum)
{
	uint64_t s = sum; /* no carry lost however long buf is */
	size_t i;
	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)buf[i] << 8 | buf[i + 1];
	if (i < len)
		s += (uint32_t)buf[i] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

uint16_t inet_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t inet_csum(const uint8_t *buf, size_t len, uint32_t sum)
{
	return inet_csum_fold(inet_csum_add(buf, len, sum));
}
