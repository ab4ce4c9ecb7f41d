/*
 * store.h - the store module's whole public interface: flow history, traffic
 * rollups, alerts, workloads and DNS answers in one SQLite file.
 *
 * Writing: store_open() opens the single writer connection (WAL mode), applies
 * forward schema migrations, and starts the writer thread.  Producers hand
 * rows over with store_put_*(), which copy the row into a bounded queue and
 * return at once; the writer thread commits them in batched transactions.
 * A row that cannot be queued (queue full, live mode) or written (disk full,
 * read-only file, I/O error) is counted in store_stats, never silently lost,
 * and writing resumes by itself when the fault goes away.  In blocking mode
 * (replay) a full queue makes the producer wait instead.
 *
 * Any number of threads may call store_put_*(), store_sync() and
 * store_run_retention() at the same time; their rows reach the database in the
 * order they were queued.
 *
 * Retention: rows older than `retention_s` and, when the file grows past
 * `max_bytes`, the oldest rows, are deleted by the writer thread in small
 * chunks between batches, so a clean-up never stalls writing for long.
 *
 * Reading: store_reader_open() opens a read-only connection (one per reader
 * thread); queries never block the writer.
 *
 * Times are nanoseconds since the Unix epoch (UTC).  Addresses are 16 bytes,
 * IPv4 in the IPv4-mapped form (see util.h), stored as 16-byte BLOBs so that a
 * CIDR filter is an index range scan.  Counters and times are stored as SQLite
 * INTEGERs (signed 64-bit): values above INT64_MAX are stored as INT64_MAX.
 * Text fields are fixed arrays; the store reads at most the array's size, so
 * an unterminated field is cut, never overrun.
 */
#ifndef EW_STORE_H
#define EW_STORE_H

#include <stddef.h>
#include <stdint.h>

#define STORE_SCHEMA_VERSION 1

#define STORE_IFNAME_MAX 16
#define STORE_WORKLOAD_MAX 320	/* "namespace/name": 63 + 1 + 253 + NUL */
#define STORE_DNSNAME_MAX 256	/* 253 characters + NUL; escaped text */
#define STORE_VERDICT_MAX 16
#define STORE_CNAMES_MAX 512	/* space-separated CNAME chain + NUL */
#define STORE_EVIDENCE_MAX 65536 /* bytes of alert evidence JSON kept */
#define STORE_JSON_MAX 16384	/* bytes of a workload's labels or ips JSON */
#define STORE_QUERY_LIMIT_DEFAULT 1000
#define STORE_QUERY_LIMIT_MAX 100000

enum store_direction { STORE_EGRESS = 0, STORE_INGRESS = 1 };

/* One flow as the history keeps it: seen from the local workload's side. */
struct store_flow {
	uint64_t id;			/* flow id from capture; the row key */
	uint64_t start_ns, end_ns;	/* first and last packet */
	uint8_t local_ip[16], remote_ip[16];
	uint16_t local_port, remote_port;
	uint16_t vlan;
	uint8_t family;			/* 4 or 6 */
	uint8_t proto;
	uint8_t direction;		/* enum store_direction */
	uint8_t ended;			/* 1 once the flow has ended */
	uint8_t end_reason;		/* enum flow_end_reason of capture.h */
	uint8_t tcp_flags_sent, tcp_flags_received;
	uint64_t bytes_sent, bytes_received;	/* totals; sent = by local side */
	uint64_t packets_sent, packets_received;
	/* Increase since this flow's previous row update: feeds the per-minute
	 * rollups (added to the minute of end_ns).  A row whose d-packets equal
	 * its packet totals is the flow's first and counts as a flow started. */
	uint64_t dbytes_sent, dbytes_received;
	uint64_t dpackets_sent, dpackets_received;
	uint32_t remote_asn;		/* 0 when unknown */
	char interface[STORE_IFNAME_MAX];
	char workload[STORE_WORKLOAD_MAX];	  /* "" when unknown */
	char remote_workload[STORE_WORKLOAD_MAX]; /* "" when unknown */
	char remote_name[STORE_DNSNAME_MAX];	  /* "" when unknown */
	char remote_country[4];			  /* ISO 3166 alpha-2 or "" */
	char verdict[STORE_VERDICT_MAX];	  /* "allow", "alert", "audit", "" */
};

