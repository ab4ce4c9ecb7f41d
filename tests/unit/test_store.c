/*
 * test_store.c - the store module against real SQLite files in a temporary
 * directory: schema and migrations, the writer (upserts, coalescing, rollups,
 * sync, queue full, blocking, disk full and resume), retention by age and by
 * size, the queries, and damaged or foreign files.
 *
 * Checks that look inside the file use a separate plain SQLite connection, so
 * they test what is on disk, not what the module believes.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "t.h"
#include "store.h"
#include "store_int.h"
#include "util.h"

#define NS 1000000000ull
#define MIN_NS (60 * NS)
#define DAY_NS (86400 * NS)
/* 2016-01-01T00:00:00Z: "a capture from 2016". */
#define T2016 (1451606400ull * NS)

static char tmpdir[256];
static int serial;

/* A fresh database path in the test directory. */
static const char *db_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/db%d.sqlite", tmpdir, ++serial);
	return buf;
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	return remove(p);
}

static void rm_tmpdir(void)
{
	nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers: a plain connection to look at the file --------------------- */

static int64_t sql_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void sql_text(const char *path, const char *sql, char *out, size_t len)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	out[0] = '\0';
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) ==
		    SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, len, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static int sql_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
				 SQLITE_OPEN_CREATE, NULL);

	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, 10000);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
	}
	sqlite3_close(db);
	return rc;
}

/* ---- helpers: rows and stores -------------------------------------------- */

static void ip4(uint8_t out[16], const char *s)
{
	CHECK(ew_ip_parse(s, out) == 0);
}

/* A flow's first row: deltas equal to the totals. */
static struct store_flow mkflow(uint64_t id, uint64_t start, uint64_t end)
{
	struct store_flow f;

	memset(&f, 0, sizeof(f));
	f.id = id;
	f.start_ns = start;
	f.end_ns = end;
	f.family = 4;
	f.proto = 6;
	f.direction = STORE_EGRESS;
	ip4(f.local_ip, "10.0.0.2");
	ip4(f.remote_ip, "203.0.113.66");
	f.local_port = 40000;
	f.remote_port = 6379;
	f.bytes_sent = f.dbytes_sent = 100;
	f.bytes_received = f.dbytes_received = 50;
	f.packets_sent = f.dpackets_sent = 2;
	f.packets_received = f.dpackets_received = 1;
	snprintf(f.interface, sizeof(f.interface), "veth0");
	snprintf(f.workload, sizeof(f.workload), "prod/redis-0");
	return f;
}

static struct store *open_cfg(struct store_config *cfg, const char *path)
{
	char err[512] = "";
	struct store *s;

	cfg->path = path;
	s = store_open(cfg, err, sizeof(err));
	if (!s)
		fprintf(stderr, "store_open: %s\n", err);
	return s;
}

/* Defaults, but blocking: most tests want every row they put. */
static struct store *open_default(const char *path)
{
	struct store_config cfg;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	return open_cfg(&cfg, path);
}

static int collect_ids_cb(void *ctx, const struct store_flow *f)
{
	uint64_t *ids = ctx;

	if (ids[0] < 4095)
		ids[++ids[0]] = f->id;
	return 0;
}

/* Run a flow query; ids[0] = count, ids[1..] the ids in result order. */
static int query_ids(const char *path, const struct store_flow_filter *flt,
		     uint64_t *ids)
{
	char err[256] = "";
	struct store_reader *r = store_reader_open(path, err, sizeof(err));
	int n;

	ids[0] = 0;
	if (!r) {
		fprintf(stderr, "reader: %s\n", err);
		return -1;
	}
	n = store_query_flows(r, flt, collect_ids_cb, ids, err, sizeof(err));
	if (n < 0)
		fprintf(stderr, "query: %s\n", err);
	store_reader_close(r);
	return n;
}

static struct store_flow_filter any_flow(void)
{
	struct store_flow_filter f;

	memset(&f, 0, sizeof(f));
	f.port = -1;
	f.proto = -1;
	return f;
}

static uint64_t fake_now;
static uint64_t fake_clock(void *ctx)
{
	return *(uint64_t *)ctx;
}

/* ---- schema and migrations ----------------------------------------------- */

static void check_schema_v1(const char *path)
{
	static const char *objects[] = {
		"flows", "traffic_minute", "alerts", "workloads",
		"dns_answers", "baselines", "flows_start",
		"flows_workload_start", "flows_remote_ip", "flows_remote_port",
		"flows_local_port", "traffic_minute_workload",
		"alerts_last_seen", "alerts_workload", "dns_answers_address",
		"dns_answers_seen", "meta",
	};
	char sql[256], mode[32];

	CHECK_EQ_U(sql_int(path, "PRAGMA user_version"), 1);
	CHECK_EQ_U(sql_int(path, "PRAGMA application_id"),
		   STORE_APPLICATION_ID);
	CHECK_EQ_U(sql_int(path, "PRAGMA auto_vacuum"), 2); /* incremental */
	sql_text(path, "PRAGMA journal_mode", mode, sizeof(mode));
	CHECK_STR(mode, "wal");
	for (size_t i = 0; i < EW_ARRAY_LEN(objects); i++) {
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM sqlite_master WHERE name = '%s'",
			 objects[i]);
		CHECK_EQ_U(sql_int(path, sql), 1);
	}
}

static void test_create_from_nothing_and_from_empty_file(void)
{
	char p1[512], p2[512];
	struct store *s;
	int fd;

	s = open_default(db_path(p1, sizeof(p1)));
	CHECK(s != NULL);
	CHECK_EQ_U(store_next_flow_id(s), 1);
	CHECK_EQ_U(store_close(s), 0);
	check_schema_v1(p1);

	fd = open(db_path(p2, sizeof(p2)), O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	close(fd);
	s = open_default(p2);
	CHECK(s != NULL);
	CHECK_EQ_U(store_close(s), 0);
	check_schema_v1(p2);
}

static void test_reopen_is_idempotent_and_keeps_rows(void)
{
	char p[512], before[8192], after[8192];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_flow f;

	CHECK(s != NULL);
	for (uint64_t id = 1; id <= 500; id++) {
		f = mkflow(id, T2016 + id * NS, T2016 + id * NS + NS);
		CHECK(store_put_flow(s, &f) == 0);
	}
	CHECK(store_sync(s) == 0);
	CHECK_EQ_U(store_close(s), 0);
	sql_text(p, "SELECT group_concat(type || name || coalesce(sql, ''))"
		 " FROM (SELECT * FROM sqlite_master ORDER BY name)",
		 before, sizeof(before));
	for (int i = 0; i < 2; i++) {
		s = open_default(p);
		CHECK(s != NULL);
		CHECK_EQ_U(store_next_flow_id(s), 501);
		CHECK_EQ_U(store_close(s), 0);
	}
	sql_text(p, "SELECT group_concat(type || name || coalesce(sql, ''))"
		 " FROM (SELECT * FROM sqlite_master ORDER BY name)",
		 after, sizeof(after));
	CHECK(before[0] != '\0');
	CHECK_STR(before, after);
	CHECK_EQ_U(sql_int(p, "PRAGMA user_version"), 1);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 500);
}

/*
 * The machinery with test-only steps appended after the real ones: from
 * every earlier version, exactly the missing steps run, in order, each in its
 * own transaction.  Step 1 is the real schema and has no IF NOT EXISTS, so
 * running it twice would fail.
 */
static const struct store_migration fake_v2 = {
	2, "test: a log table",
	"CREATE TABLE t_log (step INTEGER); INSERT INTO t_log VALUES (2);"};
static const struct store_migration fake_v3 = {
	3, "test: a new column",
	"INSERT INTO t_log VALUES (3);"
	"ALTER TABLE flows ADD COLUMN t_extra INTEGER DEFAULT 7;"};
static const struct store_migration bad_v3 = {
	3, "test: fails half-way",
	"INSERT INTO t_log VALUES (3); INSERT INTO no_such_table VALUES (1);"};

static int open_steps(const char *path, const struct store_migration *steps,
		      size_t n, char *err, size_t errlen)
{
	struct store_db_opts o = {.steps = steps, .nsteps = n,
				  .busy_timeout_ms = 1000};
	sqlite3 *db = NULL;
	int ret = store_db_open_writer(path, &o, &db, err, errlen);

	sqlite3_close(db);
	return ret;
}

