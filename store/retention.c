/*
 * retention.c - deleting old rows by age and by size, in slices.
 *
 * A pass is a small state machine run by the writer thread between batches:
 * age (table by table), then size, then vacuum.  Each slice is one statement
 * in its own transaction touching at most STORE_RETENTION_CHUNK rows (or
 * STORE_VACUUM_CHUNK pages), so the writer goes back to its queue within
 * milliseconds and a large clean-up never holds up writing or readers for
 * long.  What is deleted, and the reference time of age retention, is the
 * contract of store_run_retention() in store.h.
 *
 * A failed slice (disk full, I/O) ends the pass; it is counted as a write
 * error and the next periodic pass tries again.  Retention never pauses
 * writing and never loses queued rows.
 *
 * flows.end_ns has no index (schema.c): every question about ends is asked
 * through flows_start, bounded by the fact that a flow ends at most
 * meta.max_flow_ns after it starts, and a flow that ended before a time
 * started before it.
 */
#include <inttypes.h>

#include "store_int.h"

#define NS_PER_S 1000000000ull

/* Age: ?1 = cut-off in ns, ?2 = chunk.  For flows the walk is the range of
 * flows_start before the cut-off; the flows in it that still run are
 * stepped over. */
static const char *const age_sql[] = {
	"DELETE FROM flows WHERE id IN (SELECT id FROM flows"
	" WHERE start_ns < ?1 AND end_ns < ?1 ORDER BY start_ns LIMIT ?2)",
	/* A minute goes when all of it is older than the cut-off. */
	"DELETE FROM traffic_minute WHERE (minute, workload, remote_ip,"
	" port, proto, direction) IN (SELECT minute, workload,"
	" remote_ip, port, proto, direction FROM traffic_minute"
	" WHERE minute < ?1 / 60000000000 LIMIT ?2)",
	"DELETE FROM dns_answers WHERE rowid IN (SELECT rowid FROM dns_answers"
	" WHERE seen_ns < ?1 LIMIT ?2)",
	"DELETE FROM alerts WHERE id IN (SELECT id FROM alerts"
	" WHERE last_seen_ns < ?1 AND acknowledged = 1 LIMIT ?2)",
};

/* Size, when no flows are left: the next cut-off is just past the oldest
 * traffic minute, then past the oldest DNS answer.  NULL: nothing left. */
static const char other_cutoff_sql[] =
	"SELECT coalesce("
	" (SELECT (min(minute) + 1) * 60000000000 FROM traffic_minute),"
	" (SELECT min(seen_ns) + 1 FROM dns_answers))";

/* The newest end not after ?1 (the wall clock): see newest_end(). */
static const char newest_start_sql[] =
	"SELECT max(start_ns) FROM flows WHERE start_ns <= ?1";
static const char newest_near_sql[] =
	"SELECT max(end_ns) FROM flows WHERE start_ns >= ?2 -"
	" (SELECT value FROM meta WHERE key = 'max_flow_ns')"
	" AND start_ns <= ?1 AND end_ns <= ?1";
static const char newest_any_sql[] =
	"SELECT max(end_ns) FROM flows WHERE end_ns <= ?1";

_Static_assert(EW_ARRAY_LEN(age_sql) ==
	       EW_ARRAY_LEN(((struct store_retention *)0)->age_del),
	       "one statement per age table");

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
		   char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				    NULL);

	if (rc != SQLITE_OK)
		store_errf(err, errlen, "preparing retention: %s",
			   sqlite3_errmsg(db));
	return rc;
}

int store_retention_init(struct store_retention *rt, sqlite3 *db, char *err,
			 size_t errlen)
{
	memset(rt, 0, sizeof(*rt));
	if (prepare(db, newest_start_sql, &rt->newest_start, err, errlen) ||
	    prepare(db, newest_near_sql, &rt->newest_near, err, errlen) ||
	    prepare(db, newest_any_sql, &rt->newest_any, err, errlen) ||
	    prepare(db, "PRAGMA page_count", &rt->page_count, err, errlen) ||
	    prepare(db, "PRAGMA freelist_count", &rt->freelist, err, errlen) ||
	    prepare(db, "PRAGMA page_size", &rt->page_size, err, errlen) ||
	    prepare(db, "PRAGMA incremental_vacuum(" STORE_STR(STORE_VACUUM_CHUNK)
		    ")", &rt->vacuum, err, errlen) ||
	    prepare(db, "PRAGMA wal_checkpoint(PASSIVE)", &rt->checkpoint, err,
		    errlen) ||
	    prepare(db, "SELECT start_ns, end_ns FROM flows ORDER BY start_ns",
		    &rt->by_start, err, errlen) ||
	    prepare(db, other_cutoff_sql, &rt->other_cutoff, err, errlen))
		goto err;
	for (size_t i = 0; i < EW_ARRAY_LEN(age_sql); i++)
		if (prepare(db, age_sql[i], &rt->age_del[i], err, errlen))
			goto err;
	return 0;
err:
	store_retention_free(rt);
	return -EIO;
}

