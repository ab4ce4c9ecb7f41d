/*
 * detect.c - the detectors' front door: configuration, the tables, the
 * per-workload and per-flow state, the detectors that read the policy's
 * verdict (policy-violation, listen-only-egress, unexpected-port from the
 * policy), and alert emission with dedup and repeat tracking.
 *
 * Order of work for one flow event:
 *   1. the workload entry (created on first sight: learning starts there);
 *   2. on the flow's first event seen: the policy detectors, then - only if
 *      none of them alerted - the learned port baseline, new-destination
 *      and beaconing, because one fact should be one alert;
 *   3. on every event with bytes: exfil-volume (detect_volume.c);
 *   4. on END: the flow's state is dropped.
 *
 * Emission.  Every alert gets a dedup_key of (kind, workload, remote,
 * port/proto, window index); the recent-alert table remembers keys seen in
 * this process so that repeats are marked (the store still counts them, the
 * sinks skip them).  Rate limits that keep a detector from re-firing at all
 * (one listen-only alert per flow, one exfil alert per remote per window)
 * live in the detectors themselves.
 *
 * Nothing here allocates after detect_open(), blocks or logs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detect_int.h"

void detect_config_defaults(struct detect_config *c)
{
	memset(c, 0, sizeof(*c));
	c->max_workloads = 4096;
	c->max_flows = 65536;
	c->max_remotes = 16384;
	c->max_remotes_per_workload = 64;
	c->max_destinations = 65536;
	c->max_destinations_per_workload = 2048;
	c->max_ports = 65536;
	c->max_ports_per_workload = 256;
	c->max_beacons = 16384;
	c->max_beacons_per_workload = 256;
	c->max_domains = 2048;
	c->max_domains_per_workload = 32;
	c->max_recent_alerts = 16384;
	c->dedup_window_s = 3600;
	c->report_audit = 1;
	c->port_learning = 1;
	c->port_learn_s = 86400;
	c->exfil_budget_bytes = 100ull << 20;
	c->exfil_window_s = 300;
	c->exfil_baseline_factor = 10;
	c->exfil_baseline_floor = 10ull << 20;
	c->exfil_baseline_windows = 12;
	c->new_destination = 1;
	c->new_dest_learn_s = 3600;
	c->dns_window_s = 300;
	c->dns_min_suspicious = 8;
	c->dns_max_unique = 150;
	c->dns_label_len = 24;
	c->dns_sub_len = 40;
	c->dns_entropy = 3.6;
	c->beacon_min_conns = 8;
	c->beacon_max_cv = 0.1;
	c->beacon_min_period_s = 5;
	c->beacon_max_period_s = 3600;
	c->scan_window_s = 60;
	c->scan_min_targets = 64;
}

/* ---- tables ------------------------------------------------------------- */

/* A workload leaves: everything it owns in the other tables goes with it -
 * except its flows' judged marks, which are keyed on the flow id alone:
 * a flow judged once is never judged (and alerted on) again because its
 * workload's state was evicted in between. */
static void wl_evicted(void *ctx, struct dtab *t, void *val)
{
	struct detect *d = ctx;
	uint32_t o = dtab_index(t, val);

	dtab_del_owner(&d->remotes, o);
	dtab_del_owner(&d->dests, o);
	dtab_del_owner(&d->ports, o);
	dtab_del_owner(&d->beacons, o);
	dtab_del_owner(&d->domains, o);
}

static int check_config(const struct detect_config *c, char *err, size_t errlen)
{
	const char *bad = NULL;

	if (!c->max_workloads || !c->max_flows || !c->max_remotes ||
	    !c->max_destinations || !c->max_ports || !c->max_beacons ||
	    !c->max_domains || !c->max_recent_alerts)
		bad = "every table needs a cap above 0";
	else if (!c->dedup_window_s)
		bad = "dedup_window_s must be above 0";
	else if (!c->exfil_budget_bytes || !c->exfil_window_s)
		bad = "the default budget and its window must be above 0";
	else if (!c->dns_window_s || !c->dns_min_suspicious || !c->dns_max_unique)
		bad = "dns-tunnel window and counts must be above 0";
	else if (c->dns_max_unique > DNS_SET_SLOTS * 3 / 4)
		bad = "dns_max_unique is above what a domain's name set holds (192)";
	else if (c->beacon_min_conns < 3 || c->beacon_min_conns > BEACON_KEEP)
		bad = "beacon_min_conns must be 3..16";
	else if (c->beacon_min_period_s > c->beacon_max_period_s)
		bad = "beacon_min_period_s is above beacon_max_period_s";
	else if (c->scan_min_targets && !c->scan_window_s)
		bad = "scan_window_s must be above 0";
	else if (c->scan_min_targets > SCAN_SET_WORDS * 64)
		bad = "scan_min_targets is above what the target set tells apart (512)";
	if (bad)
		snprintf(err, errlen, "detect: %s", bad);
	return bad ? -EINVAL : 0;
}