static void test_migrations_run_in_order_from_each_version(void)
{
	struct store_migration steps[3] = {store_migrations[0], fake_v2,
					   fake_v3};
	char p0[512], p1[512], p2[512], err[512], log[64];
	struct store *s;

	CHECK_EQ_U(store_migrations_len, STORE_SCHEMA_VERSION);

	/* v0 (no file) -> 3 */
	CHECK(open_steps(db_path(p0, sizeof(p0)), steps, 3, err,
			 sizeof(err)) == 0);
	CHECK_EQ_U(sql_int(p0, "PRAGMA user_version"), 3);
	sql_text(p0, "SELECT group_concat(step) FROM t_log", log, sizeof(log));
	CHECK_STR(log, "2,3");
	CHECK_EQ_U(sql_int(p0, "PRAGMA auto_vacuum"), 2);

	/* v1 (made by the real store) -> 3 */
	s = open_default(db_path(p1, sizeof(p1)));
	CHECK(s != NULL);
	store_close(s);
	CHECK(sql_exec(p1, "INSERT INTO flows (id, start_ns, end_ns, family,"
		       " proto, direction, local_ip, local_port, remote_ip,"
		       " remote_port, vlan, bytes_sent, bytes_received,"
		       " packets_sent, packets_received, tcp_flags_sent,"
		       " tcp_flags_received, ended, end_reason) VALUES (1, 1,"
		       " 2, 4, 6, 0, zeroblob(16), 1, zeroblob(16), 2, 0, 0,"
		       " 0, 0, 0, 0, 0, 0, 0)") == SQLITE_OK);
	CHECK(open_steps(p1, steps, 3, err, sizeof(err)) == 0);
	CHECK_EQ_U(sql_int(p1, "PRAGMA user_version"), 3);
	sql_text(p1, "SELECT group_concat(step) FROM t_log", log, sizeof(log));
	CHECK_STR(log, "2,3");
	CHECK_EQ_U(sql_int(p1, "SELECT t_extra FROM flows WHERE id = 1"), 7);

	/* v2 -> 3: step 2 does not run again */
	CHECK(open_steps(db_path(p2, sizeof(p2)), steps, 2, err,
			 sizeof(err)) == 0);
	CHECK_EQ_U(sql_int(p2, "PRAGMA user_version"), 2);
	CHECK(open_steps(p2, steps, 3, err, sizeof(err)) == 0);
	sql_text(p2, "SELECT group_concat(step) FROM t_log", log, sizeof(log));
	CHECK_STR(log, "2,3");

	/* at the last version: nothing runs */
	CHECK(open_steps(p2, steps, 3, err, sizeof(err)) == 0);
	sql_text(p2, "SELECT group_concat(step) FROM t_log", log, sizeof(log));
	CHECK_STR(log, "2,3");

	/* a version this build does not know is refused */
	err[0] = '\0';
	s = store_open(&(struct store_config){.path = p2}, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(open_steps(p2, steps, 2, err, sizeof(err)) == -ENOTSUP);
}

static void test_failed_migration_step_leaves_previous_version(void)
{
	struct store_migration steps[3] = {store_migrations[0], fake_v2,
					   bad_v3};
	char p[512], err[512] = "", log[64];

	CHECK(open_steps(db_path(p, sizeof(p)), steps, 2, err,
			 sizeof(err)) == 0);
	CHECK(open_steps(p, steps, 3, err, sizeof(err)) < 0);
	CHECK(strstr(err, "version 3") != NULL);
	CHECK(strstr(err, "no_such_table") != NULL);
	CHECK_EQ_U(sql_int(p, "PRAGMA user_version"), 2);
	sql_text(p, "SELECT group_concat(step) FROM t_log", log, sizeof(log));
	CHECK_STR(log, "2");	/* step 3's first insert was rolled back */

	/* Steps must be numbered 1, 2, 3 ... */
	steps[1].version = 5;
	CHECK(open_steps(p, steps, 2, err, sizeof(err)) == -EINVAL);
}

static void test_newer_version_refused(void)
{
	char p[512], err[512] = "";
	struct store *s = open_default(db_path(p, sizeof(p)));

	store_close(s);
	CHECK(sql_exec(p, "PRAGMA user_version = 2") == SQLITE_OK);
	s = store_open(&(struct store_config){.path = p}, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(strstr(err, "schema version 2 is newer") != NULL);
	err[0] = '\0';
	CHECK(store_reader_open(p, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "newer egresswatch") != NULL);
	/* refused, not touched */
	CHECK_EQ_U(sql_int(p, "PRAGMA user_version"), 2);
}

static void test_foreign_sqlite_file_refused(void)
{
	char p[512], err[512] = "";

	CHECK(sql_exec(db_path(p, sizeof(p)),
		       "CREATE TABLE cookies (k TEXT); INSERT INTO cookies"
		       " VALUES ('x')") == SQLITE_OK);
	CHECK(store_open(&(struct store_config){.path = p}, err,
			 sizeof(err)) == NULL);
	CHECK(strstr(err, "not an egresswatch database") != NULL);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM sqlite_master"), 1);
}

static void test_corrupt_file_refused(void)
{
	char p[512], p2[512], err[512] = "";
	uint8_t junk[65536];
	struct store *s;
	int fd;

	/* garbage */
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 2654435761u >> 13);
	fd = open(db_path(p, sizeof(p)), O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0 && write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	close(fd);
	CHECK(store_open(&(struct store_config){.path = p}, err,
			 sizeof(err)) == NULL);
	CHECK(strstr(err, "not a usable SQLite database") != NULL);
	err[0] = '\0';
	CHECK(store_reader_open(p, err, sizeof(err)) == NULL);
	CHECK(err[0] != '\0');

	/* a real database with everything after the first page destroyed:
	 * the header reads fine, the tables do not */
	s = open_default(db_path(p2, sizeof(p2)));
	for (uint64_t id = 1; id <= 2000; id++) {
		struct store_flow f = mkflow(id, T2016, T2016 + NS);
		store_put_flow(s, &f);
	}
	store_close(s);
	fd = open(p2, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, junk, sizeof(junk), 4096) == (ssize_t)sizeof(junk));
	close(fd);
	err[0] = '\0';
	s = store_open(&(struct store_config){.path = p2}, err, sizeof(err));
	CHECK(s == NULL);
	CHECK(err[0] != '\0');
	store_close(s);
}

/* ---- writing and reading flows ------------------------------------------- */

static int copy_flow_cb(void *ctx, const struct store_flow *f)
{
	struct store_flow *out = ctx;

	out[f->id] = *f;
	return 0;
}

static void check_same_flow(const struct store_flow *a,
			    const struct store_flow *b)
{
	CHECK_EQ_U(a->id, b->id);
	CHECK_EQ_U(a->start_ns, b->start_ns);
	CHECK_EQ_U(a->end_ns, b->end_ns);
	CHECK(memcmp(a->local_ip, b->local_ip, 16) == 0);
	CHECK(memcmp(a->remote_ip, b->remote_ip, 16) == 0);
	CHECK_EQ_U(a->local_port, b->local_port);
	CHECK_EQ_U(a->remote_port, b->remote_port);
	CHECK_EQ_U(a->vlan, b->vlan);
	CHECK_EQ_U(a->family, b->family);
	CHECK_EQ_U(a->proto, b->proto);
	CHECK_EQ_U(a->direction, b->direction);
	CHECK_EQ_U(a->ended, b->ended);
	CHECK_EQ_U(a->end_reason, b->end_reason);
	CHECK_EQ_U(a->tcp_flags_sent, b->tcp_flags_sent);
	CHECK_EQ_U(a->tcp_flags_received, b->tcp_flags_received);
	CHECK_EQ_U(a->bytes_sent, b->bytes_sent);
	CHECK_EQ_U(a->bytes_received, b->bytes_received);
	CHECK_EQ_U(a->packets_sent, b->packets_sent);
	CHECK_EQ_U(a->packets_received, b->packets_received);
	CHECK_EQ_U(a->remote_asn, b->remote_asn);
	CHECK_STR(a->interface, b->interface);
	CHECK_STR(a->workload, b->workload);
	CHECK_STR(a->remote_workload, b->remote_workload);
	CHECK_STR(a->remote_name, b->remote_name);
	CHECK_STR(a->remote_country, b->remote_country);
	CHECK_STR(a->verdict, b->verdict);
}

static void test_roundtrip_all_fields_v4_and_v6(void)
{
	static struct store_flow got[3];
	struct store_flow a = mkflow(1, T2016 + 5, T2016 + 9 * NS);
	struct store_flow b = mkflow(2, T2016 + 7, T2016 + 8 * NS);
	struct store_flow_filter flt = any_flow();
	char p[512], err[256];
	struct store_reader *r;
	struct store *s;

	a.vlan = 42;
	a.ended = 1;
	a.end_reason = 2;
	a.tcp_flags_sent = 0x1b;
	a.tcp_flags_received = 0x12;
	a.bytes_sent = 1ull << 40;
	a.remote_asn = 64496;
	snprintf(a.remote_workload, sizeof(a.remote_workload), "ext/x");
	snprintf(a.remote_name, sizeof(a.remote_name), "exfil.example.net");
	snprintf(a.remote_country, sizeof(a.remote_country), "NL");
	snprintf(a.verdict, sizeof(a.verdict), "alert");

	b.family = 6;
	b.proto = 17;
	b.direction = STORE_INGRESS;
	CHECK(ew_ip_parse("2001:db8::2", b.local_ip) == 0);
	CHECK(ew_ip_parse("2001:db8:ffff::1", b.remote_ip) == 0);
	b.local_port = 53;
	b.remote_port = 65535;
	b.workload[0] = '\0';	/* unknown stays unknown */

	s = open_default(db_path(p, sizeof(p)));
	CHECK(store_put_flow(s, &a) == 0);
	CHECK(store_put_flow(s, &b) == 0);
	CHECK(store_sync(s) == 0);
	r = store_reader_open(p, err, sizeof(err));
	CHECK(r != NULL);
	CHECK(store_query_flows(r, &flt, copy_flow_cb, got, err,
				sizeof(err)) == 2);
	check_same_flow(&got[1], &a);
	check_same_flow(&got[2], &b);
	store_reader_close(r);
	CHECK_EQ_U(store_close(s), 0);
	/* unknown text is NULL in the file, not '' */
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows WHERE workload IS NULL"
			   " AND remote_name IS NULL AND id = 2"), 1);
	CHECK_EQ_U(sql_int(p, "SELECT length(remote_ip) FROM flows WHERE id = 2"),
		   16);
}

