/* MC146818A real-time clock. Register names and bits follow the Motorola
 * MC146818A datasheet ("Address map", "Registers A-D", "Interrupts"). The
 * time registers are not stored: they are computed from host wall clock +
 * offset on every read; while SET is on they are frozen copies the guest
 * can write, and clearing SET turns them into a new offset. */
#include "devices/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/loop.h"
#include "core/state.h"
#include "devices/legacy_state.h"

/* Address map. */
#define REG_SEC 0x00
#define REG_SEC_ALARM 0x01
#define REG_MIN 0x02
#define REG_MIN_ALARM 0x03
#define REG_HOUR 0x04
#define REG_HOUR_ALARM 0x05
#define REG_WDAY 0x06
#define REG_MDAY 0x07
#define REG_MONTH 0x08
#define REG_YEAR 0x09
#define REG_A 0x0a
#define REG_B 0x0b
#define REG_C 0x0c
#define REG_D 0x0d
#define REG_NVRAM 0x0e
#define REG_CENTURY 0x32 /* PC convention (ACPI FADT CENTURY) */
#define CMOS_SIZE 128

/* Register A. */
#define A_UIP 0x80
#define A_DV_MASK 0x70
#define A_DV_32K 0x20      /* DV2-0 = 010: 32.768 kHz time base */
#define A_DV_RESET 0x60    /* DV2-0 = 11x: divider chain held in reset */
#define A_RS_MASK 0x0f

/* Register B; PIE/AIE/UIE share their bit positions with PF/AF/UF in C. */
#define B_SET 0x80
#define B_PIE 0x40
#define B_AIE 0x20
#define B_UIE 0x10
#define B_SQWE 0x08
#define B_DM_BINARY 0x04
#define B_24H 0x02

/* Register C. */
#define C_IRQF 0x80
#define C_PF 0x40
#define C_AF 0x20
#define C_UF 0x10
#define C_FLAGS (C_PF | C_AF | C_UF)

#define D_VRT 0x80

#define NS 1000000000LL
#define UIP_NS 244000LL /* UIP rises 244 us before the update (register A) */
/* Latest guest time kept (year 2255): keeps guest ns inside int64. */
#define RTC_MAX_SEC 9000000000LL
#define TICK_HZ 32768

/* Frozen time registers: 0x00-0x09 by index, plus the century byte. */
#define T_CENTURY 10
#define T_COUNT 11

struct rtc {
	struct device dev;
	pthread_mutex_t lock;
	struct irq_line irq;
	struct rtc_clock clock;
	struct loop *loop;
	int tfd;
	int64_t armed_ns; /* host time the timer is set for, INT64_MAX when off */

	uint8_t index;
	uint8_t reg_a, reg_b, reg_c;
	uint8_t cmos[CMOS_SIZE];   /* alarm bytes and NVRAM */
	uint8_t frozen[T_COUNT];   /* time registers while SET */
	int64_t offset_ns;         /* guest wall time - host wall time */
	int64_t last_ns;           /* host time up to which flags were computed */
	bool irq_level;
};

static int64_t host_now(const struct rtc *r)
{
	int64_t t;
	if (r->clock.now_ns) {
		t = r->clock.now_ns(r->clock.opaque);
	} else {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		t = (int64_t)ts.tv_sec * NS + ts.tv_nsec;
	}
	return t < 0 ? 0 : t;
}

/* Guest wall time in ns, clamped to [0, RTC_MAX_SEC]. */
static int64_t guest_ns(const struct rtc *r, int64_t now)
{
	int64_t g;
	if (__builtin_add_overflow(now, r->offset_ns, &g))
		g = r->offset_ns > 0 ? INT64_MAX : 0;
	if (g < 0)
		g = 0;
	if (g > RTC_MAX_SEC * NS)
		g = RTC_MAX_SEC * NS;
	return g;
}

static bool divider_running(const struct rtc *r)
{
	return (r->reg_a & A_DV_RESET) != A_DV_RESET;
}

static bool updating(const struct rtc *r)
{
	return !(r->reg_b & B_SET) && divider_running(r);
}