struct detect *detect_open(const struct detect_config *cfg, char *err,
			   size_t errlen)
{
	struct detect *d;
	const struct detect_config *c = cfg;
	uint32_t nw;
	int rc = 0;

	if (check_config(cfg, err, errlen))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		goto oom;
	d->cfg = *cfg;
	nw = c->max_workloads;
	if ((rc = dtab_init(&d->wl, nw, nw, 1, 8, sizeof(struct dwl))) ||
	    (rc = dtab_init(&d->flows, c->max_flows, c->max_flows, 1, 8,
			    sizeof(struct dflow))) ||
	    (rc = dtab_init(&d->remotes, c->max_remotes,
			    c->max_remotes_per_workload, nw, 16,
			    sizeof(struct dremote))) ||
	    (rc = dtab_init(&d->dests, c->max_destinations,
			    c->max_destinations_per_workload, nw, 20,
			    sizeof(struct ddest))) ||
	    (rc = dtab_init(&d->ports, c->max_ports, c->max_ports_per_workload,
			    nw, 4, sizeof(struct dport))) ||
	    (rc = dtab_init(&d->beacons, c->max_beacons,
			    c->max_beacons_per_workload, nw, 20,
			    sizeof(struct dbeacon))) ||
	    (rc = dtab_init(&d->domains, c->max_domains,
			    c->max_domains_per_workload, nw, 8,
			    sizeof(struct ddomain))) ||
	    (rc = dtab_init(&d->recent, c->max_recent_alerts,
			    c->max_recent_alerts, 1, 8, sizeof(struct drecent))))
		goto fail;
	d->wl.on_evict = wl_evicted;
	d->wl.ctx = d;
	if ((rc = ew_random_bytes(d->sipkey, sizeof(d->sipkey))))
		goto fail;
	/* The evidence buffer is grown to its maximum once, here, so that
	 * building evidence never allocates on the pipeline thread. */
	ew_buf_init(&d->ev, POLICY_EVIDENCE_MAX);
	{
		static const char pad[POLICY_EVIDENCE_MAX - 1];
		if (ew_buf_append(&d->ev, pad, sizeof(pad)) != 0)
			goto oom;
		ew_buf_reset(&d->ev);
	}
	return d;
fail:
	if (rc != -ENOMEM) {
		snprintf(err, errlen, "detect: %s", strerror(-rc));
		detect_close(d);
		return NULL;
	}
oom:
	snprintf(err, errlen, "detect: out of memory");
	detect_close(d);
	return NULL;
}

void detect_close(struct detect *d)
{
	if (!d)
		return;
	d->wl.on_evict = NULL;
	dtab_free(&d->wl);
	dtab_free(&d->flows);
	dtab_free(&d->remotes);
	dtab_free(&d->dests);
	dtab_free(&d->ports);
	dtab_free(&d->beacons);
	dtab_free(&d->domains);
	dtab_free(&d->recent);
	ew_buf_free(&d->ev);
	free(d);
}