/*
 * An alert.  store_put_alert() merges alerts with the same dedup_key into one
 * row: count adds up, first_seen/last_seen widen, bytes_sent keeps the largest
 * value, message/evidence and the other fields take the newest non-empty
 * value.  An acknowledgement sticks when the alert fires again (compare
 * last_seen_ns with ack_ns to see what is new since).
 */
struct store_alert {
	uint64_t id;			/* assigned by the store; ignored by put */
	uint64_t first_seen_ns, last_seen_ns;
	uint64_t count;			/* occurrences in this report (0 means 1) */
	uint64_t bytes_sent;
	uint8_t remote_ip[16];		/* all zero: no remote address */
	uint16_t remote_port;
	uint8_t proto;
	uint32_t remote_asn;		/* 0 when unknown */
	char severity[16];		/* "info", "warning", "critical" */
	char kind[32];			/* detector or "policy" */
	char rule[128];			/* rule name, "" for none */
	char workload[STORE_WORKLOAD_MAX];
	char remote_name[STORE_DNSNAME_MAX];
	char remote_country[4];
	char message[512];
	char dedup_key[256];		/* required: rows merge on it */
	/* JSON text, NULL for none; put copies at most STORE_EVIDENCE_MAX bytes
	 * (longer evidence is refused, not cut: cut JSON is not JSON).  In a
	 * query callback it points into the reader and lives for the call. */
	const char *evidence;
	/* Set by store_ack_alert(); ignored by put. */
	uint8_t acknowledged;
	uint64_t ack_ns;
	char ack_by[64];
};

/* A workload (pod or container), unique by (namespace, name).  A put updates
 * the row: first_seen keeps the earliest, last_seen the latest, the other
 * fields take the new value where it is non-empty. */
struct store_workload {
	uint64_t id;			/* assigned by the store; ignored by put */
	char namespace[64];		/* "" for plain containers */
	char name[254];
	char kind[32];			/* "pod", "container", ... */
	char runtime[16];		/* "containerd", "docker", "cri-o", ... */
	char container_id[72];
	char pod_uid[40];
	char interface[STORE_IFNAME_MAX];
	const char *labels;		/* JSON object text or NULL; see evidence */
	const char *ips;		/* JSON array of address strings or NULL */
	uint64_t first_seen_ns, last_seen_ns;
};

/* One DNS answer a workload received: `name` resolved (through the CNAME
 * chain) to `address`.  Unique by (workload, name, address); a repeat refreshes ttl,
 * seen_ns and expires_ns (= seen_ns + ttl). */
struct store_dns_answer {
	uint8_t address[16];
	uint32_t ttl;			/* seconds */
	uint64_t seen_ns;
	char workload[STORE_WORKLOAD_MAX]; /* "" when unknown */
	char name[STORE_DNSNAME_MAX];	/* the name the workload asked for */
	char cname_chain[STORE_CNAMES_MAX]; /* space-separated, or "" */
};

/* A learned (workload, proto, port, direction) observation.  Rows merge:
 * count adds up, first/last seen widen.  Never aged out by retention: the
 * learning logic decides what to forget. */
struct store_baseline {
	uint64_t seen_ns;
	uint64_t count;			/* observations to add (0 means 1) */
	uint16_t port;
	uint8_t proto;
	uint8_t direction;		/* enum store_direction */
	char workload[STORE_WORKLOAD_MAX];
};

struct store_config {
	const char *path;		/* database file */
	uint64_t retention_s;		/* default 7 days; 0 keeps for ever */
	uint64_t max_bytes;		/* default 1 GiB; 0 means no limit */
	uint32_t queue_rows;		/* default 4096 (about 1.1 KB each) */
	/* Commit when the batch holds this many distinct flows (the rows of
	 * one flow merge into one), at most and by default 65536; a flow
	 * takes about 160 bytes of the batch and a rollup 80, touched only
	 * as far as batches fill them ... */
	uint32_t batch_rows;
	/* ... or this long after the first (default 200), or up to 1 s
	 * while rows wait in the queue (the writer is behind) */
	uint32_t batch_ms;
	int block_when_full;		/* 1: producers wait (replay); 0: count drop */
	uint64_t max_page_count;	/* 0, or a PRAGMA max_page_count (tests) */
	uint32_t retention_check_ms;	/* look for work this often (default 10000) */
	uint32_t busy_timeout_ms;	/* wait for a lock held by others (default 5000) */
	/* Wall clock for age retention; NULL means the real clock.  Replay and
	 * tests set it.  See store_run_retention() for how it is used. */
	uint64_t (*clock_ns)(void *ctx);
	void *clock_ctx;
};
void store_config_defaults(struct store_config *cfg);

