/*
 * pipeline.c - the pipeline thread: flow events in, oriented store rows out.
 *
 * Orientation (DESIGN.md): a flow is seen from the side of the workload that
 * owns the interface it was captured on.  Until attribution knows workloads,
 * the initiator is the local side and every flow is `egress`.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "util.h"

struct pipeline {
	struct pipeline_config cfg;
	struct ew_queue q;
	pthread_t thread;
	int started;
	_Atomic uint64_t events, dropped, processed, store_refused;
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

static void *run(void *arg)
{
	struct pipeline *p = arg;
	struct flow_record rec;
	struct store_flow row;

	while (ew_queue_pop(&p->q, &rec, -1) == 0) {
		pipeline_to_row(&rec, &row);
		if (store_put_flow(p->cfg.store, &row) != 0)
			atomic_fetch_add(&p->store_refused, 1);
		atomic_fetch_add(&p->processed, 1);
	}
	return NULL;
}

struct pipeline *pipeline_start(const struct pipeline_config *cfg, char *err,
				size_t errlen)
{
	struct pipeline *p = calloc(1, sizeof(*p));
	int rc;

	if (!p) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	p->cfg = *cfg;
	if (!p->cfg.queue_len)
		p->cfg.queue_len = 65536;
	rc = ew_queue_init(&p->q, sizeof(struct flow_record), p->cfg.queue_len);
	if (rc) {
		snprintf(err, errlen, "pipeline queue: %s", strerror(-rc));
		free(p);
		return NULL;
	}
	rc = pthread_create(&p->thread, NULL, run, p);
	if (rc) {
		snprintf(err, errlen, "pipeline thread: %s", strerror(rc));
		ew_queue_destroy(&p->q);
		free(p);
		return NULL;
	}
	p->started = 1;
	return p;
}

void pipeline_emit(void *ctx, const struct flow_record *rec)
{
	struct pipeline *p = ctx;

	if (ew_queue_push(&p->q, rec, p->cfg.blocking) == 0)
		atomic_fetch_add_explicit(&p->events, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&p->dropped, 1, memory_order_relaxed);
}

void pipeline_stop(struct pipeline *p, struct pipeline_stats *final)
{
	if (!p)
		return;
	ew_queue_close(&p->q);
	if (p->started)
		pthread_join(p->thread, NULL);
	if (final)
		pipeline_get_stats(p, final);
	ew_queue_destroy(&p->q);
	free(p);
}

void pipeline_get_stats(struct pipeline *p, struct pipeline_stats *out)
{
	out->events = atomic_load(&p->events);
	out->dropped = atomic_load(&p->dropped);
	out->processed = atomic_load(&p->processed);
	out->store_refused = atomic_load(&p->store_refused);
	out->queue_depth = ew_queue_depth(&p->q);
	out->queue_high_water = atomic_load(&p->q.high_water);
}
