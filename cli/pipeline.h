/*
 * pipeline.h - the stage between capture and the store: a bounded queue of
 * flow events and the pipeline thread that orients each flow to its local
 * workload and hands rows to the store.  Enrichment and policy plug in here.
 *
 * pipeline_emit() runs on the capture thread and never blocks in live mode:
 * a full queue is counted in `dropped`.  In replay mode it waits instead, so
 * an offline run loses nothing.
 */
#ifndef EW_CLI_PIPELINE_H
#define EW_CLI_PIPELINE_H

#include <stdint.h>
#include "capture.h"
#include "conntrack.h"
#include "policy.h"
#include "store.h"

struct pipeline_config {
	struct store *store;		/* borrowed; outlives the pipeline */
	struct geo *geo;		/* borrowed, NULL: no country/ASN */
	struct attrib *attrib;		/* borrowed, NULL: no workloads */
	struct sinks *sinks;		/* borrowed, NULL: alerts only stored */
	const char *db_path;		/* baselines are read back from it */
	int wall_clock;			/* 1 live: detectors use wall time;
					 * 0 replay: packet time */
	struct policy *policy;		/* owned from now on; NULL: built-in */
	uint32_t queue_len;		/* flow events; default 65536 */
	uint32_t dns_queue_len;		/* DNS answers; default 4096 */
	/* The flow table's cap: the detectors keep state for as many open
	 * flows, so that none is forgotten (and judged again as new) while
	 * the table still holds it.  0: the detectors' default. */
	uint32_t max_flows;
	int blocking;			/* 1 for replay */
	/* Live only: called on the pipeline thread for an interface that
	 * `attrib` does not know; 1 when it refreshed the registry (the
	 * interface is looked up again).  NULL: never. */
	int (*refresh)(void *ctx, const char *ifname);
	void *refresh_ctx;
	/* Live only, borrowed: the connection tracking table, asked where a
	 * connection the local side opened to an address no workload owns
	 * really went (a Service's virtual IP, rewritten by DNAT to one of
	 * its pods), so that the flow names that pod as its remote workload
	 * and the policy judges it by that pod.  NULL: never asked. */
	struct conntrack *ct;
};

struct pipeline_stats {
	uint64_t events;		/* accepted from capture */
	uint64_t dropped;		/* refused: queue full (live only) */
	uint64_t processed;		/* handed to the store */
	uint64_t store_refused;		/* store queue full (counted there too) */
	uint64_t queue_depth, queue_high_water;
	uint64_t dns_events;		/* DNS answers accepted from capture */
	uint64_t dns_dropped;		/* refused: DNS queue full (live only) */
	uint64_t dns_queue_depth;
	uint64_t named;			/* flow rows given a remote_name */
	uint64_t verdict_alert, verdict_audit; /* flow events so judged */
	uint64_t policy_reloads;
	uint64_t attrib_gone;		/* events whose workload had gone since
					   their flow was attributed */
	uint64_t memo_entries;		/* open flows with their attribution kept */
	uint64_t memo_full;		/* events attributed without the memo */
	uint64_t alerts;		/* alerts raised (repeats included) */
	uint64_t alerts_sink_refused;	/* sink queue full (counted there too) */
	uint64_t baselines_loaded;
};

struct pipeline;

/* The detectors' counters (zeroed when the pipeline has none). */
void pipeline_detect_stats(struct pipeline *p, struct detect_stats *out);

struct pipeline *pipeline_start(const struct pipeline_config *cfg, char *err,
				size_t errlen);
/* capture_emit_fn and capture_dns_fn: ctx is the struct pipeline.  Both run
 * on the one capture thread. */
void pipeline_emit(void *ctx, const struct flow_record *rec);
void pipeline_emit_dns(void *ctx, const struct dns_event *ev);
/* Drain the queue, stop the thread, free; the final counters go to `final`
 * and the detectors' to `final_det` when they are not NULL.  NULL `p` is a
 * no-op. */
void pipeline_stop(struct pipeline *p, struct pipeline_stats *final,
		   struct detect_stats *final_det);
void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *out);

/*
 * Replace the policy (takes ownership of `pol`; NULL means the built-in
 * policy).  Any thread may call it; the pipeline thread switches to the new
 * policy before its next event and frees the old one.  A policy that failed
 * to load never gets here, so a bad reload keeps the running policy.
 */
void pipeline_set_policy(struct pipeline *p, struct policy *pol);

/* Have the pipeline thread look for replaced geo databases before its next
 * event (or within 250 ms when idle) instead of at its next periodic check
 * (every 30 s).  Any thread. */
void pipeline_check_geo(struct pipeline *p);

/* Exposed for tests: orient a flow record to a store row (no workloads known:
 * the initiator is the local side). */
void pipeline_to_row(const struct flow_record *rec, struct store_flow *row);

#endif
