/* Runs inside the guest: reads the RTC through Linux's rtc-cmos driver and
 * waits for two update-ended interrupts, proving the RTC model's time and its
 * IRQ 8 path. Built static by tests/guest/run. */
#include <fcntl.h>
#include <linux/rtc.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	int fd = open("/dev/rtc0", O_RDONLY);
	if (fd < 0) {
		perror("/dev/rtc0");
		return 1;
	}
	struct rtc_time tm;
	if (ioctl(fd, RTC_RD_TIME, &tm) < 0) {
		perror("RTC_RD_TIME");
		return 1;
	}
	struct tm t = {.tm_sec = tm.tm_sec, .tm_min = tm.tm_min, .tm_hour = tm.tm_hour,
		       .tm_mday = tm.tm_mday, .tm_mon = tm.tm_mon, .tm_year = tm.tm_year};
	printf("RTC_EPOCH=%lld\n", (long long)timegm(&t));
	if (ioctl(fd, RTC_UIE_ON, 0) < 0) {
		perror("RTC_UIE_ON");
		return 1;
	}
	int irqs = 0;
	for (int i = 0; i < 2; i++) {
		unsigned long data;
		if (read(fd, &data, sizeof(data)) == (ssize_t)sizeof(data) && (data & RTC_UF))
			irqs++;
	}
	ioctl(fd, RTC_UIE_OFF, 0);
	printf("RTC_UIE_IRQS=%d\n", irqs);
	return 0;
}
