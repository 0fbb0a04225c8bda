/* How devices ask the VM to power off or reset (ACPI sleep register, i8042
 * reset line, ...). The VM core implements it; tests record the requests. */
#ifndef IOVIRT_CORE_POWER_H
#define IOVIRT_CORE_POWER_H

enum power_request {
	POWER_OFF,
	POWER_RESET,
};

struct power_ctl {
	void (*request)(void *opaque, enum power_request req);
	void *opaque;
};

static inline void power_request(const struct power_ctl *ctl, enum power_request req)
{
	if (ctl && ctl->request)
		ctl->request(ctl->opaque, req);
}

#endif
