/* Field checks for the legacy devices' loaders: see legacy_state.h. */
#include "devices/legacy_state.h"

#include <errno.h>

#include "core/state.h"

int legacy_get_reg8(struct state_reader *r, const char *name, uint8_t *v, uint8_t valid)
{
	if (state_get_u8(r, name, v) < 0)
		return -EINVAL;
	if (*v & (uint8_t)~valid) {
		unsigned bad = *v;
		*v = 0;
		return state_invalid(r, name, "0x%02x sets reserved bits 0x%02x", bad,
				     bad & (uint8_t)~valid);
	}
	return 0;
}

int legacy_get_reg16(struct state_reader *r, const char *name, uint16_t *v, uint16_t valid)
{
	if (state_get_u16(r, name, v) < 0)
		return -EINVAL;
	if (*v & (uint16_t)~valid) {
		unsigned bad = *v;
		*v = 0;
		return state_invalid(r, name, "0x%04x sets reserved bits 0x%04x", bad,
				     bad & (uint16_t)~valid);
	}
	return 0;
}

int legacy_get_u8_in(struct state_reader *r, const char *name, uint8_t *v,
		     const uint8_t *allowed, size_t n)
{
	if (state_get_u8(r, name, v) < 0)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (*v == allowed[i])
			return 0;
	unsigned bad = *v;
	*v = 0;
	return state_invalid(r, name, "0x%02x is not a value this device takes", bad);
}
