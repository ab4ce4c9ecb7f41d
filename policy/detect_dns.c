/*
 * detect_dns.c - dns-tunnel: data smuggled out in DNS names.
 *
 * A tunnel (iodine, dnscat2, DNSExfiltrator, ...) encodes data into the
 * labels of names under a domain whose authoritative server the attacker
 * runs, so every query carries a new, long, random-looking name.  Benign
 * names are short, repeat, or are long but few.  Both signs are counted per
 * client workload and registered domain over a tumbling window:
 *
 *   suspicious names  distinct names whose subdomain (the labels left of the
 *                     registered domain, dots removed) has a label of at
 *                     least dns_label_len characters or is at least
 *                     dns_sub_len long, AND has a Shannon entropy of at
 *                     least dns_entropy bits per character;
 *   unique names      distinct names whose subdomain is at least 13
 *                     characters (longer than any reversed IPv4 address,
 *                     so DNSBL lookups do not count).
 *
 * dns_min_suspicious suspicious names, or dns_max_unique unique ones, for
 * one (workload, domain) within dns_window_s raise one alert for that
 * window.  One long random name alone never does: content hashes and load
 * balancer names look like that, but come one or two at a time.
 *
 * The registered domain is found without the public suffix list: the last
 * two labels, or three when the second-to-last is at most three characters
 * and the last is a two-letter country code (co.uk, com.au, net.br).  That
 * gets a few names wrong (a tunnel under x.t.co is seen as the domain
 * x.t.co) and costs no table to keep current.
 *
 * Not looked at: reverse lookups (*.arpa), cluster and link-local names
 * (*.local, *.internal, localhost), and the zones of the large CDN and
 * cloud providers (amazonaws.com, cloudfront.net, akamaiedge.net, ...):
 * their names are long and random by design, and no attacker can run their
 * authoritative servers, which a tunnel needs.
 *
 * Names are in capture's presentation form: \DDD escapes are decoded for
 * the entropy and compared case-insensitively.  Each (workload, domain)
 * keeps DNS_SET_SLOTS name hashes; a set that fills is counted and stops
 * growing (the thresholds are below its size, so it has alerted by then).
 */
#include <math.h>
#include <string.h>

#include "detect_int.h"

#define NS 1000000000ull
#define MAX_LABELS 128

static const char *const ignored_suffixes[] = {
	"arpa", "local", "localhost", "internal", "localdomain",
	"amazonaws.com", "cloudfront.net", "akamaiedge.net", "akamai.net",
	"akamaitechnologies.com", "edgekey.net", "edgesuite.net",
	"googleusercontent.com", "googlevideo.com", "1e100.net",
	"azurewebsites.net", "cloudapp.azure.com", "core.windows.net",
	"trafficmanager.net", "fastly.net", "fastlylb.net",
};

/* A name split into lower-cased, unescaped labels. */
struct dname {
	char text[POLICY_NAME_MAX];	/* decoded, lower case, '.' between */
	size_t len;
	uint32_t off[MAX_LABELS], llen[MAX_LABELS];
	uint32_t n;
};

static int digit(char c)
{
	return c >= '0' && c <= '9';
}

/* 0, or -1 for a name that is not worth looking at (empty, bad escape). */
static int parse_name(const char *q, struct dname *dn)
{
	size_t i = 0, o = 0;
	uint32_t start = 0;

	dn->n = 0;
	dn->len = 0;
	while (q[i] && o + 1 < sizeof(dn->text)) {
		unsigned char c = (unsigned char)q[i];

		if (c == '\\' && digit(q[i + 1]) && digit(q[i + 2]) && digit(q[i + 3])) {
			int v = (q[i + 1] - '0') * 100 + (q[i + 2] - '0') * 10 +
				(q[i + 3] - '0');
			/* An escaped dot is data, not a separator: keep a
			 * stand-in that is never '.'. */
			c = (unsigned char)(v == '.' ? 0x7f : v);
			i += 4;
		} else if (c == '\\' && q[i + 1]) {
			c = (unsigned char)q[i + 1];
			i += 2;
		} else if (c == '.') {
			if (o == start)		/* empty label, or "." alone */
				return -1;
			if (dn->n == MAX_LABELS)
				return -1;
			dn->off[dn->n] = start;
			dn->llen[dn->n++] = (uint32_t)(o - start);
			dn->text[o++] = '.';
			start = (uint32_t)o;
			i++;
			continue;
		} else {
			i++;
		}
		if (c >= 'A' && c <= 'Z')
			c |= 0x20;
		if (c == 0)
			c = 0x7f;
		dn->text[o++] = (char)c;
	}
	if (q[i])
		return -1;			/* longer than any DNS name */
	if (o > start) {
		if (dn->n == MAX_LABELS)
			return -1;
		dn->off[dn->n] = start;
		dn->llen[dn->n++] = (uint32_t)(o - start);
	} else if (o && dn->text[o - 1] == '.') {
		o--;
	}
	dn->text[o] = '\0';
	dn->len = o;
	return dn->n ? 0 : -1;
}