struct store_stats {
	uint64_t queued;		/* rows accepted into the queue */
	uint64_t written;		/* rows committed */
	uint64_t dropped_queue_full;	/* rows refused: queue full */
	uint64_t dropped_write_error;	/* rows lost to a failed commit, or
					   drained while writing was paused */
	uint64_t dropped_invalid;	/* rows the database refused one by one
					   (constraint, too big); batch goes on */
	uint64_t write_errors;		/* failed commits (disk full, I/O, ...) */
	uint64_t disk_full;		/* of which SQLITE_FULL */
	uint64_t batches;		/* committed transactions */
	uint64_t coalesced;		/* flow rows merged into an earlier row of
					   the same batch (one upsert for both) */
	uint64_t queue_depth, queue_high_water;
	uint64_t last_commit_us, max_commit_us; /* write + commit of a batch */
	uint64_t retention_deleted;	/* rows removed by age or size */
	uint64_t retention_runs;	/* retention passes completed */
	uint64_t db_bytes;		/* file size in use, last measured */
	uint64_t writing_paused;	/* 1 while in back-off after an error */
};

struct store;

/*
 * Open or create the database and start the writer.  NULL with `err` set.
 * Refused: a file that is not SQLite or is damaged, an SQLite file of another
 * application, and a schema newer than STORE_SCHEMA_VERSION.  An older schema
 * is migrated forward, one transaction per version.
 */
struct store *store_open(const struct store_config *cfg, char *err,
			 size_t errlen);
/* Commit everything queued, stop the writer and close.  0, or -EIO when the
 * last rows could not be written (they are counted).  NULL is a no-op. */
int store_close(struct store *s);

/* The first flow id not used in this database yet: capture hands out ids from
 * here so that rows from an earlier run are never overwritten. */
uint64_t store_next_flow_id(struct store *s);

/*
 * Queue a flow row (insert or update by id, rollups added from the d* fields).
 * Copies `f`.  0; -EAGAIN when the queue is full and not blocking (counted);
 * -EPIPE after close.
 *
 * Update rule: the newest row wins, except that a workload, remote workload,
 * remote name, country, ASN or verdict already known is kept when the newer
 * row leaves it empty, and start_ns, the addresses, ports, interface and
 * protocol are those of the first row.  Every row of one flow must carry the
 * same start_ns (capture's first packet time): the time-window queries bound
 * their index scan by the longest end_ns - start_ns written.
 */
int store_put_flow(struct store *s, const struct store_flow *f);

/* Queue the other row kinds; same return values as store_put_flow.  They copy
 * their argument (including the JSON strings).  -EINVAL, nothing queued and
 * nothing counted: a required field is empty (the alert's dedup_key, the
 * workload's name, the DNS answer's name, the baseline's workload) or a JSON
 * string is longer than its cap.  -ENOMEM: no memory for the copy. */
int store_put_alert(struct store *s, const struct store_alert *a);
int store_put_workload(struct store *s, const struct store_workload *w);
int store_put_dns_answer(struct store *s, const struct store_dns_answer *d);
int store_put_baseline(struct store *s, const struct store_baseline *b);
/* Mark alert `id` acknowledged by `by` at `ack_ns` (queued like a row). */
int store_ack_alert(struct store *s, uint64_t id, const char *by,
		    uint64_t ack_ns);

/* Wait until every row queued before the call is committed (or counted as
 * lost).  For tests, the end of a replay and shutdown.  0 or -EPIPE. */
int store_sync(struct store *s);

