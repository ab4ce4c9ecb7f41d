/*
 * schema.c - the database schema, its forward migrations, and opening the
 * writer connection.
 *
 * The schema version lives in PRAGMA user_version and the file is marked as
 * ours by PRAGMA application_id, both in the database header.  Migrations are
 * an ordered array; opening runs, in order, each step whose version is above
 * the file's, each in its own transaction that also bumps user_version.  A
 * file with a version above the last step was written by a newer egresswatch
 * and is refused rather than misread.  Migrations only go forward: there is
 * no downgrade.
 *
 * Durability: WAL with synchronous=NORMAL.  A crash of the process loses
 * nothing committed; a power loss or kernel crash can lose the transactions
 * committed since the WAL was last synced (at most the last checkpoint
 * interval, about 1000 pages of writes), but never corrupts the file.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "store_int.h"

/*
 * Version 1.  Conventions: times are INTEGER ns since the epoch; addresses
 * are 16-byte BLOBs (IPv4-mapped), so a CIDR is a BLOB range; "unknown" text
 * is NULL, except in key columns (traffic_minute.workload,
 * dns_answers.workload), where it is '' because NULLs never conflict and the
 * upsert would add a row each time.
 */
static const char schema_v1[] =
	"CREATE TABLE flows ("
	" id INTEGER PRIMARY KEY,"		/* capture's flow id */
	" start_ns INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL,"
	" interface TEXT,"
	" family INTEGER NOT NULL,"
	" proto INTEGER NOT NULL,"
	" direction INTEGER NOT NULL,"		/* 0 egress, 1 ingress */
	" local_ip BLOB NOT NULL,"
	" local_port INTEGER NOT NULL,"
	" remote_ip BLOB NOT NULL,"
	" remote_port INTEGER NOT NULL,"
	" vlan INTEGER NOT NULL,"
	" bytes_sent INTEGER NOT NULL,"
	" bytes_received INTEGER NOT NULL,"
	" packets_sent INTEGER NOT NULL,"
	" packets_received INTEGER NOT NULL,"
	" tcp_flags_sent INTEGER NOT NULL,"
	" tcp_flags_received INTEGER NOT NULL,"
	" ended INTEGER NOT NULL,"
	" end_reason INTEGER NOT NULL,"
	" workload TEXT,"			/* "namespace/name" */
	" remote_workload TEXT,"
	" remote_name TEXT,"
	" remote_country TEXT,"
	" remote_asn INTEGER,"
	" verdict TEXT);"
	/* No index on end_ns: it changes with every update of a live flow,
	 * and each change would move an index entry.  What needs the newest
	 * or oldest ends bounds a walk of flows_start with meta.max_flow_ns
	 * instead (store_int.h, retention.c). */
	"CREATE INDEX flows_start ON flows(start_ns);"
	"CREATE INDEX flows_workload_start ON flows(workload, start_ns);"
	"CREATE INDEX flows_remote_ip ON flows(remote_ip);"
	"CREATE INDEX flows_remote_port ON flows(remote_port);"
	"CREATE INDEX flows_local_port ON flows(local_port);"

	/* The primary key starts with minute: it is the by-minute index. */
	"CREATE TABLE traffic_minute ("
	" minute INTEGER NOT NULL,"		/* end_ns / 60e9 */
	" workload TEXT NOT NULL,"
	" remote_ip BLOB NOT NULL,"
	" port INTEGER NOT NULL,"		/* service port, see store.h */
	" proto INTEGER NOT NULL,"
	" direction INTEGER NOT NULL,"
	" bytes_sent INTEGER NOT NULL,"
	" bytes_received INTEGER NOT NULL,"
	" packets_sent INTEGER NOT NULL,"
	" packets_received INTEGER NOT NULL,"
	" flows INTEGER NOT NULL,"		/* flows started */
	" PRIMARY KEY (minute, workload, remote_ip, port, proto,"
	"  direction)) WITHOUT ROWID;"
	"CREATE INDEX traffic_minute_workload ON traffic_minute(workload, minute);"

	"CREATE TABLE alerts ("
	" id INTEGER PRIMARY KEY,"
	" first_seen_ns INTEGER NOT NULL,"
	" last_seen_ns INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" severity TEXT NOT NULL,"
	" kind TEXT NOT NULL,"			/* detector, or "policy" */
	" rule TEXT,"
	" workload TEXT,"
	" remote_ip BLOB,"
	" remote_name TEXT,"
	" remote_country TEXT,"
	" remote_asn INTEGER,"
	" remote_port INTEGER,"
	" proto INTEGER,"
	" bytes_sent INTEGER NOT NULL,"
	" message TEXT NOT NULL,"
	" evidence TEXT,"			/* JSON */
	" dedup_key TEXT NOT NULL UNIQUE,"
	" acknowledged INTEGER NOT NULL DEFAULT 0,"
	" ack_ns INTEGER,"
	" ack_by TEXT);"
	"CREATE INDEX alerts_last_seen ON alerts(last_seen_ns);"
	"CREATE INDEX alerts_workload ON alerts(workload);"

	"CREATE TABLE workloads ("
	" id INTEGER PRIMARY KEY,"
	" namespace TEXT NOT NULL,"
	" name TEXT NOT NULL,"
	" kind TEXT,"
	" runtime TEXT,"
	" container_id TEXT,"
	" pod_uid TEXT,"
	" labels TEXT,"				/* JSON object */
	" interface TEXT,"
	" ips TEXT,"				/* JSON array of strings */
	" first_seen_ns INTEGER NOT NULL,"
	" last_seen_ns INTEGER NOT NULL,"
	" UNIQUE (namespace, name));"

	"CREATE TABLE dns_answers ("
	" workload TEXT NOT NULL,"
	" query_name TEXT NOT NULL,"
	" address BLOB NOT NULL,"
	" cname_chain TEXT,"			/* space-separated */
	" ttl INTEGER NOT NULL,"
	" seen_ns INTEGER NOT NULL,"
	" expires_ns INTEGER NOT NULL,"
	" UNIQUE (workload, address, query_name));"
	"CREATE INDEX dns_answers_address ON dns_answers(address);"
	"CREATE INDEX dns_answers_seen ON dns_answers(seen_ns);"

	"CREATE TABLE baselines ("
	" workload TEXT NOT NULL,"
	" proto INTEGER NOT NULL,"
	" port INTEGER NOT NULL,"
	" direction INTEGER NOT NULL,"
	" first_seen_ns INTEGER NOT NULL,"
	" last_seen_ns INTEGER NOT NULL,"
	" count INTEGER NOT NULL,"
	" PRIMARY KEY (workload, proto, port, direction)) WITHOUT ROWID;"

	/* Facts the queries rely on.  max_flow_ns: the longest flow ever
	 * written (never lowered), so "active since T" can be the bounded
	 * index range start_ns >= T - max_flow_ns rather than a scan. */
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"INSERT INTO meta VALUES ('max_flow_ns', 0);"

	"PRAGMA application_id = 1163346260;"; /* STORE_APPLICATION_ID */