/*
 * NEW, UPDATE, END of one flow: written with a sync between each (three
 * upserts) and without (coalesced into one).  Both give the same row.
 */
static void write_lifecycle(struct store *s, uint64_t id, int sync_between)
{
	struct store_flow f = mkflow(id, T2016, T2016 + NS);

	snprintf(f.remote_name, sizeof(f.remote_name), "cache.example.org");
	snprintf(f.verdict, sizeof(f.verdict), "allow");
	store_put_flow(s, &f);
	if (sync_between)
		store_sync(s);
	f.end_ns = T2016 + 2 * NS;
	f.bytes_sent = 1000;
	f.dbytes_sent = 900;
	f.packets_sent = 10;
	f.dpackets_sent = 8;
	f.dbytes_received = f.dpackets_received = 0;
	f.remote_name[0] = '\0';	/* the enricher forgot: keep the name */
	f.start_ns = T2016 + 5 * NS;	/* identity comes from the first row */
	snprintf(f.verdict, sizeof(f.verdict), "alert");
	store_put_flow(s, &f);
	if (sync_between)
		store_sync(s);
	f.end_ns = T2016 + 3 * NS;
	f.bytes_sent = 1500;
	f.dbytes_sent = 500;
	f.packets_sent = 12;
	f.dpackets_sent = 2;
	f.tcp_flags_sent = 0x11;
	f.ended = 1;
	f.end_reason = 2;
	f.verdict[0] = '\0';
	store_put_flow(s, &f);
	store_sync(s);
}

static void test_upsert_updates_row_same_with_or_without_coalescing(void)
{
	static struct store_flow got[3];
	struct store_flow_filter flt = any_flow();
	struct store_stats st;
	struct store_reader *r;
	char p[512], err[256];
	struct store *s = open_default(db_path(p, sizeof(p)));

	write_lifecycle(s, 1, 1);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.coalesced, 0);
	write_lifecycle(s, 2, 0);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.coalesced, 2);
	CHECK_EQ_U(st.written, 6);
	r = store_reader_open(p, err, sizeof(err));
	CHECK(store_query_flows(r, &flt, copy_flow_cb, got, err,
				sizeof(err)) == 2);
	store_reader_close(r);
	for (int i = 1; i <= 2; i++) {
		CHECK_EQ_U(got[i].start_ns, T2016);
		CHECK_EQ_U(got[i].end_ns, T2016 + 3 * NS);
		CHECK_EQ_U(got[i].bytes_sent, 1500);
		CHECK_EQ_U(got[i].packets_sent, 12);
		CHECK_EQ_U(got[i].tcp_flags_sent, 0x11);
		CHECK_EQ_U(got[i].ended, 1);
		CHECK_EQ_U(got[i].end_reason, 2);
		CHECK_STR(got[i].remote_name, "cache.example.org");
		CHECK_STR(got[i].verdict, "alert");
	}
	got[2].id = 1;
	check_same_flow(&got[1], &got[2]);
	store_close(s);
}

static int collect_traffic_cb(void *ctx, const struct store_traffic *t)
{
	struct store_traffic *out = ctx;
	size_t i = 0;

	while (out[i].minute_ns)
		i++;
	if (i < 15)
		out[i] = *t;
	return 0;
}

/* Ingress flows from many client ports to one server port are one rollup
 * row, kept under the server's (local) port. */
static void test_rollups_key_on_the_service_port(void)
{
	struct store_traffic got[16];
	struct store_traffic_filter tf = {0};
	struct store_reader *r;
	char p[512], err[256];
	struct store *s = open_default(db_path(p, sizeof(p)));
	uint64_t m0 = T2016 + 20 * MIN_NS;
	struct store_flow f;

	for (uint64_t i = 0; i < 3; i++) {
		f = mkflow(10 + i, m0 + i * NS, m0 + i * NS + 1);
		f.direction = STORE_INGRESS;
		f.local_port = 6379;
		f.remote_port = (uint16_t)(40000 + i);
		store_put_flow(s, &f);
	}
	f = mkflow(20, m0 + 5 * NS, m0 + 6 * NS);	/* egress: remote port */
	f.local_port = 40001;
	f.remote_port = 6379;
	store_put_flow(s, &f);
	store_sync(s);
	memset(got, 0, sizeof(got));
	r = store_reader_open(p, err, sizeof(err));
	CHECK(store_query_traffic(r, &tf, collect_traffic_cb, got, err,
				  sizeof(err)) == 2);
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_U(got[i].port, 6379);
		CHECK_EQ_U(got[i].flows, got[i].direction == STORE_INGRESS ? 3 : 1);
	}
	store_reader_close(r);
	store_close(s);
}

static void test_rollups_sum_deltas_per_minute(void)
{
	struct store_traffic got[16];
	struct store_traffic_filter tf = {0};
	struct store_reader *r;
	char p[512], err[256];
	struct store *s = open_default(db_path(p, sizeof(p)));
	uint64_t m0 = T2016 + 10 * MIN_NS;
	struct store_flow f;

	/* minute 0: flow 1 starts (100/50 bytes), flow 2 starts; minute 1:
	 * flow 1 sends 300 more and ends, flow 3 (other remote) starts. */
	f = mkflow(1, m0 + NS, m0 + 2 * NS);
	store_put_flow(s, &f);
	f = mkflow(2, m0 + 3 * NS, m0 + 4 * NS);
	store_put_flow(s, &f);
	store_sync(s);
	f = mkflow(1, m0 + NS, m0 + MIN_NS + NS);
	f.bytes_sent = 400;
	f.dbytes_sent = 300;
	f.packets_sent = 5;
	f.dpackets_sent = 3;
	f.dbytes_received = f.dpackets_received = 0;
	f.ended = 1;
	store_put_flow(s, &f);
	f = mkflow(3, m0 + MIN_NS + 2 * NS, m0 + MIN_NS + 3 * NS);
	ip4(f.remote_ip, "198.51.100.7");
	store_put_flow(s, &f);
	/* a row with no new packets adds nothing */
	f = mkflow(2, m0 + 3 * NS, m0 + MIN_NS + 5 * NS);
	f.dbytes_sent = f.dbytes_received = 0;
	f.dpackets_sent = f.dpackets_received = 0;
	store_put_flow(s, &f);
	store_sync(s);

	memset(got, 0, sizeof(got));
	r = store_reader_open(p, err, sizeof(err));
	CHECK(store_query_traffic(r, &tf, collect_traffic_cb, got, err,
				  sizeof(err)) == 3);
	/* newest minute first; within it, order is by key */
	CHECK_EQ_U(got[2].minute_ns, m0);
	CHECK_EQ_U(got[2].bytes_sent, 200);
	CHECK_EQ_U(got[2].bytes_received, 100);
	CHECK_EQ_U(got[2].packets_sent, 4);
	CHECK_EQ_U(got[2].packets_received, 2);
	CHECK_EQ_U(got[2].flows, 2);
	CHECK_STR(got[2].workload, "prod/redis-0");
	for (int i = 0; i < 2; i++) {
		uint8_t other[16];
		ip4(other, "198.51.100.7");
		CHECK_EQ_U(got[i].minute_ns, m0 + MIN_NS);
		if (memcmp(got[i].remote_ip, other, 16) == 0) {
			CHECK_EQ_U(got[i].bytes_sent, 100);
			CHECK_EQ_U(got[i].flows, 1);
		} else {
			CHECK_EQ_U(got[i].bytes_sent, 300);
			CHECK_EQ_U(got[i].packets_sent, 3);
			CHECK_EQ_U(got[i].bytes_received, 0);
			CHECK_EQ_U(got[i].flows, 0);
		}
	}
	/* time filter: only the later minute; workload filter */
	memset(got, 0, sizeof(got));
	tf.since_ns = m0 + MIN_NS + 30 * NS;
	CHECK(store_query_traffic(r, &tf, collect_traffic_cb, got, err,
				  sizeof(err)) == 2);
	tf.since_ns = 0;
	tf.until_ns = m0 + 1;	/* overlaps the first minute only */
	CHECK(store_query_traffic(r, &tf, NULL, NULL, err, sizeof(err)) == 1);
	tf.until_ns = 0;
	tf.workload = "prod/other";
	CHECK(store_query_traffic(r, &tf, NULL, NULL, err, sizeof(err)) == 0);
	store_reader_close(r);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT sum(bytes_sent) FROM traffic_minute"), 600);
}

