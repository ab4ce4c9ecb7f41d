/*
 * writer.c - the store handle: the queue between producers and the writer
 * thread, the writer thread itself, sync and shutdown, and the counters.
 *
 * Producers copy rows into a bounded ew_queue and return.  The queue has a
 * single producer side, so pushes are serialized by `pmu`; nothing on the
 * writer's side ever takes `pmu`, so a producer waits at most for another
 * producer's copy (or, in blocking mode, for room).  A row is built in its
 * queue slot (a flow row packed, store_int.h) and read by the writer in
 * place, so it is copied once.
 *
 * The writer thread takes rows into a batch and hands it to the committer
 * thread when it holds batch_rows distinct flows (however many rows merged
 * into them), when batch_ms have passed since its first row and the
 * committer is free (up to a second when rows are waiting or a commit runs:
 * see writer_main), or when a marker asks.  The committer writes the batch
 * in one transaction while the writer fills the next one, so the queue
 * keeps draining during a commit (which is most of the store's time) and a
 * producer waits only when a whole batch has filled before the previous
 * commit ended: two batches (their rows swapped at each hand-over,
 * store_batch_swap_rows) instead of a queue deep enough to hold a commit's
 * worth of rows.  The writer uses the connection itself (retention, the
 * file's size) only while the committer is idle, and counts each commit's
 * outcome when it next finds it so.  Markers (sync, retention)
 * travel through the same queue as the rows, so "everything queued before
 * the call" is exactly "everything before the marker"; each carries a
 * ticket, and the writer publishes the last ticket it resolved under `mu`,
 * which waiters watch on `cv`.
 *
 * Errors: a failed commit loses its batch (counted), and writing pauses with
 * an exponential back-off (50 ms doubling to 2 s); the batch filled while
 * the failing commit ran is the first probe.  While paused the writer
 * keeps draining the queue, counting every row it drops, so that a live
 * producer never finds the queue full because of the disk and a blocking
 * (replay) producer never waits for ever; when the back-off ends, the next
 * batch is the probe, and the first commit that succeeds resumes writing.
 * At close, the rows still queued are tried once more whatever the back-off.
 *
 * Between batches (after each commit under load, continuously when idle)
 * the writer runs retention one chunk at a time (retention.c), so a clean-up
 * delays the next batch by one chunk at most.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "store_int.h"

#define BACKOFF_MIN_NS (50ull * 1000000)
#define BACKOFF_MAX_NS (2000ull * 1000000)
#define DRAIN_MAX 256		/* rows taken between two looks at the clock */
#define BATCH_LATE_NS (1000ull * 1000000)	/* see writer_main */
#define COMMIT_POLL_MS 2	/* see pop_timeout */

void store_config_defaults(struct store_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->retention_s = 7 * 24 * 3600;
	cfg->max_bytes = 1ull << 30;
	cfg->queue_rows = 4096;
	cfg->batch_rows = STORE_BATCH_MAX;
	cfg->batch_ms = 200;
	cfg->retention_check_ms = 10000;
	cfg->busy_timeout_ms = 5000;
}

uint64_t store_wall_ns(const struct store *s)
{
	return s->cfg.clock_ns ? s->cfg.clock_ns(s->cfg.clock_ctx) :
				 ew_now_ns();
}