_Static_assert(STORE_APPLICATION_ID == 1163346260,
	       "schema_v1 spells STORE_APPLICATION_ID in decimal");

/* Append new versions here; never edit a released step. */
const struct store_migration store_migrations[] = {
	{1, "initial schema", schema_v1},
};
const size_t store_migrations_len = EW_ARRAY_LEN(store_migrations);

_Static_assert(EW_ARRAY_LEN(store_migrations) == STORE_SCHEMA_VERSION,
	       "STORE_SCHEMA_VERSION must be the last migration's version");

void store_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int store_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return 0;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_CANTOPEN:
		return -ENOENT;
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
	case SQLITE_FORMAT:
		return -EINVAL;
	case SQLITE_TOOBIG:
		return -E2BIG;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return -EINVAL;
	default:
		return -EIO;
	}
}

int store_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		store_errf(err, errlen, "%s", msg ? msg : sqlite3_errstr(rc));
	sqlite3_free(msg);
	return rc;
}

/* One integer from a one-row statement such as "PRAGMA user_version". */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

	if (rc != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(st, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_ERROR;
	}
out:
	sqlite3_finalize(st);
	return rc;
}

int store_db_identify(sqlite3 *db, const char *path, int *version, int *fresh,
		      char *err, size_t errlen)
{
	int64_t app = 0, ver = 0, objects = 0;
	int rc;

	/* The first read of the header is where a file that is not SQLite,
	 * or whose first page is damaged, shows itself. */
	if ((rc = query_int(db, "PRAGMA application_id", &app)) != SQLITE_OK ||
	    (rc = query_int(db, "PRAGMA user_version", &ver)) != SQLITE_OK ||
	    (rc = query_int(db, "SELECT count(*) FROM sqlite_master",
			    &objects)) != SQLITE_OK) {
		store_errf(err, errlen,
			   "%s: not a usable SQLite database (%s)", path,
			   sqlite3_errmsg(db));
		return store_errno(rc) == -EBUSY ? -EBUSY : -EINVAL;
	}
	*fresh = app == 0 && ver == 0 && objects == 0;
	if (!*fresh && app != STORE_APPLICATION_ID) {
		store_errf(err, errlen,
			   "%s: not an egresswatch database (application_id "
			   "0x%08" PRIx64 ", user_version %" PRId64
			   ", %" PRId64 " schema objects); refusing to touch it",
			   path, (uint64_t)(uint32_t)app, ver, objects);
		return -EINVAL;
	}
	*version = (int)(ver > INT_MAX ? INT_MAX : ver < 0 ? INT_MAX : ver);
	return 0;
}

