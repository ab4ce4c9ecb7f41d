/*
 * agg.c - the summaries of a time window computed in one pass over the
 * per-minute rollups: the traffic series, and bytes by workload, by remote
 * address, by port and by country.
 *
 * Why one pass in C rather than a GROUP BY per summary: the overview needs
 * all of them, and on a busy node a day of rollups is a million rows; reading
 * them once costs a fifth of reading them five times.  Countries are not in
 * the rollups: they are looked up per remote address (a property of the
 * address), at most AGG_COUNTRY_LOOKUPS of them, biggest first, and never for
 * private or special addresses, which have none.  What is not looked up is
 * counted as unknown and the result says it is partial.  Found countries are
 * kept for DASH_CC_TTL_S in a cache shared by all requests, so that the
 * overview's polls look up only the addresses new since the last one.
 *
 * Every table is bounded (AGG_KEYS_MAX keys); traffic of keys beyond it is
 * added to the totals only, and the result says so.  Keys are hashed with
 * SipHash under a random key per run: remote addresses are chosen by
 * outsiders.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"

#define NS_PER_MIN (60 * NS_PER_S)
#define AGG_KEYS_MAX (1u << 20)
#define AGG_COUNTRY_LOOKUPS 5000

static int amap_grow(struct dash_amap *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	struct dash_aent *e = calloc(cap, sizeof(*e));

	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < m->cap; i++) {
		struct dash_aent *o = &m->e[i];
		size_t j;

		if (!o->used)
			continue;
		for (j = o->hash & (cap - 1); e[j].used; j = (j + 1) & (cap - 1))
			;
		e[j] = *o;
	}
	free(m->e);
	m->e = e;
	m->cap = cap;
	return 0;
}

/* The entry of key (bytes, or a string when len is 0), added if new (and
 * then *fresh set, when fresh is not NULL); NULL when the table is full or
 * out of memory. */
static struct dash_aent *amap_get(struct dash_amap *m, const uint8_t sip[16],
				  const void *key, size_t len, int *fresh)
{
	size_t klen = len ? len : strlen(key);
	uint64_t h = ew_siphash(sip, key, klen);
	size_t j;

	if ((m->n + 1) * 2 > m->cap) {
		if (m->n >= AGG_KEYS_MAX || amap_grow(m))
			goto lookup_only;
	}
	for (j = h & (m->cap - 1); m->e[j].used; j = (j + 1) & (m->cap - 1)) {
		struct dash_aent *x = &m->e[j];

		if (x->hash == h && (len ? memcmp(x->key, key, len) == 0 :
					   strcmp(x->skey, key) == 0))
			return x;
	}
	if (!len && !(m->e[j].skey = strdup(key)))
		return NULL;
	if (len)
		memcpy(m->e[j].key, key, len);
	m->e[j].used = 1;
	m->e[j].hash = h;
	m->n++;
	if (fresh)
		*fresh = 1;
	return &m->e[j];
lookup_only:
	/* Full: existing keys still add up, new ones do not get in. */
	for (j = m->cap ? h & (m->cap - 1) : 0; m->cap && m->e[j].used;
	     j = (j + 1) & (m->cap - 1)) {
		struct dash_aent *x = &m->e[j];

		if (x->hash == h && (len ? memcmp(x->key, key, len) == 0 :
					   strcmp(x->skey, key) == 0))
			return x;
	}
	return NULL;
}

static void amap_free(struct dash_amap *m)
{
	for (size_t i = 0; i < m->cap; i++)
		free(m->e[i].skey);
	free(m->e);
	memset(m, 0, sizeof(*m));
}

static void add3(struct dash_aent *e, const struct store_traffic *t)
{
	e->bytes_sent += t->bytes_sent;
	e->bytes_received += t->bytes_received;
	e->flows += t->flows;
}

/* A new workload gets the next id, so destinations can name it in a few
 * bytes of their key. */
