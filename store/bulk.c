/*
 * bulk.c - the open batch as two tables SQLite can read: ew_batch_flows
 * (the flows batch.c has chosen for one statement) and ew_batch_rollups
 * (every rollup of the batch), so that each is written by one
 * INSERT ... SELECT instead of one prepared statement per row.
 *
 * Why: a prepared INSERT opens a cursor on the table and on each of its
 * indices, binds 26 values, runs, and closes them all again, for every row.
 * One statement over a set opens them once; on the flows table with its
 * indices that is about a third less time per row.
 *
 * They are eponymous-only virtual tables (no CREATE VIRTUAL TABLE, nothing
 * stored in the file), registered on the writer's connection only, read-only,
 * and visible only while batch.c steps its own statements over them.  Values
 * come out exactly as batch.c's binds would give them: counters clamped to
 * INT64_MAX, unknown text and a zero ASN as NULL, except the rollup's
 * workload, a key column, where unknown is ''.
 */
#include <stddef.h>

#include "store_int.h"

enum flow_col {
	FC_ID, FC_START, FC_END, FC_INTERFACE, FC_FAMILY, FC_PROTO,
	FC_DIRECTION, FC_LOCAL_IP, FC_LOCAL_PORT, FC_REMOTE_IP,
	FC_REMOTE_PORT, FC_VLAN, FC_BYTES_SENT, FC_BYTES_RECEIVED,
	FC_PACKETS_SENT, FC_PACKETS_RECEIVED, FC_TCP_FLAGS_SENT,
	FC_TCP_FLAGS_RECEIVED, FC_ENDED, FC_END_REASON, FC_WORKLOAD,
	FC_REMOTE_WORKLOAD, FC_REMOTE_NAME, FC_REMOTE_COUNTRY, FC_REMOTE_ASN,
	FC_VERDICT,
};

enum rollup_col {
	RC_MINUTE, RC_WORKLOAD, RC_REMOTE_IP, RC_PORT, RC_PROTO, RC_DIRECTION,
	RC_BYTES_SENT, RC_BYTES_RECEIVED, RC_PACKETS_SENT,
	RC_PACKETS_RECEIVED, RC_FLOWS,
};

static const char flows_schema[] =
	"CREATE TABLE x(id, start_ns, end_ns, interface, family, proto,"
	" direction, local_ip, local_port, remote_ip, remote_port, vlan,"
	" bytes_sent, bytes_received, packets_sent, packets_received,"
	" tcp_flags_sent, tcp_flags_received, ended, end_reason, workload,"
	" remote_workload, remote_name, remote_country, remote_asn, verdict)";

static const char rollups_schema[] =
	"CREATE TABLE x(minute, workload, remote_ip, port, proto, direction,"
	" bytes_sent, bytes_received, packets_sent, packets_received, flows)";

struct bulk_vtab {
	sqlite3_vtab base;
	const struct store_batch *b;
};

struct bulk_cursor {
	sqlite3_vtab_cursor base;
	uint32_t i;		/* position in the batch's selection or rollups */
};

static int connect_with(sqlite3 *db, void *aux, const char *schema,
			sqlite3_vtab **out)
{
	struct bulk_vtab *v;
	int rc = sqlite3_declare_vtab(db, schema);

	if (rc != SQLITE_OK)
		return rc;
	v = sqlite3_malloc(sizeof(*v));
	if (!v)
		return SQLITE_NOMEM;
	memset(v, 0, sizeof(*v));
	v->b = aux;
	*out = &v->base;
	return SQLITE_OK;
}

static int flows_connect(sqlite3 *db, void *aux, int argc,
			 const char *const *argv, sqlite3_vtab **out,
			 char **err)
{
	return connect_with(db, aux, flows_schema, out);
}

static int rollups_connect(sqlite3 *db, void *aux, int argc,
			   const char *const *argv, sqlite3_vtab **out,
			   char **err)
{
	return connect_with(db, aux, rollups_schema, out);
}

static int disconnect(sqlite3_vtab *v)
{
	sqlite3_free(v);
	return SQLITE_OK;
}

