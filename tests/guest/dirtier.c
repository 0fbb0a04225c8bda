/* A guest program that dirties memory and proves none of it was lost:
 * `dirtier MIB SECONDS [STOPFILE]` keeps MIB MiB of pages in rounds, each
 * page holding its index and the round in every word. Before a page is
 * written for round r + 1 it must still hold round r: a page that went
 * back in time (a live migration that missed a dirty page) is reported
 * (MEMBAD=page,round,found) and the program exits 1. It runs SECONDS, or
 * until STOPFILE exists, and prints MEMCHECK=ok rounds=R pages=P. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: dirtier MIB SECONDS [STOPFILE]\n");
		return 2;
	}
	size_t pages = (size_t)atol(argv[1]) * (1 << 20) / PAGE;
	double until = now() + atof(argv[2]);
	const char *stop = argc > 3 ? argv[3] : NULL;
	uint64_t *mem = malloc(pages * PAGE);
	if (!mem)
		return 2;
	const size_t words = PAGE / 8;
	uint64_t round = 0;
	for (;; round++) {
		for (size_t p = 0; p < pages; p++) {
			uint64_t *w = mem + p * words;
			uint64_t want = round ? ((round - 1) << 32) | p : 0, next = (round << 32) | p;
			for (size_t i = 0; round && i < words; i++) {
				if (w[i] != want) {
					printf("MEMBAD=%zu,%llu,%llx\n", p, (unsigned long long)round - 1,
					       (unsigned long long)w[i]);
					return 1;
				}
			}
			for (size_t i = 0; i < words; i++)
				w[i] = next;
		}
		if (now() > until || (stop && access(stop, F_OK) == 0))
			break;
	}
	printf("MEMCHECK=ok rounds=%llu pages=%zu\n", (unsigned long long)round + 1, pages);
	return 0;
}
