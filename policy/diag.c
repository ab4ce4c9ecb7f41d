/*
 * diag.c - error messages of a policy load, in the form compilers use
 * ("file:line:col: message") so editors can jump to them.  The first
 * POLICY_ERR_MAX messages are kept; every error is counted.
 *
 * Messages quote the input ("unknown key 'egres'"), and YAML can carry any
 * character ("\e[2J" in a double-quoted key), so control characters (C0,
 * DEL and the UTF-8-encoded C1 range) are replaced with '?' before a
 * message reaches a terminal or a log.
 */
#include <stdio.h>
#include <string.h>

#include "internal.h"

static void put(struct diag *d, const char *prefix, const char *fmt,
		va_list ap)
{
	struct policy_errors *e = d->out;
	int n;

	d->count++;
	if (!e)
		return;
	e->total++;
	if (e->n >= POLICY_ERR_MAX)
		return;
	char *m = e->msg[e->n++];
	n = snprintf(m, POLICY_ERRMSG_MAX, "%s", prefix);
	if (n < 0 || n >= POLICY_ERRMSG_MAX)
		return;
	vsnprintf(m + n, POLICY_ERRMSG_MAX - (size_t)n, fmt, ap);
	for (unsigned char *c = (unsigned char *)m; *c; c++) {
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
		else if (*c == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f)
			c[0] = c[1] = '?';
	}
}

void diag_vat(struct diag *d, uint32_t line, uint32_t col, const char *fmt,
	      va_list ap)
{
	char prefix[POLICY_ERRMSG_MAX / 2];

	snprintf(prefix, sizeof(prefix), "%s:%u:%u: ", d->file, line, col);
	put(d, prefix, fmt, ap);
}

void diag_at(struct diag *d, uint32_t line, uint32_t col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vat(d, line, col, fmt, ap);
	va_end(ap);
}

void diag_file(struct diag *d, const char *fmt, ...)
{
	char prefix[POLICY_ERRMSG_MAX / 2];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%s: ", d->file);
	va_start(ap, fmt);
	put(d, prefix, fmt, ap);
	va_end(ap);
}
