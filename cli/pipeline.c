/*
 * pipeline.c - the pipeline thread: flow events and DNS answers in,
 * oriented and named store rows out.
 *
 * Orientation (DESIGN.md): a flow is seen from the side of the workload that
 * owns the interface it was captured on.  With attribution, the local side
 * is the end whose address belongs to that workload (the responder, for a
 * connection the workload accepted: `ingress`); when neither address is the
 * workload's but another workload started the flow (multicast flooded by
 * the bridge), the responder; on an interface no workload owns (a replayed
 * file), the end that is a known workload; otherwise the initiator.  The other end's workload, if any, is the
 * remote workload.  All of this is decided at a flow's first event and kept
 * for its life (flowmemo.h): later events only fill in an end not known
 * yet, so a flow is never turned around, nor handed to the pod that took
 * over a deleted pod's address.  An interface the registry does not know
 * yet has it rescan first (attrib_watch_refresh in the live agent), so even
 * a new pod's first packets find their workload.
 *
 * Order.  DNS answers travel on their own queue (an answer is ~900 bytes, a
 * flow event ~200; one queue of the larger size would cost 4x the memory).
 * Both queues are filled by the capture thread, which stamps every element
 * with one sequence number; before handling a flow event the pipeline
 * applies every DNS answer stamped earlier, so a connection made right after
 * a lookup always finds its name.
 *
 * Names.  An answer is filed under the client that received it (its
 * workload once attribution knows it, its address until then), and a flow
 * looks its remote address up under its local side: a name is only ever the
 * one that this client itself resolved.
 *
 * Enrichment and policy.  Country and AS number come from the geo databases,
 * except for addresses the policy names (named networks take precedence) and
 * special-purpose ranges, which are never looked up.  Every event of a flow
 * is judged by the policy in force when it is handled, so a reload applies
 * to running flows from their next event on.  Geo databases replaced on disk
 * are picked up on this thread (the one that looks addresses up): every
 * GEO_CHECK_NS, and at once after pipeline_check_geo() (SIGHUP).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flowmemo.h"
#include "pipeline.h"
#include "subjects.h"
#include "util.h"

#define GEO_CHECK_NS (30ull * 1000000000)	/* stat(2) of each geo database */

struct seq_flow {
	uint64_t seq;
	struct flow_record rec;
};

struct seq_dns {
	uint64_t seq;
	struct dns_event ev;
};

struct pipeline {
	struct pipeline_config cfg;
	struct ew_queue q;		/* struct seq_flow */
	struct ew_queue dq;		/* struct seq_dns */
	uint64_t seq;			/* capture thread only */
	struct dnscache *names;		/* pipeline thread only */
	struct policy *pol;		/* pipeline thread only */
	struct subjects subjects;	/* pipeline thread only */
	struct flowmemo *memo;		/* pipeline thread only; NULL: none */
	uint64_t attrib_version;	/* of the workloads last stored */
	uint64_t next_workload_sync;	/* monotonic ns */
	uint64_t next_geo_check;	/* monotonic ns */
	_Atomic int geo_check_now;	/* set by pipeline_check_geo */
	_Atomic(struct policy *) next_pol; /* handed over by pipeline_set_policy */
	struct seq_dns dns_scratch;	/* pipeline thread only */
	struct seq_dns dns_scratch_in;	/* capture thread only */
	pthread_t thread;
	int started;
	_Atomic uint64_t events, dropped, processed, store_refused;
	_Atomic uint64_t dns_events, dns_dropped, named;
	_Atomic uint64_t verdict_alert, verdict_audit, policy_reloads;
	_Atomic uint64_t alerts, alerts_sink_refused, baselines_loaded;
	struct detect *det;		/* pipeline thread (stats: any thread) */
	_Atomic uint64_t attrib_gone, memo_entries, memo_full;
};

/* Make the responder the local side: the local workload accepted the flow. */
static void swap_sides(struct store_flow *row)
{
	uint8_t ip[16], f;
	uint16_t port;
	uint64_t v;

	memcpy(ip, row->local_ip, 16);
	memcpy(row->local_ip, row->remote_ip, 16);
	memcpy(row->remote_ip, ip, 16);
	port = row->local_port;
	row->local_port = row->remote_port;
	row->remote_port = port;
	f = row->tcp_flags_sent;
	row->tcp_flags_sent = row->tcp_flags_received;
	row->tcp_flags_received = f;
#define SWAP(a, b) (v = (a), (a) = (b), (b) = v)
	SWAP(row->bytes_sent, row->bytes_received);
	SWAP(row->packets_sent, row->packets_received);
	SWAP(row->dbytes_sent, row->dbytes_received);
	SWAP(row->dpackets_sent, row->dpackets_received);
#undef SWAP
	row->direction = STORE_INGRESS;
}