static int name_workload(struct dash_agg *a, struct dash_aent *e)
{
	if (a->nw == a->wcap) {
		uint32_t cap = a->wcap ? a->wcap * 2 : 64;
		char **m = realloc(a->wnames, cap * sizeof(*m));

		if (!m)
			return -ENOMEM;
		a->wnames = m;
		a->wcap = cap;
	}
	e->id = a->nw;
	a->wnames[a->nw++] = e->skey;	/* owned by the workloads map */
	return 0;
}

static void add_dest(struct dash_agg *a, const struct dash_aent *w,
		     const struct store_traffic *t)
{
	uint8_t k[DASH_AKEY_MAX] = {0};
	struct dash_aent *e;

	memcpy(k, &w->id, 4);
	memcpy(k + 4, t->remote_ip, 16);
	k[20] = (uint8_t)(t->port >> 8);
	k[21] = (uint8_t)t->port;
	k[22] = t->proto;
	k[23] = t->direction;
	if (!(e = amap_get(&a->dests, a->sip, k, sizeof(k), NULL))) {
		a->truncated = 1;
		return;
	}
	add3(e, t);
	e->packets_sent += t->packets_sent;
	e->packets_received += t->packets_received;
	if (!e->first_ns || t->minute_ns < e->first_ns)
		e->first_ns = t->minute_ns;
	if (t->minute_ns + NS_PER_MIN > e->last_ns)
		e->last_ns = t->minute_ns + NS_PER_MIN;
}

void dash_agg_dest(const struct dash_agg *a, const struct dash_aent *e,
		   struct store_dest *out)
{
	uint32_t id;

	memset(out, 0, sizeof(*out));
	memcpy(&id, e->key, 4);
	snprintf(out->workload, sizeof(out->workload), "%s",
		 id < a->nw ? a->wnames[id] : "");
	memcpy(out->remote_ip, e->key + 4, 16);
	out->port = (uint16_t)(e->key[20] << 8 | e->key[21]);
	out->proto = e->key[22];
	out->direction = e->key[23];
	out->bytes_sent = e->bytes_sent;
	out->bytes_received = e->bytes_received;
	out->packets_sent = e->packets_sent;
	out->packets_received = e->packets_received;
	out->flows = e->flows;
	out->first_ns = e->first_ns;
	out->last_ns = e->last_ns;
}

static int agg_row(void *ctx, const struct store_traffic *t)
{
	struct dash_agg *a = ctx;
	struct dash_aent *e;

	a->rows++;
	a->bytes_sent += t->bytes_sent;
	a->bytes_received += t->bytes_received;
	a->flows += t->flows;
	if (a->series) {
		uint64_t idx = t->minute_ns / a->step_ns;

		if (idx >= a->first && idx - a->first < a->npoints) {
			uint64_t *v = a->series + (idx - a->first);

			v[0 * a->npoints] += t->bytes_sent;
			v[1 * a->npoints] += t->bytes_received;
			v[2 * a->npoints] += t->packets_sent;
			v[3 * a->npoints] += t->packets_received;
			v[4 * a->npoints] += t->flows;
		}
	}
	int fresh = 0;

	if ((e = amap_get(&a->workloads, a->sip, t->workload, 0, &fresh))) {
		if (fresh && name_workload(a, e))
			return 1;
		add3(e, t);
		if (a->want_dests)
			add_dest(a, e, t);
	} else {
		a->truncated = 1;
	}
	if (t->direction != STORE_EGRESS)
		return 0;
	/* Where the workloads went: remote addresses and service ports. */
	if ((e = amap_get(&a->remotes, a->sip, t->remote_ip, 16, NULL)))
		add3(e, t);
	else
		a->truncated = 1;
	uint8_t pk[3] = {(uint8_t)(t->port >> 8), (uint8_t)t->port, t->proto};

	if ((e = amap_get(&a->ports, a->sip, pk, 3, NULL)))
		add3(e, t);
	else
		a->truncated = 1;
	return 0;
}