/* Labels the registered domain takes, counted from the right. */
static uint32_t registered_labels(const struct dname *dn)
{
	uint32_t n = dn->n;

	if (n <= 2)
		return n;
	if (dn->llen[n - 2] <= 3 && dn->llen[n - 1] == 2)
		return 3;
	return 2;
}

static int ignored(const struct dname *dn)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(ignored_suffixes); i++) {
		const char *s = ignored_suffixes[i];
		size_t l = strlen(s);

		if (dn->len == l && memcmp(dn->text, s, l) == 0)
			return 1;
		if (dn->len > l && dn->text[dn->len - l - 1] == '.' &&
		    memcmp(dn->text + dn->len - l, s, l) == 0)
			return 1;
	}
	return 0;
}

/* Shannon entropy in bits per character of the first `sub_end` bytes of
 * the name, dots left out; the subdomain's length and longest label. */
static double sub_entropy(const struct dname *dn, uint32_t sub_labels,
			  uint32_t *sub_len, uint32_t *longest)
{
	uint32_t count[256] = {0}, n = 0;
	double h = 0;

	*longest = 0;
	for (uint32_t l = 0; l < sub_labels; l++) {
		const unsigned char *p = (const unsigned char *)dn->text + dn->off[l];
		for (uint32_t k = 0; k < dn->llen[l]; k++)
			count[p[k]]++;
		n += dn->llen[l];
		if (dn->llen[l] > *longest)
			*longest = dn->llen[l];
	}
	*sub_len = n;
	for (int c = 0; c < 256 && n; c++)
		if (count[c]) {
			double pr = (double)count[c] / n;
			h -= pr * log2(pr);
		}
	return h;
}

/* Add `h` to the set; 1 new, 0 present, -1 full. */
static int set_add(struct ddomain *dm, uint32_t h)
{
	uint32_t i = h & (DNS_SET_SLOTS - 1);

	if (dm->unique >= DNS_SET_SLOTS * 3 / 4)
		goto full;
	for (uint32_t k = 0; k < DNS_SET_SLOTS; k++, i = (i + 1) & (DNS_SET_SLOTS - 1)) {
		if (dm->set[i] == h)
			return 0;
		if (dm->set[i] == 0) {
			dm->set[i] = h;
			return 1;
		}
	}
full:
	/* Present or not, it cannot be told apart from a new name any more. */
	for (uint32_t k = 0; k < DNS_SET_SLOTS; k++, i = (i + 1) & (DNS_SET_SLOTS - 1))
		if (dm->set[i] == h)
			return 0;
	return -1;
}

/* The domain as presentation text again: bytes outside printable ASCII
 * (decoded from \DDD) and the backslash are escaped as \DDD. */