void pipeline_to_row(const struct flow_record *rec, struct store_flow *row)
{
	memset(row, 0, sizeof(*row));
	row->id = rec->id;
	row->start_ns = rec->first_ns;
	row->end_ns = rec->last_ns;
	memcpy(row->local_ip, rec->ip[0], 16);
	memcpy(row->remote_ip, rec->ip[1], 16);
	row->local_port = rec->port[0];
	row->remote_port = rec->port[1];
	row->vlan = rec->vlan;
	row->family = rec->family;
	row->proto = rec->proto;
	row->direction = STORE_EGRESS;
	row->ended = rec->event == FLOW_EV_END;
	row->end_reason = rec->end_reason;
	row->tcp_flags_sent = rec->tcp_flags[FLOW_FWD];
	row->tcp_flags_received = rec->tcp_flags[FLOW_REV];
	row->bytes_sent = rec->bytes[FLOW_FWD];
	row->bytes_received = rec->bytes[FLOW_REV];
	row->packets_sent = rec->pkts[FLOW_FWD];
	row->packets_received = rec->pkts[FLOW_REV];
	row->dbytes_sent = rec->dbytes[FLOW_FWD];
	row->dbytes_received = rec->dbytes[FLOW_REV];
	row->dpackets_sent = rec->dpkts[FLOW_FWD];
	row->dpackets_received = rec->dpkts[FLOW_REV];
	memcpy(row->interface, rec->ifname, sizeof(row->interface));
	row->interface[sizeof(row->interface) - 1] = '\0';
}

/* The name-cache key of a client: its workload, or "ip:<address>". */
static void client_key(const char *workload, const uint8_t ip[16],
		       char key[DNSCACHE_KEY_MAX])
{
	_Static_assert(DNSCACHE_KEY_MAX >= 3 + EW_IPSTR_MAX, "room for ip:ADDR");
	if (workload && workload[0]) {
		ew_strcpy_cut(key, DNSCACHE_KEY_MAX, workload);
		return;
	}
	memcpy(key, "ip:", 3);
	ew_ip_to_str(ip, key + 3);
}

/*
 * Who a flow or answer belongs to, from the attribution registry: the
 * workload owning interface `ifname`, and the workloads of the two addresses.
 */
struct sides {
	int have_if, have[2];
	struct attrib_ref ifw, ipw[2];
};

static void lookup_sides(struct pipeline *p, const char *ifname,
			 const uint8_t ip0[16], const uint8_t ip1[16],
			 uint64_t ts, struct sides *s)
{
	struct attrib *a = p->cfg.attrib;
	const struct flowmemo_owner *o;

	s->have_if = a && attrib_lookup_iface(a, ifname, &s->ifw) == 0;
	/* Traffic on an interface the registry does not know (yet): a new
	 * pod's veth, before the debounced link-event rescan. */
	if (a && !s->have_if && p->cfg.refresh &&
	    p->cfg.refresh(p->cfg.refresh_ctx, ifname) > 0)
		s->have_if = attrib_lookup_iface(a, ifname, &s->ifw) == 0;
	s->have[0] = a && attrib_lookup_ip(a, ip0, &s->ipw[0]) == 0;
	s->have[1] = a && attrib_lookup_ip(a, ip1, &s->ipw[1]) == 0;
	if (!p->memo)
		return;
	if (s->have_if) {
		flowmemo_owner_seen(p->memo, a, ifname, &s->ifw);
	} else if ((o = flowmemo_owner_gone(p->memo, ifname, ts))) {
		/* A deleted pod's veth: its last events are still its own,
		 * and so are its addresses on it (flowmemo.h). */
		s->have_if = 1;
		s->ifw = o->ref;
		for (int k = 0; k < 2; k++)
			if (flowmemo_owner_has_ip(o, k ? ip1 : ip0)) {
				s->have[k] = 1;
				s->ipw[k] = o->ref;
			}
	}
}

/* Index (0 initiator, 1 responder) of the local side; see the top of file. */
static int local_side(const struct sides *s)
{
	if (s->have_if) {
		if (s->have[0] && s->ipw[0].id == s->ifw.id)
			return 0;
		if (s->have[1] && s->ipw[1].id == s->ifw.id)
			return 1;
		/* Neither address is the workload's: if another workload
		 * started it (multicast or broadcast flooded by the bridge),
		 * ours is on the receiving end. */
		return s->have[0];
	}
	if (s->have[0])
		return 0;
	return s->have[1] ? 1 : 0;
}