void store_retention_free(struct store_retention *rt)
{
	sqlite3_finalize(rt->newest_start);
	sqlite3_finalize(rt->newest_near);
	sqlite3_finalize(rt->newest_any);
	sqlite3_finalize(rt->page_count);
	sqlite3_finalize(rt->freelist);
	sqlite3_finalize(rt->page_size);
	sqlite3_finalize(rt->vacuum);
	sqlite3_finalize(rt->checkpoint);
	for (size_t i = 0; i < EW_ARRAY_LEN(rt->age_del); i++)
		sqlite3_finalize(rt->age_del[i]);
	sqlite3_finalize(rt->by_start);
	sqlite3_finalize(rt->other_cutoff);
	memset(rt, 0, sizeof(*rt));
}

/* One integer from a one-row statement; -1 on error. */
static int64_t scalar(sqlite3_stmt *st)
{
	int64_t v = -1;

	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_type(st, 0) == SQLITE_NULL ?
			    -1 : sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return v;
}

uint64_t store_retention_used_bytes(struct store_retention *rt)
{
	int64_t pages = scalar(rt->page_count);
	int64_t free_pages = scalar(rt->freelist);
	int64_t size = scalar(rt->page_size);

	if (pages < 0 || free_pages < 0 || size <= 0 || free_pages > pages)
		return 0;
	return (uint64_t)(pages - free_pages) * (uint64_t)size;
}

/*
 * The newest end_ns not after `wall`, or -1 when no flow has ended by then.
 * Let S be the newest start not after `wall`.  When the answer is S or more,
 * only flows that started within max_flow_ns before S can hold it, which is
 * a short range of flows_start.  It is less only when the flows that started
 * last all end after `wall` (timestamps from the future); then the whole
 * table is read, which is slow but rare and still right.
 */
static int64_t newest_end(struct store_retention *rt, int64_t wall)
{
	int64_t start, end;

	sqlite3_bind_int64(rt->newest_start, 1, wall);
	start = scalar(rt->newest_start);
	if (start < 0)
		return -1;	/* nothing started by then, so nothing ended */
	sqlite3_bind_int64(rt->newest_near, 1, wall);
	sqlite3_bind_int64(rt->newest_near, 2, start);
	end = scalar(rt->newest_near);
	if (end >= start)
		return end;
	sqlite3_bind_int64(rt->newest_any, 1, wall);
	return scalar(rt->newest_any);
}