/* Only ever scanned whole, in batch order. */
static int best_index(sqlite3_vtab *v, sqlite3_index_info *info)
{
	info->estimatedCost = 1e6;
	info->estimatedRows = 65536;
	return SQLITE_OK;
}

static int open_cursor(sqlite3_vtab *v, sqlite3_vtab_cursor **out)
{
	struct bulk_cursor *c = sqlite3_malloc(sizeof(*c));

	if (!c)
		return SQLITE_NOMEM;
	memset(c, 0, sizeof(*c));
	*out = &c->base;
	return SQLITE_OK;
}

static int close_cursor(sqlite3_vtab_cursor *c)
{
	sqlite3_free(c);
	return SQLITE_OK;
}

static int filter(sqlite3_vtab_cursor *c, int idx_num, const char *idx_str,
		  int argc, sqlite3_value **argv)
{
	((struct bulk_cursor *)c)->i = 0;
	return SQLITE_OK;
}

static int next(sqlite3_vtab_cursor *c)
{
	((struct bulk_cursor *)c)->i++;
	return SQLITE_OK;
}

static const struct store_batch *batch_of(sqlite3_vtab_cursor *c)
{
	return ((struct bulk_vtab *)c->pVtab)->b;
}

static int flows_eof(sqlite3_vtab_cursor *c)
{
	return ((struct bulk_cursor *)c)->i >= batch_of(c)->nview;
}

static int rollups_eof(sqlite3_vtab_cursor *c)
{
	return ((struct bulk_cursor *)c)->i >= batch_of(c)->nrollups;
}

static int rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *out)
{
	*out = ((struct bulk_cursor *)c)->i;
	return SQLITE_OK;
}

static void result_text(sqlite3_context *ctx, const struct store_batch *b,
			struct store_text t)
{
	if (t.len == 0)
		sqlite3_result_null(ctx);
	else
		sqlite3_result_text(ctx, b->text + t.off, (int)t.len,
				    SQLITE_STATIC);
}

static int flows_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int col)
{
	const struct store_batch *b = batch_of(c);
	const struct store_batch_flow *f =
		&b->flows[b->view[((struct bulk_cursor *)c)->i]];

	switch (col) {
	case FC_ID: sqlite3_result_int64(ctx, store_i64(f->id)); break;
	case FC_START: sqlite3_result_int64(ctx, store_i64(f->start_ns)); break;
	case FC_END: sqlite3_result_int64(ctx, store_i64(f->end_ns)); break;
	case FC_INTERFACE:
		result_text(ctx, b, f->text[STORE_FT_INTERFACE]);
		break;
	case FC_FAMILY: sqlite3_result_int(ctx, f->family); break;
	case FC_PROTO: sqlite3_result_int(ctx, f->proto); break;
	case FC_DIRECTION: sqlite3_result_int(ctx, f->direction); break;
	case FC_LOCAL_IP:
		sqlite3_result_blob(ctx, f->local_ip, 16, SQLITE_STATIC);
		break;
	case FC_LOCAL_PORT: sqlite3_result_int(ctx, f->local_port); break;
	case FC_REMOTE_IP:
		sqlite3_result_blob(ctx, f->remote_ip, 16, SQLITE_STATIC);
		break;
	case FC_REMOTE_PORT: sqlite3_result_int(ctx, f->remote_port); break;
	case FC_VLAN: sqlite3_result_int(ctx, f->vlan); break;
	case FC_BYTES_SENT:
		sqlite3_result_int64(ctx, store_i64(f->bytes_sent));
		break;
	case FC_BYTES_RECEIVED:
		sqlite3_result_int64(ctx, store_i64(f->bytes_received));
		break;
	case FC_PACKETS_SENT:
		sqlite3_result_int64(ctx, store_i64(f->packets_sent));
		break;
	case FC_PACKETS_RECEIVED:
		sqlite3_result_int64(ctx, store_i64(f->packets_received));
		break;
	case FC_TCP_FLAGS_SENT: sqlite3_result_int(ctx, f->tcp_flags_sent); break;
	case FC_TCP_FLAGS_RECEIVED:
		sqlite3_result_int(ctx, f->tcp_flags_received);
		break;
	case FC_ENDED: sqlite3_result_int(ctx, f->ended); break;
	case FC_END_REASON: sqlite3_result_int(ctx, f->end_reason); break;
	case FC_WORKLOAD: result_text(ctx, b, f->text[STORE_FT_WORKLOAD]); break;
	case FC_REMOTE_WORKLOAD:
		result_text(ctx, b, f->text[STORE_FT_REMOTE_WORKLOAD]);
		break;
	case FC_REMOTE_NAME:
		result_text(ctx, b, f->text[STORE_FT_REMOTE_NAME]);
		break;
	case FC_REMOTE_COUNTRY:
		result_text(ctx, b, f->text[STORE_FT_REMOTE_COUNTRY]);
		break;
	case FC_REMOTE_ASN:
		if (f->remote_asn)
			sqlite3_result_int64(ctx, f->remote_asn);
		else
			sqlite3_result_null(ctx);
		break;
	case FC_VERDICT: result_text(ctx, b, f->text[STORE_FT_VERDICT]); break;
	default: sqlite3_result_null(ctx); break;
	}
	return SQLITE_OK;
}