/*
 * The workload a connection the local side opened (end 0 initiated it) was
 * really sent to, when the address it asked for is no workload's but DNAT
 * rewrote it to one that is: a Service's virtual IP and the pod kube-proxy
 * chose.  Asked once, at the flow's first event: the entry exists from the
 * first packet on, which the host translated right after capture saw it.
 */
static int behind_dnat(struct pipeline *p, const struct flow_record *rec,
		       struct attrib_ref *out)
{
	uint8_t to[16];
	uint16_t to_port;

	if (!p->cfg.ct || !p->cfg.attrib ||
	    conntrack_dnat(p->cfg.ct, rec->family, rec->proto, rec->ip[0],
			   rec->port[0], rec->ip[1], rec->port[1], to,
			   &to_port) != 1)
		return 0;
	return attrib_lookup_ip(p->cfg.attrib, to, out) == 0;
}

/*
 * Attribution of one flow event: which end is local (`*li`, 0 initiator)
 * and the workloads of the two ends (pointing into `s`, NULL: unknown).
 * Decided at the flow's first event and kept (flowmemo.h).  Returns 1 when
 * an end the flow was attributed to has left the registry since (its pod is
 * gone): that end is left unnamed here, and the caller leaves the verdict
 * alone, so the store keeps the names and verdict it has.
 */
static int attribute(struct pipeline *p, const struct flow_record *rec,
		     struct sides *s, int *li, const struct attrib_ref **lref,
		     const struct attrib_ref **rref)
{
	struct attrib *a = p->cfg.attrib;
	struct flowmemo_entry *e = NULL;
	int fresh = 1, gone = 0, l;

	*lref = *rref = NULL;
	if (a && p->memo && !(e = flowmemo_get(p->memo, rec->id, rec->last_ns,
					       &fresh)))
		atomic_fetch_add_explicit(&p->memo_full, 1, memory_order_relaxed);
	if (!e || fresh) {
		lookup_sides(p, rec->ifname, rec->ip[0], rec->ip[1],
			     rec->last_ns, s);
		l = local_side(s);
		if (s->have_if)
			*lref = &s->ifw;
		else if (s->have[l])
			*lref = &s->ipw[l];
		if (!s->have[!l] && l == 0)
			s->have[1] = behind_dnat(p, rec, &s->ipw[1]);
		if (s->have[!l])
			*rref = &s->ipw[!l];
		if (e) {
			e->swapped = (uint8_t)l;
			e->local_id = *lref ? (*lref)->id : 0;
			e->remote_id = *rref ? (*rref)->id : 0;
		}
	} else {
		l = e->swapped;
		if (e->local_id) {
			const struct flowmemo_owner *o;

			if (attrib_lookup_id(a, e->local_id, &s->ifw) == 0) {
				*lref = &s->ifw;
			} else if ((o = flowmemo_owner_gone(p->memo, rec->ifname,
							    rec->last_ns)) &&
				   o->ref.id == e->local_id) {
				s->ifw = o->ref;	/* its deleted pod's veth */
				*lref = &s->ifw;
			} else {
				gone = 1;
			}
		} else {
			lookup_sides(p, rec->ifname, rec->ip[l], rec->ip[l],
				     rec->last_ns, s);
			*lref = s->have_if ? &s->ifw : s->have[0] ? &s->ipw[0] : NULL;
			if (*lref)
				e->local_id = (*lref)->id;
		}
		if (e->remote_id) {
			if (attrib_lookup_id(a, e->remote_id, &s->ipw[1]) == 0)
				*rref = &s->ipw[1];
			else
				gone = 1;
		} else if (attrib_lookup_ip(a, rec->ip[!l], &s->ipw[1]) == 0) {
			*rref = &s->ipw[1];
			e->remote_id = (*rref)->id;
		}
	}
	if (e) {
		struct flowmemo_stats ms;

		if (rec->event == FLOW_EV_END)
			flowmemo_del(p->memo, rec->id);
		flowmemo_get_stats(p->memo, &ms);
		atomic_store_explicit(&p->memo_entries, ms.entries,
				      memory_order_relaxed);
	}
	if (gone)
		atomic_fetch_add_explicit(&p->attrib_gone, 1, memory_order_relaxed);
	*li = l;
	return gone;
}

