/*
 * store_int.h - private to store/: what the files of the store module share.
 *
 *   schema.c     the schema, forward migrations, opening a connection
 *   writer.c     the store handle, the queue, the writer thread, sync
 *   batch.c      one batch: coalescing, rollups, prepared upserts, commit
 *   retention.c  age and size retention in slices
 *   query.c      read-only connections and the queries
 *
 * Unit tests include this header to drive the migration machinery with extra
 * (test-only) steps; nothing outside store/ and tests/ may.
 */
#ifndef EW_STORE_INT_H
#define EW_STORE_INT_H

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

#include "store.h"
#include "util.h"

/* PRAGMA application_id of our files ("EWAT"): tells an egresswatch database
 * from some other application's SQLite file. */
#define STORE_APPLICATION_ID 0x45574154

/* Rows deleted per retention transaction: small enough that one slice takes
 * milliseconds, so retention never holds the writer up for long. */
#define STORE_RETENTION_CHUNK 2000
/* Pages given back per incremental_vacuum slice. */
#define STORE_VACUUM_CHUNK 2048

#define STORE_STR_(x) #x
#define STORE_STR(x) STORE_STR_(x)

/* ---- schema.c ----------------------------------------------------------- */

/*
 * One forward migration: `sql` takes a database at version `version - 1` to
 * `version`.  Each step runs in its own transaction together with the bump of
 * PRAGMA user_version, so a crash or error leaves the file at the previous
 * version, never in between.  Steps are never edited once released: a schema
 * change is a new step appended to store_migrations[].
 */
struct store_migration {
	int version;
	const char *name;
	const char *sql;
};
extern const struct store_migration store_migrations[];
extern const size_t store_migrations_len;

struct store_db_opts {
	const struct store_migration *steps;	/* store_migrations normally */
	size_t nsteps;
	uint64_t max_page_count;		/* 0: SQLite's default */
	uint32_t busy_timeout_ms;
};

/*
 * Open (creating it if needed) the database at `path` read-write, set up WAL
 * and the connection pragmas, and migrate it to the last version of
 * `o->steps`.  0 with *out set, or -errno with `err` set and nothing open.
 * -ENOTSUP: the schema is newer than the last step; -EINVAL: not a database,
 * damaged, or another application's file.
 */
int store_db_open_writer(const char *path, const struct store_db_opts *o,
			 sqlite3 **out, char *err, size_t errlen);

/*
 * Tell what the file behind `db` is: 0 with *version set (0 and *fresh = 1
 * for a file with nothing in it yet), or -EINVAL with `err` set when it is not
 * an SQLite database, is damaged, or belongs to another application.
 */
int store_db_identify(sqlite3 *db, const char *path, int *version, int *fresh,
		      char *err, size_t errlen);

/*
 * No index covers flows.end_ns (schema.c), but every row ends at most
 * meta.max_flow_ns after it starts, so the flows that can hold the newest end
 * started within max_flow_ns of the newest start: this gives max(end_ns) from
 * an index range on flows_start rather than a scan of the table.
 */
#define STORE_SQL_NEWEST_END                                               \
	"SELECT max(end_ns) FROM flows WHERE start_ns >="                  \
	" (SELECT max(start_ns) FROM flows) -"                             \
	" (SELECT value FROM meta WHERE key = 'max_flow_ns')"

/* ---- shared helpers ------------------------------------------------------ */

/* snprintf into a caller's error buffer (which may be NULL or empty). */
void store_errf(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A negative errno for an SQLite result code. */
int store_errno(int sqlite_rc);
/* Run `sql` (several statements allowed, rows ignored); SQLite's code. */
int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);

/* SQL text built from clauses, each added when its condition holds; a text
 * that would not fit sets `overflow` (the caller refuses to prepare it). */
struct store_sql {
	char text[3072];
	size_t len;
	int overflow;
};

static inline void sql_add(struct store_sql *q, int when,
				 const char *clause)
{
	size_t n = strlen(clause);

	if (!when)
		return;
	if (n >= sizeof(q->text) - q->len) {
		q->overflow = 1;
		return;
	}
	memcpy(q->text + q->len, clause, n + 1);
	q->len += n;
}

