/*
 * store_fill - write synthetic flows through the store module and print what
 * happened as key=value lines.  Used by the store script tests (disk full on a real
 * small file system) and to measure write throughput.
 *
 *   store_fill --db FILE [--flows N] [--spread W] [--remotes N] [--block]
 *              [--queue N] [--batch N] [--batch-ms N] [--max-bytes N]
 *              [--max-page-count N] [--wait-gone FILE --then N]
 *
 * Each flow is two rows, NEW then END, like a replay: with --spread 0 the END
 * follows its NEW at once (the two coalesce in one batch); with --spread W
 * the END of flow i comes after the NEW of flow i + W, so with W above the
 * batch size every row is its own upsert.  By default remote addresses differ
 * per flow, so rollups do not merge either (the worst case); --remotes N
 * draws them from N addresses, closer to real traffic.
 *
 * With --wait-gone, after the first N flows and a sync the tool prints the
 * counters (phase=fill), waits for FILE to disappear (the test frees space),
 * waits for writing to resume, writes --then more flows and prints the
 * counters again (phase=resume) with how many of them are in the file.
 * Exit status 0, or 1 on a usage or open error.
 */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define NS 1000000000ull
#define T0 (1451606400ull * NS)	/* 2016-01-01 */

struct fill {
	struct store *s;
	uint64_t remotes;		/* distinct remote addresses, 0: per flow */
	uint64_t puts, put_errors, max_put_ns;
};

static void mkflow(struct store_flow *f, uint64_t id, uint64_t remotes,
		   int end)
{
	uint64_t start = T0 + id * 1000000;	/* 1000 new flows a second */
	uint64_t r = remotes ? id * 2654435761u % remotes : id;

	memset(f, 0, sizeof(*f));
	f->id = id;
	f->start_ns = start;
	f->end_ns = end ? start + 3 * NS : start;
	f->family = 4;
	f->proto = 6;
	f->direction = STORE_EGRESS;
	ew_ip_parse("10.1.0.5", f->local_ip);
	ew_ip_parse("198.51.0.0", f->remote_ip);
	f->remote_ip[13] = (uint8_t)(r >> 16);
	f->remote_ip[14] = (uint8_t)(r >> 8);
	f->remote_ip[15] = (uint8_t)r;
	f->local_port = (uint16_t)(32768 + id % 28000);
	f->remote_port = (uint16_t)(id % 4 == 0 ? 6379 : 443);
	f->packets_sent = f->dpackets_sent = 1;
	f->bytes_sent = f->dbytes_sent = 60;
	snprintf(f->interface, sizeof(f->interface), "veth%u",
		 (unsigned)(id % 8));
	snprintf(f->workload, sizeof(f->workload), "prod/app-%u",
		 (unsigned)(id % 8));
	if (end) {
		f->packets_sent = 12;
		f->packets_received = f->dpackets_received = 10;
		f->dpackets_sent = 11;
		f->bytes_sent = 4000;
		f->dbytes_sent = 3940;
		f->bytes_received = f->dbytes_received = 90000;
		f->tcp_flags_sent = f->tcp_flags_received = 0x1b;
		f->ended = 1;
		f->end_reason = 2;
		snprintf(f->verdict, sizeof(f->verdict), "allow");
	}
}

static void put(struct fill *fl, uint64_t id, int end)
{
	struct store_flow f;
	uint64_t t0, dt;

	mkflow(&f, id, fl->remotes, end);
	t0 = ew_mono_ns();
	if (store_put_flow(fl->s, &f) < 0)
		fl->put_errors++;
	dt = ew_mono_ns() - t0;
	if (dt > fl->max_put_ns)
		fl->max_put_ns = dt;
	fl->puts++;
}

/* Flows first .. first + n - 1, NEW and END, END `spread` flows later. */
static void write_flows(struct fill *fl, uint64_t first, uint64_t n,
			uint64_t spread)
{
	for (uint64_t i = 0; i < n; i++) {
		put(fl, first + i, 0);
		if (i >= spread)
			put(fl, first + i - spread, 1);
	}
	for (uint64_t i = n > spread ? n - spread : 0; i < n; i++)
		put(fl, first + i, 1);
}

