/*
 * params.c - query parameters of the API: each read with a length cap and
 * checked against what it may be before anything uses it; a bad value is a
 * 400 with the parameter's name, never a guess.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"

const char *dash_arg(struct dash_req *q, const char *name)
{
	const char *v = MHD_lookup_connection_value(q->c,
						    MHD_GET_ARGUMENT_KIND,
						    name);

	/* The whole target is capped at DASH_URI_MAX, so no single value
	 * can exceed it; empty means absent, as HTML forms send them. */
	if (v && v[0] == '\0')
		return NULL;
	return v;
}

int dash_uint(struct dash_req *q, const char *name, uint64_t min,
	      uint64_t max, uint64_t def, uint64_t *out, char *msg,
	      size_t msglen)
{
	const char *s = dash_arg(q, name);
	uint64_t v = 0;
	size_t i;

	if (!s) {
		*out = def;
		return 0;
	}
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9' || i >= 19)
			goto bad;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		goto bad;
	*out = v;
	return 0;
bad:
	snprintf(msg, msglen, "%s: expected a whole number from %" PRIu64
		 " to %" PRIu64, name, min, max);
	return -EINVAL;
}

int dash_window(struct dash_req *q, uint64_t default_ns, uint64_t max_ns,
		struct dash_window *w, char *msg, size_t msglen)
{
	const char *since = dash_arg(q, "since"), *until = dash_arg(q, "until");
	uint64_t now = ew_now_ns();

	w->until_ns = now;
	if (until && ew_parse_time(until, now, &w->until_ns)) {
		snprintf(msg, msglen, "until: not a time (RFC 3339, Unix "
			 "seconds, or -15m / -2h / -7d)");
		return -EINVAL;
	}
	w->since_ns = w->until_ns > default_ns ? w->until_ns - default_ns : 1;
	if (since && ew_parse_time(since, now, &w->since_ns)) {
		snprintf(msg, msglen, "since: not a time (RFC 3339, Unix "
			 "seconds, or -15m / -2h / -7d)");
		return -EINVAL;
	}
	if (w->since_ns == 0)
		w->since_ns = 1;
	if (w->since_ns >= w->until_ns) {
		snprintf(msg, msglen, "since must be before until");
		return -EINVAL;
	}
	if (max_ns && w->until_ns - w->since_ns > max_ns) {
		snprintf(msg, msglen, "time window longer than %" PRIu64
			 " days: narrow it (or page through shorter windows)",
			 (uint64_t)(max_ns / (86400 * NS_PER_S)));
		return -EINVAL;
	}
	return 0;
}

static int hexnum(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0 || n > 16)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -EINVAL;
	}
	*out = v;
	return 0;
}

int dash_cursor_parse(const char *s, char prefix, uint64_t *key,
		      uint64_t *id)
{
	const char *dot;

	if (!s || s[0] != prefix || s[1] != '.')
		return -EINVAL;
	s += 2;
	dot = strchr(s, '.');
	if (!dot || hexnum(s, (size_t)(dot - s), key) ||
	    hexnum(dot + 1, strlen(dot + 1), id))
		return -EINVAL;
	return 0;
}

void dash_cursor_fmt(char out[48], char prefix, uint64_t key, uint64_t id)
{
	snprintf(out, 48, "%c.%" PRIx64 ".%" PRIx64, prefix, key, id);
}

int dash_name_pattern(const char *s, char *out, size_t outlen)
{
	int glob = strpbrk(s, "*?") != NULL;
	size_t o = 0;

	if (strlen(s) > 253)
		return -EINVAL;
	/* Room for the worst case: every byte escaped, plus two '%'. */
	if (outlen < strlen(s) * 2 + 3)
		return -EINVAL;
	if (!glob)
		out[o++] = '%';
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c == 0x7f)
			return -EINVAL;
		if (glob && c == '*') {
			out[o++] = '%';
		} else if (glob && c == '?') {
			out[o++] = '_';
		} else if (c == '%' || c == '_' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else {
			out[o++] = (char)c;
		}
	}
	if (!glob)
		out[o++] = '%';
	out[o] = '\0';
	return 0;
}

int dash_workload_valid(const char *s)
{
	size_t n = strlen(s);
	const char *slash = strchr(s, '/');

	if (n == 0 || n >= STORE_WORKLOAD_MAX)
		return -EINVAL;
	if (slash && (slash == s || slash[1] == '\0' || strchr(slash + 1, '/')))
		return -EINVAL;
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return -EINVAL;
	return 0;
}