void detect_get_stats(struct detect *d, struct detect_stats *o)
{
#define LD(x) atomic_load_explicit(&(x), memory_order_relaxed)
	memset(o, 0, sizeof(*o));
	o->events = LD(d->events);
	o->dns_answers = LD(d->dns_answers);
	for (int i = 0; i < DETECT__COUNT; i++)
		o->alerts[i] = LD(d->alerts[i]);
	o->repeats = LD(d->repeats);
	o->suppressed = LD(d->suppressed);
	o->clock_backwards = LD(d->clock_backwards);
	o->invalid = LD(d->invalid);
	o->workloads = LD(d->wl.used);
	o->workloads_evicted = LD(d->wl.evicted);
	o->flows = LD(d->flows.used);
	o->flows_evicted = LD(d->flows.evicted) + LD(d->flows.evicted_quota);
	o->remotes = LD(d->remotes.used);
	o->remotes_evicted = LD(d->remotes.evicted);
	o->remotes_evicted_quota = LD(d->remotes.evicted_quota);
	o->destinations = LD(d->dests.used);
	o->destinations_evicted = LD(d->dests.evicted);
	o->destinations_evicted_quota = LD(d->dests.evicted_quota);
	o->ports = LD(d->ports.used);
	o->ports_evicted = LD(d->ports.evicted);
	o->ports_evicted_quota = LD(d->ports.evicted_quota);
	o->beacons = LD(d->beacons.used);
	o->beacons_evicted = LD(d->beacons.evicted);
	o->beacons_evicted_quota = LD(d->beacons.evicted_quota);
	o->domains = LD(d->domains.used);
	o->domains_evicted = LD(d->domains.evicted);
	o->domains_evicted_quota = LD(d->domains.evicted_quota);
	o->domain_names_full = LD(d->domain_names_full);
	o->recent_alerts_evicted = LD(d->recent.evicted);
	o->baseline_emitted = LD(d->baseline_emitted);
	o->baseline_loaded = LD(d->baseline_loaded);
	o->baseline_refused = LD(d->baseline_refused);
	o->memory_bytes = sizeof(*d) + d->wl.bytes + d->flows.bytes +
			  d->remotes.bytes + d->dests.bytes + d->ports.bytes +
			  d->beacons.bytes + d->domains.bytes + d->recent.bytes +
			  POLICY_EVIDENCE_MAX;
#undef LD
}

/* ---- workloads ---------------------------------------------------------- */

struct dwl *detect_workload(struct detect *d, const char *workload,
			    const uint8_t ip[16], uint64_t now_ns)
{
	char ipkey[4 + EW_IPSTR_MAX];
	const char *name = workload;
	uint64_t h;
	struct dwl *w;
	int created;

	if (!name || !name[0]) {
		memcpy(ipkey, "ip:", 3);
		ew_ip_to_str(ip, ipkey + 3);
		name = ipkey;
	}
	h = ew_siphash(d->sipkey, name, strlen(name));
	w = dtab_get(&d->wl, 0, &h, &created);
	if (!created && strncmp(w->name, name, sizeof(w->name) - 1) != 0) {
		/* Two names, one 64-bit hash: start over for the newcomer. */
		wl_evicted(d, &d->wl, w);
		memset(w, 0, sizeof(*w));
		created = 1;
	}
	if (created) {
		w->key_hash = h;
		ew_strcpy_cut(w->name, sizeof(w->name), name);
		w->known = name != ipkey;
		w->first_seen_ns = now_ns;
	}
	return w;
}

uint32_t detect_wl_index(struct detect *d, const struct dwl *w)
{
	return dtab_index(&d->wl, w);
}

/* The name shown for a workload: "prod/redis-0", or "10.0.0.5" when the
 * local side is an address with no known workload. */
const char *detect_wl_display(const struct dwl *w)
{
	return w->known ? w->name : w->name + 3;
}

/* ---- alerts ------------------------------------------------------------- */

int detect_explicit_allow(const struct detect_event *ev)
{
	const struct policy_result *r = ev->verdict;

	return r && r->verdict == POLICY_ALLOW &&
	       (r->reason == POLICY_R_RULE || r->reason == POLICY_R_NETPOL_ALLOW);
}