static void handle_dns(struct pipeline *p, const struct dns_event *ev)
{
	char key[DNSCACHE_KEY_MAX];
	struct store_dns_answer row;
	struct sides s;
	const char *wl = NULL;

	lookup_sides(p, ev->ifname, ev->client_ip, ev->server_ip, ev->ts_ns, &s);
	if (s.have_if)
		wl = s.ifw.workload;
	else if (s.have[0])
		wl = s.ipw[0].workload;
	client_key(wl, ev->client_ip, key);
	if (p->det) {
		struct detect_dns dd = {0};

		dd.now_ns = p->cfg.wall_clock ? ew_now_ns() : ev->ts_ns;
		dd.workload = wl;
		memcpy(dd.client_ip, ev->client_ip, 16);
		dd.qname = ev->qname;
		dd.qtype = ev->qtype;
		dd.rcode = ev->rcode;
		detect_dns(p->det, &dd);
	}
	dnscache_add_event(p->names, key, ev, ev->ts_ns);
	for (unsigned i = 0; i < ev->n_addrs; i++) {
		memset(&row, 0, sizeof(row));
		memcpy(row.address, ev->addr[i], 16);
		row.ttl = ev->ttl[i];
		row.seen_ns = ev->ts_ns;
		if (wl)
			snprintf(row.workload, sizeof(row.workload), "%s", wl);
		snprintf(row.name, sizeof(row.name), "%s", ev->qname);
		snprintf(row.cname_chain, sizeof(row.cname_chain), "%s", ev->cname);
		if (store_put_dns_answer(p->cfg.store, &row) != 0)
			atomic_fetch_add(&p->store_refused, 1);
	}
}

/* Apply every DNS answer stamped before `seq`. */
static void apply_dns_before(struct pipeline *p, uint64_t seq)
{
	struct seq_dns *d = &p->dns_scratch;

	while (ew_queue_peek(&p->dq, d) == 0 && d->seq < seq) {
		ew_queue_pop(&p->dq, d, 0);
		handle_dns(p, &d->ev);
	}
}

/* Country and AS number of the remote end, unless the policy names it. */
static void enrich(struct pipeline *p, struct store_flow *row)
{
	struct geo_result g;

	if (!p->cfg.geo || policy_network_name(p->pol, row->remote_ip))
		return;
	if (geo_lookup(p->cfg.geo, row->remote_ip, &g) != 0)
		return;
	memcpy(row->remote_country, g.country, sizeof(g.country));
	row->remote_asn = g.asn;
}

/*
 * Whether the remote end is outside the cluster: not a workload, not in the
 * policy's cluster networks, and not an address that never leaves the host
 * or the link (loopback, link-local, multicast, unspecified, broadcast), which
 * nothing can be exfiltrated to.
 */
static int remote_outside(const struct pipeline *p, const struct store_flow *row)
{
	static const char *const local_scope[] = {
		"loopback", "link-local", "multicast", "unspecified", "broadcast",
	};
	const char *kind;

	if (row->remote_workload[0] || policy_in_cluster(p->pol, row->remote_ip))
		return 0;
	kind = geo_reserved_kind(row->remote_ip);
	for (size_t i = 0; kind && i < EW_ARRAY_LEN(local_scope); i++)
		if (strcmp(kind, local_scope[i]) == 0)
			return 0;
	return 1;
}

static void judge(struct pipeline *p, struct store_flow *row,
		  const struct subject *local, const struct subject *remote,
		  struct policy_result *out, uint8_t *outside)
{
	struct policy_flow f = {0};
	struct policy_result r;

	f.local = local ? &local->pw : NULL;
	f.remote = remote ? &remote->pw : NULL;
	f.direction = row->direction == STORE_INGRESS ? POLICY_INGRESS :
							POLICY_EGRESS;
	f.proto = row->proto;
	f.local_port = row->local_port;
	f.remote_port = row->remote_port;
	memcpy(f.remote_ip, row->remote_ip, 16);
	f.remote_outside = (uint8_t)remote_outside(p, row);
	f.remote_name = row->remote_name[0] ? row->remote_name : NULL;
	f.remote_country = row->remote_country[0] ? row->remote_country : NULL;
	f.remote_asn = row->remote_asn;
	policy_eval(p->pol, &f, &r);
	*out = r;
	*outside = f.remote_outside;
	ew_strcpy_cut(row->verdict, sizeof(row->verdict),
		      policy_verdict_name((enum policy_verdict)r.verdict));
	if (r.verdict == POLICY_ALERT)
		atomic_fetch_add_explicit(&p->verdict_alert, 1, memory_order_relaxed);
	else if (r.verdict == POLICY_AUDIT)
		atomic_fetch_add_explicit(&p->verdict_audit, 1, memory_order_relaxed);
}

struct wl_sync {
	struct pipeline *p;
	struct ew_buf labels, ips;
	uint64_t now_ns;
};