static inline int64_t store_i64(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static inline uint64_t store_u64(int64_t v)
{
	return v < 0 ? 0 : (uint64_t)v;
}

/* Bind a fixed-size text field: at most `cap` bytes are read, and an empty
 * field becomes NULL ("unknown").  The text must live until the step. */
static inline int store_bind_opt_text(sqlite3_stmt *st, int i, const char *s,
				      size_t cap)
{
	size_t n = s ? strnlen(s, cap) : 0;

	if (n == 0)
		return sqlite3_bind_null(st, i);
	return sqlite3_bind_text(st, i, s, (int)n, SQLITE_STATIC);
}

/* As store_bind_opt_text, but an empty field stays '' (NOT NULL columns and
 * key columns, where NULL would never match itself). */
static inline int store_bind_text(sqlite3_stmt *st, int i, const char *s,
				  size_t cap)
{
	size_t n = s ? strnlen(s, cap) : 0;

	return sqlite3_bind_text(st, i, n ? s : "", (int)n, SQLITE_STATIC);
}

/* Copy a text column into a fixed array, cut to fit and NUL-terminated; NULL
 * becomes "". */
static inline void store_col_text(sqlite3_stmt *st, int i, char *out,
				  size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0;

	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(out, t, n);
	out[n] = '\0';
}

/* Copy a 16-byte address column; anything else (NULL, wrong size) gives the
 * all-zero address. */
static inline void store_col_ip(sqlite3_stmt *st, int i, uint8_t out[16])
{
	const void *b = sqlite3_column_blob(st, i);

	if (b && sqlite3_column_bytes(st, i) == 16)
		memcpy(out, b, 16);
	else
		memset(out, 0, 16);
}

static inline int store_ip_is_zero(const uint8_t ip[16])
{
	static const uint8_t zero[16];

	return memcmp(ip, zero, 16) == 0;
}

/* ---- query.c: what the other query files (dashq.c) share ---------------- */

/* The connection behind a reader and its file name (for messages). */
sqlite3 *store_reader_db(struct store_reader *r);
const char *store_reader_path(const struct store_reader *r);

/* The columns store_flow_row() and store_alert_row() read, in their order. */
#define STORE_FLOW_COLUMNS                                                     \
	"id, start_ns, end_ns, interface, family, proto, direction,"           \
	" local_ip, local_port, remote_ip, remote_port, vlan, bytes_sent,"     \
	" bytes_received, packets_sent, packets_received, tcp_flags_sent,"     \
	" tcp_flags_received, ended, end_reason, workload, remote_workload,"   \
	" remote_name, remote_country, remote_asn, verdict"
#define STORE_ALERT_COLUMNS                                                    \
	"id, first_seen_ns, last_seen_ns, count, severity, kind, rule,"        \
	" workload, remote_ip, remote_name, remote_country, remote_asn,"       \
	" remote_port, proto, bytes_sent, message, evidence, dedup_key,"       \
	" acknowledged, ack_ns, ack_by"
/* Fill a row from a statement selecting those columns first.  The alert's
 * evidence points into the statement: valid until its next step or reset. */
void store_flow_row(sqlite3_stmt *st, struct store_flow *f);
void store_alert_row(sqlite3_stmt *st, struct store_alert *a);

/* ---- the queue element (writer.c, batch.c) ------------------------------- */

/* The text fields of a flow row, in the order they are packed. */
enum store_flow_text {
	STORE_FT_INTERFACE,
	STORE_FT_WORKLOAD,
	STORE_FT_REMOTE_WORKLOAD,
	STORE_FT_REMOTE_NAME,
	STORE_FT_REMOTE_COUNTRY,
	STORE_FT_VERDICT,
	STORE_FT__COUNT
};

/* The most text one flow row can hold: every field at its size. */
#define STORE_FLOW_TEXT_MAX                                                \
	(STORE_IFNAME_MAX + 2 * STORE_WORKLOAD_MAX + STORE_DNSNAME_MAX + 4 +  \
	 STORE_VERDICT_MAX)

/*
 * A flow row as it waits in the queue: the numbers of struct store_flow and
 * its text fields packed one after the other (each cut at its array's size,
 * no NULs).  The producer writes, and the writer reads, a few cache lines of
 * it instead of 1.1 KB of mostly empty arrays.
 */
struct store_qflow {
	uint64_t id, start_ns, end_ns;
	uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	uint64_t dbytes_sent, dbytes_received, dpackets_sent, dpackets_received;
	uint8_t local_ip[16], remote_ip[16];
	uint16_t local_port, remote_port, vlan;
	uint8_t family, proto, direction, ended, end_reason;
	uint8_t tcp_flags_sent, tcp_flags_received;
	uint32_t remote_asn;
	uint16_t text_len[STORE_FT__COUNT];
	char text[STORE_FLOW_TEXT_MAX];
};

enum store_row_kind {
	STORE_ROW_FLOW = 1,
	STORE_ROW_ALERT,	/* u.alert: heap copy, freed by the writer */
	STORE_ROW_WORKLOAD,	/* u.workload: heap copy, freed by the writer */
	STORE_ROW_DNS,
	STORE_ROW_BASELINE,
	STORE_ROW_ACK,
	STORE_ROW_SYNC,		/* marker: commit, then resolve u.ticket */
	STORE_ROW_RETAIN,	/* marker: commit, run retention, resolve */
};

struct store_ack {
	uint64_t id, ack_ns;
	char by[64];
};

struct store_row {
	uint32_t kind;		/* enum store_row_kind */
	union {
		struct store_qflow flow;
		struct store_dns_answer dns;
		struct store_baseline baseline;
		struct store_ack ack;
		struct store_alert *alert;
		struct store_workload *workload;
		uint64_t ticket;
	} u;
};

/* Free what a row owns (the heap copies of alerts and workloads). */
void store_row_release(struct store_row *row);

/* ---- batch.c ------------------------------------------------------------- */

/* A text field of a batched row: `len` bytes at `off` in the batch's text
 * arena; len 0 is "unknown". */
struct store_text {
	uint32_t off, len;
};

/* A flow as a batch keeps it: struct store_flow without the deltas (they
 * went to the rollups) and with its text in the arena, 160 bytes
 * instead of 1.1 KB. */
struct store_batch_flow {
	uint64_t id, start_ns, end_ns;
	uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	uint8_t local_ip[16], remote_ip[16];
	uint16_t local_port, remote_port, vlan;
	uint8_t family, proto, direction, ended, end_reason;
	uint8_t tcp_flags_sent, tcp_flags_received;
	uint32_t remote_asn;
	uint32_t rows;			/* puts merged into this one */
	struct store_text text[STORE_FT__COUNT];
};

/* Per-minute rollup of the d* deltas, summed within a batch. */
struct store_rollup {
	uint64_t minute;
	uint8_t remote_ip[16];
	uint16_t port;			/* service port, see store_traffic */
	uint8_t proto, direction;
	struct store_text workload;
	uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	uint64_t flows;
};

/*
 * The rows of one transaction.  Flow rows are coalesced by id: a flow that
 * starts and ends within one batch is one write, not two.  Rollup deltas are
 * summed per key before they are added to traffic_minute.  Everything else is
 * kept in arrival order.  All arrays are allocated once at open (and touched
 * only as far as batches fill them).
 */
struct store_batch {
	uint32_t cap;			/* distinct flows (and rollups) at most */
	uint32_t rows;			/* rows (puts) in this batch */
	uint32_t coalesced;		/* of which merged into an earlier flow */

	struct store_batch_flow *flows;	/* distinct flows, in first-seen order */
	uint32_t nflows;
	uint32_t *sel;			/* flows[] indices of the new flows */
	const uint32_t *view;		/* what ew_batch_flows shows: */
	uint32_t nview;			/* flows[view[0 .. nview)] */
	uint32_t *flow_index;		/* open addressing: slot + 1, 0 = empty */
	uint32_t flow_mask;

	struct store_rollup *rollups;
	uint32_t nrollups;
	uint32_t *rollup_index;
	uint32_t rollup_mask;
	uint8_t hash_key[16];		/* SipHash key: remote IPs are chosen by
					   outsiders */

	char *text;			/* arena for the text of flows and rollups */
	uint32_t text_used, text_cap;

	/* Alerts, coalesced by dedup_key like flows by id (a detector can
	 * raise the same alert for every event of a flow). */
	struct store_alert **alerts;	/* heap copies, in first-seen order */
	uint32_t *alert_rows;		/* puts merged into each */
	uint32_t nalerts, alerts_cap;
	uint32_t *alert_index;		/* open addressing: slot + 1, 0 = empty */
	uint32_t alert_mask;

	struct store_row *others;	/* workloads, dns, baselines, acks */
	uint32_t nothers, others_cap;

	int64_t max_flow_ns;		/* meta.max_flow_ns as committed */
	uint64_t max_flow_id;		/* no flow above this id is in the file
					   (as committed): INSERT, not UPDATE */

	sqlite3_stmt *begin, *commit, *rollback;
	sqlite3_stmt *flow, *rollup, *alert, *workload, *dns, *baseline, *ack;
	sqlite3_stmt *flow_set, *flow_update, *flow_update_workload;
	sqlite3_stmt *rollup_set;
	sqlite3_stmt *max_flow;
};

struct store_batch_result {
	uint64_t written;		/* rows committed */
	uint64_t invalid;		/* rows refused one by one */
	int rc;				/* SQLITE_OK, or what failed the batch */
	char errmsg[256];
};

/* The most distinct flows a batch holds (160 bytes each). */
#define STORE_BATCH_MAX 65536

/* `cap`: distinct flows per batch, 1 to STORE_BATCH_MAX; `max_flow_id`: the
 * highest flow id in the file now. */
/* bulk.c: register ew_batch_flows and ew_batch_rollups, the batch's
 * selected flows and its rollups as tables, on `db`.  SQLite's code. */
int store_bulk_register(sqlite3 *db, const struct store_batch *b);

int store_batch_init(struct store_batch *b, sqlite3 *db, uint32_t cap,
		     uint64_t max_flow_id, char *err, size_t errlen);
void store_batch_free(struct store_batch *b);
/* A batch that only holds rows (no statements): the writer fills it while
 * the committer commits the other, and store_batch_swap_rows exchanges
 * their rows.  Same capacity and hash key as `like`. */
int store_batch_init_rows(struct store_batch *b, const struct store_batch *like,
			  char *err, size_t errlen);
void store_batch_swap_rows(struct store_batch *a, struct store_batch *b);
/* Take `row` (and what it owns; a flow row is read, not kept, so it may be
 * a queue slot).  1 when the batch is full, else 0. */
int store_batch_add(struct store_batch *b, struct store_row *row);
/*
 * Write and commit the batch in one transaction.  On a failure that is not
 * about one row (disk full, I/O, lock), everything is rolled back and
 * res->rc says why.  The batch is left as it was: call store_batch_clear.
 */
void store_batch_commit(struct store_batch *b, sqlite3 *db,
			struct store_batch_result *res);
/* Empty the batch, releasing what its rows own. */
void store_batch_clear(struct store_batch *b);

/* ---- retention.c --------------------------------------------------------- */

enum store_ret_phase {
	STORE_RET_IDLE = 0,
	STORE_RET_AGE,		/* delete by age, table by table */
	STORE_RET_SIZE,		/* move the cut-off until under 90% of max */
	STORE_RET_VACUUM,	/* incremental_vacuum, then checkpoint */
};

struct store_retention {
	enum store_ret_phase phase;
	unsigned table;			/* index into the phase's table list */
	int64_t cutoff_ns;		/* age: delete what ended before */
	int shrinking;			/* size: deleting down to 90% */
	int deleted_by_size;		/* something to vacuum */
	sqlite3_stmt *newest_start, *newest_near, *newest_any;
	sqlite3_stmt *page_count, *freelist, *page_size;
	sqlite3_stmt *age_del[4], *by_start, *other_cutoff;
	sqlite3_stmt *vacuum, *checkpoint;
	int64_t heap[STORE_RETENTION_CHUNK];	/* size: smallest ends seen */
};

struct store;
int store_retention_init(struct store_retention *rt, sqlite3 *db, char *err,
			 size_t errlen);
void store_retention_free(struct store_retention *rt);
/* Start a pass (age, then size, then vacuum as needed). */
void store_retention_begin(struct store *s);
/* One slice of the pass: at most one chunk.  1 while work is left. */
int store_retention_step(struct store *s);
/* Bytes in use, or 0 when it cannot be measured. */
uint64_t store_retention_used_bytes(struct store_retention *rt);

/* ---- writer.c: the handle ------------------------------------------------ */

struct store {
	struct store_config cfg;	/* path points at path_copy */
	char *path_copy;
	sqlite3 *db;			/* the writer connection */
	uint64_t next_flow_id;

	struct ew_queue q;
	pthread_t thread;
	int thread_started;

	/* Producers: ew_queue has a single producer, so pushes are serialized
	 * here; markers are numbered under the same lock so that their order
	 * in the queue is the order of their tickets. */
	pthread_mutex_t pmu;
	uint64_t ticket_next;
	int closed;

	/* The writer publishes the last marker it resolved. */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t ticket_done;

	/* The committer thread commits `batch`, whose statements and batch
	 * tables live on `db`, while the writer thread fills `fill`; a
	 * hand-over swaps their rows (writer.c).  `cmu` guards what follows
	 * it; the writer uses `db` itself (retention, sizes) only while the
	 * committer is idle. */
	struct store_batch batch;
	struct store_batch fill;
	pthread_t committer;
	int committer_started;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	_Atomic int commit_pending;	/* `batch` holds rows being committed */
	int commit_stop;
	int commit_done;		/* a result waits in cres */
	struct store_batch_result cres;
	uint64_t commit_rows, commit_coalesced, commit_us;

	/* Writer thread only. */
	struct store_retention ret;
	uint64_t batch_first_ns;	/* monotonic: the batch's first row */
	uint64_t batch_deadline_ns;	/* ... plus batch_ms */
	uint64_t resume_ns;		/* paused until (monotonic) */
	uint64_t backoff_ns;
	uint64_t next_check_ns;		/* next automatic retention pass */
	uint64_t lost_in_pause;		/* rows lost since writing paused */
	int paused;

	/* Counters: written by their owner, read by store_get_stats. */
	_Atomic uint64_t queued, written, dropped_queue_full;
	_Atomic uint64_t dropped_write_error, dropped_invalid;
	_Atomic uint64_t write_errors, disk_full, batches, coalesced;
	_Atomic uint64_t last_commit_us, max_commit_us;
	_Atomic uint64_t retention_deleted, retention_runs, db_bytes;
	_Atomic uint64_t writing_paused;
};

/* Wall clock for retention: cfg.clock_ns or the real one. */
uint64_t store_wall_ns(const struct store *s);

#endif
