/*
 * batch.c - the rows of one write transaction and how they are written.
 *
 * The writer thread adds rows as it pops them and commits the batch when it
 * is full, old enough, or a marker asks for it.  Two things keep the common
 * case cheap:
 *
 *  - Flow rows are coalesced by id.  A flow that starts and ends within one
 *    batch (a replay's NEW then END, a short connection) is one upsert of its
 *    final state instead of two, with the update rule of the upsert applied
 *    in memory (merge_flow) so that the result is the same.
 *  - The d* deltas of every row are summed per rollup key in memory, and each
 *    key is one upsert into traffic_minute per batch, however many rows hit it.
 *
 * All statements are prepared once, at open.  A row the database refuses on
 * its own (a constraint, a value too big) is counted and skipped; any other
 * failure (disk full, I/O error, a lock held too long) fails the whole batch,
 * which is rolled back so that the file never holds half a batch.
 *
 * This file does not decide when to commit, and does not count: that is the
 * writer's (writer.c).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_int.h"

static const char sql_flow[] =
	"INSERT INTO flows (id, start_ns, end_ns, interface, family, proto,"
	" direction, local_ip, local_port, remote_ip, remote_port, vlan,"
	" bytes_sent, bytes_received, packets_sent, packets_received,"
	" tcp_flags_sent, tcp_flags_received, ended, end_reason, workload,"
	" remote_workload, remote_name, remote_country, remote_asn, verdict)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26)"
	" ON CONFLICT (id) DO UPDATE SET"
	" end_ns = excluded.end_ns,"
	" bytes_sent = excluded.bytes_sent,"
	" bytes_received = excluded.bytes_received,"
	" packets_sent = excluded.packets_sent,"
	" packets_received = excluded.packets_received,"
	" tcp_flags_sent = excluded.tcp_flags_sent,"
	" tcp_flags_received = excluded.tcp_flags_received,"
	" ended = excluded.ended,"
	" end_reason = excluded.end_reason,"
	" workload = coalesce(excluded.workload, workload),"
	" remote_workload = coalesce(excluded.remote_workload, remote_workload),"
	" remote_name = coalesce(excluded.remote_name, remote_name),"
	" remote_country = coalesce(excluded.remote_country, remote_country),"
	" remote_asn = coalesce(excluded.remote_asn, remote_asn),"
	" verdict = coalesce(excluded.verdict, verdict)";

static const char sql_rollup[] =
	"INSERT INTO traffic_minute (minute, workload, remote_ip, port,"
	" proto, direction, bytes_sent, bytes_received, packets_sent,"
	" packets_received, flows)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	" ON CONFLICT (minute, workload, remote_ip, port, proto,"
	" direction) DO UPDATE SET"
	" bytes_sent = bytes_sent + excluded.bytes_sent,"
	" bytes_received = bytes_received + excluded.bytes_received,"
	" packets_sent = packets_sent + excluded.packets_sent,"
	" packets_received = packets_received + excluded.packets_received,"
	" flows = flows + excluded.flows";

static const char sql_alert[] =
	"INSERT INTO alerts (first_seen_ns, last_seen_ns, count, severity,"
	" kind, rule, workload, remote_ip, remote_name, remote_country,"
	" remote_asn, remote_port, proto, bytes_sent, message, evidence,"
	" dedup_key)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
	" ?15, ?16, ?17)"
	" ON CONFLICT (dedup_key) DO UPDATE SET"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),"
	" count = count + excluded.count,"
	" severity = excluded.severity,"
	" kind = excluded.kind,"
	" rule = coalesce(excluded.rule, rule),"
	" workload = coalesce(excluded.workload, workload),"
	" remote_ip = coalesce(excluded.remote_ip, remote_ip),"
	" remote_name = coalesce(excluded.remote_name, remote_name),"
	" remote_country = coalesce(excluded.remote_country, remote_country),"
	" remote_asn = coalesce(excluded.remote_asn, remote_asn),"
	" remote_port = coalesce(excluded.remote_port, remote_port),"
	" proto = coalesce(excluded.proto, proto),"
	" bytes_sent = max(bytes_sent, excluded.bytes_sent),"
	" message = excluded.message,"
	" evidence = coalesce(excluded.evidence, evidence)";

static const char sql_workload[] =
	"INSERT INTO workloads (namespace, name, kind, runtime, container_id,"
	" pod_uid, labels, interface, ips, first_seen_ns, last_seen_ns)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
	" ON CONFLICT (namespace, name) DO UPDATE SET"
	" kind = coalesce(excluded.kind, kind),"
	" runtime = coalesce(excluded.runtime, runtime),"
	" container_id = coalesce(excluded.container_id, container_id),"
	" pod_uid = coalesce(excluded.pod_uid, pod_uid),"
	" labels = coalesce(excluded.labels, labels),"
	" interface = coalesce(excluded.interface, interface),"
	" ips = coalesce(excluded.ips, ips),"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns)";

static const char sql_dns[] =
	"INSERT INTO dns_answers (workload, query_name, address, cname_chain,"
	" ttl, seen_ns, expires_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	" ON CONFLICT (workload, address, query_name) DO UPDATE SET"
	" cname_chain = excluded.cname_chain,"
	" ttl = excluded.ttl,"
	" seen_ns = max(seen_ns, excluded.seen_ns),"
	" expires_ns = max(expires_ns, excluded.expires_ns)";

static const char sql_baseline[] =
	"INSERT INTO baselines (workload, proto, port, direction,"
	" first_seen_ns, last_seen_ns, count) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)"
	" ON CONFLICT (workload, proto, port, direction) DO UPDATE SET"
	" first_seen_ns = min(first_seen_ns, excluded.first_seen_ns),"
	" last_seen_ns = max(last_seen_ns, excluded.last_seen_ns),"
	" count = count + excluded.count";

static const char sql_max_flow[] =
	"UPDATE meta SET value = ?1 WHERE key = 'max_flow_ns' AND value < ?1";

static const char sql_get_max_flow[] =
	"SELECT value FROM meta WHERE key = 'max_flow_ns'";

static const char sql_ack[] =
	"UPDATE alerts SET acknowledged = 1, ack_ns = ?2, ack_by = ?3"
	" WHERE id = ?1";

#define NS_PER_MIN 60000000000ull

void store_row_release(struct store_row *row)
{
	if (row->kind == STORE_ROW_ALERT)
		free(row->u.alert);
	else if (row->kind == STORE_ROW_WORKLOAD)
		free(row->u.workload);
	row->kind = 0;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
		   char *err, size_t errlen)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				    NULL);

	if (rc != SQLITE_OK)
		store_errf(err, errlen, "preparing a statement: %s",
			   sqlite3_errmsg(db));
	return rc;
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

static int read_max_flow(sqlite3 *db, int64_t *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_prepare_v2(db, sql_get_max_flow, -1, &st, NULL);

	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		store_errf(err, errlen, "reading meta.max_flow_ns: %s",
			   sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return store_errno(rc) ? store_errno(rc) : -EIO;
	}
	*out = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return 0;
}

int store_batch_init(struct store_batch *b, sqlite3 *db, uint32_t cap,
		     char *err, size_t errlen)
{
	uint32_t slots = pow2_at_least(cap * 2);
	int ret;

	memset(b, 0, sizeof(*b));
	b->cap = cap;
	b->others_cap = cap < 1024 ? cap : 1024;
	b->flows = calloc(cap, sizeof(*b->flows));
	b->flow_rows = calloc(cap, sizeof(*b->flow_rows));
	b->flow_index = calloc(slots, sizeof(*b->flow_index));
	b->rollups = calloc(cap, sizeof(*b->rollups));
	b->rollup_index = calloc(slots, sizeof(*b->rollup_index));
	b->others = calloc(b->others_cap, sizeof(*b->others));
	if (!b->flows || !b->flow_rows || !b->flow_index || !b->rollups ||
	    !b->rollup_index || !b->others) {
		store_errf(err, errlen, "out of memory for a batch of %u rows",
			   cap);
		ret = -ENOMEM;
		goto err;
	}
	b->flow_mask = b->rollup_mask = slots - 1;
	ret = ew_random_bytes(b->hash_key, sizeof(b->hash_key));
	if (ret < 0) {
		store_errf(err, errlen, "no random key for the batch hash");
		goto err;
	}
	if (prepare(db, "BEGIN IMMEDIATE", &b->begin, err, errlen) ||
	    prepare(db, "COMMIT", &b->commit, err, errlen) ||
	    prepare(db, "ROLLBACK", &b->rollback, err, errlen) ||
	    prepare(db, sql_flow, &b->flow, err, errlen) ||
	    prepare(db, sql_rollup, &b->rollup, err, errlen) ||
	    prepare(db, sql_alert, &b->alert, err, errlen) ||
	    prepare(db, sql_workload, &b->workload, err, errlen) ||
	    prepare(db, sql_dns, &b->dns, err, errlen) ||
	    prepare(db, sql_baseline, &b->baseline, err, errlen) ||
	    prepare(db, sql_ack, &b->ack, err, errlen) ||
	    prepare(db, sql_max_flow, &b->max_flow, err, errlen)) {
		ret = -EIO;
		goto err;
	}
	ret = read_max_flow(db, &b->max_flow_ns, err, errlen);
	if (ret < 0)
		goto err;
	return 0;
err:
	store_batch_free(b);
	return ret;
}

void store_batch_free(struct store_batch *b)
{
	sqlite3_stmt **stmts[] = {&b->begin, &b->commit, &b->rollback,
				  &b->flow, &b->rollup, &b->alert,
				  &b->workload, &b->dns, &b->baseline, &b->ack,
				  &b->max_flow};

	if (b->others)
		store_batch_clear(b);
	for (size_t i = 0; i < EW_ARRAY_LEN(stmts); i++) {
		sqlite3_finalize(*stmts[i]);
		*stmts[i] = NULL;
	}
	free(b->flows);
	free(b->flow_rows);
	free(b->flow_index);
	free(b->rollups);
	free(b->rollup_index);
	free(b->others);
	memset(b, 0, sizeof(*b));
}

void store_batch_clear(struct store_batch *b)
{
	for (uint32_t i = 0; i < b->nothers; i++)
		store_row_release(&b->others[i]);
	if (b->nflows)
		memset(b->flow_index, 0,
		       (b->flow_mask + 1) * sizeof(*b->flow_index));
	if (b->nrollups)
		memset(b->rollup_index, 0,
		       (b->rollup_mask + 1) * sizeof(*b->rollup_index));
	b->rows = b->coalesced = b->nflows = b->nrollups = b->nothers = 0;
}

/* Flow ids come from capture's counter, not from the wire: a multiplicative
 * hash spreads consecutive ids well enough. */