int dash_unescape(char *s)
{
	char *w = s;

	for (const char *r = s; *r; r++) {
		if (*r != '%') {
			*w++ = *r;
			continue;
		}
		int hi = r[1], lo = hi ? r[2] : 0;
		int h = hi >= '0' && hi <= '9' ? hi - '0' :
			hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 :
			hi >= 'A' && hi <= 'F' ? hi - 'A' + 10 : -1;
		int l = lo >= '0' && lo <= '9' ? lo - '0' :
			lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 :
			lo >= 'A' && lo <= 'F' ? lo - 'A' + 10 : -1;

		if (h < 0 || l < 0 || (h == 0 && l == 0))
			return -EINVAL;
		*w++ = (char)(h << 4 | l);
		r += 2;
	}
	*w = '\0';
	return 0;
}

void dash_json_time(struct ew_buf *b, uint64_t ns)
{
	char t[EW_TIME_STRLEN];

	if (!ns) {
		ew_buf_puts(b, "null");
		return;
	}
	ew_fmt_time(ns, t);
	ew_buf_printf(b, "\"%s\"", t);
}

void dash_json_ip(struct ew_buf *b, const uint8_t ip[16])
{
	char s[EW_IPSTR_MAX];

	ew_ip_to_str(ip, s);
	ew_buf_printf(b, "\"%s\"", s);
}

void dash_json_workload(struct ew_buf *b, const char *ref)
{
	ew_buf_json_str(b, ref && ref[0] ? ref : NULL);
}

/* ---- the per-request address cache ---------------------------------------- */

void dash_ipcache_init(struct dash_ipcache *c, struct store_reader *r)
{
	memset(c, 0, sizeof(*c));
	c->r = r;
	ew_random_bytes(c->key, sizeof(c->key));
	c->slots = calloc(DASH_IPCACHE_SLOTS, sizeof(*c->slots));
}

void dash_ipcache_free(struct dash_ipcache *c)
{
	free(c->slots);
	c->slots = NULL;
}

/* The slot of `ip`: its entry, or the free slot where it would go; NULL
 * when there is no table or it is three quarters full. */
static struct dash_ipcache_slot *ipcache_slot(struct dash_ipcache *c,
					      const uint8_t ip[16])
{
	uint64_t h;

	if (!c->slots)
		return NULL;
	h = ew_siphash(c->key, ip, 16);
	for (uint32_t i = 0; i < DASH_IPCACHE_SLOTS; i++) {
		struct dash_ipcache_slot *t =
			&c->slots[(h + i) % DASH_IPCACHE_SLOTS];

		if (t->full && memcmp(t->ip, ip, 16) == 0)
			return t;
		if (!t->full)
			return c->used >= DASH_IPCACHE_SLOTS * 3 / 4 ? NULL : t;
	}
	return NULL;
}

void dash_ipcache_prefetch(struct dash_ipcache *c, const uint8_t (*ips)[16],
			   size_t n)
{
	uint8_t (*want)[16] = NULL;
	struct store_ip_info *info = NULL;
	size_t k = 0, room;
	char err[256];

	if (!c->slots || n == 0)
		return;
	room = DASH_IPCACHE_SLOTS * 3 / 4 - c->used;
	want = calloc(n < room ? n : room, 16);
	info = calloc(n < room ? n : room, sizeof(*info));
	if (!want || !info)
		goto out;
	for (size_t i = 0; i < n && k < room; i++) {
		struct dash_ipcache_slot *s = ipcache_slot(c, ips[i]);
		int dup = 0;

		if (!s || s->full)
			continue;
		for (size_t j = 0; j < k && !dup; j++)
			dup = memcmp(want[j], ips[i], 16) == 0;
		if (!dup)
			memcpy(want[k++], ips[i], 16);
	}
	if (k && store_ip_info_batch(c->r, (const uint8_t (*)[16])want, k,
				     info, err, sizeof(err)) == 0) {
		for (size_t j = 0; j < k; j++) {
			struct dash_ipcache_slot *s = ipcache_slot(c, want[j]);

			if (!s || s->full)
				continue;
			memcpy(s->ip, want[j], 16);
			s->info = info[j];
			s->full = 1;
			c->used++;
		}
	}
out:
	free(want);
	free(info);
}

const struct store_ip_info *dash_ipcache_get(struct dash_ipcache *c,
					     const uint8_t ip[16],
					     struct store_ip_info *scratch)
{
	char err[256];
	/* A quarter of the table stays free so that probes stay short. */
	struct dash_ipcache_slot *s = ipcache_slot(c, ip);

	if (s && s->full)
		return &s->info;
	if (store_ip_info(c->r, ip, NULL, scratch, err, sizeof(err)) < 0)
		memset(scratch, 0, sizeof(*scratch));
	if (!s)
		return scratch;
	memcpy(s->ip, ip, 16);
	s->info = *scratch;
	s->full = 1;
	c->used++;
	return &s->info;
}
