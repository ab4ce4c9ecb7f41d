/*
 * detect_learn.c - the two detectors that learn what is normal for a
 * workload and then report what is not: unexpected-port from the learned
 * port baseline, and new-destination.
 *
 * Learning starts when the detector first sees the workload (or, for the
 * ports, at the earliest baseline row an earlier run saved for it) and lasts
 * port_learn_s / new_dest_learn_s.  During it, everything the workload does
 * is added to its sets silently; after it, a flow outside the sets raises an
 * alert.  After learning the sets are frozen for ports (every use of a new
 * port repeats the same alert, merged by its dedup key) and keep growing for
 * destinations (a destination is new once).
 *
 * Ports are the service port: the remote port of an egress flow, the local
 * port of an ingress one, for protocols that have ports.  They are persisted
 * through on_baseline (one row per new tuple while learning), so a restart
 * does not start the learning over.  Destinations are kept in memory only:
 * the store's baselines table has no column for an address or a name, so
 * the destination sets are learned again after a restart.
 *
 * A flow the policy explicitly allows (a rule or NetworkPolicy rule named
 * it) is expected by definition: it is learned, never reported.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "detect_int.h"

#define NS 1000000000ull

static int learning(uint64_t since_ns, uint64_t period_s, uint64_t now_ns)
{
	return now_ns < since_ns || now_ns - since_ns < period_s * NS;
}

/* ---- ports ------------------------------------------------------------------ */

struct portkey {
	uint8_t proto, direction;
	uint16_t port;
};

static void emit_baseline(struct detect *d, const struct dwl *w,
			  const struct portkey *k, const struct dport *p)
{
	struct detect_baseline b;

	if (!w->known || !d->cfg.on_baseline)
		return;
	memset(&b, 0, sizeof(b));
	alert_snprintf(b.workload, sizeof(b.workload), "%s", w->name);
	b.proto = k->proto;
	b.direction = k->direction;
	b.port = k->port;
	b.first_seen_ns = p->first_seen_ns;
	b.last_seen_ns = p->last_seen_ns;
	b.count = p->count ? p->count : 1;
	CNT(d->baseline_emitted);
	d->cfg.on_baseline(d->cfg.ctx, &b);
}

int detect_port_load(struct detect *d, struct dwl *w,
		     const struct detect_baseline *b)
{
	struct portkey k = {b->proto, b->direction, b->port};
	uint32_t wi = detect_wl_index(d, w);
	struct dport *p;
	int created;

	if (!alert_proto_has_ports(b->proto) || b->direction > POLICY_INGRESS) {
		CNT(d->baseline_refused);
		return -EINVAL;
	}
	/* Loading never evicts: what an earlier run learned is worth more
	 * than what happens to come later in the table. */
	p = dtab_find(&d->ports, wi, &k);
	if (!p && (d->ports.own_n[wi] >= d->ports.per_owner ||
		   d->ports.used >= d->ports.cap)) {
		CNT(d->baseline_refused);
		return -ENOSPC;
	}
	created = !p;
	if (!p)
		p = dtab_get(&d->ports, wi, &k, NULL);
	if (created || (b->first_seen_ns && b->first_seen_ns < p->first_seen_ns))
		p->first_seen_ns = b->first_seen_ns;
	if (b->last_seen_ns > p->last_seen_ns)
		p->last_seen_ns = b->last_seen_ns;
	p->count += b->count ? b->count : 1;
	if (b->first_seen_ns &&
	    (!w->port_since_ns || b->first_seen_ns < w->port_since_ns))
		w->port_since_ns = b->first_seen_ns;
	CNT(d->baseline_loaded);
	return 0;
}

/* "tcp/443, tcp/5432, udp/53" - up to five ports of the baseline. */
static void fmt_known_ports(struct detect *d, uint32_t wi, uint8_t dir,
			    char *out, size_t len)
{
	const struct dport *p = NULL;
	size_t off = 0;
	unsigned n = 0, more = 0;

	out[0] = '\0';
	while ((p = dtab_owner_next(&d->ports, wi, p))) {
		const struct portkey *k = dtab_key(&d->ports, p);
		char pb[24];
		int m;

		if (k->direction != dir)
			continue;
		if (n == 5) {
			more++;
			continue;
		}
		alert_fmt_port(k->proto, k->port, pb, sizeof(pb));
		m = snprintf(out + off, len - off, "%s%s", n ? ", " : "", pb);
		if (m < 0 || (size_t)m >= len - off)
			break;
		off += (size_t)m;
		n++;
	}
	if (more && off < len)
		alert_snprintf(out + off, len - off, " and %u more", more);
	if (!n)
		alert_snprintf(out, len, "none");
}