static uint32_t flow_hash(uint64_t id)
{
	return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32);
}

/* Copy `src`'s text field into `dst`'s when `src` has one: the in-memory
 * twin of "col = coalesce(excluded.col, col)". */
#define KEEP_KNOWN(dst, src, field)                                        \
	do {                                                               \
		if ((src)->field[0])                                       \
			memcpy((dst)->field, (src)->field,                 \
			       sizeof((dst)->field));                      \
	} while (0)

/*
 * Fold a newer row of the same flow into `dst`, exactly as sql_flow's
 * DO UPDATE would: counters and state from the newer row, identity (start,
 * addresses, ports, interface, ...) from the first, enrichment kept when the
 * newer row does not know it.
 */
static void merge_flow(struct store_flow *dst, const struct store_flow *src)
{
	dst->end_ns = src->end_ns;
	dst->bytes_sent = src->bytes_sent;
	dst->bytes_received = src->bytes_received;
	dst->packets_sent = src->packets_sent;
	dst->packets_received = src->packets_received;
	dst->tcp_flags_sent = src->tcp_flags_sent;
	dst->tcp_flags_received = src->tcp_flags_received;
	dst->ended = src->ended;
	dst->end_reason = src->end_reason;
	KEEP_KNOWN(dst, src, workload);
	KEEP_KNOWN(dst, src, remote_workload);
	KEEP_KNOWN(dst, src, remote_name);
	KEEP_KNOWN(dst, src, remote_country);
	KEEP_KNOWN(dst, src, verdict);
	if (src->remote_asn)
		dst->remote_asn = src->remote_asn;
}