static int store_one_workload(void *ctx, const struct attrib_workload *w)
{
	struct wl_sync *ws = ctx;
	struct store_workload row;
	char ip[EW_IPSTR_MAX];

	memset(&row, 0, sizeof(row));
	snprintf(row.namespace, sizeof(row.namespace), "%s", w->namespace);
	snprintf(row.name, sizeof(row.name), "%s", w->name);
	snprintf(row.kind, sizeof(row.kind), "%s", w->kind);
	snprintf(row.runtime, sizeof(row.runtime), "%s", w->runtime);
	if (w->n_containers)
		snprintf(row.container_id, sizeof(row.container_id), "%s",
			 w->containers[0]);
	snprintf(row.pod_uid, sizeof(row.pod_uid), "%s", w->pod_uid);
	if (w->n_ifaces)
		snprintf(row.interface, sizeof(row.interface), "%s",
			 w->ifaces[0].name);
	ew_buf_reset(&ws->labels);
	ew_buf_puts(&ws->labels, "{");
	for (size_t i = 0; i < w->labels.n; i++) {
		if (i)
			ew_buf_puts(&ws->labels, ",");
		ew_buf_json_str(&ws->labels, attrib_label_key(&w->labels, i));
		ew_buf_puts(&ws->labels, ":");
		ew_buf_json_str(&ws->labels, attrib_label_value(&w->labels, i));
	}
	ew_buf_puts(&ws->labels, "}");
	ew_buf_reset(&ws->ips);
	ew_buf_puts(&ws->ips, "[");
	for (size_t i = 0; i < w->n_ips; i++) {
		ew_ip_to_str(w->ips[i].addr, ip);
		ew_buf_printf(&ws->ips, "%s\"%s\"", i ? "," : "", ip);
	}
	ew_buf_puts(&ws->ips, "]");
	row.labels = ws->labels.toobig ? NULL : ws->labels.data;
	row.ips = ws->ips.toobig ? NULL : ws->ips.data;
	row.first_seen_ns = row.last_seen_ns = ws->now_ns;
	if (store_put_workload(ws->p->cfg.store, &row) != 0)
		atomic_fetch_add(&ws->p->store_refused, 1);
	return 0;
}

/* Store the registry's workloads when they changed (checked once a second
 * and at the end), so history keeps who was who even after a pod is gone. */
static void sync_workloads(struct pipeline *p, int force)
{
	struct wl_sync ws = {.p = p};
	uint64_t now = ew_mono_ns(), v;

	if (!p->cfg.attrib || (!force && now < p->next_workload_sync))
		return;
	p->next_workload_sync = now + 1000000000ull;
	v = attrib_version(p->cfg.attrib);
	if (v == p->attrib_version)
		return;
	p->attrib_version = v;
	ws.now_ns = ew_now_ns();
	ew_buf_init(&ws.labels, 64 * 1024);
	ew_buf_init(&ws.ips, 4096);
	attrib_foreach(p->cfg.attrib, store_one_workload, &ws);
	ew_buf_free(&ws.labels);
	ew_buf_free(&ws.ips);
}

/* Load geo databases replaced on disk (geo_reload_if_changed logs each
 * swap and each refusal once). */
static void check_geo(struct pipeline *p)
{
	uint64_t now = ew_mono_ns();

	if (!atomic_exchange(&p->geo_check_now, 0) && now < p->next_geo_check)
		return;
	p->next_geo_check = now + GEO_CHECK_NS;
	geo_reload_if_changed(p->cfg.geo);
}

/* Switch to a policy handed over by pipeline_set_policy, if any. */
static void take_new_policy(struct pipeline *p)
{
	struct policy *np = atomic_exchange(&p->next_pol, NULL);

	if (!np)
		return;
	policy_close(p->pol);
	p->pol = np;
	atomic_fetch_add(&p->policy_reloads, 1);
}

