/*
 * sink_int.h - private to the alert sinks (policy/sink.c, sink_webhook.c):
 * the sink set, one sink's state, and the webhook half's entry points.
 *
 *   sink.c          flag parsing, the submit queue, the sender thread, the
 *                   JSON-lines and syslog sinks, stats
 *   sink_webhook.c  webhook queues, request bodies (JSON, Slack,
 *                   Alertmanager), delivery with libcurl's multi interface,
 *                   retry and back-off
 *
 * Everything below the submit queue runs on the sender thread only; the
 * counters are atomics so that sink_get_stats() can read them anywhere.
 */
#ifndef EW_POLICY_SINK_INT_H
#define EW_POLICY_SINK_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "policy.h"
#include "util.h"

struct webhook;

struct sink_out {
	struct sink_spec spec;
	char name[SINK_NAME_MAX];	/* safe to show: no URL path or query */
	int fd;				/* JSON: -1 when closed */
	int dirty;			/* JSON: written since the last sync */
	struct webhook *wh;		/* webhooks */
	_Atomic uint64_t delivered, filtered, write_errors;
	_Atomic uint64_t attempts, retries, failures, timeouts, http_5xx;
	_Atomic uint64_t rejected, dropped_queue_full, dropped_attempts;
	_Atomic uint64_t dropped_age, dropped_shutdown, pending;
	_Atomic int last_status;
	/* A failure episode (sender thread only): from the first failed
	 * delivery to the next one that succeeds, logged once at each end. */
	int failing;
	uint64_t fail_count;		/* failures since it began */
	uint64_t lost_before;		/* alerts this sink had lost before */
};

/* Sender thread: a delivery to `o` failed (`why`: what went wrong; `then`:
 * what becomes of the alert, and its counter), or one succeeded.  One log
 * line when a run of failures begins, one when it ends (sink.c). */
void sink_failed(struct sink_out *o, const char *why, const char *then);
#define SINK_RETRIED "retrying with back-off, alerts wait in its queue " \
	"(sinks.sink[].failures)"
#define SINK_REJECTED "the receiver refuses them: dropped, not retried " \
	"(sinks.sink[].rejected)"
#define SINK_LOST "alerts are lost until it works again " \
	"(sinks.sink[].write_errors)"
void sink_delivered(struct sink_out *o);

struct sinks {
	struct sink_config cfg;
	char generator_url[SINK_TARGET_MAX];
	struct sink_out out[SINK_MAX];
	size_t n;
	int has_syslog;

	/* submit queue: a ring of alerts, guarded by mu (held for one copy) */
	pthread_mutex_t mu;
	struct policy_alert *q;
	uint32_t qcap, qhead, qlen;
	int closing;			/* under mu */
	_Atomic uint64_t submitted, dropped_full, dropped_closed, high_water;
	_Atomic int reopen;

	/* sender thread */
	pthread_t thread;
	int started;
	void *multi;			/* CURLM * */
	struct policy_alert cur;	/* the alert being dispatched */
	struct ew_buf line;		/* JSON line / syslog text scratch */
	uint64_t drain_deadline_ns;	/* monotonic; 0 until closing */
};

uint64_t sink_mono_ns(void);

/* sink_webhook.c; all on the sender thread except open/close. */
int webhook_open(struct sinks *s, struct sink_out *o, char *err, size_t errlen);
void webhook_close(struct sinks *s, struct sink_out *o);
/* Queue a copy of `a`; counted drop when its queue is full. */
void webhook_enqueue(struct sinks *s, struct sink_out *o,
		     const struct policy_alert *a);
/* Start due requests and handle finished ones; returns the milliseconds
 * until the next retry is due (or -1 when nothing waits). */
long webhook_pump(struct sinks *s, uint64_t now_ns);
/* Handle the finished transfers curl reports. */
void webhook_collect(struct sinks *s, uint64_t now_ns);
/* 1 when no webhook has anything queued or in flight. */
int webhook_idle(struct sinks *s);
/* Drop everything still pending (closing, drain time over). */
void webhook_abandon(struct sinks *s);
/* The request body of `a` in `fmt`, into `b`.  0 or -E2BIG. */
int webhook_body(const struct sinks *s, enum sink_format fmt,
		 const struct policy_alert *a, struct ew_buf *b);

#endif