struct policy_alert *detect_alert_flow(struct detect *d, enum detect_kind k,
				       enum policy_severity sev,
				       const struct detect_event *ev,
				       const struct dwl *w)
{
	struct policy_alert *a = &d->alert;

	memset(a, 0, sizeof(*a));
	a->first_seen_ns = a->last_seen_ns = ev->now_ns;
	a->count = 1;
	a->kind = (uint8_t)k;
	a->severity = (uint8_t)sev;
	a->flow_id = ev->flow_id;
	a->bytes_sent = ev->bytes_sent;
	memcpy(a->remote_ip, ev->remote_ip, 16);
	a->remote_port = ev->remote_port;
	a->proto = ev->proto;
	a->remote_asn = ev->remote_asn;
	if (ev->remote_country)
		alert_snprintf(a->remote_country, sizeof(a->remote_country), "%s",
			       ev->remote_country);
	if (ev->remote_name)
		alert_snprintf(a->remote_name, sizeof(a->remote_name), "%s",
			       ev->remote_name);
	if (ev->verdict && ev->verdict->rule)
		alert_snprintf(a->rule, sizeof(a->rule), "%s", ev->verdict->rule);
	if (w && w->known)
		alert_snprintf(a->workload, sizeof(a->workload), "%s", w->name);
	ew_buf_reset(&d->ev);
	return a;
}

void detect_emit(struct detect *d, const struct dwl *w, const char *remote,
		 uint16_t port, uint8_t proto)
{
	struct policy_alert *a = &d->alert;
	uint64_t widx = a->first_seen_ns / (d->cfg.dedup_window_s * 1000000000ull);
	struct drecent *r;
	uint64_t h;
	int created;

	alert_dedup_key(a->dedup_key, detect_kind_name(a->kind), w->name, remote,
			port, proto, widx);
	if (d->ev.toobig || d->ev.len == 0)
		alert_snprintf(a->evidence, sizeof(a->evidence), "%s",
			       d->ev.toobig ? "{\"truncated\":true}" : "{}");
	else
		memcpy(a->evidence, d->ev.data, d->ev.len + 1);
	h = ew_siphash(d->sipkey, a->dedup_key, strlen(a->dedup_key));
	r = dtab_get(&d->recent, 0, &h, &created);
	if (r->count < UINT32_MAX)
		r->count++;
	a->occurrence = r->count;
	a->repeat = !created;
	if (a->repeat)
		CNT(d->repeats);
	CNT(d->alerts[a->kind]);
	if (d->cfg.on_alert)
		d->cfg.on_alert(d->cfg.ctx, a);
}

/* Egress flow alerts are keyed on the remote address and port. */
static void emit_flow(struct detect *d, const struct detect_event *ev,
		      const struct dwl *w)
{
	char remote[EW_IPSTR_MAX];

	ew_ip_to_str(ev->remote_ip, remote);
	detect_emit(d, w, remote, ev->remote_port, ev->proto);
}

/* Ingress flow alerts are keyed on the client address and our service
 * port, never the client's ephemeral one. */
static void emit_ingress(struct detect *d, const struct detect_event *ev,
			 const struct dwl *w)
{
	char remote[EW_IPSTR_MAX];

	ew_ip_to_str(ev->remote_ip, remote);
	detect_emit(d, w, remote, ev->local_port, ev->proto);
}

/* ---- message pieces ------------------------------------------------------ */

/* "203.0.113.66:6379 (sink.evil.example, NL, AS64500)", or for a known
 * pod "prod/redis-0 (10.0.0.7:6379)". */
static void fmt_remote(const struct detect_event *ev, char *out, size_t len)
{
	char ep[EW_IPSTR_MAX + 8], info[POLICY_NAME_MAX + 32];

	alert_fmt_endpoint(ev->remote_ip, ev->proto, ev->remote_port, ep,
			   sizeof(ep));
	if (ev->remote_workload && ev->remote_workload[0]) {
		alert_snprintf(out, len, "%s (%s)", ev->remote_workload, ep);
		return;
	}
	alert_fmt_remote_info(ev->remote_name, ev->remote_country,
			      ev->remote_asn, info, sizeof(info));
	alert_snprintf(out, len, "%s%s", ep, info);
}

/* " - 4.8 MiB sent so far", or "" before any payload. */
static void fmt_sent(const struct detect_event *ev, char *out, size_t len)
{
	char b[32];

	if (!ev->bytes_sent) {
		out[0] = '\0';
		return;
	}
	alert_fmt_bytes(ev->bytes_sent, b, sizeof(b));
	alert_snprintf(out, len, " \xe2\x80\x94 %s sent so far", b);
}

