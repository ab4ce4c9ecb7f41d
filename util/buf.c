/*
 * buf.c - a growable buffer with a hard maximum (curl's "toobig" idea) and
 * the JSON string escaper that every API response and export goes through.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void ew_buf_init(struct ew_buf *b, size_t max)
{
	memset(b, 0, sizeof(*b));
	b->max = max;
}

void ew_buf_free(struct ew_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

void ew_buf_reset(struct ew_buf *b)
{
	b->len = 0;
	b->toobig = 0;
	if (b->data)
		b->data[0] = '\0';
}

static int grow(struct ew_buf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->toobig)
		return -E2BIG;
	if (need > b->max - b->len || b->len + need + 1 > b->max) {
		b->toobig = 1;
		return -E2BIG;
	}
	if (b->len + need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + need + 1)
		cap *= 2;
	if (cap > b->max)
		cap = b->max;
	p = realloc(b->data, cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

int ew_buf_append(struct ew_buf *b, const void *p, size_t n)
{
	int rc = grow(b, n);

	if (rc)
		return rc;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int ew_buf_puts(struct ew_buf *b, const char *s)
{
	return ew_buf_append(b, s, strlen(s));
}

int ew_buf_printf(struct ew_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	rc = grow(b, (size_t)n);
	if (rc)
		return rc;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if invalid (RFC 3629:
 * no overlongs, no surrogates, nothing above U+10FFFF). */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		if ((s[1] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(s[0] & 0x1f) << 6 | (s[1] & 0x3f);
		return 2;
	}
	if (s[0] >= 0xe0 && s[0] <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(s[0] & 0x0f) << 12 | (uint32_t)(s[1] & 0x3f) << 6 |
		      (s[2] & 0x3f);
		if (*cp < 0x800 || (*cp >= 0xd800 && *cp <= 0xdfff))
			return 0;
		return 3;
	}
	if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 ||
		    (s[3] & 0xc0) != 0x80)
			return 0;
		*cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3f) << 12 |
		      (uint32_t)(s[2] & 0x3f) << 6 | (s[3] & 0x3f);
		if (*cp < 0x10000 || *cp > 0x10ffff)
			return 0;
		return 4;
	}
	return 0;
}

int ew_buf_json_str(struct ew_buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int rc = 0;

	if (!s)
		return ew_buf_puts(b, "null");
	rc |= ew_buf_append(b, "\"", 1);
	while (*p && !rc) {
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);

		if (n == 0) {
			rc |= ew_buf_puts(b, "\\ufffd");
			p++;
			continue;
		}
		if (cp < 0x20 || cp == '"' || cp == '\\' || cp == '<' ||
		    cp == '>' || cp == '&' || cp == '\'' || cp == 0x7f ||
		    cp == 0x2028 || cp == 0x2029) {
			rc |= ew_buf_printf(b, "\\u%04x", (unsigned)cp);
		} else {
			rc |= ew_buf_append(b, p, n);
		}
		p += n;
	}
	rc |= ew_buf_append(b, "\"", 1);
	return rc ? -E2BIG : 0;
}