static int rollups_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx,
			  int col)
{
	const struct store_batch *b = batch_of(c);
	const struct store_rollup *r =
		&b->rollups[((struct bulk_cursor *)c)->i];

	switch (col) {
	case RC_MINUTE: sqlite3_result_int64(ctx, store_i64(r->minute)); break;
	case RC_WORKLOAD:
		sqlite3_result_text(ctx, r->workload.len ?
				    b->text + r->workload.off : "",
				    (int)r->workload.len, SQLITE_STATIC);
		break;
	case RC_REMOTE_IP:
		sqlite3_result_blob(ctx, r->remote_ip, 16, SQLITE_STATIC);
		break;
	case RC_PORT: sqlite3_result_int(ctx, r->port); break;
	case RC_PROTO: sqlite3_result_int(ctx, r->proto); break;
	case RC_DIRECTION: sqlite3_result_int(ctx, r->direction); break;
	case RC_BYTES_SENT:
		sqlite3_result_int64(ctx, store_i64(r->bytes_sent));
		break;
	case RC_BYTES_RECEIVED:
		sqlite3_result_int64(ctx, store_i64(r->bytes_received));
		break;
	case RC_PACKETS_SENT:
		sqlite3_result_int64(ctx, store_i64(r->packets_sent));
		break;
	case RC_PACKETS_RECEIVED:
		sqlite3_result_int64(ctx, store_i64(r->packets_received));
		break;
	case RC_FLOWS: sqlite3_result_int64(ctx, store_i64(r->flows)); break;
	default: sqlite3_result_null(ctx); break;
	}
	return SQLITE_OK;
}

static const sqlite3_module flows_module = {
	.iVersion = 0,
	.xConnect = flows_connect,
	.xBestIndex = best_index,
	.xDisconnect = disconnect,
	.xOpen = open_cursor,
	.xClose = close_cursor,
	.xFilter = filter,
	.xNext = next,
	.xEof = flows_eof,
	.xColumn = flows_column,
	.xRowid = rowid,
};

static const sqlite3_module rollups_module = {
	.iVersion = 0,
	.xConnect = rollups_connect,
	.xBestIndex = best_index,
	.xDisconnect = disconnect,
	.xOpen = open_cursor,
	.xClose = close_cursor,
	.xFilter = filter,
	.xNext = next,
	.xEof = rollups_eof,
	.xColumn = rollups_column,
	.xRowid = rowid,
};

int store_bulk_register(sqlite3 *db, const struct store_batch *b)
{
	int rc = sqlite3_create_module_v2(db, "ew_batch_flows", &flows_module,
					  (void *)b, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_create_module_v2(db, "ew_batch_rollups",
					      &rollups_module, (void *)b, NULL);
	return rc;
}