static void test_filters_time_cidr_port_proto_workload_limit_cursor(void)
{
	static uint64_t ids[4096];
	struct store_flow_filter flt;
	struct ew_cidr c;
	char p[512];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_flow f;

	/* 1: [10 s, 20 s] v4 198.51.100.9:443 tcp prod/a
	 * 2: [15 s, 30 s] v4 203.0.113.66:6379 tcp prod/redis-0
	 * 3: [40 s, 50 s] v6 2001:db8::9 udp local port 443 prod/b
	 * 4: [45 s, 46 s] v6 2001:db9::1 tcp prod/a */
	f = mkflow(1, T2016 + 10 * NS, T2016 + 20 * NS);
	ip4(f.remote_ip, "198.51.100.9");
	f.remote_port = 443;
	snprintf(f.workload, sizeof(f.workload), "prod/a");
	store_put_flow(s, &f);
	f = mkflow(2, T2016 + 15 * NS, T2016 + 30 * NS);
	store_put_flow(s, &f);
	f = mkflow(3, T2016 + 40 * NS, T2016 + 50 * NS);
	f.family = 6;
	f.proto = 17;
	ew_ip_parse("2001:db8::9", f.remote_ip);
	f.local_port = 443;
	f.remote_port = 5353;
	snprintf(f.workload, sizeof(f.workload), "prod/b");
	store_put_flow(s, &f);
	f = mkflow(4, T2016 + 45 * NS, T2016 + 46 * NS);
	f.family = 6;
	ew_ip_parse("2001:db9::1", f.remote_ip);
	snprintf(f.workload, sizeof(f.workload), "prod/a");
	store_put_flow(s, &f);
	store_sync(s);

	flt = any_flow();
	CHECK(query_ids(p, &flt, ids) == 4);
	CHECK(ids[1] == 4 && ids[2] == 3 && ids[3] == 2 && ids[4] == 1);

	/* active in [25 s, 45 s): 2 (ends 30) and 3 (starts 40); 4 starts at
	 * 45, not before until; 1 ended at 20 */
	flt.since_ns = T2016 + 25 * NS;
	flt.until_ns = T2016 + 45 * NS;
	CHECK(query_ids(p, &flt, ids) == 2);
	CHECK(ids[1] == 3 && ids[2] == 2);
	/* boundaries: ending exactly at since counts */
	flt.since_ns = T2016 + 20 * NS;
	flt.until_ns = T2016 + 21 * NS;
	CHECK(query_ids(p, &flt, ids) == 2);

	flt = any_flow();
	CHECK(ew_cidr_parse("198.51.100.0/24", &c) == 0);
	flt.has_cidr = 1;
	memcpy(flt.cidr_lo, c.lo, 16);
	memcpy(flt.cidr_hi, c.hi, 16);
	CHECK(query_ids(p, &flt, ids) == 1 && ids[1] == 1);
	CHECK(ew_cidr_parse("2001:db8::/32", &c) == 0);
	memcpy(flt.cidr_lo, c.lo, 16);
	memcpy(flt.cidr_hi, c.hi, 16);
	CHECK(query_ids(p, &flt, ids) == 1 && ids[1] == 3);
	CHECK(ew_cidr_parse("0.0.0.0/0", &c) == 0);
	memcpy(flt.cidr_lo, c.lo, 16);
	memcpy(flt.cidr_hi, c.hi, 16);
	CHECK(query_ids(p, &flt, ids) == 2);	/* the IPv4 flows only */

	/* port: remote 443 (flow 1) or local 443 (flow 3) */
	flt = any_flow();
	flt.port = 443;
	CHECK(query_ids(p, &flt, ids) == 2 && ids[1] == 3 && ids[2] == 1);
	flt.port = 6379;
	CHECK(query_ids(p, &flt, ids) == 2);	/* 2 and 4 */

	flt = any_flow();
	flt.proto = 17;
	CHECK(query_ids(p, &flt, ids) == 1 && ids[1] == 3);

	flt = any_flow();
	flt.workload = "prod/a";
	CHECK(query_ids(p, &flt, ids) == 2 && ids[1] == 4 && ids[2] == 1);
	flt.proto = 6;
	flt.port = 443;
	CHECK(query_ids(p, &flt, ids) == 1 && ids[1] == 1);

	/* limit and cursor */
	flt = any_flow();
	flt.limit = 3;
	CHECK(query_ids(p, &flt, ids) == 3 && ids[3] == 2);
	flt.before_id = 3;	/* ids below 3 */
	CHECK(query_ids(p, &flt, ids) == 2 && ids[1] == 2 && ids[2] == 1);
	store_close(s);
}

struct page {
	uint64_t n, id[200], start[200];
};

static int page_cb(void *ctx, const struct store_flow *f)
{
	struct page *pg = ctx;

	if (pg->n < 200) {
		pg->id[pg->n] = f->id;
		pg->start[pg->n] = f->start_ns;
	}
	pg->n++;
	return 0;
}

/*
 * "Active since T" is answered from the start_ns index bounded below by
 * T - (longest flow written).  A flow that grew long in a later batch, and
 * one merged within a batch, must both still be found.
 */