/*
 * Run retention now, to the end, and wait for it (the writer otherwise runs it
 * by itself every retention_check_ms, in slices between batches).  Rows queued
 * before the call are committed first.  0 or -EPIPE.
 *
 * Age: rows older than `retention_s` before a reference time are deleted:
 * flows whose end_ns, traffic minutes whose minute, DNS answers whose seen_ns,
 * and acknowledged alerts whose last_seen_ns is older.  Unacknowledged alerts,
 * workloads and baselines are kept.  The reference time is the newest flow
 * end_ns that is not in the future of the wall clock (cfg.clock_ns), or the
 * wall clock when there is no such flow: a live database ages by the wall
 * clock, while a capture from 2016 replayed into its own file keeps its last
 * `retention_s` of history instead of being deleted as soon as it lands, and
 * one packet with a timestamp in the future cannot age out everything else.
 * Replaying an old capture into a live database does age it out at once.
 *
 * Size: when the pages in use ((page_count - freelist_count) * page_size; the
 * WAL is not counted) exceed `max_bytes`, the age cut-off is moved forward,
 * 2000 flows (by end_ns) at a time, deleting from all the tables above what
 * is older, until use is below 90% of `max_bytes`; so flows, rollups and DNS
 * answers keep covering the same stretch of time.  When no flows are left,
 * the oldest traffic minute, then the oldest DNS answer, sets the cut-off.
 * The free pages are then given back to the file system with an incremental
 * vacuum.  Unacknowledged alerts, workloads and baselines are never deleted,
 * so they alone can keep the file above `max_bytes`.
 */
int store_run_retention(struct store *s);

void store_get_stats(struct store *s, struct store_stats *out);

/* ---- reading ------------------------------------------------------------ */

struct store_reader;

/* A read-only connection for one thread.  NULL with `err` set: no such file,
 * not an egresswatch database, or a schema other than STORE_SCHEMA_VERSION
 * (an older one is migrated by the next store_open). */
struct store_reader *store_reader_open(const char *path, char *err,
				       size_t errlen);
void store_reader_close(struct store_reader *r);

struct store_flow_filter {
	uint64_t since_ns;		/* flows active at or after (0: no bound) */
	uint64_t until_ns;		/* flows that started before (0: no bound) */
	int has_cidr;
	uint8_t cidr_lo[16], cidr_hi[16]; /* remote address range */
	int port;			/* remote or local port, -1 for any */
	int proto;			/* -1 for any */
	const char *workload;		/* exact "namespace/name", NULL for any */
	uint32_t limit;			/* rows at most (0: default 1000, max 100000) */
	uint64_t before_id;		/* cursor: only ids below (0: none) */
	/* With before_id: the cursor is the position (before_start_ns,
	 * before_id) in the result order, i.e. the start_ns and id of the last
	 * row of the previous page, which pages correctly even when ids are not
	 * in start order (several captures replayed into one file). */
	uint64_t before_start_ns;
};

/*
 * Call `cb` for each matching flow, newest first (by start, then id).  `cb`
 * returns 0 to go on, non-zero to stop.  Returns the number of rows, or
 * -errno with `err` set.
 */
int store_query_flows(struct store_reader *r,
		      const struct store_flow_filter *flt,
		      int (*cb)(void *ctx, const struct store_flow *f),
		      void *ctx, char *err, size_t errlen);

struct store_alert_filter {
	uint64_t since_ns;		/* last_seen at or after (0: no bound) */
	uint64_t until_ns;		/* first_seen before (0: no bound) */
	const char *workload;		/* exact, NULL for any */
	int unacknowledged_only;
	uint32_t limit;			/* as for flows */
	uint64_t before_id;		/* cursor: (before_last_seen_ns, before_id) */
	uint64_t before_last_seen_ns;	/* ... or only ids below when 0 */
};

/* Alerts, most recently seen first (by last_seen, then id).  As
 * store_query_flows; `a->evidence` lives for the call. */
int store_query_alerts(struct store_reader *r,
		       const struct store_alert_filter *flt,
		       int (*cb)(void *ctx, const struct store_alert *a),
		       void *ctx, char *err, size_t errlen);

/* Every workload, by namespace then name (at most STORE_QUERY_LIMIT_MAX). */
int store_query_workloads(struct store_reader *r,
			  int (*cb)(void *ctx, const struct store_workload *w),
			  void *ctx, char *err, size_t errlen);