/*
 * Run every step above the file's version, in order.  The version is read
 * again inside each step's write transaction, so two processes opening a new
 * file at once do not both try to create the tables.
 */
static int migrate(sqlite3 *db, const char *path,
		   const struct store_migration *steps, size_t nsteps,
		   char *err, size_t errlen)
{
	char msg[256], sql[64];

	for (size_t i = 0; i < nsteps; i++) {
		const struct store_migration *m = &steps[i];
		int64_t cur = 0;
		int rc;

		rc = store_exec(db, "BEGIN IMMEDIATE", msg, sizeof(msg));
		if (rc != SQLITE_OK)
			goto fail;
		rc = query_int(db, "PRAGMA user_version", &cur);
		if (rc != SQLITE_OK) {
			snprintf(msg, sizeof(msg), "%s", sqlite3_errmsg(db));
			goto fail;
		}
		if (cur >= m->version) {
			store_exec(db, "ROLLBACK", NULL, 0);
			continue;
		}
		rc = store_exec(db, m->sql, msg, sizeof(msg));
		if (rc != SQLITE_OK)
			goto fail;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", m->version);
		rc = store_exec(db, sql, msg, sizeof(msg));
		if (rc != SQLITE_OK)
			goto fail;
		rc = store_exec(db, "COMMIT", msg, sizeof(msg));
		if (rc != SQLITE_OK)
			goto fail;
		log_info("store: %s: schema migrated to version %d (%s)", path,
			 m->version, m->name);
		continue;
fail:
		if (!sqlite3_get_autocommit(db))
			store_exec(db, "ROLLBACK", NULL, 0);
		store_errf(err, errlen,
			   "%s: migrating the schema to version %d (%s) "
			   "failed: %s; the file stays at version %" PRId64,
			   path, m->version, m->name, msg, cur);
		return store_errno(rc) ? store_errno(rc) : -EIO;
	}
	return 0;
}

/*
 * A file damaged past the pages that opening reads (the header, the schema,
 * the last flow id) would open without complaint, and fail, or spread the
 * damage, only when a write reached the bad pages.  So before anything is
 * written, the whole b-tree structure is checked (PRAGMA quick_check: every
 * page read once; about 1 s per GiB from the page cache, disk speed when
 * cold).  0, or -EINVAL with `err` naming the file and the first problem.
 */
static int check_structure(sqlite3 *db, const char *path, char *err,
			   size_t errlen)
{
	static const char prefix[] = "*** in database main ***\n";
	sqlite3_stmt *st = NULL;
	const char *res = NULL;
	char why[256];
	int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &st, NULL);

	if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
		res = (const char *)sqlite3_column_text(st, 0);
	if (res && strcmp(res, "ok") == 0) {
		sqlite3_finalize(st);
		return 0;
	}
	if (!res)
		res = sqlite3_errmsg(db);
	else if (strncmp(res, prefix, sizeof(prefix) - 1) == 0)
		res += sizeof(prefix) - 1;
	snprintf(why, sizeof(why), "%s", res);
	for (char *c = why; *c; c++)
		if (*c == '\n')
			*c = ' ';
	store_errf(err, errlen, "%s: the database is damaged (%s); refusing to "
		   "write to it: move it aside and start with a new file "
		   "(README: \"A damaged database\")", path, why);
	sqlite3_finalize(st);
	return store_errno(rc) == -EBUSY ? -EBUSY : -EINVAL;
}