static void test_since_query_finds_long_lived_flows(void)
{
	static uint64_t ids[4096];
	struct store_flow_filter flt = any_flow();
	char p[512];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_flow f;

	f = mkflow(1, T2016, T2016 + NS);		/* will last 10 days */
	store_put_flow(s, &f);
	for (uint64_t id = 2; id <= 50; id++) {		/* short, long ago */
		f = mkflow(id, T2016 + id * NS, T2016 + id * NS + NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	CHECK_EQ_U(sql_int(p, "SELECT value FROM meta"), NS);
	f = mkflow(1, T2016, T2016 + 10 * DAY_NS);	/* UPDATE, next batch */
	store_put_flow(s, &f);
	f = mkflow(60, T2016 + 9 * DAY_NS, T2016 + 9 * DAY_NS);
	store_put_flow(s, &f);				/* NEW and UPDATE */
	f.end_ns = T2016 + 10 * DAY_NS - NS;		/* in one batch */
	store_put_flow(s, &f);
	f = mkflow(61, T2016 + 10 * DAY_NS - 5 * NS, T2016 + 10 * DAY_NS);
	store_put_flow(s, &f);
	store_sync(s);
	CHECK_EQ_U(sql_int(p, "SELECT value FROM meta"), 10 * DAY_NS);

	flt.since_ns = T2016 + 10 * DAY_NS - 2 * NS;
	CHECK(query_ids(p, &flt, ids) == 3);
	CHECK(ids[1] == 61 && ids[2] == 60 && ids[3] == 1);
	flt.until_ns = T2016 + 9 * DAY_NS;		/* 60 starts there */
	CHECK(query_ids(p, &flt, ids) == 1 && ids[1] == 1);
	store_close(s);
}

/* Keyset paging visits every row once, newest first, even when ids are not
 * in start order (two captures replayed into one file) and starts repeat. */
static void test_cursor_pages_through_everything_once(void)
{
	static uint8_t seen[1501];
	struct store_flow_filter flt = any_flow();
	char p[512], err[256];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_reader *r;
	struct page pg;
	uint64_t total = 0, prev_start = UINT64_MAX, prev_id = UINT64_MAX;
	int pages = 0, n;

	for (uint64_t id = 1; id <= 1500; id++) {
		/* ids 1..750 in 2017, 751..1500 in 2016; three flows share
		 * each start */
		uint64_t start = (id <= 750 ? T2016 + 365 * DAY_NS : T2016) +
				 (id % 750) / 3 * NS;
		struct store_flow f = mkflow(id, start, start + NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	r = store_reader_open(p, err, sizeof(err));
	CHECK(store_query_flows(r, &flt, NULL, NULL, err, sizeof(err)) == 1000);
	flt.limit = 200000;	/* clamped to the maximum, which is enough */
	CHECK(store_query_flows(r, &flt, NULL, NULL, err, sizeof(err)) == 1500);

	flt.limit = 128;
	for (;;) {
		memset(&pg, 0, sizeof(pg));
		n = store_query_flows(r, &flt, page_cb, &pg, err, sizeof(err));
		if (n <= 0)
			break;
		pages++;
		for (int i = 0; i < n; i++) {
			CHECK(seen[pg.id[i]] == 0);
			seen[pg.id[i]] = 1;
			/* strictly descending (start, id) */
			CHECK(pg.start[i] < prev_start ||
			      (pg.start[i] == prev_start && pg.id[i] < prev_id));
			prev_start = pg.start[i];
			prev_id = pg.id[i];
		}
		total += (uint64_t)n;
		flt.before_id = pg.id[n - 1];
		flt.before_start_ns = pg.start[n - 1];
	}
	CHECK(n == 0);
	CHECK_EQ_U(total, 1500);
	CHECK_EQ_U(pages, 12);
	store_reader_close(r);
	store_close(s);
}

/* ---- other row kinds ----------------------------------------------------- */

static int collect_alert_cb(void *ctx, const struct store_alert *a)
{
	struct store_alert *out = ctx;
	size_t i = 0;

	while (out[i].id)
		i++;
	if (i < 7) {
		out[i] = *a;
		out[i].evidence = NULL;
		if (a->evidence)
			CHECK_STR(a->evidence, "{\"bytes\":48000000}");
	}
	return 0;
}

/*
 * Alerts with one dedup_key merge in the batch by the same rule as in the
 * table: four of them put together end as the same row as four upserts with
 * a commit between each, whichever fields each one knows.
 */
static void put_alert_sequence(struct store *s, const char *key, int sync)
{
	static const struct {
		uint64_t first, last, count, bytes;
		const char *ip, *evidence, *rule, *workload, *name, *country;
		const char *severity, *kind, *message;
		uint16_t port;
		uint8_t proto;
		uint32_t asn;
	} seq[] = {
		{5, 5, 0, 10, "203.0.113.1", "{\"n\":1}", "r1", "prod/a",
		 "n1.example", "NL", "warning", "policy", "m1", 1, 6, 100},
		{3, 9, 3, 5, NULL, NULL, "", "prod/b", "", "", "critical",
		 "policy", "m2", 0, 0, 0},
		{7, 8, 0, 50, "203.0.113.2", "{\"n\":3}", "", "", "", "",
		 "info", "detector", "m3", 2, 17, 0},
		{1, 2, 1, 1, NULL, NULL, "r4", "", "", "DE", "warning",
		 "policy", "", 0, 0, 200},
	};
	struct store_alert a;

	for (size_t i = 0; i < EW_ARRAY_LEN(seq); i++) {
		memset(&a, 0, sizeof(a));
		a.first_seen_ns = T2016 + seq[i].first * NS;
		a.last_seen_ns = T2016 + seq[i].last * NS;
		a.count = seq[i].count;
		a.bytes_sent = seq[i].bytes;
		if (seq[i].ip) {
			ip4(a.remote_ip, seq[i].ip);
			a.remote_port = seq[i].port;
		}
		a.proto = seq[i].proto;
		a.remote_asn = seq[i].asn;
		a.evidence = seq[i].evidence;
		snprintf(a.rule, sizeof(a.rule), "%s", seq[i].rule);
		snprintf(a.workload, sizeof(a.workload), "%s", seq[i].workload);
		snprintf(a.remote_name, sizeof(a.remote_name), "%s",
			 seq[i].name);
		snprintf(a.remote_country, sizeof(a.remote_country), "%s",
			 seq[i].country);
		snprintf(a.severity, sizeof(a.severity), "%s", seq[i].severity);
		snprintf(a.kind, sizeof(a.kind), "%s", seq[i].kind);
		snprintf(a.message, sizeof(a.message), "%s", seq[i].message);
		snprintf(a.dedup_key, sizeof(a.dedup_key), "%s", key);
		CHECK(store_put_alert(s, &a) == 0);
		if (sync)
			CHECK(store_sync(s) == 0);
	}
	CHECK(store_sync(s) == 0);
}

static void test_alerts_merge_in_batch_as_in_table(void)
{
	static const char row[] =
		"SELECT quote(first_seen_ns) || quote(last_seen_ns) ||"
		" quote(count) || quote(severity) || quote(kind) || quote(rule)"
		" || quote(workload) || quote(remote_ip) || quote(remote_name)"
		" || quote(remote_country) || quote(remote_asn) ||"
		" quote(remote_port) || quote(proto) || quote(bytes_sent) ||"
		" quote(message) || quote(evidence) FROM alerts WHERE"
		" dedup_key = ";
	char p[512], sql[sizeof(row) + 16], one[1024], merged[1024];
	struct store *s = open_default(db_path(p, sizeof(p)));

	put_alert_sequence(s, "one-by-one", 1);
	put_alert_sequence(s, "merged", 0);
	store_close(s);
	snprintf(sql, sizeof(sql), "%s'one-by-one'", row);
	sql_text(p, sql, one, sizeof(one));
	snprintf(sql, sizeof(sql), "%s'merged'", row);
	sql_text(p, sql, merged, sizeof(merged));
	CHECK(one[0] != '\0');
	CHECK_STR(merged, one);
	CHECK(strstr(one, "'{\"n\":3}'") != NULL);	/* newest evidence */
	CHECK_EQ_U(sql_int(p, "SELECT count FROM alerts WHERE"
			   " dedup_key = 'merged'"), 1 + 3 + 1 + 1);
}

static int count_workload_cb(void *ctx, const struct store_workload *w)
{
	int *n = ctx;

	if (strcmp(w->name, "redis-0") == 0) {
		CHECK_STR(w->namespace, "prod");
		CHECK_STR(w->kind, "pod");
		CHECK_STR(w->runtime, "containerd");
		CHECK_STR(w->labels, "{\"app\":\"redis\"}");
		CHECK_STR(w->ips, "[\"10.0.0.2\"]");
		CHECK_EQ_U(w->first_seen_ns, T2016);
		CHECK_EQ_U(w->last_seen_ns, T2016 + 9 * NS);
		CHECK_STR(w->interface, "veth1");
	}
	(*n)++;
	return 0;
}

static int dns_cb(void *ctx, const struct store_dns_answer *d)
{
	struct store_dns_answer *out = ctx;

	*out = *d;
	return 1;
}

static void test_alerts_workloads_dns_baselines(void)
{
	struct store_alert a, got[8];
	struct store_alert_filter af = {0};
	struct store_workload w;
	struct store_dns_answer d, dgot;
	struct store_baseline b;
	struct store_reader *r;
	char p[512], err[256], big[STORE_EVIDENCE_MAX + 2];
	struct store *s = open_default(db_path(p, sizeof(p)));
	int n = 0;

	memset(&a, 0, sizeof(a));
	a.first_seen_ns = a.last_seen_ns = T2016 + 5 * NS;
	a.bytes_sent = 1000;
	ip4(a.remote_ip, "203.0.113.66");
	a.remote_port = 6379;
	a.proto = 6;
	snprintf(a.severity, sizeof(a.severity), "critical");
	snprintf(a.kind, sizeof(a.kind), "policy");
	snprintf(a.rule, sizeof(a.rule), "no-egress-redis");
	snprintf(a.workload, sizeof(a.workload), "prod/redis-0");
	snprintf(a.message, sizeof(a.message), "redis-0 sent to 203.0.113.66");
	snprintf(a.dedup_key, sizeof(a.dedup_key), "k1");
	a.evidence = "{\"bytes\":48000000}";
	CHECK(store_put_alert(s, &a) == 0);
	a.first_seen_ns = T2016 + 2 * NS;
	a.last_seen_ns = T2016 + 9 * NS;
	a.bytes_sent = 48000000;
	a.evidence = NULL;	/* keeps the earlier evidence */
	CHECK(store_put_alert(s, &a) == 0);
	snprintf(a.dedup_key, sizeof(a.dedup_key), "k2");
	snprintf(a.workload, sizeof(a.workload), "prod/web");
	a.last_seen_ns = T2016 + 20 * NS;
	CHECK(store_put_alert(s, &a) == 0);
	a.dedup_key[0] = '\0';
	CHECK(store_put_alert(s, &a) == -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	snprintf(a.dedup_key, sizeof(a.dedup_key), "k3");
	a.evidence = big;
	CHECK(store_put_alert(s, &a) == -EINVAL);
	store_sync(s);

	r = store_reader_open(p, err, sizeof(err));
	memset(got, 0, sizeof(got));
	CHECK(store_query_alerts(r, &af, collect_alert_cb, got, err,
				 sizeof(err)) == 2);
	CHECK_STR(got[0].dedup_key, "k2");
	CHECK_STR(got[1].dedup_key, "k1");
	CHECK_EQ_U(got[1].count, 2);
	CHECK_EQ_U(got[1].first_seen_ns, T2016 + 2 * NS);
	CHECK_EQ_U(got[1].last_seen_ns, T2016 + 9 * NS);
	CHECK_EQ_U(got[1].bytes_sent, 48000000);
	CHECK_EQ_U(got[1].remote_port, 6379);
	CHECK_STR(got[1].rule, "no-egress-redis");
	CHECK_EQ_U(got[1].acknowledged, 0);

	CHECK(store_ack_alert(s, got[1].id, "oncall", T2016 + 30 * NS) == 0);
	store_sync(s);
	af.unacknowledged_only = 1;
	memset(got, 0, sizeof(got));
	CHECK(store_query_alerts(r, &af, collect_alert_cb, got, err,
				 sizeof(err)) == 1);
	CHECK_STR(got[0].dedup_key, "k2");
	af.unacknowledged_only = 0;
	af.workload = "prod/redis-0";
	memset(got, 0, sizeof(got));
	CHECK(store_query_alerts(r, &af, collect_alert_cb, got, err,
				 sizeof(err)) == 1);
	CHECK_EQ_U(got[0].acknowledged, 1);
	CHECK_EQ_U(got[0].ack_ns, T2016 + 30 * NS);
	CHECK_STR(got[0].ack_by, "oncall");
	af.workload = NULL;
	af.since_ns = T2016 + 10 * NS;
	CHECK(store_query_alerts(r, &af, NULL, NULL, err, sizeof(err)) == 1);

	memset(&w, 0, sizeof(w));
	snprintf(w.namespace, sizeof(w.namespace), "prod");
	snprintf(w.name, sizeof(w.name), "redis-0");
	snprintf(w.kind, sizeof(w.kind), "pod");
	snprintf(w.runtime, sizeof(w.runtime), "containerd");
	snprintf(w.interface, sizeof(w.interface), "veth0");
	w.labels = "{\"app\":\"redis\"}";
	w.ips = "[\"10.0.0.2\"]";
	w.first_seen_ns = T2016 + NS;
	w.last_seen_ns = T2016 + 2 * NS;
	CHECK(store_put_workload(s, &w) == 0);
	w.labels = NULL;	/* kept */
	w.first_seen_ns = T2016;
	w.last_seen_ns = T2016 + 9 * NS;
	snprintf(w.interface, sizeof(w.interface), "veth1");
	CHECK(store_put_workload(s, &w) == 0);
	snprintf(w.name, sizeof(w.name), "web");
	CHECK(store_put_workload(s, &w) == 0);
	w.name[0] = '\0';
	CHECK(store_put_workload(s, &w) == -EINVAL);

	memset(&d, 0, sizeof(d));
	ip4(d.address, "203.0.113.66");
	d.ttl = 60;
	d.seen_ns = T2016;
	snprintf(d.workload, sizeof(d.workload), "prod/redis-0");
	snprintf(d.name, sizeof(d.name), "exfil.example.net");
	snprintf(d.cname_chain, sizeof(d.cname_chain), "a.cdn.example");
	CHECK(store_put_dns_answer(s, &d) == 0);
	d.seen_ns = T2016 + 100 * NS;
	CHECK(store_put_dns_answer(s, &d) == 0);	/* refresh, same row */

	memset(&b, 0, sizeof(b));
	snprintf(b.workload, sizeof(b.workload), "prod/redis-0");
	b.proto = 6;
	b.port = 6379;
	b.direction = STORE_INGRESS;
	b.seen_ns = T2016 + 5 * NS;
	CHECK(store_put_baseline(s, &b) == 0);
	b.seen_ns = T2016 + NS;
	b.count = 3;
	CHECK(store_put_baseline(s, &b) == 0);
	store_sync(s);

	CHECK(store_query_workloads(r, count_workload_cb, &n, err,
				    sizeof(err)) == 2);
	CHECK_EQ_U(n, 2);
	memset(&dgot, 0, sizeof(dgot));
	CHECK(store_query_dns(r, d.address, "prod/redis-0", 0, dns_cb, &dgot,
			      err, sizeof(err)) == 1);
	CHECK_STR(dgot.name, "exfil.example.net");
	CHECK_STR(dgot.cname_chain, "a.cdn.example");
	CHECK_EQ_U(dgot.seen_ns, T2016 + 100 * NS);
	CHECK(store_query_dns(r, d.address, NULL, 0, NULL, NULL, err,
			      sizeof(err)) == 1);
	CHECK(store_query_dns(r, d.address, "prod/web", 0, NULL, NULL, err,
			      sizeof(err)) == 0);
	store_reader_close(r);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT expires_ns FROM dns_answers"),
		   T2016 + 160 * NS);
	CHECK_EQ_U(sql_int(p, "SELECT count FROM baselines"), 4);
	CHECK_EQ_U(sql_int(p, "SELECT first_seen_ns FROM baselines"), T2016 + NS);
	CHECK_EQ_U(sql_int(p, "SELECT last_seen_ns FROM baselines"),
		   T2016 + 5 * NS);
}

/* A row the database refuses on its own is counted; the rest of its batch
 * is written. */
static void test_row_refused_by_database_is_counted_batch_goes_on(void)
{
	char p[512];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_baseline b;
	struct store_stats st;

	CHECK(sql_exec(p, "CREATE TRIGGER t_refuse BEFORE INSERT ON baselines"
		       " WHEN NEW.port = 666 BEGIN"
		       " SELECT RAISE(ABORT, 'test refuses port 666'); END")
	      == SQLITE_OK);
	memset(&b, 0, sizeof(b));
	snprintf(b.workload, sizeof(b.workload), "prod/a");
	for (uint16_t port = 660; port < 670; port++) {
		b.port = port;
		CHECK(store_put_baseline(s, &b) == 0);
	}
	store_sync(s);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.dropped_invalid, 1);
	CHECK_EQ_U(st.written, 9);
	CHECK_EQ_U(st.write_errors, 0);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM baselines"), 9);
}

/*
 * The writer takes ids above the highest it has written for new flows and
 * inserts them as a set.  Another writer got there first with one of them,
 * and the database refuses another: the set is written again row by row, the
 * taken id is updated as any known flow is, and only the refused row is lost.
 */
static void test_new_flows_taken_or_refused_are_written_row_by_row(void)
{
	char p[512];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_stats st;
	struct store_flow f;

	for (uint64_t id = 1; id <= 10; id++) {
		f = mkflow(id, T2016 + id * NS, T2016 + id * NS + NS);
		CHECK(store_put_flow(s, &f) == 0);
	}
	CHECK(store_sync(s) == 0);
	CHECK(sql_exec(p, "INSERT INTO flows (id, start_ns, end_ns, family,"
		       " proto, direction, local_ip, local_port, remote_ip,"
		       " remote_port, vlan, bytes_sent, bytes_received,"
		       " packets_sent, packets_received, tcp_flags_sent,"
		       " tcp_flags_received, ended, end_reason) VALUES (13, 5,"
		       " 6, 4, 6, 0, zeroblob(16), 1, zeroblob(16), 2, 0, 0,"
		       " 0, 0, 0, 0, 0, 0, 0);"
		       "CREATE TRIGGER t_refuse BEFORE INSERT ON flows"
		       " WHEN NEW.id = 16 BEGIN"
		       " SELECT RAISE(ABORT, 'test refuses flow 16'); END")
	      == SQLITE_OK);
	for (uint64_t id = 11; id <= 20; id++) {
		f = mkflow(id, T2016 + id * NS, T2016 + id * NS + NS);
		CHECK(store_put_flow(s, &f) == 0);
	}
	CHECK(store_sync(s) == 0);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.written, 19);
	CHECK_EQ_U(st.dropped_invalid, 1);
	CHECK_EQ_U(st.write_errors, 0);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 19);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows WHERE id = 16"), 0);
	/* the row found in place keeps its identity, takes our counters */
	CHECK_EQ_U(sql_int(p, "SELECT start_ns FROM flows WHERE id = 13"), 5);
	CHECK_EQ_U(sql_int(p, "SELECT bytes_sent FROM flows WHERE id = 13"),
		   100);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows WHERE id > 10 AND"
			   " workload = 'prod/redis-0'"), 9);
}