int dash_agg_init(struct dash_agg *a, uint64_t since_ns, uint64_t until_ns,
		  uint64_t step_ns)
{
	memset(a, 0, sizeof(*a));
	ew_random_bytes(a->sip, sizeof(a->sip));
	a->since_ns = since_ns;
	a->until_ns = until_ns;
	a->step_ns = step_ns;
	if (step_ns) {
		uint64_t hi_min = until_ns / NS_PER_MIN + (until_ns % NS_PER_MIN != 0);
		uint64_t hi = (hi_min * NS_PER_MIN + step_ns - 1) / step_ns;

		a->first = since_ns / NS_PER_MIN * NS_PER_MIN / step_ns;
		a->npoints = hi > a->first ? hi - a->first : 1;
		if (a->npoints > DASH_SERIES_POINTS_MAX + 2)
			return -E2BIG;
		a->series = calloc(5 * a->npoints, sizeof(*a->series));
		if (!a->series)
			return -ENOMEM;
	}
	return 0;
}

int dash_agg_run(struct dash_agg *a, struct store_reader *r,
		 const char *workload, char *err, size_t errlen)
{
	int n = store_scan_traffic(r, workload, a->since_ns, a->until_ns,
				   agg_row, a, err, errlen);

	return n < 0 ? n : 0;
}

void dash_agg_free(struct dash_agg *a)
{
	amap_free(&a->workloads);
	amap_free(&a->remotes);
	amap_free(&a->ports);
	amap_free(&a->countries);
	amap_free(&a->dests);
	free(a->wnames);
	a->wnames = NULL;
	free(a->series);
	free(a->top);
	a->series = NULL;
	a->top = NULL;
}

static int ent_cmp(const void *x, const void *y)
{
	const struct dash_aent *a = *(const struct dash_aent *const *)x;
	const struct dash_aent *b = *(const struct dash_aent *const *)y;
	uint64_t ta = a->bytes_sent + a->bytes_received;
	uint64_t tb = b->bytes_sent + b->bytes_received;

	if (ta != tb)
		return ta < tb ? 1 : -1;
	/* A total order, so that equal totals come out the same each time. */
	if (a->skey && b->skey)
		return strcmp(a->skey, b->skey);
	return memcmp(a->key, b->key, sizeof(a->key));
}

size_t dash_agg_top(struct dash_agg *a, const struct dash_amap *m,
		    size_t limit, const struct dash_aent ***out)
{
	size_t n = 0;

	free(a->top);
	a->top = m->n ? calloc(m->n, sizeof(*a->top)) : NULL;
	*out = (const struct dash_aent **)a->top;
	if (!a->top)
		return 0;
	for (size_t i = 0; i < m->cap; i++)
		if (m->e[i].used)
			a->top[n++] = &m->e[i];
	qsort(a->top, n, sizeof(*a->top), ent_cmp);
	return n < limit ? n : limit;
}

/* Private, loopback, link-local, CGNAT, unspecified: no country to find. */
static int ip_is_local(const uint8_t ip[16])
{
	if (ew_ip_is_v4(ip)) {
		const uint8_t *v = ip + 12;

		return v[0] == 10 || v[0] == 127 || v[0] == 0 ||
		       (v[0] == 172 && (v[1] & 0xf0) == 16) ||
		       (v[0] == 192 && v[1] == 168) ||
		       (v[0] == 169 && v[1] == 254) ||
		       (v[0] == 100 && (v[1] & 0xc0) == 64);
	}
	static const uint8_t lo[16] = {[15] = 1}, zero[16];

	return (ip[0] & 0xfe) == 0xfc || (ip[0] == 0xfe && (ip[1] & 0xc0) == 0x80) ||
	       memcmp(ip, lo, 16) == 0 || memcmp(ip, zero, 16) == 0;
}

/* ---- the country cache ----------------------------------------------------
 * Open addressing under one mutex; when it is three quarters full it is
 * emptied (simpler than eviction, and refilled by the next poll's misses). */