/* One per-minute rollup row. */
struct store_traffic {
	uint64_t minute_ns;		/* start of the minute */
	uint8_t remote_ip[16];
	uint16_t port;			/* the service port: the remote port of
					 * egress flows, the local port of
					 * ingress ones, so that the clients'
					 * ephemeral ports never split a row */
	uint8_t proto;
	uint8_t direction;
	uint64_t bytes_sent, bytes_received;
	uint64_t packets_sent, packets_received;
	uint64_t flows;			/* flows started in this minute */
	char workload[STORE_WORKLOAD_MAX]; /* "" when unknown */
};

struct store_traffic_filter {
	uint64_t since_ns, until_ns;	/* minutes overlapping [since, until) */
	const char *workload;		/* exact ("" for unknown), NULL for any */
	uint32_t limit;			/* as for flows */
};

/* Rollup rows, newest minute first. */
int store_query_traffic(struct store_reader *r,
			const struct store_traffic_filter *flt,
			int (*cb)(void *ctx, const struct store_traffic *t),
			void *ctx, char *err, size_t errlen);

/* DNS answers that resolved to `address` for `workload` (NULL: any
 * workload), most recently seen first, at most `limit` (as for flows). */
int store_query_dns(struct store_reader *r, const uint8_t address[16],
		    const char *workload, uint32_t limit,
		    int (*cb)(void *ctx, const struct store_dns_answer *d),
		    void *ctx, char *err, size_t errlen);

/* ==== JSON (store/json.c) ==================================================
 * Rows as the JSON objects of the interface contract (README: "Flow records"
 * and "HTTP API").  Each appends one object, without a newline, to `b` and
 * returns 0, or -E2BIG when `b` reached its maximum (b->toobig is then set).
 * Every string is escaped with ew_buf_json_str.
 */
struct ew_buf;

int store_flow_json(const struct store_flow *f, struct ew_buf *b);
/* with_evidence: also "evidence", the stored JSON re-encoded. */
int store_alert_json(const struct store_alert *a, int with_evidence,
		     struct ew_buf *b);
int store_workload_json(const struct store_workload *w, struct ew_buf *b);
/*
 * Append JSON text that another module stored (evidence, labels, ips),
 * parsed and written out again token by token so that its strings are
 * escaped as ours are.  NULL or "" appends null; text that is not one JSON
 * value (or nests deeper than 32, or is longer than STORE_EVIDENCE_MAX)
 * appends {"invalid_json": "<the text as a string>"}.
 */
int store_json_copy(struct ew_buf *b, const char *text);
/* The same for `len` bytes of text (no NUL needed) without the length cap,
 * e.g. the live agent's status object; each string is still capped. */
int store_json_copy_len(struct ew_buf *b, const char *text, size_t len);
/* TCP flags as letters in tcpdump's order, e.g. "SA". */
void store_tcp_flags_str(uint8_t flags, char out[9]);
/* "active", "idle", "fin", "rst", "evicted", "shutdown", "interface-gone". */
const char *store_end_reason_name(uint8_t end_reason);
/* ew_proto_name(), or the number written into `buf`. */
const char *store_proto_str(uint8_t proto, char buf[4]);

/* ==== dashboard queries (store/dashq.c) ====================================
 * Searches and sums for the dashboard, on a reader.  Each calls `cb` per row
 * (non-zero stops) and returns the number of rows or -errno with `err` set.
 * Windows are [since_ns, until_ns); the caller bounds them (the cost of a
 * flow query is the flows of its window, see dashq.c).
 */
enum store_flow_sort {
	STORE_SORT_START = 0,		/* start_ns */
	STORE_SORT_BYTES = 1,		/* bytes_sent + bytes_received */
	STORE_SORT_SENT = 2,		/* bytes_sent */
};