/* ---- retention ----------------------------------------------------------- */

static void put_aged_rows(struct store *s, uint64_t ref)
{
	static const int days[] = {10, 8, 6, 1, 0};
	struct store_dns_answer d;
	struct store_alert a;

	for (size_t i = 0; i < EW_ARRAY_LEN(days); i++) {
		uint64_t t = ref - (uint64_t)days[i] * DAY_NS;
		struct store_flow f = mkflow(i + 1, t - NS, t);

		CHECK(store_put_flow(s, &f) == 0);
		memset(&d, 0, sizeof(d));
		d.seen_ns = t;
		snprintf(d.name, sizeof(d.name), "n%zu.example", i);
		CHECK(store_put_dns_answer(s, &d) == 0);
		memset(&a, 0, sizeof(a));
		a.first_seen_ns = a.last_seen_ns = t;
		snprintf(a.dedup_key, sizeof(a.dedup_key), "acked%zu", i);
		CHECK(store_put_alert(s, &a) == 0);
		snprintf(a.dedup_key, sizeof(a.dedup_key), "open%zu", i);
		CHECK(store_put_alert(s, &a) == 0);
	}
	store_sync(s);
	for (uint64_t id = 1; id <= 10; id += 2)
		store_ack_alert(s, id, "t", ref);
	store_sync(s);
}

static void test_retention_by_age_keeps_replayed_2016_capture(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;

	/* Real wall clock (2020s), rows from 2016: the newest row is the
	 * reference, so the last 7 days of the capture stay. */
	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	put_aged_rows(s, T2016);
	CHECK(store_run_retention(s) == 0);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.retention_runs, 1);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 3);
	CHECK_EQ_U(sql_int(p, "SELECT min(end_ns) FROM flows"),
		   T2016 - 6 * DAY_NS);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM dns_answers"), 3);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM traffic_minute"), 3);
	/* acknowledged old alerts go, open ones stay whatever their age */
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM alerts WHERE acknowledged"),
		   3);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM alerts WHERE NOT"
			   " acknowledged"), 5);
	CHECK_EQ_U(st.retention_deleted, 2 + 2 + 2 + 2);
}

static void test_retention_by_age_follows_clock_not_future_rows(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_flow f;
	uint64_t now = T2016 + 100 * DAY_NS;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	fake_now = now;
	cfg.clock_ns = fake_clock;
	cfg.clock_ctx = &fake_now;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	put_aged_rows(s, now - DAY_NS);
	/* one flow stamped far in the future (a bad packet timestamp) must
	 * not make the reference jump and age out everything else */
	f = mkflow(100, now + 365 * DAY_NS, now + 366 * DAY_NS);
	store_put_flow(s, &f);
	store_sync(s);
	CHECK(store_run_retention(s) == 0);
	/* reference = newest flow not after the clock = now - 1 day:
	 * the rows of 10 and 8 days before that go */
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 4);

	/* the clock moves on 30 days: everything but the future row ages out
	 * only once it is older than 7 days before the newest real row */
	fake_now = now + 30 * DAY_NS;
	CHECK(store_run_retention(s) == 0);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 4);
	f = mkflow(101, fake_now - NS, fake_now);
	store_put_flow(s, &f);
	store_sync(s);
	CHECK(store_run_retention(s) == 0);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 2);	/* 100, 101 */
	store_close(s);
}

/*
 * The newest flow to start before the clock still runs past it (its end is
 * stamped in the future): the reference is the newest end before the clock,
 * held here by a flow that started long before it.
 */
static void test_retention_reference_skips_flow_running_past_clock(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_flow f;
	uint64_t now = T2016 + 100 * DAY_NS;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	fake_now = now;
	cfg.clock_ns = fake_clock;
	cfg.clock_ctx = &fake_now;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	f = mkflow(1, now - 20 * DAY_NS, now - 20 * DAY_NS + NS);
	store_put_flow(s, &f);
	f = mkflow(2, now - 15 * DAY_NS, now - 15 * DAY_NS + NS);
	store_put_flow(s, &f);
	f = mkflow(3, now - NS, now + DAY_NS);
	store_put_flow(s, &f);
	store_sync(s);
	/* reference = flow 2's end: flow 1 is within 7 days of it and stays
	 * (taking the clock instead would age out flows 1 and 2) */
	CHECK(store_run_retention(s) == 0);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 3);
}

/*
 * Size retention moves the cut-off by the oldest ends, not starts: a flow
 * that started before all the others and still runs is kept while those that
 * ended go, oldest first.
 */