int store_db_open_writer(const char *path, const struct store_db_opts *o,
			 sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	char msg[256], sql[96];
	int64_t av = 0;
	int ret, rc, version = 0, fresh = 0;
	int known = (int)o->nsteps;
	const unsigned char *mode;
	sqlite3_stmt *st = NULL;

	*out = NULL;
	for (size_t i = 0; i < o->nsteps; i++) {
		if (o->steps[i].version != (int)i + 1) {
			store_errf(err, errlen,
				   "migration %zu has version %d: steps must "
				   "be numbered 1, 2, 3, ...", i,
				   o->steps[i].version);
			return -EINVAL;
		}
	}
	if (!sqlite3_threadsafe()) {
		store_errf(err, errlen, "SQLite was built without thread "
			   "support; the store needs it");
		return -ENOTSUP;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE |
			     SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		store_errf(err, errlen, "%s: cannot open: %s", path,
			   db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		ret = store_errno(rc);
		goto err;
	}
	sqlite3_busy_timeout(db, (int)o->busy_timeout_ms);
	ret = store_db_identify(db, path, &version, &fresh, err, errlen);
	if (ret < 0)
		goto err;
	if (version > known) {
		store_errf(err, errlen,
			   "%s: schema version %d is newer than this "
			   "egresswatch knows (%d); refusing to open it: use a "
			   "newer egresswatch or another file", path, version,
			   known);
		ret = -ENOTSUP;
		goto err;
	}
	if (!fresh && (ret = check_structure(db, path, err, errlen)) < 0)
		goto err;
	/* Only a file without tables takes a new auto_vacuum mode, and the
	 * switch to WAL already writes the header: so this comes first.
	 * INCREMENTAL lets size retention give pages back to the file
	 * system without a full VACUUM. */
	if (fresh &&
	    store_exec(db, "PRAGMA auto_vacuum = INCREMENTAL", msg,
		       sizeof(msg)) != SQLITE_OK) {
		store_errf(err, errlen, "%s: %s", path, msg);
		ret = -EIO;
		goto err;
	}
	rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	mode = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	if (!mode || strcmp((const char *)mode, "wal") != 0) {
		store_errf(err, errlen, "%s: cannot switch to WAL mode (%s): "
			   "readers would block the writer", path,
			   mode ? (const char *)mode : sqlite3_errmsg(db));
		ret = rc == SQLITE_ROW ? -ENOTSUP : store_errno(rc);
		goto err;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* secure_delete=FAST: Debian builds SQLite with SECURE_DELETE, which
	 * would write zeros over every deleted row; FAST still clears rows on
	 * the b-tree pages it touches anyway, but costs no extra I/O.
	 * cache_size: 8 MiB holds the pages the inserts keep touching (the
	 * right edges and hot leaves of the indices), and the OS page cache
	 * backs the rest: twice as much saved under a tenth of the page reads
	 * of the replay benchmark, which must stay under 64 MiB in all.
	 * journal_size_limit: truncate the WAL back after a checkpoint so one
	 * burst does not leave it large for ever. */
	if (store_exec(db,
		       "PRAGMA synchronous = NORMAL;"
		       "PRAGMA secure_delete = FAST;"
		       "PRAGMA temp_store = MEMORY;"
		       "PRAGMA cache_size = -8192;"
		       "PRAGMA journal_size_limit = 67108864;",
		       msg, sizeof(msg)) != SQLITE_OK) {
		store_errf(err, errlen, "%s: %s", path, msg);
		ret = -EIO;
		goto err;
	}
	if (o->max_page_count) {
		snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %" PRIu64,
			 o->max_page_count);
		if (store_exec(db, sql, msg, sizeof(msg)) != SQLITE_OK) {
			store_errf(err, errlen, "%s: %s", path, msg);
			ret = -EIO;
			goto err;
		}
	}
	/* At the last version already: no write lock needed. */
	if (version < known) {
		ret = migrate(db, path, o->steps, o->nsteps, err, errlen);
		if (ret < 0)
			goto err;
	}
	if (query_int(db, "PRAGMA auto_vacuum", &av) == SQLITE_OK && av != 2)
		log_warnx("store: %s: auto_vacuum is not INCREMENTAL (the file "
			  "predates it): size retention frees pages for reuse "
			  "but cannot shrink the file", path);
	*out = db;
	return 0;
err:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ret < 0 ? ret : -EIO;
}