static void add_flow(struct store_batch *b, const struct store_flow *f)
{
	uint32_t h = flow_hash(f->id) & b->flow_mask;
	uint32_t v;

	/* The index has at least twice as many slots as the batch has rows,
	 * so there is always an empty slot and the probe ends. */
	while ((v = b->flow_index[h]) != 0) {
		if (b->flows[v - 1].id == f->id) {
			merge_flow(&b->flows[v - 1], f);
			b->flow_rows[v - 1]++;
			b->coalesced++;
			return;
		}
		h = (h + 1) & b->flow_mask;
	}
	b->flows[b->nflows] = *f;
	b->flow_rows[b->nflows] = 1;
	b->flow_index[h] = ++b->nflows;
}

/* The port a rollup is kept under: the server's, whichever side it is. */
static uint16_t service_port(const struct store_flow *f)
{
	return f->direction == STORE_INGRESS ? f->local_port : f->remote_port;
}

static int rollup_same(const struct store_rollup *r, uint64_t minute,
		       const struct store_flow *f, size_t wlen)
{
	return r->minute == minute && r->port == service_port(f) &&
	       r->proto == f->proto && r->direction == f->direction &&
	       memcmp(r->remote_ip, f->remote_ip, 16) == 0 &&
	       strncmp(r->workload, f->workload, wlen) == 0 &&
	       r->workload[wlen] == '\0';
}