/* A max-heap of int64: sift the value at `i` up, or down from the top. */
static void heap_up(int64_t *h, size_t i)
{
	while (i > 0 && h[(i - 1) / 2] < h[i]) {
		int64_t t = h[i];

		h[i] = h[(i - 1) / 2];
		h[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void heap_down(int64_t *h, size_t n)
{
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		int64_t t;

		if (l < n && h[l] > h[m])
			m = l;
		if (r < n && h[r] > h[m])
			m = r;
		if (m == i)
			return;
		t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

/*
 * Just past the STORE_RETENTION_CHUNK-th smallest end_ns (past the newest
 * when there are fewer flows), or -1 when there are no flows.  The flows are
 * walked by start, keeping the smallest ends seen in a max-heap; once it is
 * full, a flow that starts after its largest ends later still, and so does
 * every flow after it, so the walk stops there, normally after little more
 * than a chunk of rows.  -2 on an SQLite error.
 */
static int64_t size_cutoff_flows(struct store_retention *rt)
{
	size_t n = 0;
	int rc;

	while ((rc = sqlite3_step(rt->by_start)) == SQLITE_ROW) {
		int64_t start = sqlite3_column_int64(rt->by_start, 0);
		int64_t end = sqlite3_column_int64(rt->by_start, 1);

		if (n < STORE_RETENTION_CHUNK) {
			rt->heap[n] = end;
			heap_up(rt->heap, n++);
		} else if (start > rt->heap[0]) {
			break;
		} else if (end < rt->heap[0]) {
			rt->heap[0] = end;
			heap_down(rt->heap, n);
		}
	}
	sqlite3_reset(rt->by_start);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return -2;
	return n ? rt->heap[0] + 1 : -1;
}

static void finish(struct store *s)
{
	s->ret.phase = STORE_RET_IDLE;
	atomic_fetch_add_explicit(&s->retention_runs, 1, memory_order_relaxed);
}

static void enter_size(struct store *s)
{
	struct store_retention *rt = &s->ret;

	if (!s->cfg.max_bytes) {
		finish(s);
		return;
	}
	rt->phase = STORE_RET_SIZE;
	rt->table = 0;
	rt->shrinking = 0;
}

void store_retention_begin(struct store *s)
{
	struct store_retention *rt = &s->ret;
	uint64_t wall, ref, keep_ns;
	int64_t newest;

	rt->phase = STORE_RET_IDLE;
	rt->deleted_by_size = 0;
	if (!s->cfg.retention_s) {
		enter_size(s);
		return;
	}
	wall = store_wall_ns(s);
	newest = newest_end(rt, store_i64(wall));
	ref = newest >= 0 ? (uint64_t)newest : wall;
	keep_ns = s->cfg.retention_s > UINT64_MAX / NS_PER_S ?
			  UINT64_MAX : s->cfg.retention_s * NS_PER_S;
	if (ref <= keep_ns) {
		enter_size(s);
		return;
	}
	rt->cutoff_ns = store_i64(ref - keep_ns);
	rt->phase = STORE_RET_AGE;
	rt->table = 0;
}

static int fail(struct store *s, int rc)
{
	atomic_fetch_add_explicit(&s->write_errors, 1, memory_order_relaxed);
	if ((rc & 0xff) == SQLITE_FULL)
		atomic_fetch_add_explicit(&s->disk_full, 1,
					  memory_order_relaxed);
	log_warnx("store: %s: retention stopped: %s", s->cfg.path,
		  sqlite3_errmsg(s->db));
	s->ret.phase = STORE_RET_IDLE;
	return 0;
}

/* Run one delete; the number of rows it removed, or -1 with rc set. */
static int64_t delete_chunk(struct store *s, sqlite3_stmt *st, int *rc)
{
	int64_t n;

	*rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (*rc != SQLITE_DONE)
		return -1;
	n = sqlite3_changes64(s->db);
	atomic_fetch_add_explicit(&s->retention_deleted, (uint64_t)n,
				  memory_order_relaxed);
	return n;
}

static int step_age(struct store *s)
{
	struct store_retention *rt = &s->ret;
	sqlite3_stmt *st = rt->age_del[rt->table];
	int64_t n;
	int rc;

	sqlite3_bind_int64(st, 1, rt->cutoff_ns);
	sqlite3_bind_int(st, 2, STORE_RETENTION_CHUNK);
	n = delete_chunk(s, st, &rc);
	if (n < 0)
		return fail(s, rc);
	if (n < STORE_RETENTION_CHUNK &&
	    ++rt->table == EW_ARRAY_LEN(rt->age_del)) {
		if (rt->shrinking)
			rt->phase = STORE_RET_SIZE;	/* measure again */
		else
			enter_size(s);
	}
	return 1;
}

/*
 * Size works by moving the age cut-off forward: one round deletes, from every
 * table age retention covers, what is older than the oldest chunk of flows,
 * so flows, rollups and DNS answers keep covering the same stretch of time.
 */
static int step_size(struct store *s)
{
	struct store_retention *rt = &s->ret;
	uint64_t used = store_retention_used_bytes(rt);
	int64_t cutoff;

	atomic_store_explicit(&s->db_bytes, used, memory_order_relaxed);
	if (!rt->shrinking) {
		if (used <= s->cfg.max_bytes) {
			finish(s);
			return 0;
		}
		rt->shrinking = 1;
	}
	if (used <= s->cfg.max_bytes / 10 * 9) {
		rt->phase = STORE_RET_VACUUM;
		return 1;
	}
	cutoff = size_cutoff_flows(rt);
	if (cutoff == -2)
		return fail(s, sqlite3_errcode(s->db));
	if (cutoff < 0)
		cutoff = scalar(rt->other_cutoff);
	if (cutoff < 0) {
		/* Only what retention never deletes is left. */
		rt->phase = STORE_RET_VACUUM;
		return 1;
	}
	rt->cutoff_ns = cutoff;
	rt->deleted_by_size = 1;
	rt->phase = STORE_RET_AGE;
	rt->table = 0;
	return 1;
}

static int step_vacuum(struct store *s)
{
	struct store_retention *rt = &s->ret;
	int64_t before = rt->deleted_by_size ? scalar(rt->freelist) : 0;
	int rc;

	/* Goes on while pages come back; a file made without incremental
	 * auto_vacuum gives none back, and then this ends at once. */
	if (before > 0) {
		while ((rc = sqlite3_step(rt->vacuum)) == SQLITE_ROW)
			;
		sqlite3_reset(rt->vacuum);
		if (rc != SQLITE_DONE)
			return fail(s, rc);
		if (scalar(rt->freelist) < before)
			return 1;
	}
	/* In WAL mode the file shrinks when the checkpoint copies the
	 * truncation back; PASSIVE does what it can without waiting for
	 * readers. */
	if (rt->deleted_by_size) {
		while (sqlite3_step(rt->checkpoint) == SQLITE_ROW)
			;
		sqlite3_reset(rt->checkpoint);
	}
	atomic_store_explicit(&s->db_bytes, store_retention_used_bytes(rt),
			      memory_order_relaxed);
	finish(s);
	return 0;
}

int store_retention_step(struct store *s)
{
	switch (s->ret.phase) {
	case STORE_RET_AGE:
		return step_age(s);
	case STORE_RET_SIZE:
		return step_size(s);
	case STORE_RET_VACUUM:
		return step_vacuum(s);
	case STORE_RET_IDLE:
	default:
		return 0;
	}
}
