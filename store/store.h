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
 * Retention: rows older than `retention_s` and, when the file grows past
 * `max_bytes`, the oldest rows, are deleted by the writer thread in small
 * chunks between batches, so a clean-up never stalls writing for long.
 *
 * Reading: store_reader_open() opens a read-only connection (one per reader
 * thread); queries never block the writer.
 *
 * Times are nanoseconds since the Unix epoch (UTC).  Addresses are 16 bytes,
 * IPv4 in the IPv4-mapped form (see util.h), stored as 16-byte BLOBs so that a
 * CIDR filter is an index range scan.
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
	 * rollups (added to the minute of end_ns). */
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

struct store_config {
	const char *path;		/* database file */
	uint64_t retention_s;		/* default 7 days; 0 keeps for ever */
	uint64_t max_bytes;		/* default 1 GiB; 0 means no limit */
	uint32_t queue_rows;		/* default 8192 */
	uint32_t batch_rows;		/* commit after this many rows (default 4096) */
	uint32_t batch_ms;		/* ... or this long after the first (default 200) */
	int block_when_full;		/* 1: producers wait (replay); 0: count drop */
	uint64_t max_page_count;	/* 0, or a PRAGMA max_page_count (tests) */
};
void store_config_defaults(struct store_config *cfg);

struct store_stats {
	uint64_t queued;		/* rows accepted into the queue */
	uint64_t written;		/* rows committed */
	uint64_t dropped_queue_full;	/* rows refused: queue full */
	uint64_t dropped_write_error;	/* rows lost to a failed commit */
	uint64_t write_errors;		/* failed commits (disk full, I/O, ...) */
	uint64_t disk_full;		/* of which SQLITE_FULL */
	uint64_t batches;		/* committed transactions */
	uint64_t queue_depth, queue_high_water;
	uint64_t last_commit_us, max_commit_us; /* commit latency */
	uint64_t retention_deleted;	/* rows removed by age or size */
	uint64_t db_bytes;		/* file size in use, last measured */
	uint64_t writing_paused;	/* 1 while in back-off after an error */
};

struct store;

/* Open or create the database and start the writer.  NULL with `err` set. */
struct store *store_open(const struct store_config *cfg, char *err,
			 size_t errlen);
/* Commit everything queued, stop the writer and close.  0, or -EIO when rows
 * could not be written at the end (they are counted).  NULL is a no-op. */
int store_close(struct store *s);

/* The first flow id not used in this database yet: capture hands out ids from
 * here so that rows from an earlier run are never overwritten. */
uint64_t store_next_flow_id(struct store *s);

/*
 * Queue a flow row (insert or update by id, rollups added from the d* fields).
 * Copies `f`.  0; -EAGAIN when the queue is full and not blocking (counted);
 * -EPIPE after close.
 */
int store_put_flow(struct store *s, const struct store_flow *f);

/* Wait until every row queued before the call is committed (or counted as
 * lost).  For tests, the end of a replay and shutdown. */
int store_sync(struct store *s);

void store_get_stats(struct store *s, struct store_stats *out);

/* ---- reading ------------------------------------------------------------ */

struct store_reader;

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
	uint32_t limit;			/* rows at most (0: default 1000) */
	uint64_t before_id;		/* cursor: only ids below (0: none) */
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

#endif