/*
 * Add the row's deltas to its minute's rollup.  A row whose d-packets equal
 * its packet totals holds the flow's first packet: it is the flow's first row
 * and counts as a flow started.
 */
static void add_rollup(struct store_batch *b, const struct store_flow *f)
{
	uint64_t dpkts = f->dpackets_sent + f->dpackets_received;
	uint64_t pkts = f->packets_sent + f->packets_received;
	int started = pkts > 0 && dpkts == pkts;
	uint64_t minute = f->end_ns / NS_PER_MIN;
	size_t wlen = strnlen(f->workload, sizeof(f->workload) - 1);
	uint8_t key[8 + 16 + 2 + 2 + STORE_WORKLOAD_MAX];
	struct store_rollup *r;
	uint16_t port = service_port(f);
	uint32_t h, v;

	if (!started && !dpkts && !f->dbytes_sent && !f->dbytes_received)
		return;
	memcpy(key, &minute, 8);
	memcpy(key + 8, f->remote_ip, 16);
	memcpy(key + 24, &port, 2);
	key[26] = f->proto;
	key[27] = f->direction;
	memcpy(key + 28, f->workload, wlen);
	h = (uint32_t)ew_siphash(b->hash_key, key, 28 + wlen) & b->rollup_mask;
	while ((v = b->rollup_index[h]) != 0) {
		if (rollup_same(&b->rollups[v - 1], minute, f, wlen))
			break;
		h = (h + 1) & b->rollup_mask;
	}
	if (v == 0) {
		r = &b->rollups[b->nrollups];
		memset(r, 0, offsetof(struct store_rollup, workload));
		r->minute = minute;
		memcpy(r->remote_ip, f->remote_ip, 16);
		r->port = port;
		r->proto = f->proto;
		r->direction = f->direction;
		memcpy(r->workload, f->workload, wlen);
		r->workload[wlen] = '\0';
		b->rollup_index[h] = ++b->nrollups;
	} else {
		r = &b->rollups[v - 1];
	}
	r->bytes_sent += f->dbytes_sent;
	r->bytes_received += f->dbytes_received;
	r->packets_sent += f->dpackets_sent;
	r->packets_received += f->dpackets_received;
	r->flows += (uint64_t)started;
}

