/*
 * pipeline.c - the pipeline thread: flow events and DNS answers in,
 * oriented and named store rows out.
 *
 * Orientation (DESIGN.md): a flow is seen from the side of the workload that
 * owns the interface it was captured on.  Until attribution knows workloads,
 * the initiator is the local side and every flow is `egress`.
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
 * to running flows from their next event on.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "util.h"

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
	_Atomic(struct policy *) next_pol; /* handed over by pipeline_set_policy */
	struct seq_dns dns_scratch;	/* pipeline thread only */
	struct seq_dns dns_scratch_in;	/* capture thread only */
	pthread_t thread;
	int started;
	_Atomic uint64_t events, dropped, processed, store_refused;
	_Atomic uint64_t dns_events, dns_dropped, named;
	_Atomic uint64_t verdict_alert, verdict_audit, policy_reloads;
};

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
	char a[EW_IPSTR_MAX];

	if (workload && workload[0]) {
		snprintf(key, DNSCACHE_KEY_MAX, "%s", workload);
		return;
	}
	ew_ip_to_str(ip, a);
	snprintf(key, DNSCACHE_KEY_MAX, "ip:%s", a);
}

static void handle_dns(struct pipeline *p, const struct dns_event *ev)
{
	char key[DNSCACHE_KEY_MAX];
	struct store_dns_answer row;

	client_key(NULL, ev->client_ip, key);
	dnscache_add_event(p->names, key, ev, ev->ts_ns);
	for (unsigned i = 0; i < ev->n_addrs; i++) {
		memset(&row, 0, sizeof(row));
		memcpy(row.address, ev->addr[i], 16);
		row.ttl = ev->ttl[i];
		row.seen_ns = ev->ts_ns;
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

static void judge(struct pipeline *p, struct store_flow *row)
{
	struct policy_flow f = {0};
	struct policy_result r;

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
	snprintf(row->verdict, sizeof(row->verdict), "%s",
		 policy_verdict_name((enum policy_verdict)r.verdict));
	if (r.verdict == POLICY_ALERT)
		atomic_fetch_add_explicit(&p->verdict_alert, 1, memory_order_relaxed);
	else if (r.verdict == POLICY_AUDIT)
		atomic_fetch_add_explicit(&p->verdict_audit, 1, memory_order_relaxed);
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

static void handle_flow(struct pipeline *p, const struct flow_record *rec)
{
	char key[DNSCACHE_KEY_MAX];
	char name[DNS_NAME_MAX];
	struct store_flow row;

	pipeline_to_row(rec, &row);
	client_key(row.workload, row.local_ip, key);
	if (dnscache_lookup(p->names, key, row.remote_ip, rec->last_ns, name) == 0) {
		snprintf(row.remote_name, sizeof(row.remote_name), "%s", name);
		atomic_fetch_add_explicit(&p->named, 1, memory_order_relaxed);
	}
	enrich(p, &row);
	judge(p, &row);
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
		if (rc == 0) {
			apply_dns_before(p, f.seq);
			handle_flow(p, &f.rec);
			continue;
		}
		apply_dns_before(p, UINT64_MAX);
		if (rc == -EPIPE)
			break;
	}
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
	if (!p->pol && (rc = policy_builtin(&p->pol)) != 0) {
		snprintf(err, errlen, "built-in policy: %s", strerror(-rc));
		free(p);
		return NULL;
	}
	if (!p->cfg.queue_len)
		p->cfg.queue_len = 65536;
	if (!p->cfg.dns_queue_len)
		p->cfg.dns_queue_len = 4096;
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
	p->started = 1;
	return p;
err:
	dnscache_close(p->names);
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

void pipeline_stop(struct pipeline *p, struct pipeline_stats *final)
{
	if (!p)
		return;
	ew_queue_close(&p->dq);
	ew_queue_close(&p->q);
	if (p->started)
		pthread_join(p->thread, NULL);
	if (final)
		pipeline_get_stats(p, final);
	ew_queue_destroy(&p->q);
	ew_queue_destroy(&p->dq);
	dnscache_close(p->names);
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
}
