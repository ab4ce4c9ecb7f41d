/*
 * baselines.c - reading back the learned (workload, proto, port, direction)
 * baselines, so that what the detectors learned survives a restart.
 */
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store.h"
#include "store_int.h"

int store_query_baselines(struct store_reader *r,
			  int (*cb)(void *ctx, const struct store_baseline_row *b),
			  void *ctx, char *err, size_t errlen)
{
	static const char sql[] =
		"SELECT workload, proto, port, direction, first_seen_ns,"
		" last_seen_ns, count FROM baselines LIMIT ?1";
	sqlite3 *db = store_reader_db(r);
	sqlite3_stmt *st = NULL;
	struct store_baseline_row b;
	int rc, n = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "baselines: %s", sqlite3_errmsg(db));
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, STORE_BASELINES_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *w = sqlite3_column_text(st, 0);

		memset(&b, 0, sizeof(b));
		snprintf(b.workload, sizeof(b.workload), "%s", w ? (const char *)w : "");
		b.proto = (uint8_t)sqlite3_column_int(st, 1);
		b.port = (uint16_t)sqlite3_column_int(st, 2);
		b.direction = (uint8_t)sqlite3_column_int(st, 3);
		b.first_seen_ns = (uint64_t)sqlite3_column_int64(st, 4);
		b.last_seen_ns = (uint64_t)sqlite3_column_int64(st, 5);
		b.count = (uint64_t)sqlite3_column_int64(st, 6);
		n++;
		if (cb && cb(ctx, &b))
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "baselines: %s", sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return -EIO;
	}
	sqlite3_finalize(st);
	return n;
}