/* Data mode (register B DM): BCD or binary. */
static uint8_t enc(const struct rtc *r, unsigned v)
{
	if (r->reg_b & B_DM_BINARY)
		return (uint8_t)v;
	v %= 100;
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static unsigned dec(const struct rtc *r, uint8_t v)
{
	if (r->reg_b & B_DM_BINARY)
		return v;
	return (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

/* Hours: 0-23, or 1-12 with bit 7 = PM in 12-hour mode (register B 24/12). */
static uint8_t enc_hour(const struct rtc *r, unsigned h)
{
	if (r->reg_b & B_24H)
		return enc(r, h);
	unsigned h12 = h % 12 ? h % 12 : 12;
	return (uint8_t)(enc(r, h12) | (h >= 12 ? 0x80 : 0));
}

static unsigned dec_hour(const struct rtc *r, uint8_t v)
{
	if (r->reg_b & B_24H)
		return dec(r, v);
	return dec(r, v & 0x7f) % 12 + ((v & 0x80) ? 12 : 0);
}

static void time_to_regs(const struct rtc *r, int64_t sec, uint8_t t[T_COUNT])
{
	time_t tt = (time_t)sec;
	struct tm tm;
	memset(t, 0, T_COUNT);
	if (!gmtime_r(&tt, &tm))
		return;
	t[REG_SEC] = enc(r, (unsigned)tm.tm_sec);
	t[REG_MIN] = enc(r, (unsigned)tm.tm_min);
	t[REG_HOUR] = enc_hour(r, (unsigned)tm.tm_hour);
	t[REG_WDAY] = enc(r, (unsigned)tm.tm_wday + 1); /* Sunday = 1 */
	t[REG_MDAY] = enc(r, (unsigned)tm.tm_mday);
	t[REG_MONTH] = enc(r, (unsigned)tm.tm_mon + 1);
	unsigned year = (unsigned)tm.tm_year + 1900;
	t[REG_YEAR] = enc(r, year % 100);
	t[T_CENTURY] = enc(r, year / 100);
}

/* Any byte values (a hostile guest) give some time in [0, RTC_MAX_SEC]. */
static int64_t regs_to_time(const struct rtc *r, const uint8_t t[T_COUNT])
{
	struct tm tm = {
		.tm_sec = (int)dec(r, t[REG_SEC]),
		.tm_min = (int)dec(r, t[REG_MIN]),
		.tm_hour = (int)dec_hour(r, t[REG_HOUR]),
		.tm_mday = (int)dec(r, t[REG_MDAY]),
		.tm_mon = (int)dec(r, t[REG_MONTH]) - 1,
		.tm_year = (int)(dec(r, t[T_CENTURY]) * 100 + dec(r, t[REG_YEAR])) - 1900,
	};
	time_t sec = timegm(&tm);
	if (sec == (time_t)-1 || sec < 0)
		return 0;
	return (int64_t)sec > RTC_MAX_SEC ? RTC_MAX_SEC : (int64_t)sec;
}

/* Alarm bytes match the time bytes as encoded; 11xxxxxx is "don't care". */
static bool alarm_dc(uint8_t v) { return (v & 0xc0) == 0xc0; }

/* The first guest second after `after` whose time matches the alarm, or
 * INT64_MAX if the alarm bytes can never match. Bounded work: every field
 * is first checked to match some value, so the scan below stops within the
 * next day. */
static int64_t alarm_next(const struct rtc *r, int64_t after)
{
	uint8_t as = r->cmos[REG_SEC_ALARM], am = r->cmos[REG_MIN_ALARM];
	uint8_t ah = r->cmos[REG_HOUR_ALARM];
	bool ms[60], mm[60], mh[24], any_s = false, any_m = false, any_h = false;

	for (unsigned i = 0; i < 60; i++) {
		ms[i] = alarm_dc(as) || enc(r, i) == as;
		mm[i] = alarm_dc(am) || enc(r, i) == am;
		any_s |= ms[i];
		any_m |= mm[i];
	}
	for (unsigned i = 0; i < 24; i++) {
		mh[i] = alarm_dc(ah) || enc_hour(r, i) == ah;
		any_h |= mh[i];
	}
	if (!any_s || !any_m || !any_h)
		return INT64_MAX;

	int64_t day = after - after % 86400;
	for (int d = 0; d < 2; d++, day += 86400) {
		for (int h = 0; h < 24; h++) {
			int64_t hb = day + h * 3600;
			if (!mh[h] || hb + 3599 <= after)
				continue;
			for (int m = 0; m < 60; m++) {
				int64_t mb = hb + m * 60;
				if (!mm[m] || mb + 59 <= after)
					continue;
				for (int s = 0; s < 60; s++)
					if (ms[s] && mb + s > after)
						return mb + s;
			}
		}
	}
	return INT64_MAX;
}

/* Periodic rate (register A RS3-0, 32.768 kHz base): period = 2^(rs-1)
 * ticks of 1/32768 s; rates 1 and 2 behave as 8 and 9. 0 = off. */
static unsigned periodic_shift(const struct rtc *r)
{
	unsigned rs = r->reg_a & A_RS_MASK;
	if (rs == 0)
		return 0;
	if (rs <= 2)
		rs += 7;
	return rs - 1;
}

static int64_t ns_to_ticks(int64_t ns)
{
	return (ns / NS) * TICK_HZ + (ns % NS) * TICK_HZ / NS;
}

static int64_t ticks_to_ns_ceil(int64_t ticks)
{
	return (ticks / TICK_HZ) * NS + ((ticks % TICK_HZ) * NS + TICK_HZ - 1) / TICK_HZ;
}

static void update_irq(struct rtc *r)
{
	/* IRQF = PF·PIE + AF·AIE + UF·UIE (register C). */
	bool irqf = (r->reg_c & r->reg_b & C_FLAGS) != 0;
	r->reg_c = (uint8_t)((r->reg_c & C_FLAGS) | (irqf ? C_IRQF : 0));
	if (irqf != r->irq_level) {
		r->irq_level = irqf;
		irq_line_set(&r->irq, irqf);
		if (irqf)
			counter_inc(&r->dev.counters.interrupts);
	}
}

/* Sets the flags for everything that happened in (last_ns, now]. PF, AF
 * and UF are set whether or not their interrupt is enabled. */
static void process(struct rtc *r, int64_t now)
{
	if (now < r->last_ns) { /* host clock stepped back: resynchronize */
		r->last_ns = now;
		return;
	}
	unsigned shift = periodic_shift(r);
	if (shift && divider_running(r) &&
	    (ns_to_ticks(now) >> shift) != (ns_to_ticks(r->last_ns) >> shift))
		r->reg_c |= C_PF;
	if (updating(r)) {
		int64_t s0 = guest_ns(r, r->last_ns) / NS, s1 = guest_ns(r, now) / NS;
		if (s1 > s0) {
			r->reg_c |= C_UF;
			if (alarm_next(r, s0) <= s1)
				r->reg_c |= C_AF;
		}
	}
	r->last_ns = now;
	update_irq(r);
}

/* Host time of the next event that could raise IRQF, or INT64_MAX. Once
 * IRQF is up nothing changes until C is read, so no timer is needed. */
static int64_t next_event(const struct rtc *r, int64_t now)
{
	int64_t next = INT64_MAX;
	if (r->reg_c & C_IRQF)
		return next;
	unsigned shift = periodic_shift(r);
	if ((r->reg_b & B_PIE) && shift && divider_running(r)) {
		int64_t t = ((ns_to_ticks(now) >> shift) + 1) << shift;
		next = ticks_to_ns_ceil(t);
	}
	if (updating(r) && (r->reg_b & (B_UIE | B_AIE))) {
		int64_t g = guest_ns(r, now), sec = g / NS, sub = g % NS;
		if (r->reg_b & B_UIE) {
			int64_t t = now + (NS - sub);
			next = t < next ? t : next;
		}
		if (r->reg_b & B_AIE) {
			int64_t a = alarm_next(r, sec);
			if (a != INT64_MAX) {
				int64_t t = now + (a - sec) * NS - sub;
				next = t < next ? t : next;
			}
		}
	}
	return next;
}

static void arm_timer(struct rtc *r, int64_t now)
{
	if (r->tfd < 0)
		return;
	int64_t next = next_event(r, now);
	if (next == r->armed_ns)
		return;
	r->armed_ns = next;
	struct itimerspec its = {0};
	if (next != INT64_MAX) {
		int64_t delay = next - now;
		if (delay < 1)
			delay = 1;
		its.it_value.tv_sec = (time_t)(delay / NS);
		its.it_value.tv_nsec = (long)(delay % NS);
	}
	if (timerfd_settime(r->tfd, 0, &its, NULL) < 0)
		log_warn("rtc: timerfd_settime: %s", strerror(errno));
}

static bool is_time_reg(unsigned i)
{
	return i == REG_SEC || i == REG_MIN || i == REG_HOUR ||
	       (i >= REG_WDAY && i <= REG_YEAR) || i == REG_CENTURY;
}

static unsigned time_slot(unsigned i)
{
	return i == REG_CENTURY ? T_CENTURY : i;
}

/* Takes guest time `sec` + `sub_ns` as the time now. */
static void set_guest_time(struct rtc *r, int64_t now, int64_t sec, int64_t sub_ns)
{
	r->offset_ns = sec * NS + sub_ns - now;
	r->last_ns = now;
}

static uint8_t reg_read(struct rtc *r, unsigned i, int64_t now)
{
	uint8_t t[T_COUNT], v;

	if (is_time_reg(i)) {
		if (r->reg_b & B_SET)
			return r->frozen[time_slot(i)];
		time_to_regs(r, guest_ns(r, now) / NS, t);
		return t[time_slot(i)];
	}
	switch (i) {
	case REG_A:
		v = r->reg_a;
		if (updating(r) && guest_ns(r, now) % NS >= NS - UIP_NS)
			v |= A_UIP;
		return v;
	case REG_B:
		return r->reg_b;
	case REG_C:
		/* Read-to-clear; the line drops with IRQF. */
		v = r->reg_c;
		r->reg_c = 0;
		update_irq(r);
		return v;
	case REG_D:
		return D_VRT; /* valid RAM and time */
	default:
		return r->cmos[i];
	}
}

static void write_b(struct rtc *r, uint8_t v, int64_t now)
{
	uint8_t old = r->reg_b;
	if (v & B_SET)
		v &= (uint8_t)~B_UIE; /* SET clears UIE (register B) */
	if ((v & B_SET) && !(old & B_SET)) {
		/* Freeze in the mode the guest had when it set SET. */
		time_to_regs(r, guest_ns(r, now) / NS, r->frozen);
	}
	r->reg_b = v;
	if (!(v & B_SET) && (old & B_SET)) {
		/* The update cycle restarts from the written time (register B
		 * SET), read in the mode now in force. */
		set_guest_time(r, now, regs_to_time(r, r->frozen), 0);
	}
	update_irq(r);
}

static void reg_write(struct rtc *r, unsigned i, uint8_t v, int64_t now)
{
	if (is_time_reg(i)) {
		if (r->reg_b & B_SET) {
			r->frozen[time_slot(i)] = v;
			return;
		}
		/* Written while running: takes effect at once, keeping the
		 * fraction of the current second. */
		uint8_t t[T_COUNT];
		int64_t g = guest_ns(r, now);
		time_to_regs(r, g / NS, t);
		t[time_slot(i)] = v;
		set_guest_time(r, now, regs_to_time(r, t), g % NS);
		return;
	}
	switch (i) {
	case REG_A:
		r->reg_a = v & (uint8_t)~A_UIP; /* UIP is read-only */
		break;
	case REG_B:
		write_b(r, v, now);
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->cmos[i] = v;
		break;
	}
}

/* Port 0x70: index (bit 7 = NMI disable, ignored; write-only, reads as
 * all-ones). Port 0x71: data. Each byte of a wider access goes to the next
 * port. */
static void rtc_read(void *opaque, uint64_t offset, uint8_t *data, unsigned len)
{
	struct rtc *r = opaque;
	counter_inc(&r->dev.counters.exits);
	pthread_mutex_lock(&r->lock);
	int64_t now = host_now(r);
	process(r, now);
	for (unsigned i = 0; i < len; i++) {
		uint64_t port = offset < 2 ? offset + i : 2; /* no wrap-around */
		data[i] = port == 1 ? reg_read(r, r->index, now) : 0xff;
	}
	arm_timer(r, now);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_write(void *opaque, uint64_t offset, const uint8_t *data, unsigned len)
{
	struct rtc *r = opaque;
	counter_inc(&r->dev.counters.exits);
	pthread_mutex_lock(&r->lock);
	int64_t now = host_now(r);
	process(r, now);
	for (unsigned i = 0; i < len; i++) {
		uint64_t port = offset < 2 ? offset + i : 2;
		if (port == 0)
			r->index = data[i] & 0x7f;
		else if (port == 1)
			reg_write(r, r->index, data[i], now);
	}
	arm_timer(r, now);
	pthread_mutex_unlock(&r->lock);
}

const struct iobus_ops rtc_ops = {
	.read = rtc_read,
	.write = rtc_write,
};

void rtc_tick(struct rtc *r)
{
	pthread_mutex_lock(&r->lock);
	int64_t now = host_now(r);
	process(r, now);
	r->armed_ns = -1; /* a fired timer is disarmed: always set it again */
	arm_timer(r, now);
	pthread_mutex_unlock(&r->lock);
}

static void rtc_timer_cb(void *opaque, uint32_t events)
{
	struct rtc *r = opaque;
	uint64_t expirations;
	if (read(r->tfd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("rtc: timerfd read: %s", strerror(errno));
	rtc_tick(r);
}

void rtc_set_cmos(struct rtc *r, uint8_t index, uint8_t value)
{
	if (index >= CMOS_SIZE || index < REG_NVRAM || index == REG_CENTURY) {
		log_warn("rtc: CMOS byte 0x%02x is not NVRAM, not set", index);
		return;
	}
	pthread_mutex_lock(&r->lock);
	r->cmos[index] = value;
	pthread_mutex_unlock(&r->lock);
}

/* ---- the device contract (core/device.h) ---- */

#define RTC_STATE_VERSION 1

/* The RESET pin (datasheet "RESET"): interrupt enables and flags cleared;
 * the time and the NVRAM are battery-backed and stay. */
static void rtc_reset(struct device *dev)
{
	struct rtc *r = container_of(dev, struct rtc, dev);
	pthread_mutex_lock(&r->lock);
	int64_t now = host_now(r);
	process(r, now);
	r->reg_b &= (uint8_t)~(B_PIE | B_AIE | B_UIE | B_SQWE);
	r->reg_c = 0;
	update_irq(r);
	arm_timer(r, now);
	pthread_mutex_unlock(&r->lock);
}

/* CMOS bytes the model keeps elsewhere (time, registers A-D, century):
 * always 0 in cmos[]. */
static bool cmos_unused(unsigned i)
{
	return is_time_reg(i) || (i >= REG_A && i <= REG_D);
}

/* Section "rtc": the index register, registers A-C (D is constant), the 128
 * CMOS bytes (alarms and NVRAM; the slots kept elsewhere are 0), the time
 * registers frozen while SET, and the clock. The clock is saved as the
 * guest's offset from the host wall clock, not as an absolute time: after a
 * load the guest reads host time + offset, so its time keeps going and
 * counts the time the VM was stopped, as a battery-backed RTC does. The
 * flags are brought up to date first; events between save and load are not
 * replayed. */
static int rtc_save(struct device *dev, struct state_writer *w)
{
	struct rtc *r = container_of(dev, struct rtc, dev);
	pthread_mutex_lock(&r->lock);
	int64_t now = host_now(r);
	process(r, now);
	arm_timer(r, now);
	state_begin(w, dev->ops->kind, RTC_STATE_VERSION);
	state_put_u8(w, "index", r->index);
	state_put_u8(w, "reg_a", r->reg_a);
	state_put_u8(w, "reg_b", r->reg_b);
	state_put_u8(w, "reg_c", r->reg_c);
	state_put_bytes(w, "cmos", r->cmos, sizeof(r->cmos));
	state_put_bytes(w, "frozen", r->frozen, sizeof(r->frozen));
	state_put_u64(w, "offset_ns", (uint64_t)r->offset_ns);
	state_end(w);
	pthread_mutex_unlock(&r->lock);
	return w->error;
}

struct rtc_saved {
	uint8_t index, reg_a, reg_b, reg_c;
	uint8_t cmos[CMOS_SIZE];
	uint8_t frozen[T_COUNT];
	int64_t offset_ns;
};

/* Offsets a guest can reach: from a time of 0 at any host time to the
 * latest time kept at host time 0. */
#define OFFSET_MIN (-INT64_MAX)
#define OFFSET_MAX ((RTC_MAX_SEC + 1) * NS)

static int rtc_read_record(struct state_reader *r, const char *kind, struct rtc_saved *v)
{
	uint64_t offset;
	if (state_enter(r, kind, RTC_STATE_VERSION, NULL) < 0)
		return -EINVAL;
	legacy_get_reg8(r, "index", &v->index, 0x7f);
	legacy_get_reg8(r, "reg_a", &v->reg_a, (uint8_t)~A_UIP);
	state_get_u8(r, "reg_b", &v->reg_b);
	legacy_get_reg8(r, "reg_c", &v->reg_c, C_IRQF | C_FLAGS);
	state_get_bytes(r, "cmos", v->cmos, sizeof(v->cmos));
	state_get_bytes(r, "frozen", v->frozen, sizeof(v->frozen));
	state_get_u64(r, "offset_ns", &offset);
	if (state_failed(r))
		return -EINVAL;
	v->offset_ns = (int64_t)offset;
	if ((v->reg_b & B_SET) && (v->reg_b & B_UIE))
		return state_invalid(r, "reg_b", "0x%02x: SET clears UIE", v->reg_b);
	if (!(v->reg_c & C_IRQF) != !(v->reg_c & v->reg_b & C_FLAGS))
		return state_invalid(r, "reg_c", "0x%02x: IRQF disagrees with the flags enabled in "
				     "reg_b 0x%02x", v->reg_c, v->reg_b);
	for (unsigned i = 0; i < CMOS_SIZE; i++)
		if (cmos_unused(i) && v->cmos[i])
			return state_invalid(r, "cmos", "byte 0x%02x is kept elsewhere and must be 0",
					     i);
	if (v->offset_ns < OFFSET_MIN || v->offset_ns > OFFSET_MAX)
		return state_invalid(r, "offset_ns", "%lld is out of range (%lld to %lld)",
				     (long long)v->offset_ns, (long long)OFFSET_MIN,
				     (long long)OFFSET_MAX);
	return state_leave(r);
}

/* Into a fresh instance: the flags stand as saved, and the periodic,
 * alarm and update timer is armed again from registers A and B. */
static int rtc_load(struct device *dev, struct state_reader *r)
{
	struct rtc *rtc = container_of(dev, struct rtc, dev);
	struct rtc_saved v = {0};
	if (rtc_read_record(r, dev->ops->kind, &v) < 0)
		return -EINVAL;
	pthread_mutex_lock(&rtc->lock);
	int64_t now = host_now(rtc);
	rtc->index = v.index;
	rtc->reg_a = v.reg_a;
	rtc->reg_b = v.reg_b;
	rtc->reg_c = v.reg_c;
	memcpy(rtc->cmos, v.cmos, sizeof(rtc->cmos));
	memcpy(rtc->frozen, v.frozen, sizeof(rtc->frozen));
	rtc->offset_ns = v.offset_ns;
	rtc->last_ns = now;
	update_irq(rtc);
	rtc->armed_ns = -1; /* whatever was armed, set it again */
	arm_timer(rtc, now);
	pthread_mutex_unlock(&rtc->lock);
	return 0;
}

static void rtc_dev_destroy(struct device *dev)
{
	rtc_destroy(container_of(dev, struct rtc, dev));
}

/* No counters op: the struct device counters are all it has. */
static const struct device_ops rtc_dev_ops = {
	.kind = "rtc",
	.reset = rtc_reset,
	.save = rtc_save,
	.load = rtc_load,
	.destroy = rtc_dev_destroy,
};

struct rtc *rtc_create(struct irq_line irq, const struct rtc_clock *clock, struct loop *loop)
{
	struct rtc *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL) != 0) {
		free(r);
		return NULL;
	}
	device_init(&r->dev, &rtc_dev_ops, "rtc");
	r->irq = irq;
	if (clock)
		r->clock = *clock;
	r->tfd = -1;
	r->armed_ns = INT64_MAX;
	/* Power-on state as a PC BIOS leaves it: 32.768 kHz, 1024 Hz rate,
	 * 24-hour BCD, no interrupts, valid RAM. */
	r->reg_a = A_DV_32K | 0x06;
	r->reg_b = B_24H;
	r->last_ns = host_now(r);
	irq_line_set(&r->irq, false);

	if (loop) {
		r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (r->tfd < 0) {
			log_error("rtc: timerfd_create: %s", strerror(errno));
			goto fail;
		}
		int err = loop_add_fd(loop, r->tfd, EPOLLIN, rtc_timer_cb, r);
		if (err < 0) {
			log_error("rtc: adding the timer to the loop: %s", strerror(-err));
			goto fail;
		}
		r->loop = loop;
	}
	return r;
fail:
	if (r->tfd >= 0)
		close(r->tfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
	return NULL;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	if (r->loop)
		loop_del_fd(r->loop, r->tfd);
	if (r->tfd >= 0)
		close(r->tfd);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

struct device *rtc_device(struct rtc *r)
{
	return &r->dev;
}