/* The evidence every flow alert carries. */
static void evidence_flow(struct detect *d, const struct detect_event *ev,
			  const struct dwl *w)
{
	struct ew_buf *b = &d->ev;
	const struct policy_result *r = ev->verdict;
	char lip[EW_IPSTR_MAX], rip[EW_IPSTR_MAX], t[EW_TIME_STRLEN];

	ew_ip_to_str(ev->local_ip, lip);
	ew_ip_to_str(ev->remote_ip, rip);
	ew_fmt_time(ev->first_ns, t);
	ew_buf_printf(b, "{\"flow_id\":%llu,\"direction\":\"%s\",\"flow_start\":\"%s\","
		      "\"local_ip\":\"%s\",\"local_port\":%u,\"remote_ip\":\"%s\","
		      "\"remote_port\":%u,\"proto\":%u,\"remote_outside\":%s,"
		      "\"bytes_sent\":%llu,\"bytes_received\":%llu,\"workload\":",
		      (unsigned long long)ev->flow_id,
		      ev->direction == POLICY_INGRESS ? "ingress" : "egress", t,
		      lip, ev->local_port, rip, ev->remote_port, ev->proto,
		      ev->remote_outside ? "true" : "false",
		      (unsigned long long)ev->bytes_sent,
		      (unsigned long long)ev->bytes_received);
	ew_buf_json_str(b, w->known ? w->name : NULL);
	ew_buf_puts(b, ",\"remote_workload\":");
	ew_buf_json_str(b, ev->remote_workload && ev->remote_workload[0] ?
				   ev->remote_workload : NULL);
	if (r) {
		ew_buf_puts(b, ",\"verdict\":");
		ew_buf_json_str(b, policy_verdict_name(r->verdict));
		ew_buf_puts(b, ",\"reason\":");
		ew_buf_json_str(b, policy_reason_name(r->reason));
		ew_buf_puts(b, ",\"rule\":");
		ew_buf_json_str(b, r->rule);
		ew_buf_puts(b, ",\"entry\":");
		ew_buf_json_str(b, r->entry);
		ew_buf_puts(b, ",\"netpol\":");
		ew_buf_json_str(b, r->netpol);
		ew_buf_printf(b, ",\"listen_only\":%s,\"unexpected_port\":%s,"
			      "\"zone_violation\":%s",
			      r->listen_only ? "true" : "false",
			      r->unexpected_port ? "true" : "false",
			      r->zone_violation ? "true" : "false");
	}
}

/* ---- policy detectors ----------------------------------------------------- */

/* "serves redis/6379, postgresql/5432" from the served set, or "". */
static void fmt_served(const struct policy_served *s, char *out, size_t len)
{
	size_t off = 0;

	out[0] = '\0';
	for (unsigned i = 0; s && i < s->n && i < POLICY_SERVED_MAX; i++) {
		const char *n = policy_datastore_name(s->proto[i], s->port[i]);
		int k = snprintf(out + off, len - off, "%s%s/%u",
				 i ? ", " : "serves ", n ? n : "port",
				 s->port[i]);
		if (k < 0 || (size_t)k >= len - off)
			break;
		off += (size_t)k;
	}
}

static int listen_only_egress(struct detect *d, const struct detect_event *ev,
			      const struct dwl *w)
{
	const struct policy_result *r = ev->verdict;
	struct policy_alert *a;
	char remote[512], sent[64], served[160], why[256];
	int audit = r->verdict == POLICY_AUDIT;

	a = detect_alert_flow(d, DETECT_LISTEN_ONLY_EGRESS,
			      audit ? POLICY_SEV_WARNING : POLICY_SEV_CRITICAL,
			      ev, w);
	fmt_remote(ev, remote, sizeof(remote));
	fmt_sent(ev, sent, sizeof(sent));
	fmt_served(ev->served, served, sizeof(served));
	if (served[0])
		alert_snprintf(why, sizeof(why), "listen-only datastore: %s", served);
	else
		alert_snprintf(why, sizeof(why), "listen-only: %s",
			       r->rule ? r->rule : "declared");
	alert_snprintf(a->message, sizeof(a->message),
		       "%s%s (%s) opened an outbound connection to %s%s",
		       audit ? "[audit] " : "", detect_wl_display(w), why, remote, sent);
	evidence_flow(d, ev, w);
	ew_buf_puts(&d->ev, "}");
	emit_flow(d, ev, w);
	return 1;
}