static struct dash_cc *cc_slot(struct dashboard *d, const uint8_t ip[16])
{
	uint64_t h = ew_siphash(d->cc_key, ip, 16);

	for (uint32_t i = 0; i < DASH_CC_SLOTS; i++) {
		struct dash_cc *c = &d->cc[(h + i) % DASH_CC_SLOTS];

		if (!c->used || memcmp(c->ip, ip, 16) == 0)
			return c;
	}
	return NULL;
}

/* 1 with `country` set on a fresh hit, else 0. */
static int cc_get(struct dashboard *d, const uint8_t ip[16], char country[4])
{
	struct dash_cc *c;
	int hit = 0;

	if (!d->cc)
		return 0;
	pthread_mutex_lock(&d->ccmu);
	c = cc_slot(d, ip);
	if (c && c->used && c->expires_mono > ew_mono_ns()) {
		memcpy(country, c->country, 4);
		hit = 1;
	}
	pthread_mutex_unlock(&d->ccmu);
	return hit;
}

static void cc_put(struct dashboard *d, const uint8_t ip[16],
		   const char *country)
{
	struct dash_cc *c;

	if (!d->cc)
		return;
	pthread_mutex_lock(&d->ccmu);
	if (d->cc_used >= DASH_CC_SLOTS * 3 / 4) {
		memset(d->cc, 0, DASH_CC_SLOTS * sizeof(*d->cc));
		d->cc_used = 0;
	}
	if ((c = cc_slot(d, ip))) {
		if (!c->used)
			d->cc_used++;
		memcpy(c->ip, ip, 16);
		snprintf(c->country, sizeof(c->country), "%s", country);
		c->used = 1;
		c->expires_mono = ew_mono_ns() + DASH_CC_TTL_S * NS_PER_S;
	}
	pthread_mutex_unlock(&d->ccmu);
}

int dash_agg_countries(struct dash_agg *a, struct dashboard *d,
		       struct store_reader *r)
{
	const struct dash_aent **top;
	size_t n = dash_agg_top(a, &a->remotes, SIZE_MAX, &top);
	uint8_t (*ips)[16] = calloc(AGG_COUNTRY_LOOKUPS, 16);
	struct store_ip_info *info = calloc(AGG_COUNTRY_LOOKUPS, sizeof(*info));
	size_t *which = calloc(AGG_COUNTRY_LOOKUPS, sizeof(*which));
	char (*cc)[4] = calloc(n + 1, 4);
	size_t k = 0;
	char err[256];
	int rc = 0;

	if (!ips || !info || !which || !cc) {
		rc = -ENOMEM;
		goto out;
	}
	/* The biggest remotes first, so that a cut leaves out the least. */
	for (size_t i = 0; i < n; i++) {
		if (ip_is_local(top[i]->key) || cc_get(d, top[i]->key, cc[i]))
			continue;
		if (k == AGG_COUNTRY_LOOKUPS) {
			a->countries_partial = 1;
			break;
		}
		memcpy(ips[k], top[i]->key, 16);
		which[k++] = i;
	}
	if (k && store_ip_info_batch(r, (const uint8_t (*)[16])ips, k, info,
				     err, sizeof(err)) != 0) {
		log_warnx("dashboard: countries: %s", err);
		a->countries_partial = 1;
		k = 0;
	}
	for (size_t j = 0; j < k; j++) {
		memcpy(cc[which[j]], info[j].country, 4);
		cc_put(d, ips[j], info[j].country);
	}
	for (size_t i = 0; i < n; i++) {
		const struct dash_aent *e = top[i];
		struct dash_aent *c;

		if (!(c = amap_get(&a->countries, a->sip, cc[i], 0, NULL))) {
			a->truncated = 1;
			continue;
		}
		c->bytes_sent += e->bytes_sent;
		c->bytes_received += e->bytes_received;
		c->flows += e->flows;
	}
out:
	free(ips);
	free(info);
	free(which);
	free(cc);
	return rc;
}
