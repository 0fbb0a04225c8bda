/* Field checks the legacy PC devices' loaders share (serial, i8042, rtc,
 * acpi_pm, pvpanic): a register read from a state record whose reserved
 * bits must be clear, or a byte that must be one of a few values. Like the
 * core/state.h getters they are sticky (nothing happens after the first
 * error), zero the output on failure and name the field in the error. */
#ifndef IOVIRT_DEVICES_LEGACY_STATE_H
#define IOVIRT_DEVICES_LEGACY_STATE_H

#include <stddef.h>
#include <stdint.h>

struct state_reader;

/* A u8 / u16 register: bits outside `valid` are reserved and refused. */
int legacy_get_reg8(struct state_reader *r, const char *name, uint8_t *v, uint8_t valid);
int legacy_get_reg16(struct state_reader *r, const char *name, uint16_t *v, uint16_t valid);

/* A u8 that must be one of the n values in `allowed`. */
int legacy_get_u8_in(struct state_reader *r, const char *name, uint8_t *v,
		     const uint8_t *allowed, size_t n);

#endif