/* The detectors' view of one flow event (see policy.h, struct detect_event). */
static void detect(struct pipeline *p, const struct flow_record *rec,
		   const struct store_flow *row, const struct policy_result *r,
		   uint8_t outside, const struct subject *local)
{
	struct detect_event ev = {0};

	if (!p->det)
		return;
	ev.kind = rec->event;
	ev.direction = row->direction == STORE_INGRESS ? POLICY_INGRESS :
							 POLICY_EGRESS;
	ev.proto = row->proto;
	ev.remote_outside = outside;
	ev.local_port = row->local_port;
	ev.remote_port = row->remote_port;
	ev.flow_id = row->id;
	ev.first_ns = row->start_ns;
	ev.last_ns = row->end_ns;
	ev.now_ns = p->cfg.wall_clock ? ew_now_ns() : rec->last_ns;
	memcpy(ev.local_ip, row->local_ip, 16);
	memcpy(ev.remote_ip, row->remote_ip, 16);
	ev.workload = row->workload[0] ? row->workload : NULL;
	ev.remote_workload = row->remote_workload[0] ? row->remote_workload : NULL;
	ev.remote_name = row->remote_name[0] ? row->remote_name : NULL;
	ev.remote_country = row->remote_country[0] ? row->remote_country : NULL;
	ev.remote_asn = row->remote_asn;
	ev.bytes_sent = row->bytes_sent;
	ev.bytes_received = row->bytes_received;
	ev.packets_sent = row->packets_sent;
	ev.packets_received = row->packets_received;
	ev.tcp_flags_sent = row->tcp_flags_sent;
	ev.tcp_flags_received = row->tcp_flags_received;
	ev.dbytes_sent = row->dbytes_sent;
	ev.dbytes_received = row->dbytes_received;
	ev.dpackets_sent = row->dpackets_sent;
	ev.dpackets_received = row->dpackets_received;
	ev.verdict = r;
	ev.served = local ? &local->served : NULL;
	detect_flow(p->det, &ev);
}

/* detect_config.on_alert: into the store, then to the sinks. */
static void on_alert(void *ctx, const struct policy_alert *a)
{
	struct pipeline *p = ctx;
	struct store_alert s;

	memset(&s, 0, sizeof(s));
	s.first_seen_ns = a->first_seen_ns;
	s.last_seen_ns = a->last_seen_ns;
	s.count = a->count;
	s.bytes_sent = a->bytes_sent;
	memcpy(s.remote_ip, a->remote_ip, 16);
	s.remote_port = a->remote_port;
	s.proto = a->proto;
	s.remote_asn = a->remote_asn;
	snprintf(s.severity, sizeof(s.severity), "%s",
		 policy_severity_name((enum policy_severity)a->severity));
	snprintf(s.kind, sizeof(s.kind), "%s",
		 detect_kind_name((enum detect_kind)a->kind));
	snprintf(s.rule, sizeof(s.rule), "%s", a->rule);
	snprintf(s.workload, sizeof(s.workload), "%s", a->workload);
	snprintf(s.remote_name, sizeof(s.remote_name), "%s", a->remote_name);
	memcpy(s.remote_country, a->remote_country, sizeof(s.remote_country));
	snprintf(s.message, sizeof(s.message), "%s", a->message);
	snprintf(s.dedup_key, sizeof(s.dedup_key), "%s", a->dedup_key);
	s.evidence = a->evidence[0] ? a->evidence : NULL;
	if (store_put_alert(p->cfg.store, &s) != 0)
		atomic_fetch_add(&p->store_refused, 1);
	atomic_fetch_add(&p->alerts, 1);
	if (p->cfg.sinks && sink_submit(p->cfg.sinks, a) == -EAGAIN)
		atomic_fetch_add(&p->alerts_sink_refused, 1);
}

/* detect_config.on_baseline: learned ports persist in the store. */
static void on_baseline(void *ctx, const struct detect_baseline *b)
{
	struct pipeline *p = ctx;
	struct store_baseline s;

	memset(&s, 0, sizeof(s));
	s.seen_ns = b->last_seen_ns;
	s.count = b->count;
	s.port = b->port;
	s.proto = b->proto;
	s.direction = b->direction == POLICY_INGRESS ? STORE_INGRESS : STORE_EGRESS;
	snprintf(s.workload, sizeof(s.workload), "%s", b->workload);
	if (store_put_baseline(p->cfg.store, &s) != 0)
		atomic_fetch_add(&p->store_refused, 1);
}

static int load_baseline(void *ctx, const struct store_baseline_row *r)
{
	struct pipeline *p = ctx;
	struct detect_baseline b;

	memset(&b, 0, sizeof(b));
	snprintf(b.workload, sizeof(b.workload), "%s", r->workload);
	b.proto = r->proto;
	b.direction = r->direction == STORE_INGRESS ? POLICY_INGRESS : POLICY_EGRESS;
	b.port = r->port;
	b.first_seen_ns = r->first_seen_ns;
	b.last_seen_ns = r->last_seen_ns;
	b.count = r->count;
	if (detect_load_baseline(p->det, &b) == 0)
		atomic_fetch_add(&p->baselines_loaded, 1);
	return 0;
}