static void escape_domain(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (; *in && o + 5 < len; in++) {
		unsigned char c = (unsigned char)*in;
		if (c == 0x7f || c < 0x21 || c > 0x7e || c == '\\') {
			alert_snprintf(out + o, len - o, "\\%03u",
				       c == 0x7f ? (unsigned)'.' : c);
			o += 4;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

static int raise_tunnel(struct detect *d, const struct detect_dns *q,
			struct dwl *w, struct ddomain *dm)
{
	struct policy_alert *a = &d->alert;
	char win[16];

	memset(a, 0, sizeof(*a));
	ew_buf_reset(&d->ev);
	a->first_seen_ns = a->last_seen_ns = q->now_ns;
	a->count = 1;
	a->kind = DETECT_DNS_TUNNEL;
	a->severity = POLICY_SEV_WARNING;
	alert_snprintf(a->rule, sizeof(a->rule), "heuristic/dns-tunnel");
	if (w->known)
		alert_snprintf(a->workload, sizeof(a->workload), "%s", w->name);
	alert_snprintf(a->remote_name, sizeof(a->remote_name), "%s", dm->domain);
	alert_fmt_duration(d->cfg.dns_window_s, win, sizeof(win));
	if (dm->suspicious >= d->cfg.dns_min_suspicious)
		alert_snprintf(a->message, sizeof(a->message),
			       "%s looked up %u long random-looking names under %s "
			       "in %s (longest subdomain %u characters, entropy "
			       "%.1f bits/char), e.g. %s: possible DNS tunnel",
			       detect_wl_display(w), dm->suspicious, dm->domain,
			       win, dm->longest, dm->max_entropy, dm->example[0]);
	else
		alert_snprintf(a->message, sizeof(a->message),
			       "%s looked up %u distinct long names under %s in %s, "
			       "e.g. %s: possible DNS tunnel", detect_wl_display(w),
			       dm->unique, dm->domain, win,
			       dm->example[0][0] ? dm->example[0] : q->qname);
	ew_buf_printf(&d->ev, "{\"domain\":");
	ew_buf_json_str(&d->ev, dm->domain);
	ew_buf_printf(&d->ev, ",\"window_s\":%llu,\"suspicious_names\":%u,"
		      "\"unique_names\":%u,\"longest_subdomain\":%u,"
		      "\"max_entropy\":%.2f,\"thresholds\":{\"min_suspicious\":%u,"
		      "\"max_unique\":%u,\"label_len\":%u,\"sub_len\":%u,"
		      "\"entropy\":%.2f},\"qtype\":%u,\"examples\":[",
		      (unsigned long long)d->cfg.dns_window_s, dm->suspicious,
		      dm->unique, dm->longest, dm->max_entropy,
		      d->cfg.dns_min_suspicious, d->cfg.dns_max_unique,
		      d->cfg.dns_label_len, d->cfg.dns_sub_len, d->cfg.dns_entropy,
		      q->qtype);
	for (int i = 0; i < 2; i++)
		if (dm->example[i][0]) {
			if (i)
				ew_buf_puts(&d->ev, ",");
			ew_buf_json_str(&d->ev, dm->example[i]);
		}
	ew_buf_puts(&d->ev, "]}");
	detect_emit(d, w, dm->domain, 0, 0);
	return 1;
}

int detect_dns_query(struct detect *d, const struct detect_dns *q,
		     struct dwl *w)
{
	struct dname dn;
	struct ddomain *dm;
	uint32_t reg, sub_len, longest;
	uint64_t key, now = q->now_ns;
	uint32_t h;
	double ent;
	int suspicious, created, added;
	const char *domain;

	if (parse_name(q->qname, &dn) != 0 || ignored(&dn))
		return 0;
	reg = registered_labels(&dn);
	if (reg >= dn.n)
		return 0;			/* no subdomain: nothing encoded */
	domain = dn.text + dn.off[dn.n - reg];
	ent = sub_entropy(&dn, dn.n - reg, &sub_len, &longest);
	if (sub_len < 13)
		return 0;
	suspicious = (longest >= d->cfg.dns_label_len ||
		      sub_len >= d->cfg.dns_sub_len) &&
		     ent >= d->cfg.dns_entropy;

	key = ew_siphash(d->sipkey, domain, strlen(domain));
	dm = dtab_get(&d->domains, detect_wl_index(d, w), &key, &created);
	if (created || now >= dm->win_start_ns + d->cfg.dns_window_s * NS) {
		memset(dm, 0, sizeof(*dm));
		escape_domain(domain, dm->domain, sizeof(dm->domain));
		dm->win_start_ns = now;
	}
	h = (uint32_t)ew_siphash(d->sipkey, dn.text, dn.len) | 1u;
	added = set_add(dm, h);
	if (added < 0) {
		CNT(d->domain_names_full);
		return 0;
	}
	if (!added)
		return 0;
	dm->unique++;
	if (suspicious) {
		dm->suspicious++;
		if (sub_len > dm->longest)
			dm->longest = sub_len;
		if (ent > dm->max_entropy)
			dm->max_entropy = ent;
		for (int i = 0; i < 2; i++)
			if (!dm->example[i][0]) {
				alert_snprintf(dm->example[i], sizeof(dm->example[i]),
					       "%s", q->qname);
				break;
			}
	}
	if (dm->suspicious >= d->cfg.dns_min_suspicious ||
	    dm->unique >= d->cfg.dns_max_unique) {
		if (now < dm->alert_until_ns) {
			CNT(d->suppressed);	/* this window already reported */
			return 0;
		}
		dm->alert_until_ns = dm->win_start_ns + d->cfg.dns_window_s * NS;
		return raise_tunnel(d, q, w, dm);
	}
	return 0;
}