int store_batch_add(struct store_batch *b, struct store_row *row)
{
	b->rows++;
	if (row->kind == STORE_ROW_FLOW) {
		add_rollup(b, &row->u.flow);
		add_flow(b, &row->u.flow);
	} else {
		b->others[b->nothers++] = *row;
		row->kind = 0;	/* ownership moved into the batch */
	}
	return b->rows >= b->cap || b->nothers >= b->others_cap;
}

/* ---- writing ------------------------------------------------------------- */

static void bind_flow(sqlite3_stmt *st, const struct store_flow *f)
{
	sqlite3_bind_int64(st, 1, store_i64(f->id));
	sqlite3_bind_int64(st, 2, store_i64(f->start_ns));
	sqlite3_bind_int64(st, 3, store_i64(f->end_ns));
	store_bind_opt_text(st, 4, f->interface, sizeof(f->interface));
	sqlite3_bind_int(st, 5, f->family);
	sqlite3_bind_int(st, 6, f->proto);
	sqlite3_bind_int(st, 7, f->direction);
	sqlite3_bind_blob(st, 8, f->local_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, f->local_port);
	sqlite3_bind_blob(st, 10, f->remote_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 11, f->remote_port);
	sqlite3_bind_int(st, 12, f->vlan);
	sqlite3_bind_int64(st, 13, store_i64(f->bytes_sent));
	sqlite3_bind_int64(st, 14, store_i64(f->bytes_received));
	sqlite3_bind_int64(st, 15, store_i64(f->packets_sent));
	sqlite3_bind_int64(st, 16, store_i64(f->packets_received));
	sqlite3_bind_int(st, 17, f->tcp_flags_sent);
	sqlite3_bind_int(st, 18, f->tcp_flags_received);
	sqlite3_bind_int(st, 19, f->ended);
	sqlite3_bind_int(st, 20, f->end_reason);
	store_bind_opt_text(st, 21, f->workload, sizeof(f->workload));
	store_bind_opt_text(st, 22, f->remote_workload,
			    sizeof(f->remote_workload));
	store_bind_opt_text(st, 23, f->remote_name, sizeof(f->remote_name));
	store_bind_opt_text(st, 24, f->remote_country,
			    sizeof(f->remote_country));
	if (f->remote_asn)
		sqlite3_bind_int64(st, 25, f->remote_asn);
	else
		sqlite3_bind_null(st, 25);
	store_bind_opt_text(st, 26, f->verdict, sizeof(f->verdict));
}

static void bind_rollup(sqlite3_stmt *st, const struct store_rollup *r)
{
	sqlite3_bind_int64(st, 1, store_i64(r->minute));
	store_bind_text(st, 2, r->workload, sizeof(r->workload));
	sqlite3_bind_blob(st, 3, r->remote_ip, 16, SQLITE_STATIC);
	sqlite3_bind_int(st, 4, r->port);
	sqlite3_bind_int(st, 5, r->proto);
	sqlite3_bind_int(st, 6, r->direction);
	sqlite3_bind_int64(st, 7, store_i64(r->bytes_sent));
	sqlite3_bind_int64(st, 8, store_i64(r->bytes_received));
	sqlite3_bind_int64(st, 9, store_i64(r->packets_sent));
	sqlite3_bind_int64(st, 10, store_i64(r->packets_received));
	sqlite3_bind_int64(st, 11, store_i64(r->flows));
}