static int unexpected_port_policy(struct detect *d, const struct detect_event *ev,
				  const struct dwl *w)
{
	const struct policy_result *r = ev->verdict;
	struct policy_alert *a;
	char remote[512], port[32];
	enum policy_severity sev = r->verdict == POLICY_ALERT ? POLICY_SEV_WARNING :
								  POLICY_SEV_INFO;
	const char *tail = r->verdict == POLICY_ALERT ? "" :
			   r->verdict == POLICY_AUDIT ? " (audit mode: would be denied)" :
							" (allowed by an explicit rule)";

	a = detect_alert_flow(d, DETECT_UNEXPECTED_PORT, sev, ev, w);
	fmt_remote(ev, remote, sizeof(remote));
	if (ev->direction == POLICY_INGRESS) {
		alert_fmt_port(ev->proto, ev->local_port, port, sizeof(port));
		alert_snprintf(a->message, sizeof(a->message),
			       "%s accepted a connection on %s, a port it does not "
			       "serve, from %s (rule %s)%s", detect_wl_display(w), port,
			       remote, r->rule ? r->rule : "-", tail);
	} else {
		alert_fmt_port(ev->proto, ev->remote_port, port, sizeof(port));
		alert_snprintf(a->message, sizeof(a->message),
			       "%s connected to %s on %s, a port none of its egress "
			       "rules allows (rule %s)%s", detect_wl_display(w), remote,
			       port, r->rule ? r->rule : "-", tail);
	}
	evidence_flow(d, ev, w);
	ew_buf_puts(&d->ev, ",\"source\":\"policy\"}");
	if (ev->direction == POLICY_INGRESS)
		emit_ingress(d, ev, w);
	else
		emit_flow(d, ev, w);
	return 1;
}

static int policy_violation(struct detect *d, const struct detect_event *ev,
			    const struct dwl *w)
{
	const struct policy_result *r = ev->verdict;
	struct policy_alert *a;
	char remote[512], port[32], rule[200], sent[64];
	const char *category;
	int audit = r->verdict == POLICY_AUDIT;
	enum policy_severity sev;

	if (audit)
		sev = POLICY_SEV_INFO;
	else if (r->reason == POLICY_R_DATASTORE)
		sev = POLICY_SEV_CRITICAL;
	else
		sev = POLICY_SEV_WARNING;
	a = detect_alert_flow(d, DETECT_POLICY_VIOLATION, sev, ev, w);
	fmt_remote(ev, remote, sizeof(remote));
	fmt_sent(ev, sent, sizeof(sent));
	if (r->reason == POLICY_R_NETPOL_DENY && r->netpol)
		alert_snprintf(rule, sizeof(rule), "NetworkPolicy %s", r->netpol);
	else
		alert_snprintf(rule, sizeof(rule), "rule %s", r->rule ? r->rule : "-");
	if (r->zone_violation || r->reason == POLICY_R_ZONE) {
		category = "segmentation";
		alert_snprintf(a->message, sizeof(a->message),
			       "%s%s %s %s across a segmentation boundary (%s)%s",
			       audit ? "[audit] " : "", detect_wl_display(w),
			       ev->direction == POLICY_INGRESS ? "accepted a connection from" :
								 "connected to",
			       remote, rule, audit ? ": would be denied" : "");
	} else if (ev->direction == POLICY_INGRESS) {
		category = "ingress";
		alert_fmt_port(ev->proto, ev->local_port, port, sizeof(port));
		alert_snprintf(a->message, sizeof(a->message),
			       "%s%s accepted a connection on %s from %s that the "
			       "policy %s (%s)", audit ? "[audit] " : "",
			       detect_wl_display(w), port, remote,
			       audit ? "would deny" : "denies", rule);
	} else if (r->reason == POLICY_R_DATASTORE) {
		const char *ds = policy_datastore_name(ev->proto, ev->remote_port);
		category = "egress";
		alert_snprintf(a->message, sizeof(a->message),
			       "%s%s connected to %s, a %s port on an address "
			       "outside the cluster (%s)%s%s", audit ? "[audit] " : "",
			       detect_wl_display(w), remote, ds ? ds : "datastore", rule,
			       audit ? ": would be denied" : "", sent);
	} else {
		category = "egress";
		alert_snprintf(a->message, sizeof(a->message),
			       "%s%s opened a connection to %s that the policy %s "
			       "(%s)%s", audit ? "[audit] " : "", detect_wl_display(w),
			       remote, audit ? "would deny" : "denies", rule, sent);
	}
	evidence_flow(d, ev, w);
	ew_buf_printf(&d->ev, ",\"category\":\"%s\"}", category);
	if (ev->direction == POLICY_INGRESS)
		emit_ingress(d, ev, w);
	else
		emit_flow(d, ev, w);
	return 1;
}