struct store_flow_search {
	uint64_t since_ns, until_ns;	/* required: flows active in the window */
	const char *workload;		/* exact ("" unknown), NULL any */
	const char *namespace;		/* workloads "namespace/...", NULL any */
	int has_cidr;
	uint8_t cidr_lo[16], cidr_hi[16]; /* remote address range */
	const char *name_like;		/* LIKE pattern ('\' escapes) on
					   remote_name, NULL any */
	const char *country;		/* exact ("" unknown), NULL any */
	const char *verdict;		/* exact ("" none), NULL any */
	int port;			/* local or remote port, -1 any */
	int remote_port;		/* -1 any */
	int proto;			/* -1 any */
	int direction;			/* enum store_direction, -1 any */
	uint8_t sort;			/* enum store_flow_sort */
	uint8_t ascending;		/* default newest / biggest first */
	uint32_t limit;			/* 0: default; at most LIMIT_MAX */
	/* Keyset cursor: only rows after (key, id) in the result order; key
	 * is the sort value (start_ns, byte total, bytes_sent) and id the id
	 * of the previous page's last row. */
	int has_after;
	uint64_t after_key, after_id;
};
int store_search_flows(struct store_reader *r,
		       const struct store_flow_search *f,
		       int (*cb)(void *ctx, const struct store_flow *row),
		       void *ctx, char *err, size_t errlen);

struct store_alert_search {
	uint64_t id;			/* one alert (0: any) */
	uint64_t since_ns, until_ns;	/* last seen at or after / first seen
					   before (0: no bound) */
	const char *severity, *kind, *rule; /* exact, NULL any */
	const char *workload;		/* exact ("" unknown), NULL any */
	int acknowledged;		/* -1 any, 0 or 1 */
	uint32_t limit;
	int has_after;			/* keyset: (last_seen_ns, id) */
	uint64_t after_last_ns, after_id;
};
/* Most recently seen first; `row->evidence` lives for the call. */
int store_search_alerts(struct store_reader *r,
			const struct store_alert_search *a,
			int (*cb)(void *ctx, const struct store_alert *row),
			void *ctx, char *err, size_t errlen);

struct store_alert_count {
	char severity[16];
	char kind[32];
	int acknowledged;
	uint64_t alerts;		/* rows */
	uint64_t occurrences;		/* sum of their counts */
	uint64_t last_seen_ns;
};
/* Alerts seen in the window (until 0: no bound) by severity, kind and
 * acknowledgement. */
int store_count_alerts(struct store_reader *r, uint64_t since_ns,
		       uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_alert_count *c),
		       void *ctx, char *err, size_t errlen);

struct store_rule_sum {
	char rule[128];			/* "" for alerts without a rule */
	char kind[32];
	char severity[16];		/* the highest of its alerts */
	uint64_t alerts, hits, bytes_sent, unacknowledged;
	uint64_t first_ns, last_ns;
};
/* Alerts in the window per (rule, kind), most hits first. */
int store_sum_alert_rules(struct store_reader *r, uint64_t since_ns,
			  uint64_t until_ns,
			  int (*cb)(void *ctx, const struct store_rule_sum *s),
			  void *ctx, char *err, size_t errlen);

struct store_verdict_sum {
	char verdict[STORE_VERDICT_MAX]; /* "" for flows without one */
	uint64_t flows, bytes_sent, bytes_received;
};
/* Flows active in the window per verdict. */
int store_sum_verdicts(struct store_reader *r, uint64_t since_ns,
		       uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_verdict_sum *s),
		       void *ctx, char *err, size_t errlen);

struct store_series_point {
	uint64_t t_ns;			/* start of the step */
	uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	uint64_t flows;			/* flows started */
};
/* Rollups summed per step (whole minutes) over the minutes overlapping the
 * window, oldest first; steps without traffic have no point. */
int store_sum_series(struct store_reader *r, const char *workload,
		     uint64_t since_ns, uint64_t until_ns, uint64_t step_ns,
		     int (*cb)(void *ctx, const struct store_series_point *p),
		     void *ctx, char *err, size_t errlen);

/* Every rollup row of the minutes overlapping the window, oldest minute
 * first, without a row limit: the window is the caller's bound, and the
 * callback aggregates as it goes (one pass for several summaries).  The row
 * lives for the call.  Rows or -errno. */
int store_scan_traffic(struct store_reader *r, const char *workload,
		       uint64_t since_ns, uint64_t until_ns,
		       int (*cb)(void *ctx, const struct store_traffic *t),
		       void *ctx, char *err, size_t errlen);