static int64_t count_rows(const char *path, uint64_t min_id)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT count(*) FROM flows WHERE id >= ?1",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_busy_timeout(db, 5000);
		sqlite3_bind_int64(st, 1, (int64_t)min_id);
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void report(const char *phase, struct fill *fl, double secs)
{
	struct store_stats st;

	store_get_stats(fl->s, &st);
	printf("phase=%s\n", phase);
	printf("puts=%" PRIu64 "\nput_errors=%" PRIu64 "\nmax_put_us=%" PRIu64
	       "\n", fl->puts, fl->put_errors, fl->max_put_ns / 1000);
	printf("seconds=%.3f\nupserts_per_s=%.0f\n", secs,
	       secs > 0 ? (double)st.written / secs : 0.0);
	printf("queued=%" PRIu64 "\nwritten=%" PRIu64
	       "\ndropped_queue_full=%" PRIu64
	       "\ndropped_write_error=%" PRIu64 "\ndropped_invalid=%" PRIu64
	       "\nwrite_errors=%" PRIu64 "\ndisk_full=%" PRIu64
	       "\nbatches=%" PRIu64 "\ncoalesced=%" PRIu64
	       "\nqueue_high_water=%" PRIu64 "\nmax_commit_us=%" PRIu64
	       "\nretention_deleted=%" PRIu64 "\ndb_bytes=%" PRIu64
	       "\nwriting_paused=%" PRIu64 "\n",
	       st.queued, st.written, st.dropped_queue_full,
	       st.dropped_write_error, st.dropped_invalid, st.write_errors,
	       st.disk_full, st.batches, st.coalesced, st.queue_high_water,
	       st.max_commit_us, st.retention_deleted, st.db_bytes,
	       st.writing_paused);
	fflush(stdout);
}

static int usage(void)
{
	fprintf(stderr, "usage: store_fill --db FILE [--flows N] [--spread W] "
		"[--remotes N] [--block] [--queue N] [--batch N] [--batch-ms N] "
		"[--max-bytes N] [--max-page-count N] "
		"[--wait-gone FILE --then N]\n");
	return 1;
}

static int num(const char *s, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	struct store_config cfg;
	struct fill fl = {0};
	uint64_t flows = 10000, spread = 0, then = 0, v, t0, next;
	const char *wait_gone = NULL;
	char err[512];
	int i, resumed = 0;

	store_config_defaults(&cfg);
	cfg.max_bytes = 0;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--block")) {
			cfg.block_when_full = 1;
			continue;
		}
		if (i + 1 >= argc)
			return usage();
		if (!strcmp(a, "--db"))
			cfg.path = argv[++i];
		else if (!strcmp(a, "--wait-gone"))
			wait_gone = argv[++i];
		else if (num(argv[++i], &v) < 0)
			return usage();
		else if (!strcmp(a, "--flows"))
			flows = v;
		else if (!strcmp(a, "--spread"))
			spread = v;
		else if (!strcmp(a, "--remotes"))
			fl.remotes = v;
		else if (!strcmp(a, "--queue"))
			cfg.queue_rows = (uint32_t)v;
		else if (!strcmp(a, "--batch"))
			cfg.batch_rows = (uint32_t)v;
		else if (!strcmp(a, "--batch-ms"))
			cfg.batch_ms = (uint32_t)v;
		else if (!strcmp(a, "--max-bytes"))
			cfg.max_bytes = v;
		else if (!strcmp(a, "--max-page-count"))
			cfg.max_page_count = v;
		else if (!strcmp(a, "--then"))
			then = v;
		else
			return usage();
	}
	if (!cfg.path || (then && !wait_gone))
		return usage();
	fl.s = store_open(&cfg, err, sizeof(err));
	if (!fl.s) {
		fprintf(stderr, "store_fill: %s\n", err);
		printf("open_error=%s\n", err);
		return 1;
	}
	next = store_next_flow_id(fl.s);
	t0 = ew_mono_ns();
	write_flows(&fl, next, flows, spread);
	store_sync(fl.s);
	report("fill", &fl, (double)(ew_mono_ns() - t0) / 1e9);
	next += flows;

	if (wait_gone) {
		/* The test frees space; up to 60 s. */
		for (i = 0; i < 1200 && access(wait_gone, F_OK) == 0; i++)
			usleep(50000);
		/* One flow at a time until a commit succeeds (the back-off
		 * is at most 2 s): up to 10 s. */
		for (i = 0; i < 200 && !resumed; i++) {
			struct store_stats st;

			write_flows(&fl, next++, 1, 0);
			store_sync(fl.s);
			store_get_stats(fl.s, &st);
			resumed = !st.writing_paused;
			if (!resumed)
				usleep(50000);
		}
		fl.max_put_ns = 0;
		t0 = ew_mono_ns();
		write_flows(&fl, next, then, 0);
		store_sync(fl.s);
		report("resume", &fl, (double)(ew_mono_ns() - t0) / 1e9);
		printf("resumed=%d\nnew_rows_in_db=%" PRId64 "\n", resumed,
		       count_rows(cfg.path, next));
	}
	printf("close=%d\n", store_close(fl.s));
	return 0;
}