/* What the detectors learned in earlier runs. */
static void load_baselines(struct pipeline *p)
{
	struct store_reader *r;
	char err[256];

	if (!p->cfg.db_path)
		return;
	r = store_reader_open(p->cfg.db_path, err, sizeof(err));
	if (!r) {
		log_warnx("detectors: learned baselines not read back: %s", err);
		return;
	}
	if (store_query_baselines(r, load_baseline, p, err, sizeof(err)) < 0)
		log_warnx("detectors: learned baselines not read back: %s", err);
	store_reader_close(r);
}

static void handle_flow(struct pipeline *p, const struct flow_record *rec)
{
	char key[DNSCACHE_KEY_MAX];
	char name[DNS_NAME_MAX];
	struct store_flow row;

	struct subject *local = NULL, *remote = NULL;
	const struct attrib_ref *lref = NULL, *rref = NULL;
	struct sides s;
	int li, gone;

	pipeline_to_row(rec, &row);
	gone = attribute(p, rec, &s, &li, &lref, &rref);
	if (li == 1)
		swap_sides(&row);
	if (lref) {
		ew_strcpy_cut(row.workload, sizeof(row.workload), lref->workload);
		local = subjects_get(&p->subjects, lref);
	}
	if (rref) {
		ew_strcpy_cut(row.remote_workload, sizeof(row.remote_workload),
			      rref->workload);
		/* Both views share one direct-mapped cache: a remote that
		 * would evict the local entry is judged without its labels. */
		if (!lref || lref->id == rref->id ||
		    lref->id % SUBJECT_SLOTS != rref->id % SUBJECT_SLOTS)
			remote = subjects_get(&p->subjects, rref);
		if (remote == local && lref && lref->id != rref->id)
			remote = NULL;
	}
	/* A workload that answered an inbound connection serves that port:
	 * the built-in policy infers listen-only datastores from it. */
	if (local && row.direction == STORE_INGRESS && row.packets_sent > 0 &&
	    policy_note_served(&local->served, row.proto, row.local_port) < 0)
		p->subjects.served_full++;
	client_key(row.workload, row.local_ip, key);
	if (dnscache_lookup(p->names, key, row.remote_ip, rec->last_ns, name) == 0) {
		ew_strcpy_cut(row.remote_name, sizeof(row.remote_name), name);
		atomic_fetch_add_explicit(&p->named, 1, memory_order_relaxed);
	}
	enrich(p, &row);
	/* Not without the workload it belonged to: the earlier verdict stands. */
	if (!gone && !(lref && !local)) {
		struct policy_result verdict;
		uint8_t outside;

		judge(p, &row, local, remote, &verdict, &outside);
		detect(p, rec, &row, &verdict, outside, local);
	}
	if (store_put_flow(p->cfg.store, &row) != 0)
		atomic_fetch_add(&p->store_refused, 1);
	atomic_fetch_add_explicit(&p->processed, 1, memory_order_relaxed);
}

static void *run(void *arg)
{
	struct pipeline *p = arg;
	struct seq_flow f;
	int rc;

	for (;;) {
		rc = ew_queue_pop(&p->q, &f, 250);
		take_new_policy(p);
		sync_workloads(p, 0);
		check_geo(p);
		if (rc == 0) {
			apply_dns_before(p, f.seq);
			handle_flow(p, &f.rec);
			continue;
		}
		apply_dns_before(p, UINT64_MAX);
		if (rc == -EPIPE)
			break;
	}
	sync_workloads(p, 1);
	return NULL;
}

struct pipeline *pipeline_start(const struct pipeline_config *cfg, char *err,
				size_t errlen)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	struct dnscache_config dcfg;
	int rc;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		policy_close(cfg->policy);
		return NULL;
	}
	p->cfg = *cfg;
	p->pol = cfg->policy;
	p->next_geo_check = ew_mono_ns() + GEO_CHECK_NS;
	if (!p->pol && (rc = policy_builtin(&p->pol)) != 0) {
		snprintf(err, errlen, "built-in policy: %s", strerror(-rc));
		free(p);
		return NULL;
	}
	if (!p->cfg.queue_len)
		p->cfg.queue_len = 65536;
	if (!p->cfg.dns_queue_len)
		p->cfg.dns_queue_len = 4096;
	{
		struct detect_config dc;

		detect_config_defaults(&dc);
		if (cfg->max_flows > dc.max_flows)
			dc.max_flows = cfg->max_flows;
		dc.on_alert = on_alert;
		dc.on_baseline = on_baseline;
		dc.ctx = p;
		p->det = detect_open(&dc, err, errlen);
		if (!p->det)
			goto err;
		load_baselines(p);
	}
	if (subjects_init(&p->subjects, cfg->attrib) ||
	    (cfg->attrib && !(p->memo = flowmemo_open()))) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	dnscache_config_defaults(&dcfg);
	p->names = dnscache_open(&dcfg, err, errlen);
	if (!p->names)
		goto err;
	rc = ew_queue_init(&p->q, sizeof(struct seq_flow), p->cfg.queue_len);
	if (rc == 0) {
		rc = ew_queue_init(&p->dq, sizeof(struct seq_dns),
				   p->cfg.dns_queue_len);
		if (rc)
			ew_queue_destroy(&p->q);
	}
	if (rc) {
		snprintf(err, errlen, "pipeline queues: %s", strerror(-rc));
		goto err;
	}
	rc = pthread_create(&p->thread, NULL, run, p);
	if (rc) {
		snprintf(err, errlen, "pipeline thread: %s", strerror(rc));
		ew_queue_destroy(&p->q);
		ew_queue_destroy(&p->dq);
		goto err;
	}
	/* Told apart from capture's thread in top -H, ps -L and profiles. */
	pthread_setname_np(p->thread, "ew-pipeline");
	p->started = 1;
	return p;
