/* The --counters printer: see counters_print.h. */
#include "cmd/counters_print.h"

#include <stdarg.h>
#include <string.h>

/* The line keeps room for its '\n': len stays below LINE_CAP. */
#define LINE_CAP (sizeof(((struct counters_print *)0)->line) - 1)

static void flush_line(struct counters_print *p)
{
	if (!p->len)
		return;
	p->line[p->len] = '\n';
	p->line[p->len + 1] = '\0';
	fputs(p->line, p->out);
	fflush(p->out);
	p->len = 0;
}

/* Appends to the line as far as it goes (a cut line still ends). */
__attribute__((format(printf, 2, 3)))
static void append(struct counters_print *p, const char *fmt, ...)
{
	size_t room = LINE_CAP - p->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(p->line + p->len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->len += (size_t)n < room ? (size_t)n : room - 1;
}

static void emit(void *opaque, const char *device, const char *scope, const char *name,
		 uint64_t value)
{
	struct counters_print *p = opaque;
	if (p->len && (strcmp(p->device, device) != 0 || strcmp(p->scope, scope) != 0))
		flush_line(p);
	if (!p->len) {
		snprintf(p->device, sizeof(p->device), "%s", device);
		snprintf(p->scope, sizeof(p->scope), "%s", scope);
		append(p, "counters: %s%s%s", device, scope[0] ? " " : "", scope);
	}
	append(p, " %s=%llu", name, (unsigned long long)value);
}

struct counter_sink counters_print_begin(struct counters_print *p, FILE *out)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	return (struct counter_sink){.emit = emit, .opaque = p};
}

void counters_print_end(struct counters_print *p)
{
	flush_line(p);
}