static void count(_Atomic uint64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void set(_Atomic uint64_t *c, uint64_t v)
{
	atomic_store_explicit(c, v, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- the writer thread --------------------------------------------------- */

static void resolve(struct store *s, uint64_t ticket)
{
	pthread_mutex_lock(&s->mu);
	if (ticket > s->ticket_done)
		s->ticket_done = ticket;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
}

static void measure_size(struct store *s)
{
	uint64_t used = store_retention_used_bytes(&s->ret);

	if (used)
		set(&s->db_bytes, used);
}

static void pause_writing(struct store *s, const struct store_batch_result *res,
			  uint64_t lost)
{
	uint64_t now = ew_mono_ns();

	count(&s->write_errors, 1);
	if ((res->rc & 0xff) == SQLITE_FULL)
		count(&s->disk_full, 1);
	count(&s->dropped_write_error, lost);
	if (!s->paused) {
		s->paused = 1;
		s->backoff_ns = BACKOFF_MIN_NS;
		s->lost_in_pause = 0;
		set(&s->writing_paused, 1);
		log_warnx("store: %s: writing paused: %s (%s); rows are counted "
			  "as lost until a commit succeeds", s->cfg.path,
			  res->errmsg, sqlite3_errstr(res->rc));
	} else if (s->backoff_ns < BACKOFF_MAX_NS) {
		s->backoff_ns *= 2;
		if (s->backoff_ns > BACKOFF_MAX_NS)
			s->backoff_ns = BACKOFF_MAX_NS;
	}
	s->lost_in_pause += lost;
	s->resume_ns = now + s->backoff_ns;
}

/* ---- the committer thread ------------------------------------------------- */

static void *committer_main(void *arg)
{
	struct store *s = arg;
	struct store_batch_result res;
	uint64_t t0, rows, coalesced, us;

	pthread_mutex_lock(&s->cmu);
	for (;;) {
		while (!s->commit_pending && !s->commit_stop)
			pthread_cond_wait(&s->ccv, &s->cmu);
		if (!s->commit_pending)
			break;
		pthread_mutex_unlock(&s->cmu);
		rows = s->batch.rows;
		coalesced = s->batch.coalesced;
		t0 = ew_mono_ns();
		store_batch_commit(&s->batch, s->db, &res);
		us = (ew_mono_ns() - t0) / 1000;
		store_batch_clear(&s->batch);
		pthread_mutex_lock(&s->cmu);
		s->cres = res;
		s->commit_rows = rows;
		s->commit_coalesced = coalesced;
		s->commit_us = us;
		s->commit_done = 1;
		s->commit_pending = 0;
		pthread_cond_broadcast(&s->ccv);
	}
	pthread_mutex_unlock(&s->cmu);
	return NULL;
}

/* Count the outcome of the commit that has finished (writer thread, the
 * committer idle). */
static void settle(struct store *s, const struct store_batch_result *r,
		   uint64_t rows, uint64_t coalesced, uint64_t us)
{
	struct store_batch_result res = *r;

	if (res.rc == SQLITE_OK) {
		count(&s->written, res.written);
		count(&s->dropped_invalid, res.invalid);
		count(&s->coalesced, coalesced);
		count(&s->batches, 1);
		set(&s->last_commit_us, us);
		if (us > get(&s->max_commit_us))
			set(&s->max_commit_us, us);
		if (s->paused) {
			s->paused = 0;
			set(&s->writing_paused, 0);
			log_info("store: %s: writing resumed; %" PRIu64 " rows "
				 "were lost while paused", s->cfg.path,
				 s->lost_in_pause);
		}
		measure_size(s);
		/* Growth past the limit should not wait for the next
		 * periodic check: at full speed that is many megabytes. */
		if (s->cfg.max_bytes && get(&s->db_bytes) > s->cfg.max_bytes &&
		    s->ret.phase == STORE_RET_IDLE)
			store_retention_begin(s);
	} else {
		pause_writing(s, &res, rows);
	}
}

/*
 * With `wait`, until the committer is idle; then count what it finished, if
 * anything.  Returns 1 when it is idle (`db` is the writer's to use).
 */
static int committer_idle(struct store *s, int wait)
{
	struct store_batch_result res = {0};
	uint64_t rows = 0, coalesced = 0, us = 0;
	int idle, done;

	pthread_mutex_lock(&s->cmu);
	while (wait && s->commit_pending)
		pthread_cond_wait(&s->ccv, &s->cmu);
	idle = !s->commit_pending;
	done = s->commit_done;
	if (done) {
		res = s->cres;
		rows = s->commit_rows;
		coalesced = s->commit_coalesced;
		us = s->commit_us;
		s->commit_done = 0;
	}
	pthread_mutex_unlock(&s->cmu);
	if (done)
		settle(s, &res, rows, coalesced, us);
	return idle;
}

/* Hand the rows filled so far to the committer (waiting for it to finish
 * the previous batch first) and start filling an empty batch. */
static void hand_over(struct store *s)
{
	if (s->fill.rows == 0)
		return;
	committer_idle(s, 1);
	store_batch_swap_rows(&s->batch, &s->fill);
	pthread_mutex_lock(&s->cmu);
	s->commit_pending = 1;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

/* Commit everything taken so far and count the outcome. */
static void flush(struct store *s)
{
	hand_over(s);
	committer_idle(s, 1);
}

/* Run a retention pass to its end (store_run_retention). */
static void retain_now(struct store *s)
{
	store_retention_begin(s);
	while (store_retention_step(s))
		;
	measure_size(s);
}

/*
 * Handle one row, in its queue slot: markers commit and resolve, other rows
 * go into the batch (which copies what it keeps).  Returns 1 when the batch
 * is full and must be committed.
 */
static int take(struct store *s, struct store_row *row)
{
	switch (row->kind) {
	case STORE_ROW_SYNC:
		flush(s);
		resolve(s, row->u.ticket);
		return 0;
	case STORE_ROW_RETAIN:
		flush(s);
		retain_now(s);
		resolve(s, row->u.ticket);
		return 0;
	default:
		break;
	}
	if (s->paused && ew_mono_ns() < s->resume_ns &&
	    !atomic_load_explicit(&s->q.closed, memory_order_acquire)) {
		/* Drained, not written: see the top of the file. */
		store_row_release(row);
		count(&s->dropped_write_error, 1);
		s->lost_in_pause++;
		return 0;
	}
	if (s->fill.rows == 0) {
		s->batch_first_ns = ew_mono_ns();
		s->batch_deadline_ns = s->batch_first_ns +
				       (uint64_t)s->cfg.batch_ms * 1000000;
	}
	return store_batch_add(&s->fill, row);
}

/* How long the next pop may wait, in ms. */
static int pop_timeout(struct store *s, uint64_t now)
{
	uint64_t until;

	/* A commit running: look again soon to count it when it is done,
	 * and to hand over a batch whose time has come. */
	if (s->commit_pending)
		return COMMIT_POLL_MS;
	if (s->fill.rows)
		until = s->batch_deadline_ns;
	else if (s->paused)
		return 1000;	/* nothing to do but drop what comes */
	else if (s->ret.phase != STORE_RET_IDLE)
		return 0;
	else
		until = s->next_check_ns;
	if (until <= now)
		return 0;
	until = (until - now + 999999) / 1000000;
	return until > 1000 ? 1000 : (int)until;
}

static void *writer_main(void *arg)
{
	struct store *s = arg;

	for (;;) {
		uint64_t now = ew_mono_ns();
		int rc = ew_queue_wait(&s->q, pop_timeout(s, now));

		if (rc == 0) {
			/* Rows are handled in their slots, a run of them
			 * between two looks at the clock, and a slot is given
			 * back before a commit, so that producers can go on
			 * filling the queue while it runs. */
			const struct store_row *row;
			int n = 0, full = 0;

			while (!full && n++ < DRAIN_MAX &&
			       (row = ew_queue_front(&s->q)) != NULL) {
				full = take(s, (struct store_row *)row);
				ew_queue_advance(&s->q);
			}
			if (full)
				hand_over(s);
		} else if (rc == -EPIPE) {
			flush(s);
			break;
		}
		now = ew_mono_ns();
		/* Past its deadline a batch is handed over once the queue is
		 * drained and the committer is free; while rows still wait or
		 * a commit runs, the writer is behind, and committing smaller
		 * batches (each a write of every page it touched, and every
		 * flow in two batches written twice) would only put it further
		 * behind: then up to BATCH_LATE_NS. */
		if (s->fill.rows && now >= s->batch_deadline_ns &&
		    ((ew_queue_front(&s->q) == NULL && committer_idle(s, 0)) ||
		     now - s->batch_first_ns >= BATCH_LATE_NS))
			hand_over(s);
		/* Retention and sizes use `db`: only with the committer idle. */
		if (!committer_idle(s, 0) || s->fill.rows || s->paused)
			continue;
		if (s->ret.phase == STORE_RET_IDLE && now >= s->next_check_ns) {
			s->next_check_ns = now + (uint64_t)s->cfg.retention_check_ms *
						 1000000;
			store_retention_begin(s);
		}
		if (s->ret.phase != STORE_RET_IDLE && !store_retention_step(s))
			measure_size(s);
	}
	return NULL;
}

/* ---- open and close ------------------------------------------------------ */

static int query_next_id(sqlite3 *db, uint64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, "SELECT max(id) FROM flows", -1, &st,
				    NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_errf(err, errlen, "reading the last flow id: %s",
			   sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return store_errno(rc) ? store_errno(rc) : -EIO;
	}
	*out = store_u64(sqlite3_column_int64(st, 0)) + 1;
	sqlite3_finalize(st);
	return 0;
}

struct store *store_open(const struct store_config *cfg, char *err,
			 size_t errlen)
{
	struct store *s;
	struct store_config def;
	struct store_db_opts o;
	char msg[512];
	int ret;

	if (!cfg || !cfg->path || !cfg->path[0]) {
		store_errf(err, errlen, "store: no database path");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		store_errf(err, errlen, "store: out of memory");
		return NULL;
	}
	store_config_defaults(&def);
	s->cfg = *cfg;
	if (!s->cfg.queue_rows)
		s->cfg.queue_rows = def.queue_rows;
	if (!s->cfg.batch_rows)
		s->cfg.batch_rows = def.batch_rows;
	if (s->cfg.batch_rows > STORE_BATCH_MAX)
		s->cfg.batch_rows = STORE_BATCH_MAX;
	if (!s->cfg.batch_ms)
		s->cfg.batch_ms = def.batch_ms;
	if (!s->cfg.retention_check_ms)
		s->cfg.retention_check_ms = def.retention_check_ms;
	if (!s->cfg.busy_timeout_ms)
		s->cfg.busy_timeout_ms = def.busy_timeout_ms;
	s->path_copy = strdup(cfg->path);
	pthread_mutex_init(&s->pmu, NULL);
	pthread_mutex_init(&s->mu, NULL);
	pthread_cond_init(&s->cv, NULL);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_cond_init(&s->ccv, NULL);
	if (!s->path_copy) {
		store_errf(err, errlen, "store: out of memory");
		goto err;
	}
	s->cfg.path = s->path_copy;

	o.steps = store_migrations;
	o.nsteps = store_migrations_len;
	o.max_page_count = s->cfg.max_page_count;
	o.busy_timeout_ms = s->cfg.busy_timeout_ms;
	ret = store_db_open_writer(s->cfg.path, &o, &s->db, err, errlen);
	if (ret < 0)
		goto err;
	if (query_next_id(s->db, &s->next_flow_id, msg, sizeof(msg)) < 0 ||
	    store_batch_init(&s->batch, s->db, s->cfg.batch_rows,
			     s->next_flow_id - 1, msg, sizeof(msg)) < 0 ||
	    store_batch_init_rows(&s->fill, &s->batch, msg, sizeof(msg)) < 0 ||
	    store_retention_init(&s->ret, s->db, msg, sizeof(msg)) < 0) {
		store_errf(err, errlen, "%s: %s", s->cfg.path, msg);
		goto err;
	}
	if (ew_queue_init(&s->q, sizeof(struct store_row),
			  s->cfg.queue_rows) < 0) {
		store_errf(err, errlen, "store: out of memory for a queue of "
			   "%u rows", s->cfg.queue_rows);
		goto err;
	}
	measure_size(s);
	/* The first automatic pass waits one interval: opening should not
	 * start by deleting. */
	s->next_check_ns = ew_mono_ns() +
			   (uint64_t)s->cfg.retention_check_ms * 1000000;
	if (pthread_create(&s->committer, NULL, committer_main, s) != 0) {
		store_errf(err, errlen, "store: cannot start the committer thread");
		goto err;
	}
	s->committer_started = 1;
	pthread_setname_np(s->committer, "ew-commit");
	if (pthread_create(&s->thread, NULL, writer_main, s) != 0) {
		store_errf(err, errlen, "store: cannot start the writer thread");
		goto err;
	}
	s->thread_started = 1;
	/* For top -H, perf and /proc/PID/task: which thread is the store's. */
	pthread_setname_np(s->thread, "ew-store");
	return s;
err:
	store_close(s);
	return NULL;
}

int store_close(struct store *s)
{
	int ret = 0;

	if (!s)
		return 0;
	if (s->thread_started) {
		pthread_mutex_lock(&s->pmu);
		s->closed = 1;
		ew_queue_close(&s->q);
		pthread_mutex_unlock(&s->pmu);
		pthread_join(s->thread, NULL);
		if (s->paused)
			ret = -EIO;
	}
	if (s->committer_started) {
		/* The writer flushed before it stopped: nothing is pending. */
		pthread_mutex_lock(&s->cmu);
		s->commit_stop = 1;
		pthread_cond_signal(&s->ccv);
		pthread_mutex_unlock(&s->cmu);
		pthread_join(s->committer, NULL);
	}
	store_batch_free(&s->fill);
	store_batch_free(&s->batch);
	store_retention_free(&s->ret);
	if (s->db) {
		/* Keeps the query planner's statistics fresh; analysis_limit
		 * bounds the work on a large file so closing stays quick. */
		store_exec(s->db, "PRAGMA analysis_limit = 1000;"
			   "PRAGMA optimize", NULL, 0);
		if (sqlite3_close(s->db) != SQLITE_OK)
			log_warnx("store: %s: close: %s", s->cfg.path,
				  sqlite3_errmsg(s->db));
	}
	ew_queue_destroy(&s->q);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->ccv);
	pthread_mutex_destroy(&s->cmu);
	pthread_mutex_destroy(&s->pmu);
	free(s->path_copy);
	free(s);
	return ret;
}

uint64_t store_next_flow_id(struct store *s)
{
	return s->next_flow_id;
}

/* ---- producers ----------------------------------------------------------- */

/* Pack `f` into the queue's flow form (store_int.h). */
static void pack_flow(struct store_row *slot, const void *src)
{
	const struct store_flow *f = src;
	struct store_qflow *q = &slot->u.flow;
	const char *text[STORE_FT__COUNT] = {
		[STORE_FT_INTERFACE] = f->interface,
		[STORE_FT_WORKLOAD] = f->workload,
		[STORE_FT_REMOTE_WORKLOAD] = f->remote_workload,
		[STORE_FT_REMOTE_NAME] = f->remote_name,
		[STORE_FT_REMOTE_COUNTRY] = f->remote_country,
		[STORE_FT_VERDICT] = f->verdict,
	};
	const size_t cap[STORE_FT__COUNT] = {
		[STORE_FT_INTERFACE] = sizeof(f->interface),
		[STORE_FT_WORKLOAD] = sizeof(f->workload),
		[STORE_FT_REMOTE_WORKLOAD] = sizeof(f->remote_workload),
		[STORE_FT_REMOTE_NAME] = sizeof(f->remote_name),
		[STORE_FT_REMOTE_COUNTRY] = sizeof(f->remote_country),
		[STORE_FT_VERDICT] = sizeof(f->verdict),
	};
	size_t used = 0;

	slot->kind = STORE_ROW_FLOW;
	q->id = f->id;
	q->start_ns = f->start_ns;
	q->end_ns = f->end_ns;
	q->bytes_sent = f->bytes_sent;
	q->bytes_received = f->bytes_received;
	q->packets_sent = f->packets_sent;
	q->packets_received = f->packets_received;
	q->dbytes_sent = f->dbytes_sent;
	q->dbytes_received = f->dbytes_received;
	q->dpackets_sent = f->dpackets_sent;
	q->dpackets_received = f->dpackets_received;
	memcpy(q->local_ip, f->local_ip, 16);
	memcpy(q->remote_ip, f->remote_ip, 16);
	q->local_port = f->local_port;
	q->remote_port = f->remote_port;
	q->vlan = f->vlan;
	q->family = f->family;
	q->proto = f->proto;
	q->direction = f->direction;
	q->ended = f->ended;
	q->end_reason = f->end_reason;
	q->tcp_flags_sent = f->tcp_flags_sent;
	q->tcp_flags_received = f->tcp_flags_received;
	q->remote_asn = f->remote_asn;
	for (int i = 0; i < STORE_FT__COUNT; i++) {
		size_t n = strnlen(text[i], cap[i]);

		memcpy(q->text + used, text[i], n);
		q->text_len[i] = (uint16_t)n;
		used += n;
	}
}

/* Copy a built row (its kind and payload) into the slot. */
static void copy_row(struct store_row *slot, const void *src)
{
	*slot = *(const struct store_row *)src;
}

/*
 * Queue one row, built by `fill` from `src` straight in its queue slot, so
 * that a row is copied once.  0, -EAGAIN (full, not blocking: counted) or
 * -EPIPE.
 */
static int push_with(struct store *s,
		     void (*fill)(struct store_row *slot, const void *src),
		     const void *src)
{
	struct store_row *slot;
	int ret = 0;

	pthread_mutex_lock(&s->pmu);
	if (s->closed) {
		ret = -EPIPE;
	} else {
		slot = ew_queue_reserve(&s->q, s->cfg.block_when_full);
		if (!slot) {
			ret = atomic_load_explicit(&s->q.closed,
						   memory_order_acquire) ?
				      -EPIPE : -EAGAIN;
		} else {
			fill(slot, src);
			ew_queue_commit(&s->q);
		}
	}
	pthread_mutex_unlock(&s->pmu);
	if (ret == 0)
		count(&s->queued, 1);
	else if (ret == -EAGAIN)
		count(&s->dropped_queue_full, 1);
	return ret;
}

/* Queue `row`; on failure what it owns is freed. */
static int push(struct store *s, struct store_row *row)
{
	int ret = push_with(s, copy_row, row);

	if (ret < 0)
		store_row_release(row);
	return ret;
}

int store_put_flow(struct store *s, const struct store_flow *f)
{
	return push_with(s, pack_flow, f);
}

int store_put_alert(struct store *s, const struct store_alert *a)
{
	struct store_row row;
	struct store_alert *copy;
	size_t elen = a->evidence ? strnlen(a->evidence, STORE_EVIDENCE_MAX + 1)
				  : 0;
	char *p;

	if (!a->dedup_key[0] || elen > STORE_EVIDENCE_MAX)
		return -EINVAL;
	copy = malloc(sizeof(*copy) + elen + 1);
	if (!copy)
		return -ENOMEM;
	*copy = *a;
	p = (char *)(copy + 1);
	copy->evidence = a->evidence ? memcpy(p, a->evidence, elen) : NULL;
	p[elen] = '\0';
	row.kind = STORE_ROW_ALERT;
	row.u.alert = copy;
	return push(s, &row);
}

int store_put_workload(struct store *s, const struct store_workload *w)
{
	struct store_row row;
	struct store_workload *copy;
	size_t llen = w->labels ? strnlen(w->labels, STORE_JSON_MAX + 1) : 0;
	size_t ilen = w->ips ? strnlen(w->ips, STORE_JSON_MAX + 1) : 0;
	char *p;

	if (!w->name[0] || llen > STORE_JSON_MAX || ilen > STORE_JSON_MAX)
		return -EINVAL;
	copy = malloc(sizeof(*copy) + llen + 1 + ilen + 1);
	if (!copy)
		return -ENOMEM;
	*copy = *w;
	p = (char *)(copy + 1);
	copy->labels = w->labels ? memcpy(p, w->labels, llen) : NULL;
	p[llen] = '\0';
	p += llen + 1;
	copy->ips = w->ips ? memcpy(p, w->ips, ilen) : NULL;
	p[ilen] = '\0';
	row.kind = STORE_ROW_WORKLOAD;
	row.u.workload = copy;
	return push(s, &row);
}

int store_put_dns_answer(struct store *s, const struct store_dns_answer *d)
{
	struct store_row row;

	if (!d->name[0])
		return -EINVAL;
	row.kind = STORE_ROW_DNS;
	row.u.dns = *d;
	return push(s, &row);
}

int store_put_baseline(struct store *s, const struct store_baseline *b)
{
	struct store_row row;

	if (!b->workload[0])
		return -EINVAL;
	row.kind = STORE_ROW_BASELINE;
	row.u.baseline = *b;
	return push(s, &row);
}

int store_ack_alert(struct store *s, uint64_t id, const char *by,
		    uint64_t ack_ns)
{
	struct store_row row;

	memset(&row.u.ack, 0, sizeof(row.u.ack));
	row.kind = STORE_ROW_ACK;
	row.u.ack.id = id;
	row.u.ack.ack_ns = ack_ns;
	if (by)
		snprintf(row.u.ack.by, sizeof(row.u.ack.by), "%s", by);
	return push(s, &row);
}

/*
 * Queue a marker and wait until the writer has handled it.  When the queue is
 * full the marker waits for room outside `pmu`, so that a sync never holds up
 * a live producer; the ticket is taken under `pmu` together with the push, so
 * tickets are in queue order.
 */
static int marker(struct store *s, uint32_t kind)
{
	const struct timespec pause = {0, 1000000};
	struct store_row row;
	uint64_t ticket = 0;
	int ret;

	row.kind = kind;
	for (;;) {
		pthread_mutex_lock(&s->pmu);
		if (s->closed) {
			ret = -EPIPE;
		} else {
			row.u.ticket = s->ticket_next + 1;
			ret = ew_queue_push(&s->q, &row, 0);
			if (ret == 0)
				ticket = ++s->ticket_next;
		}
		pthread_mutex_unlock(&s->pmu);
		if (ret != -EAGAIN)
			break;
		nanosleep(&pause, NULL);
	}
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->mu);
	while (s->ticket_done < ticket)
		pthread_cond_wait(&s->cv, &s->mu);
	pthread_mutex_unlock(&s->mu);
	return 0;
}

int store_sync(struct store *s)
{
	return marker(s, STORE_ROW_SYNC);
}

int store_run_retention(struct store *s)
{
	return marker(s, STORE_ROW_RETAIN);
}

void store_get_stats(struct store *s, struct store_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->queued = get(&s->queued);
	out->written = get(&s->written);
	out->dropped_queue_full = get(&s->dropped_queue_full);
	out->dropped_write_error = get(&s->dropped_write_error);
	out->dropped_invalid = get(&s->dropped_invalid);
	out->write_errors = get(&s->write_errors);
	out->disk_full = get(&s->disk_full);
	out->batches = get(&s->batches);
	out->coalesced = get(&s->coalesced);
	out->queue_depth = ew_queue_depth(&s->q);
	out->queue_high_water = atomic_load_explicit(&s->q.high_water,
						     memory_order_relaxed);
	out->last_commit_us = get(&s->last_commit_us);
	out->max_commit_us = get(&s->max_commit_us);
	out->retention_deleted = get(&s->retention_deleted);
	out->retention_runs = get(&s->retention_runs);
	out->db_bytes = get(&s->db_bytes);
	out->writing_paused = get(&s->writing_paused);
}