static void bind_alert(sqlite3_stmt *st, const struct store_alert *a)
{
	int has_ip = !store_ip_is_zero(a->remote_ip);

	sqlite3_bind_int64(st, 1, store_i64(a->first_seen_ns));
	sqlite3_bind_int64(st, 2, store_i64(a->last_seen_ns));
	sqlite3_bind_int64(st, 3, store_i64(a->count ? a->count : 1));
	store_bind_text(st, 4, a->severity, sizeof(a->severity));
	store_bind_text(st, 5, a->kind, sizeof(a->kind));
	store_bind_opt_text(st, 6, a->rule, sizeof(a->rule));
	store_bind_opt_text(st, 7, a->workload, sizeof(a->workload));
	if (has_ip) {
		sqlite3_bind_blob(st, 8, a->remote_ip, 16, SQLITE_STATIC);
		sqlite3_bind_int(st, 12, a->remote_port);
	} else {
		sqlite3_bind_null(st, 8);
		sqlite3_bind_null(st, 12);
	}
	store_bind_opt_text(st, 9, a->remote_name, sizeof(a->remote_name));
	store_bind_opt_text(st, 10, a->remote_country,
			    sizeof(a->remote_country));
	if (a->remote_asn)
		sqlite3_bind_int64(st, 11, a->remote_asn);
	else
		sqlite3_bind_null(st, 11);
	if (a->proto)
		sqlite3_bind_int(st, 13, a->proto);
	else
		sqlite3_bind_null(st, 13);
	sqlite3_bind_int64(st, 14, store_i64(a->bytes_sent));
	store_bind_text(st, 15, a->message, sizeof(a->message));
	store_bind_opt_text(st, 16, a->evidence, STORE_EVIDENCE_MAX);
	store_bind_text(st, 17, a->dedup_key, sizeof(a->dedup_key));
}

static void bind_workload(sqlite3_stmt *st, const struct store_workload *w)
{
	store_bind_text(st, 1, w->namespace, sizeof(w->namespace));
	store_bind_text(st, 2, w->name, sizeof(w->name));
	store_bind_opt_text(st, 3, w->kind, sizeof(w->kind));
	store_bind_opt_text(st, 4, w->runtime, sizeof(w->runtime));
	store_bind_opt_text(st, 5, w->container_id, sizeof(w->container_id));
	store_bind_opt_text(st, 6, w->pod_uid, sizeof(w->pod_uid));
	store_bind_opt_text(st, 7, w->labels, STORE_JSON_MAX);
	store_bind_opt_text(st, 8, w->interface, sizeof(w->interface));
	store_bind_opt_text(st, 9, w->ips, STORE_JSON_MAX);
	sqlite3_bind_int64(st, 10, store_i64(w->first_seen_ns));
	sqlite3_bind_int64(st, 11, store_i64(w->last_seen_ns));
}

static void bind_dns(sqlite3_stmt *st, const struct store_dns_answer *d)
{
	uint64_t ttl_ns = (uint64_t)d->ttl * 1000000000ull;
	uint64_t expires = d->seen_ns > UINT64_MAX - ttl_ns ? UINT64_MAX :
			   d->seen_ns + ttl_ns;

	store_bind_text(st, 1, d->workload, sizeof(d->workload));
	store_bind_text(st, 2, d->name, sizeof(d->name));
	sqlite3_bind_blob(st, 3, d->address, 16, SQLITE_STATIC);
	store_bind_opt_text(st, 4, d->cname_chain, sizeof(d->cname_chain));
	sqlite3_bind_int64(st, 5, d->ttl);
	sqlite3_bind_int64(st, 6, store_i64(d->seen_ns));
	sqlite3_bind_int64(st, 7, store_i64(expires));
}

static void bind_baseline(sqlite3_stmt *st, const struct store_baseline *bl)
{
	store_bind_text(st, 1, bl->workload, sizeof(bl->workload));
	sqlite3_bind_int(st, 2, bl->proto);
	sqlite3_bind_int(st, 3, bl->port);
	sqlite3_bind_int(st, 4, bl->direction);
	sqlite3_bind_int64(st, 5, store_i64(bl->seen_ns));
	sqlite3_bind_int64(st, 6, store_i64(bl->count ? bl->count : 1));
}