int detect_learned_port(struct detect *d, const struct detect_event *ev,
			struct dwl *w, int quiet)
{
	struct portkey k;
	uint32_t wi = detect_wl_index(d, w);
	uint64_t since = w->port_since_ns && w->port_since_ns < w->first_seen_ns ?
				 w->port_since_ns : w->first_seen_ns;
	struct policy_alert *a;
	struct dport *p;
	char port[32], remote[EW_IPSTR_MAX + 8], known[160], period[16], ip[EW_IPSTR_MAX];
	int created;

	if (!alert_proto_has_ports(ev->proto))
		return 0;
	memset(&k, 0, sizeof(k));
	k.proto = ev->proto;
	k.direction = ev->direction == POLICY_INGRESS ? POLICY_INGRESS : POLICY_EGRESS;
	k.port = k.direction == POLICY_INGRESS ? ev->local_port : ev->remote_port;

	if (learning(since, d->cfg.port_learn_s, ev->now_ns) ||
	    detect_explicit_allow(ev)) {
		p = dtab_get(&d->ports, wi, &k, &created);
		if (created)
			p->first_seen_ns = ev->now_ns;
		p->last_seen_ns = ev->now_ns;
		p->count++;
		if (created)
			emit_baseline(d, w, &k, p);
		return 0;
	}
	p = dtab_find(&d->ports, wi, &k);
	if (p) {
		p->last_seen_ns = ev->now_ns;
		p->count++;
		return 0;
	}
	if (quiet)
		return 0;

	a = detect_alert_flow(d, DETECT_UNEXPECTED_PORT, POLICY_SEV_WARNING, ev, w);
	alert_snprintf(a->rule, sizeof(a->rule), "baseline/ports");
	alert_fmt_port(k.proto, k.port, port, sizeof(port));
	alert_fmt_endpoint(ev->remote_ip, ev->proto, ev->remote_port, remote,
			   sizeof(remote));
	fmt_known_ports(d, wi, k.direction, known, sizeof(known));
	alert_fmt_duration(d->cfg.port_learn_s, period, sizeof(period));
	if (k.direction == POLICY_INGRESS)
		alert_snprintf(a->message, sizeof(a->message),
			       "%s accepted a connection on %s from %s, a port it "
			       "did not serve during its %s learning period (it "
			       "serves: %s)", detect_wl_display(w), port, remote,
			       period, known);
	else
		alert_snprintf(a->message, sizeof(a->message),
			       "%s connected to %s on %s, a port it did not use "
			       "during its %s learning period (it uses: %s)",
			       detect_wl_display(w), remote, port, period, known);
	ew_ip_to_str(ev->remote_ip, ip);
	ew_buf_printf(&d->ev, "{\"source\":\"baseline\",\"direction\":\"%s\","
		      "\"port\":%u,\"proto\":%u,\"remote_ip\":\"%s\","
		      "\"remote_port\":%u,\"learn_s\":%llu,\"flow_id\":%llu,"
		      "\"known_ports\":",
		      k.direction == POLICY_INGRESS ? "ingress" : "egress", k.port,
		      k.proto, ip, ev->remote_port,
		      (unsigned long long)d->cfg.port_learn_s,
		      (unsigned long long)ev->flow_id);
	ew_buf_json_str(&d->ev, known);
	ew_buf_puts(&d->ev, "}");
	/* Keyed on the port, not the peer: one row per new port. */
	detect_emit(d, w, k.direction == POLICY_INGRESS ? "*" : ip, k.port,
		    k.proto);
	return 1;
}

/* ---- destinations ------------------------------------------------------------- */

struct destkey {
	uint8_t kind;
	uint8_t pad[3];
	uint8_t v[16];
};

static void destkey_of(struct detect *d, struct destkey *k, int kind,
		       const struct detect_event *ev)
{
	memset(k, 0, sizeof(*k));
	k->kind = (uint8_t)kind;
	switch (kind) {
	case DEST_ADDR:
		memcpy(k->v, ev->remote_ip, 16);
		break;
	case DEST_NAME: {
		char low[POLICY_NAME_MAX];
		size_t i;
		uint64_t h;

		for (i = 0; ev->remote_name[i] && i + 1 < sizeof(low); i++)
			low[i] = (char)(ev->remote_name[i] >= 'A' &&
					ev->remote_name[i] <= 'Z' ?
						ev->remote_name[i] | 0x20 :
						ev->remote_name[i]);
		if (i && low[i - 1] == '.')
			i--;
		h = ew_siphash(d->sipkey, low, i);
		memcpy(k->v, &h, 8);
		break;
	}
	case DEST_ASN:
		memcpy(k->v, &ev->remote_asn, 4);
		break;
	case DEST_COUNTRY:
		k->v[0] = (uint8_t)(ev->remote_country[0] | 0x20);
		k->v[1] = (uint8_t)(ev->remote_country[1] | 0x20);
		break;
	}
}