err:
	detect_close(p->det);
	dnscache_close(p->names);
	subjects_free(&p->subjects);
	flowmemo_close(p->memo);
	policy_close(p->pol);
	free(p);
	return NULL;
}

void pipeline_set_policy(struct pipeline *p, struct policy *pol)
{
	if (!pol && policy_builtin(&pol) != 0) {
		log_warnx("policy: cannot build the built-in policy; keeping the current one");
		return;
	}
	policy_close(atomic_exchange(&p->next_pol, pol));
}

void pipeline_check_geo(struct pipeline *p)
{
	atomic_store(&p->geo_check_now, 1);
}

void pipeline_emit(void *ctx, const struct flow_record *rec)
{
	struct pipeline *p = ctx;
	struct seq_flow f;

	f.seq = p->seq++;
	f.rec = *rec;
	if (ew_queue_push(&p->q, &f, p->cfg.blocking) == 0)
		atomic_fetch_add_explicit(&p->events, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
}

void pipeline_emit_dns(void *ctx, const struct dns_event *ev)
{
	struct pipeline *p = ctx;
	struct seq_dns *d = &p->dns_scratch_in;

	d->seq = p->seq++;
	d->ev = *ev;
	if (ew_queue_push(&p->dq, d, p->cfg.blocking) == 0)
		atomic_fetch_add_explicit(&p->dns_events, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&p->dns_dropped, 1, memory_order_relaxed);
}

void pipeline_stop(struct pipeline *p, struct pipeline_stats *final,
		   struct detect_stats *final_det)
{
	if (!p)
		return;
	ew_queue_close(&p->dq);
	ew_queue_close(&p->q);
	if (p->started)
		pthread_join(p->thread, NULL);
	if (final)
		pipeline_get_stats(p, final);
	if (final_det)
		pipeline_detect_stats(p, final_det);
	ew_queue_destroy(&p->q);
	ew_queue_destroy(&p->dq);
	detect_close(p->det);
	dnscache_close(p->names);
	subjects_free(&p->subjects);
	flowmemo_close(p->memo);
	policy_close(atomic_exchange(&p->next_pol, NULL));
	policy_close(p->pol);
	free(p);
}

void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->events = atomic_load(&p->events);
	out->dropped = atomic_load(&p->dropped);
	out->processed = atomic_load(&p->processed);
	out->store_refused = atomic_load(&p->store_refused);
	out->queue_depth = ew_queue_depth(&p->q);
	out->queue_high_water = atomic_load(&p->q.high_water);
	out->dns_events = atomic_load(&p->dns_events);
	out->dns_dropped = atomic_load(&p->dns_dropped);
	out->dns_queue_depth = ew_queue_depth(&p->dq);
	out->named = atomic_load(&p->named);
	out->verdict_alert = atomic_load(&p->verdict_alert);
	out->verdict_audit = atomic_load(&p->verdict_audit);
	out->policy_reloads = atomic_load(&p->policy_reloads);
	out->alerts = atomic_load(&p->alerts);
	out->alerts_sink_refused = atomic_load(&p->alerts_sink_refused);
	out->baselines_loaded = atomic_load(&p->baselines_loaded);
	out->attrib_gone = atomic_load(&p->attrib_gone);
	out->memo_entries = atomic_load(&p->memo_entries);
	out->memo_full = atomic_load(&p->memo_full);
}

void pipeline_detect_stats(struct pipeline *p, struct detect_stats *out)
{
	if (p->det)
		detect_get_stats(p->det, out);
	else
		memset(out, 0, sizeof(*out));
}