static void test_size_retention_keeps_old_flow_still_running(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	int64_t n_after;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	cfg.max_bytes = 0;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	{
		struct store_flow f = mkflow(1, T2016, T2016 + 40000 * NS);
		store_put_flow(s, &f);
	}
	for (uint64_t id = 2; id <= 20000; id++) {
		struct store_flow f = mkflow(id, T2016 + id * NS,
					     T2016 + id * NS + NS);
		f.remote_ip[15] = (uint8_t)id;
		f.remote_ip[14] = (uint8_t)(id >> 8);
		store_put_flow(s, &f);
	}
	store_close(s);
	cfg.max_bytes = 1 << 20;
	s = open_cfg(&cfg, p);
	CHECK(store_run_retention(s) == 0);
	store_get_stats(s, &st);
	CHECK(st.db_bytes <= cfg.max_bytes / 10 * 9);
	store_close(s);
	n_after = sql_int(p, "SELECT count(*) FROM flows");
	CHECK(n_after > 1 && n_after < 20000);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows WHERE id = 1"), 1);
	/* what is left of the others is the newest, without a gap */
	CHECK_EQ_U(sql_int(p, "SELECT min(id) FROM flows WHERE id > 1"),
		   20001 - (n_after - 1));
}

static void test_retention_runs_by_itself_in_chunks(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	cfg.retention_check_ms = 50;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	/* 5000 old flows: three chunks */
	for (uint64_t id = 1; id <= 5000; id++) {
		struct store_flow f = mkflow(id, T2016, T2016 + id);
		store_put_flow(s, &f);
	}
	{
		struct store_flow f = mkflow(5001, T2016 + 9 * DAY_NS,
					     T2016 + 9 * DAY_NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	for (int i = 0; i < 200; i++) {
		store_get_stats(s, &st);
		if (st.retention_deleted >= 5000 && st.retention_runs > 0)
			break;
		usleep(20000);
	}
	store_get_stats(s, &st);
	CHECK_EQ_U(st.retention_deleted >= 5000, 1);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 1);
}

static void test_retention_by_size_shrinks_file(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	struct stat sb;
	int64_t min_before, min_after, n_after;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	cfg.max_bytes = 0;	/* fill first, then turn the limit on */
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	for (uint64_t id = 1; id <= 30000; id++) {
		struct store_flow f = mkflow(id, T2016 + id * NS,
					     T2016 + id * NS + NS);
		f.remote_ip[15] = (uint8_t)id;
		f.remote_ip[14] = (uint8_t)(id >> 8);
		store_put_flow(s, &f);
	}
	store_sync(s);
	store_close(s);
	min_before = sql_int(p, "SELECT min(end_ns) FROM flows");

	cfg.max_bytes = 2 << 20;
	s = open_cfg(&cfg, p);
	store_get_stats(s, &st);
	CHECK(st.db_bytes > cfg.max_bytes);
	CHECK(store_run_retention(s) == 0);
	store_get_stats(s, &st);
	CHECK(st.db_bytes <= cfg.max_bytes / 10 * 9);
	CHECK(st.db_bytes > cfg.max_bytes / 4);	/* not much more than needed */
	CHECK(st.retention_deleted > 0);
	store_close(s);
	n_after = sql_int(p, "SELECT count(*) FROM flows");
	min_after = sql_int(p, "SELECT min(end_ns) FROM flows");
	CHECK(n_after > 0 && n_after < 30000);
	CHECK(min_after > min_before);	/* the oldest went */
	CHECK_EQ_U(sql_int(p, "SELECT max(id) FROM flows"), 30000);
	/* flows and their rollup minutes went together */
	CHECK(st.retention_deleted > (uint64_t)(30000 - n_after));
	CHECK(sql_int(p, "SELECT min(minute) FROM traffic_minute") * 60 * NS +
	      60 * NS > (uint64_t)min_after - 60 * NS);
	/* the pages went back to the file system */
	CHECK(stat(p, &sb) == 0);
	CHECK((uint64_t)sb.st_size <= cfg.max_bytes);
	CHECK_EQ_U(sql_int(p, "PRAGMA freelist_count"), 0);
}

/* A file whose auto_vacuum is not INCREMENTAL (made by hand, or converted)
 * cannot give pages back: size retention still deletes, and ends. */
static void test_size_retention_without_incremental_vacuum_ends(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	cfg.max_bytes = 0;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	for (uint64_t id = 1; id <= 10000; id++) {
		struct store_flow f = mkflow(id, T2016 + id * NS,
					     T2016 + id * NS + NS);
		store_put_flow(s, &f);
	}
	store_close(s);
	CHECK(sql_exec(p, "PRAGMA auto_vacuum = NONE; VACUUM") == SQLITE_OK);
	CHECK_EQ_U(sql_int(p, "PRAGMA auto_vacuum"), 0);
	cfg.max_bytes = 512 << 10;
	s = open_cfg(&cfg, p);
	CHECK(store_run_retention(s) == 0);
	store_get_stats(s, &st);
	CHECK(st.db_bytes <= cfg.max_bytes);
	CHECK(st.retention_deleted > 0);
	store_close(s);
	CHECK(sql_int(p, "PRAGMA freelist_count") > 0);	/* kept, reusable */
}

/* ---- errors and back-pressure -------------------------------------------- */

static void test_disk_full_counts_then_resumes(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	struct store_flow f;
	uint64_t id, puts = 0, t0, worst = 0;
	int resumed = 0;

	store_config_defaults(&cfg);
	cfg.max_page_count = 300;	/* 1.2 MB */
	cfg.batch_rows = 512;
	cfg.retention_check_ms = 20;	/* due all the time while paused */
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	CHECK(s != NULL);
	for (id = 1; id <= 40000; id++) {
		f = mkflow(id, T2016 + id * NS, T2016 + id * NS + NS);
		f.remote_ip[15] = (uint8_t)id;
		t0 = ew_mono_ns();
		store_put_flow(s, &f);	/* live mode: never waits */
		if (ew_mono_ns() - t0 > worst)
			worst = ew_mono_ns() - t0;
		puts++;
	}
	store_sync(s);
	store_get_stats(s, &st);
	CHECK(st.disk_full >= 1);
	CHECK(st.write_errors >= st.disk_full);
	CHECK(st.dropped_write_error > 0);
	CHECK_EQ_U(st.writing_paused, 1);
	CHECK_EQ_U(st.queued + st.dropped_queue_full, puts);
	CHECK_EQ_U(st.queued, st.written + st.dropped_write_error +
				      st.dropped_invalid);
	CHECK(worst < 100 * 1000000ull);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), st.written);
	fprintf(stderr, "  disk full: %" PRIu64 " written, %" PRIu64
		" lost to write errors, %" PRIu64 " to a full queue, worst put "
		"%" PRIu64 " us\n", st.written, st.dropped_write_error,
		st.dropped_queue_full, worst / 1000);

	/* paused and idle, the writer sleeps rather than spins */
	{
		struct rusage r0, r1;
		uint64_t cpu_us;

		getrusage(RUSAGE_SELF, &r0);
		usleep(500000);
		getrusage(RUSAGE_SELF, &r1);
		cpu_us = (uint64_t)((r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) *
				    1000000 + (r1.ru_utime.tv_usec -
					       r0.ru_utime.tv_usec) +
				    (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) *
				    1000000 + (r1.ru_stime.tv_usec -
					       r0.ru_stime.tv_usec));
		CHECK(cpu_us < 100000);
	}

	/* make room from another connection; the writer resumes by itself
	 * once its back-off ends */
	CHECK(sql_exec(p, "DELETE FROM flows WHERE id < 20000") == SQLITE_OK);
	for (int i = 0; i < 100 && !resumed; i++) {
		f = mkflow(++id, T2016, T2016 + NS);
		store_put_flow(s, &f);
		store_sync(s);
		store_get_stats(s, &st);
		resumed = st.writing_paused == 0;
		if (!resumed)
			usleep(50000);
	}
	CHECK(resumed);
	for (uint64_t i = 0; i < 100; i++) {
		f = mkflow(++id, T2016, T2016 + NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.writing_paused, 0);
	CHECK_EQ_U(store_close(s), 0);
	{
		char q[128];
		snprintf(q, sizeof(q), "SELECT count(*) FROM flows WHERE id"
			 " > %" PRIu64, id - 100);
		CHECK_EQ_U(sql_int(p, q), 100);
	}
}

/* Rows still failing at close are counted, and close says so. */
static void test_close_reports_rows_it_could_not_write(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	cfg.max_page_count = 40;	/* the schema and a few rows */
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	CHECK(s != NULL);
	for (uint64_t id = 1; id <= 20000; id++) {
		struct store_flow f = mkflow(id, T2016 + id, T2016 + id);
		f.remote_ip[15] = (uint8_t)id;
		store_put_flow(s, &f);
	}
	store_sync(s);
	store_get_stats(s, &st);
	CHECK(st.disk_full > 0);
	CHECK_EQ_U(st.queued, 20000);	/* blocking: nothing refused */
	CHECK_EQ_U(st.written + st.dropped_write_error, 20000);
	CHECK(store_close(s) == -EIO);
}