/* The detectors that read the verdict; at most one alert per flow. */
static int judge_policy(struct detect *d, const struct detect_event *ev,
			const struct dwl *w)
{
	const struct policy_result *r = ev->verdict;
	int denied;

	if (!r)
		return 0;
	denied = r->verdict == POLICY_ALERT ||
		 (r->verdict == POLICY_AUDIT && d->cfg.report_audit);
	if (denied && ev->direction == POLICY_EGRESS && r->listen_only)
		return listen_only_egress(d, ev, w);
	if (r->unexpected_port && (denied || r->verdict == POLICY_ALLOW))
		return unexpected_port_policy(d, ev, w);
	if (denied)
		return policy_violation(d, ev, w);
	return 0;
}

/* ---- entry points ----------------------------------------------------------- */

int detect_flow(struct detect *d, const struct detect_event *ev)
{
	struct dwl *w;
	struct dflow *f;
	int created, n = 0, policy_alerted = 0;

	if (ev->kind < DETECT_EV_NEW || ev->kind > DETECT_EV_END) {
		CNT(d->invalid);
		return -EINVAL;
	}
	CNT(d->events);
	if (ev->now_ns < d->newest_ns)
		CNT(d->clock_backwards);
	else
		d->newest_ns = ev->now_ns;
	w = detect_workload(d, ev->workload, ev->local_ip, ev->now_ns);
	if (!w->dest_since_ns)
		w->dest_since_ns = ev->now_ns;

	f = dtab_get(&d->flows, 0, &ev->flow_id, &created);
	if (!(f->flags & FLOW_JUDGED)) {
		f->flags |= FLOW_JUDGED;
		n += policy_alerted = judge_policy(d, ev, w);
		if (d->cfg.port_learning)
			n += detect_learned_port(d, ev, w, policy_alerted);
		if (d->cfg.new_destination)
			n += detect_new_destination(d, ev, w, policy_alerted);
		n += detect_beacon(d, ev, w, policy_alerted);
	}
	(void)created;
	n += detect_volume(d, ev, w);
	n += detect_scan(d, ev, w, &f->flags);
	/* No detector above inserts into the flow table, so `f` is still
	 * this flow's entry. */
	if (ev->kind == DETECT_EV_END)
		dtab_del(&d->flows, f);
	return n;
}

int detect_dns(struct detect *d, const struct detect_dns *q)
{
	struct dwl *w;

	if (!q->qname || !q->qname[0]) {
		CNT(d->invalid);
		return -EINVAL;
	}
	CNT(d->dns_answers);
	if (q->now_ns < d->newest_ns)
		CNT(d->clock_backwards);
	else
		d->newest_ns = q->now_ns;
	w = detect_workload(d, q->workload, q->client_ip, q->now_ns);
	return detect_dns_query(d, q, w);
}

int detect_load_baseline(struct detect *d, const struct detect_baseline *b)
{
	static const uint8_t zero[16];
	struct dwl *w;

	if (!b->workload[0] || strncmp(b->workload, "ip:", 3) == 0) {
		CNT(d->baseline_refused);
		return -EINVAL;
	}
	w = detect_workload(d, b->workload, zero,
			    b->first_seen_ns ? b->first_seen_ns : b->last_seen_ns);
	return detect_port_load(d, w, b);
}