struct store_dest {
	char workload[STORE_WORKLOAD_MAX]; /* "" unknown */
	uint8_t remote_ip[16];
	uint16_t port;			/* the service port, as in the rollups:
					   remote port out, local port in */
	uint8_t proto, direction;
	uint64_t bytes_sent, bytes_received, packets_sent, packets_received;
	uint64_t flows;
	uint64_t first_ns, last_ns;	/* minutes with traffic: [first, last) */
};
/* Rollups per (workload, remote address, service port, proto, direction),
 * most bytes first; workload NULL for all. */
int store_sum_destinations(struct store_reader *r, const char *workload,
			   uint64_t since_ns, uint64_t until_ns, uint32_t limit,
			   int (*cb)(void *ctx, const struct store_dest *d),
			   void *ctx, char *err, size_t errlen);

struct store_ip_info {
	char name[STORE_DNSNAME_MAX];	/* "" unknown */
	char country[4];
	uint32_t asn;
};
/* What is known of a remote address: the name `workload` (NULL: any)
 * resolved for it last, else a name on one of its flows; country and AS
 * number from one of its flows.  1 found, 0 nothing known, -errno. */
int store_ip_info(struct store_reader *r, const uint8_t ip[16],
		  const char *workload, struct store_ip_info *out, char *err,
		  size_t errlen);
/* store_ip_info for many addresses, without a workload: one statement
 * for all (preparing one per address costs more than the lookup).  0 or
 * -errno with `err`; out[i] is all empty for an address without flows. */
int store_ip_info_batch(struct store_reader *r, const uint8_t (*ips)[16],
			size_t n, struct store_ip_info *out, char *err,
			size_t errlen);
/* The distinct names `workload` resolved to `ip`, newest first (workload
 * NULL: store_query_dns of any workload). */
int store_ip_names(struct store_reader *r, const uint8_t ip[16],
		   const char *workload, uint32_t limit,
		   int (*cb)(void *ctx, const struct store_dns_answer *d),
		   void *ctx, char *err, size_t errlen);
/* The workload row (namespace, name): 1 row or none. */
int store_get_workload(struct store_reader *r, const char *namespace,
		       const char *name,
		       int (*cb)(void *ctx, const struct store_workload *w),
		       void *ctx, char *err, size_t errlen);

struct store_db_info {
	uint64_t newest_flow_ns, oldest_flow_ns; /* 0 without flows */
	uint64_t max_flow_id;
	uint64_t workloads, alerts, alerts_unacknowledged;
	uint64_t file_bytes, used_bytes; /* main file, WAL not counted */
};
int store_db_info(struct store_reader *r, struct store_db_info *out,
		  char *err, size_t errlen);

/*
 * Acknowledge alert `id` directly in the file at `path`, for a process that
 * does not run the writer (the standalone dashboard); a process with a
 * struct store uses store_ack_alert().  Opens a short-lived read-write
 * connection (never creates the file), waits up to 5 s for the lock.
 * 0, -ENOENT (no such alert), -ENOTSUP (other schema version), or -errno.
 */
int store_ack_alert_db(const char *path, uint64_t id, const char *by,
		       uint64_t ack_ns, char *err, size_t errlen);

/* For tests: EXPLAIN QUERY PLAN of every query shape above; `cb` gets the
 * shape's name and each line of its plan (non-zero stops: returns 1). */
int store_dashq_explain(struct store_reader *r,
			int (*cb)(void *ctx, const char *query,
				  const char *plan),
			void *ctx, char *err, size_t errlen);

/* ==== learned baselines (store/baselines.c) ============================== */

#define STORE_BASELINES_MAX 1000000	/* rows read back at most */
struct store_baseline_row {
	char workload[STORE_WORKLOAD_MAX];
	uint8_t proto, direction;
	uint16_t port;
	uint64_t first_seen_ns, last_seen_ns, count;
};
/* Every stored baseline, in no particular order; `cb` returns non-zero to
 * stop.  The number of rows, or -EIO with `err` set. */
int store_query_baselines(struct store_reader *r,
			  int (*cb)(void *ctx, const struct store_baseline_row *b),
			  void *ctx, char *err, size_t errlen);

#endif