static void test_queue_full_nonblocking_counts_drops(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	sqlite3 *lock = NULL;
	uint64_t refused = 0;

	store_config_defaults(&cfg);
	cfg.queue_rows = 64;
	cfg.batch_rows = 16;
	cfg.busy_timeout_ms = 20000;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	/* Another writer holds the lock: our writer waits in BEGIN with 16
	 * rows in hand and the queue fills behind it. */
	CHECK(sqlite3_open(p, &lock) == SQLITE_OK);
	CHECK(sqlite3_exec(lock, "BEGIN IMMEDIATE", NULL, NULL, NULL) ==
	      SQLITE_OK);
	for (uint64_t id = 1; id <= 1000; id++) {
		struct store_flow f = mkflow(id, T2016, T2016 + NS);
		int rc = store_put_flow(s, &f);

		CHECK(rc == 0 || rc == -EAGAIN);
		refused += rc == -EAGAIN;
	}
	store_get_stats(s, &st);
	CHECK_EQ_U(st.dropped_queue_full, refused);
	CHECK(refused >= 1000 - 64 - 16 - 16);
	CHECK(st.queue_high_water >= 64);
	sqlite3_exec(lock, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(lock);
	store_sync(s);
	store_get_stats(s, &st);
	CHECK_EQ_U(st.queued + st.dropped_queue_full, 1000);
	CHECK_EQ_U(st.written, st.queued);
	CHECK_EQ_U(st.write_errors, 0);
	store_close(s);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 1000 - refused);
}

static void test_blocking_mode_loses_nothing(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	uint64_t t0, dt;

	store_config_defaults(&cfg);
	cfg.queue_rows = 256;	/* small: the producer waits often */
	cfg.block_when_full = 1;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	t0 = ew_mono_ns();
	for (uint64_t id = 1; id <= 100000; id++) {
		struct store_flow f = mkflow(id, T2016 + id, T2016 + id + NS);
		CHECK(store_put_flow(s, &f) == 0);
	}
	store_sync(s);
	dt = ew_mono_ns() - t0;
	store_get_stats(s, &st);
	CHECK_EQ_U(st.queued, 100000);
	CHECK_EQ_U(st.written, 100000);
	CHECK_EQ_U(st.dropped_queue_full + st.dropped_write_error +
			   st.dropped_invalid, 0);
	CHECK(st.queue_high_water <= 256);
	fprintf(stderr, "  blocking: 100000 flows in %.2f s (%.0f rows/s, this "
		"build), %" PRIu64 " batches\n", (double)dt / 1e9,
		1e5 / ((double)dt / 1e9), st.batches);
	CHECK_EQ_U(store_close(s), 0);
	CHECK_EQ_U(sql_int(p, "SELECT count(*) FROM flows"), 100000);
}

struct reader_ctx {
	struct store *s;
	const char *path;
	int rows;
	uint64_t written_during;
	int done;
	int errors, queries;
};

/* Inside the callback the reader holds its snapshot open; the writer must
 * still commit (store_sync would hang otherwise). */
static int hold_snapshot_cb(void *ctx, const struct store_flow *f)
{
	struct reader_ctx *c = ctx;
	struct store_stats before, after;

	if (c->rows++ == 0) {
		store_get_stats(c->s, &before);
		for (uint64_t id = 100001; id <= 105000; id++) {
			struct store_flow g = mkflow(id, T2016, T2016 + NS);
			store_put_flow(c->s, &g);
		}
		store_sync(c->s);
		store_get_stats(c->s, &after);
		c->written_during = after.written - before.written;
	}
	return 0;
}

static void *query_loop(void *arg)
{
	struct reader_ctx *c = arg;
	char err[256];
	struct store_reader *r = store_reader_open(c->path, err, sizeof(err));
	struct store_flow_filter flt = any_flow();

	if (!r) {
		c->errors++;
		return NULL;
	}
	flt.limit = 500;
	while (!__atomic_load_n(&c->done, __ATOMIC_ACQUIRE)) {
		if (store_query_flows(r, &flt, NULL, NULL, err,
				      sizeof(err)) < 0)
			c->errors++;
		c->queries++;
	}
	store_reader_close(r);
	return NULL;
}

static void test_reader_does_not_block_writer(void)
{
	char p[512], err[256];
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_flow_filter flt = any_flow();
	struct reader_ctx c = {.s = s, .path = p};
	struct store_reader *r;
	pthread_t th;

	for (uint64_t id = 1; id <= 3000; id++) {
		struct store_flow f = mkflow(id, T2016 + id, T2016 + id + NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	r = store_reader_open(p, err, sizeof(err));
	flt.limit = 100000;
	/* the query sees its snapshot: 3000, not the 5000 added meanwhile */
	CHECK(store_query_flows(r, &flt, hold_snapshot_cb, &c, err,
				sizeof(err)) == 3000);
	CHECK_EQ_U(c.written_during, 5000);
	CHECK(store_query_flows(r, &flt, NULL, NULL, err, sizeof(err)) == 8000);

	/* a thread querying all the time while 20000 rows are written */
	CHECK(pthread_create(&th, NULL, query_loop, &c) == 0);
	for (uint64_t id = 200001; id <= 220000; id++) {
		struct store_flow f = mkflow(id, T2016 + id, T2016 + id + NS);
		store_put_flow(s, &f);
	}
	store_sync(s);
	__atomic_store_n(&c.done, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	CHECK_EQ_U(c.errors, 0);
	CHECK(c.queries > 0);
	CHECK(store_query_flows(r, &flt, NULL, NULL, err, sizeof(err)) ==
	      28000);
	store_reader_close(r);
	CHECK_EQ_U(store_close(s), 0);
}

static void test_reader_opens_after_writer_closed_refuses_missing_file(void)
{
	char p[512], err[256] = "";
	struct store *s = open_default(db_path(p, sizeof(p)));
	struct store_reader *r;

	store_close(s);
	/* after the writer closed (no -wal/-shm left) it still opens */
	r = store_reader_open(p, err, sizeof(err));
	CHECK(r != NULL);
	store_reader_close(r);
	err[0] = '\0';
	CHECK(store_reader_open("/nonexistent/x.sqlite", err,
				sizeof(err)) == NULL);
	CHECK(err[0] != '\0');
}

/*
 * Not a pass/fail test: the rate of this (usually sanitized) build, for a
 * replay-like load of NEW then END per flow.  tests/tools/store_fill gives
 * the figure for an optimized build.
 */
static void test_throughput_report(void)
{
	char p[512];
	struct store_config cfg;
	struct store *s;
	struct store_stats st;
	uint64_t t0, dt, n = 50000;

	store_config_defaults(&cfg);
	cfg.block_when_full = 1;
	s = open_cfg(&cfg, db_path(p, sizeof(p)));
	t0 = ew_mono_ns();
	for (uint64_t id = 1; id <= n; id++) {
		struct store_flow f = mkflow(id, T2016 + id * 1000,
					     T2016 + id * 1000);
		f.remote_ip[15] = (uint8_t)id;
		store_put_flow(s, &f);
		f.end_ns += NS;
		f.bytes_sent += 10;
		f.dbytes_sent = 10;
		f.packets_sent += 1;
		f.dpackets_sent = 1;
		f.dbytes_received = f.dpackets_received = 0;
		f.ended = 1;
		store_put_flow(s, &f);
	}
	store_sync(s);
	dt = ew_mono_ns() - t0;
	store_get_stats(s, &st);
	CHECK_EQ_U(st.written, 2 * n);
	fprintf(stderr, "  throughput: %" PRIu64 " upserts (NEW+END) in %.2f s"
		" = %.0f/s, %" PRIu64 " coalesced (this build)\n", 2 * n,
		(double)dt / 1e9, 2.0 * (double)n / ((double)dt / 1e9),
		st.coalesced);
	store_close(s);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_store.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	ew_log_set_level(EW_LOG_ERROR);
	RUN(test_create_from_nothing_and_from_empty_file);
	RUN(test_reopen_is_idempotent_and_keeps_rows);
	RUN(test_migrations_run_in_order_from_each_version);
	RUN(test_failed_migration_step_leaves_previous_version);
	RUN(test_newer_version_refused);
	RUN(test_foreign_sqlite_file_refused);
	RUN(test_corrupt_file_refused);
	RUN(test_roundtrip_all_fields_v4_and_v6);
	RUN(test_upsert_updates_row_same_with_or_without_coalescing);
	RUN(test_rollups_sum_deltas_per_minute);
	RUN(test_rollups_key_on_the_service_port);
	RUN(test_filters_time_cidr_port_proto_workload_limit_cursor);
	RUN(test_cursor_pages_through_everything_once);
	RUN(test_since_query_finds_long_lived_flows);
	RUN(test_alerts_workloads_dns_baselines);
	RUN(test_alerts_merge_in_batch_as_in_table);
	RUN(test_row_refused_by_database_is_counted_batch_goes_on);
	RUN(test_new_flows_taken_or_refused_are_written_row_by_row);
	RUN(test_retention_by_age_keeps_replayed_2016_capture);
	RUN(test_retention_by_age_follows_clock_not_future_rows);
	RUN(test_retention_reference_skips_flow_running_past_clock);
	RUN(test_size_retention_keeps_old_flow_still_running);
	RUN(test_retention_runs_by_itself_in_chunks);
	RUN(test_retention_by_size_shrinks_file);
	RUN(test_size_retention_without_incremental_vacuum_ends);
	RUN(test_disk_full_counts_then_resumes);
	RUN(test_close_reports_rows_it_could_not_write);
	RUN(test_queue_full_nonblocking_counts_drops);
	RUN(test_blocking_mode_loses_nothing);
	RUN(test_reader_does_not_block_writer);
	RUN(test_reader_opens_after_writer_closed_refuses_missing_file);
	RUN(test_throughput_report);
	rm_tmpdir();
	return T_DONE();
}
