/* `iovirt stat SOCKET [--once] [--interval SEC]`: a top-like view of a
 * running iovirt's I/O, one line per device and used queue, from two
 * vm.counters samples an interval apart (stat_rates.c does the
 * arithmetic). Refreshed every interval, the screen cleared first only
 * where out is a terminal; --once prints one table and ends, for scripts.
 * A failure is one line on err naming the socket, exit status 1. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd/api_client.h"
#include "cmd/commands.h"
#include "cmd/stat_rates.h"
#include "core/exit_codes.h"

static void stat_usage(FILE *out)
{
	fputs("usage: iovirt stat SOCKET [--once] [--interval SEC]\n"
	      "\n"
	      "Rates of every device and used queue of the iovirt listening on SOCKET\n"
	      "(iovirt run --api-socket SOCKET), from its vm.counters, refreshed every\n"
	      "interval: guest accesses that reached iovirt (exits), kicks, interrupts,\n"
	      "requests (IOPS), MB/s in (from the guest) and out, exits per request,\n"
	      "errors (failed and refused requests); then KVM's exits per vCPU.\n"
	      "\n"
	      "  --once          print one table and exit\n"
	      "  --interval SEC  seconds between samples (default 1; 0.01 to 3600)\n",
	      out);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* One vm.counters sample, taken at *when. 0, or -1 after one line on err. */
static int sample(const char *sock, struct stat_sample *s, double *when, FILE *err)
{
	struct api_reply reply;
	char why[512];
	if (api_call(sock, "GET", "vm.counters", &reply, why, sizeof(why)) < 0) {
		fprintf(err, "iovirt stat: %s: %s\n", sock, why);
		return -1;
	}
	*when = now_s();
	int ret = 0;
	if (reply.status != 200) {
		api_reply_reason(&reply, why, sizeof(why));
		fprintf(err, "iovirt stat: %s: vm.counters: %s\n", sock, why);
		ret = -1;
	} else if (stat_sample_parse(reply.body, s, why, sizeof(why)) < 0) {
		fprintf(err, "iovirt stat: %s: %s\n", sock, why);
		ret = -1;
	}
	api_reply_free(&reply);
	return ret;
}

static int watch(const char *sock, double interval, bool once, FILE *out, FILE *err)
{
	struct stat_sample *s[2] = {malloc(sizeof(struct stat_sample)),
				    malloc(sizeof(struct stat_sample))};
	struct stat_rates *r = malloc(sizeof(*r));
	int ret = IOVIRT_EXIT_ERROR;
	double t[2];
	bool tty = isatty(fileno(out));
	if (!s[0] || !s[1] || !r) {
		fprintf(err, "iovirt stat: out of memory\n");
		goto out;
	}
	if (sample(sock, s[0], &t[0], err) < 0)
		goto out;
	for (unsigned n = 1;; n++) {
		sleep_s(interval);
		if (sample(sock, s[n & 1], &t[n & 1], err) < 0)
			goto out;
		stat_rates(s[(n - 1) & 1], s[n & 1], t[n & 1] - t[(n - 1) & 1], r);
		if (tty)
			fputs("\033[H\033[2J", out);
		else if (n > 1)
			fputc('\n', out);
		fprintf(out, "iovirt stat %s: rates over %.2f s\n", sock, r->seconds);
		stat_print(r, out);
		fflush(out);
		if (once)
			break;
	}
	ret = IOVIRT_EXIT_OK;
out:
	free(s[0]);
	free(s[1]);
	free(r);
	return ret;
}

int stat_main(int argc, char **argv, FILE *out, FILE *err)
{
	const char *sock = NULL;
	bool once = false;
	double interval = 1;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			stat_usage(out);
			return IOVIRT_EXIT_OK;
		} else if (!strcmp(argv[i], "--once")) {
			once = true;
		} else if (!strcmp(argv[i], "--interval")) {
			char *end;
			if (++i == argc) {
				fprintf(err, "iovirt stat: --interval: missing SEC\n");
				return IOVIRT_EXIT_USAGE;
			}
			interval = strtod(argv[i], &end);
			if (end == argv[i] || *end || !(interval >= 0.01 && interval <= 3600)) {
				fprintf(err, "iovirt stat: --interval %s: not a number of seconds "
					     "from 0.01 to 3600\n", argv[i]);
				return IOVIRT_EXIT_ERROR;
			}
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(err, "iovirt stat: %s: unknown option (try iovirt stat --help)\n",
				argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else if (sock) {
			fprintf(err, "iovirt stat: %s: one socket at a time\n", argv[i]);
			return IOVIRT_EXIT_USAGE;
		} else {
			sock = argv[i];
		}
	}
	if (!sock) {
		fprintf(err, "iovirt stat: usage: iovirt stat SOCKET [--once] [--interval SEC]\n");
		return IOVIRT_EXIT_USAGE;
	}
	return watch(sock, interval, once, out, err);
}