int detect_new_destination(struct detect *d, const struct detect_event *ev,
			   struct dwl *w, int quiet)
{
	uint32_t wi = detect_wl_index(d, w);
	int has_name = ev->remote_name && ev->remote_name[0];
	int has_asn = ev->remote_asn != 0;
	int has_cc = ev->remote_country && strlen(ev->remote_country) == 2;
	struct destkey ka, kn, ks, kc;
	int new_addr, new_name = 0, new_asn = 0, new_cc = 0;
	struct policy_alert *a;
	char remote[512], what[128], period[16], ip[EW_IPSTR_MAX];
	size_t off = 0;

	if (ev->direction != POLICY_EGRESS || !ev->remote_outside)
		return 0;
	destkey_of(d, &ka, DEST_ADDR, ev);
	if (has_name)
		destkey_of(d, &kn, DEST_NAME, ev);
	if (has_asn)
		destkey_of(d, &ks, DEST_ASN, ev);
	if (has_cc)
		destkey_of(d, &kc, DEST_COUNTRY, ev);

	/* Learning counts from the first flow seen by this process: a
	 * workload known from saved port baselines has no saved
	 * destinations, and must not find all of them new. */
	if (learning(w->dest_since_ns, d->cfg.new_dest_learn_s, ev->now_ns) ||
	    detect_explicit_allow(ev) || quiet) {
		dtab_get(&d->dests, wi, &ka, NULL);
		if (has_name)
			dtab_get(&d->dests, wi, &kn, NULL);
		if (has_asn)
			dtab_get(&d->dests, wi, &ks, NULL);
		if (has_cc)
			dtab_get(&d->dests, wi, &kc, NULL);
		return 0;
	}
	/* A known name on a new address is a CDN or a DNS change, not a new
	 * destination: learn the address, report nothing. */
	/* All four are looked up before any is added (adding one may evict
	 * another of this workload's); a find moves what it finds to the
	 * front just as a get would, so only the new ones are added. */
	new_addr = dtab_find(&d->dests, wi, &ka) == NULL;
	if (has_name)
		new_name = dtab_find(&d->dests, wi, &kn) == NULL;
	if (has_asn)
		new_asn = dtab_find(&d->dests, wi, &ks) == NULL;
	if (has_cc)
		new_cc = dtab_find(&d->dests, wi, &kc) == NULL;
	if (new_addr)
		dtab_get(&d->dests, wi, &ka, NULL);
	if (new_name)
		dtab_get(&d->dests, wi, &kn, NULL);
	if (new_asn)
		dtab_get(&d->dests, wi, &ks, NULL);
	if (new_cc)
		dtab_get(&d->dests, wi, &kc, NULL);
	if (!new_addr || (has_name && !new_name))
		return 0;

	a = detect_alert_flow(d, DETECT_NEW_DESTINATION, POLICY_SEV_INFO, ev, w);
	alert_snprintf(a->rule, sizeof(a->rule), "baseline/destinations");
	{
		char ep[EW_IPSTR_MAX + 8], info[POLICY_NAME_MAX + 32];
		alert_fmt_endpoint(ev->remote_ip, ev->proto, ev->remote_port, ep,
				   sizeof(ep));
		alert_fmt_remote_info(ev->remote_name, ev->remote_country,
				      ev->remote_asn, info, sizeof(info));
		alert_snprintf(remote, sizeof(remote), "%s%s", ep, info);
	}
	what[0] = '\0';
	if (new_cc) {
		alert_snprintf(what, sizeof(what), "; first time in country %s",
			       ev->remote_country);
		off = strlen(what);
	}
	if (new_asn)
		alert_snprintf(what + off, sizeof(what) - off,
			       "%s AS%u", off ? " and" : "; first time in",
			       ev->remote_asn);
	alert_fmt_duration(d->cfg.new_dest_learn_s, period, sizeof(period));
	alert_snprintf(a->message, sizeof(a->message),
		       "%s contacted a new outside destination %s%s (not seen in "
		       "its %s learning period or since)", detect_wl_display(w),
		       remote, what, period);
	ew_ip_to_str(ev->remote_ip, ip);
	ew_buf_printf(&d->ev, "{\"new_address\":true,\"new_name\":%s,"
		      "\"new_asn\":%s,\"new_country\":%s,\"learn_s\":%llu,"
		      "\"flow_id\":%llu}",
		      new_name ? "true" : "false", new_asn ? "true" : "false",
		      new_cc ? "true" : "false",
		      (unsigned long long)d->cfg.new_dest_learn_s,
		      (unsigned long long)ev->flow_id);
	detect_emit(d, w, ip, ev->remote_port, ev->proto);
	return 1;
}
