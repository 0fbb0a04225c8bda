/* MC146818 CMOS real-time clock and NVRAM (Motorola MC146818A datasheet), at
 * ports 0x70 (index) and 0x71 (data), IRQ 8.
 *
 * The time the guest sees is the host wall clock (UTC) plus an offset that
 * changes when the guest sets the time. Interrupt flags are computed lazily
 * from the clock whenever the guest looks and whenever rtc_tick() runs;
 * with a loop, a timerfd calls rtc_tick() at the next enabled event.
 *
 * Threads: the iobus ops run on vCPU threads, rtc_tick on the loop thread;
 * everything is under the device's mutex. The IRQ line is driven with the
 * lock held (irq_line_set only talks to KVM). */
#ifndef IOVIRT_DEVICES_RTC_H
#define IOVIRT_DEVICES_RTC_H

#include <stdint.h>

#include "bus/iobus.h"
#include "bus/irq.h"
#include "core/device.h"

struct loop;

/* Wall clock, ns since the epoch. */
struct rtc_clock {
	int64_t (*now_ns)(void *opaque);
	void *opaque;
};

struct rtc;

/* clock NULL = CLOCK_REALTIME; loop NULL = no timer (the owner calls
 * rtc_tick). Returns NULL on failure. */
struct rtc *rtc_create(struct irq_line irq, const struct rtc_clock *clock, struct loop *loop);
/* Call after the loop has stopped running (it removes its fd from it). */
void rtc_destroy(struct rtc *r);

/* Its device contract (core/device.h): kind "rtc", id "rtc". Counters:
 * exits (port accesses), interrupts (rising edges of IRQ 8: periodic,
 * alarm and update-ended). Reset is the chip's RESET pin: the time and the
 * NVRAM stay. */
struct device *rtc_device(struct rtc *r);

/* opaque = struct rtc *; base 0x70, len 2. */
extern const struct iobus_ops rtc_ops;

/* Processes due periodic/alarm/update events now. */
void rtc_tick(struct rtc *r);

/* NVRAM bytes 0x0E-0x7F (memory size, shutdown status, ...); the clock
 * registers 0x00-0x0D and the century byte 0x32 are not settable here. */
void rtc_set_cmos(struct rtc *r, uint8_t index, uint8_t value);

#endif