static void bind_ack(sqlite3_stmt *st, const struct store_ack *a)
{
	sqlite3_bind_int64(st, 1, store_i64(a->id));
	sqlite3_bind_int64(st, 2, store_i64(a->ack_ns));
	store_bind_opt_text(st, 3, a->by, sizeof(a->by));
}

/* Errors that concern one row only: the statement was rolled back, the
 * transaction goes on. */
static int row_level(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CONSTRAINT:
	case SQLITE_TOOBIG:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE:
		return 1;
	default:
		return 0;
	}
}

/* Step a bound statement once and make it reusable.  SQLITE_DONE or the
 * error. */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? SQLITE_DONE : rc;
}

static sqlite3_stmt *bind_other(struct store_batch *b,
				const struct store_row *row)
{
	switch (row->kind) {
	case STORE_ROW_ALERT:
		bind_alert(b->alert, row->u.alert);
		return b->alert;
	case STORE_ROW_WORKLOAD:
		bind_workload(b->workload, row->u.workload);
		return b->workload;
	case STORE_ROW_DNS:
		bind_dns(b->dns, &row->u.dns);
		return b->dns;
	case STORE_ROW_BASELINE:
		bind_baseline(b->baseline, &row->u.baseline);
		return b->baseline;
	case STORE_ROW_ACK:
		bind_ack(b->ack, &row->u.ack);
		return b->ack;
	default:
		return NULL;
	}
}

void store_batch_commit(struct store_batch *b, sqlite3 *db,
			struct store_batch_result *res)
{
	int64_t max_flow = b->max_flow_ns;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = run(b->begin);
	if (rc != SQLITE_DONE)
		goto fail;
	for (uint32_t i = 0; i < b->nflows; i++) {
		const struct store_flow *f = &b->flows[i];

		bind_flow(b->flow, f);
		rc = run(b->flow);
		/* start_ns is the same in every row of a flow (store.h), so
		 * this is the stored row's duration.  A RETURNING clause
		 * would say so without the contract, but makes the upsert
		 * half again as slow. */
		if (f->end_ns > f->start_ns &&
		    store_i64(f->end_ns - f->start_ns) > max_flow)
			max_flow = store_i64(f->end_ns - f->start_ns);
		if (rc == SQLITE_DONE)
			res->written += b->flow_rows[i];
		else if (row_level(rc))
			res->invalid += b->flow_rows[i];
		else
			goto fail;
	}
	if (max_flow > b->max_flow_ns) {
		sqlite3_bind_int64(b->max_flow, 1, max_flow);
		rc = run(b->max_flow);
		if (rc != SQLITE_DONE)
			goto fail;
	}
	for (uint32_t i = 0; i < b->nrollups; i++) {
		bind_rollup(b->rollup, &b->rollups[i]);
		rc = run(b->rollup);
		if (rc != SQLITE_DONE && !row_level(rc))
			goto fail;
	}
	for (uint32_t i = 0; i < b->nothers; i++) {
		sqlite3_stmt *st = bind_other(b, &b->others[i]);

		rc = st ? run(st) : SQLITE_MISUSE;
		if (rc == SQLITE_DONE)
			res->written++;
		else if (row_level(rc) || rc == SQLITE_MISUSE)
			res->invalid++;
		else
			goto fail;
	}
	rc = run(b->commit);
	if (rc != SQLITE_DONE)
		goto fail;
	b->max_flow_ns = max_flow;
	return;
fail:
	res->rc = rc == SQLITE_DONE || rc == SQLITE_OK ? SQLITE_ERROR : rc;
	snprintf(res->errmsg, sizeof(res->errmsg), "%s", sqlite3_errmsg(db));
	res->written = res->invalid = 0;
	if (!sqlite3_get_autocommit(db))
		run(b->rollback);
}
