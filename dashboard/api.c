/*
 * api.c - the JSON API over alerts, flows and workloads (README "HTTP API"):
 * parameters in, bounded queries on a pooled reader, JSON out.
 *
 * Pages are bounded (DASH_PAGE_MAX rows) and continue with an opaque keyset
 * cursor, so a page costs the same however deep it is.  Flow queries need a
 * time window of at most DASH_WINDOW_MAX_NS (31 days).  Exports (format=csv
 * or format=json, JSON lines) stream: the rows are fetched DASH_EXPORT_PAGE at
 * a time as the client reads, each step on a reader taken from the pool and
 * given back, so a slow download holds no database connection and no more
 * than one step of memory; an export stops at DASH_EXPORT_MAX rows.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dash_int.h"

#define ALERT_FLOW_MARGIN_NS (5 * 60 * NS_PER_S)
#define WORKLOAD_TOP_DESTS 5
#define WORKLOAD_TOP_PORTS 8
#define WORKLOADS_MAX 5000

/* ---- alerts ------------------------------------------------------------------ */

struct alert_page {
	struct ew_buf *b;
	uint32_t limit, n;
	uint64_t last_ns, last_id;
};

static int alert_row_cb(void *ctx, const struct store_alert *a)
{
	struct alert_page *p = ctx;

	if (p->n == p->limit)
		return 1;	/* the extra row: there is a next page */
	ew_buf_puts(p->b, p->n ? ",\n" : "\n");
	store_alert_json(a, 0, p->b);
	p->n++;
	p->last_ns = a->last_seen_ns;
	p->last_id = a->id;
	return p->b->toobig;
}

static int parse_bool(const char *s, int *out)
{
	if (strcmp(s, "true") == 0 || strcmp(s, "1") == 0 ||
	    strcmp(s, "yes") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "0") == 0 ||
		 strcmp(s, "no") == 0)
		*out = 0;
	else
		return -EINVAL;
	return 0;
}

enum MHD_Result dash_api_alerts(struct dash_req *q)
{
	struct store_alert_search a = {.acknowledged = -1};
	struct alert_page p = {0};
	struct store_reader *r;
	enum MHD_Result ret;
	const char *s, *cursor = dash_arg(q, "cursor");
	char msg[256], err[256], cur[48];
	uint64_t limit, now = ew_now_ns();
	struct ew_buf b;
	int n;

	if ((s = dash_arg(q, "since")) && ew_parse_time(s, now, &a.since_ns))
		return dash_error(q, 400, "since: not a time");
	if ((s = dash_arg(q, "until")) && ew_parse_time(s, now, &a.until_ns))
		return dash_error(q, 400, "until: not a time");
	if (dash_uint(q, "limit", 1, DASH_PAGE_MAX, 100, &limit, msg,
		      sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	a.severity = dash_arg(q, "severity");
	a.kind = dash_arg(q, "kind");
	a.rule = dash_arg(q, "rule");
	a.workload = dash_arg(q, "workload");
	if (a.workload && dash_workload_valid(a.workload))
		return dash_error(q, 400, "workload: expected namespace/name");
	if ((s = dash_arg(q, "acknowledged")) && parse_bool(s, &a.acknowledged))
		return dash_error(q, 400, "acknowledged: true or false");
	if (cursor) {
		if (dash_cursor_parse(cursor, 'a', &a.after_last_ns, &a.after_id))
			return dash_error(q, 400, "cursor: not one of ours");
		a.has_after = 1;
	}
	a.limit = (uint32_t)limit + 1;
	p.limit = (uint32_t)limit;
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	p.b = &b;
	ew_buf_puts(&b, "{\"alerts\":[");
	n = store_search_alerts(r, &a, alert_row_cb, &p, err, sizeof(err));
	dash_reader_put(q->d, r);
	if (n < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, "\n],\"next_cursor\":");
	if ((uint32_t)n > p.limit) {
		dash_cursor_fmt(cur, 'a', p.last_ns, p.last_id);
		ew_buf_printf(&b, "\"%s\"", cur);
	} else {
		ew_buf_puts(&b, "null");
	}
	ew_buf_printf(&b, ",\"count\":%u,\"limit\":%" PRIu64 "}\n", p.n, limit);
	return dash_send_json(q, 200, &b);
}

struct one_alert {
	struct store_alert a;	/* without evidence (it lives for the cb) */
	struct ew_buf *b;	/* NULL, or where the detail JSON goes */
	int found;
};

static int alert_detail_cb(void *ctx, const struct store_alert *a)
{
	struct one_alert *o = ctx;

	o->a = *a;
	o->a.evidence = NULL;	/* points into the statement: gone after */
	o->found = 1;
	if (o->b)
		store_alert_json(a, 1, o->b);
	return 1;
}

struct flow_list {
	struct ew_buf *b;
	uint32_t limit, n;
	uint64_t last_key, last_id;
	uint8_t sort;
};

static uint64_t flow_bytes(const struct store_flow *f)
{
	uint64_t t = f->bytes_sent + f->bytes_received;

	return t < f->bytes_sent ? UINT64_MAX : t;
}

static uint64_t sort_key(uint8_t sort, const struct store_flow *f)
{
	return sort == STORE_SORT_BYTES ? flow_bytes(f) :
	       sort == STORE_SORT_SENT ? f->bytes_sent : f->start_ns;
}

static int flow_row_cb(void *ctx, const struct store_flow *f)
{
	struct flow_list *l = ctx;

	if (l->n == l->limit)
		return 1;
	ew_buf_puts(l->b, l->n ? ",\n" : "\n");
	store_flow_json(f, l->b);
	l->n++;
	l->last_key = sort_key(l->sort, f);
	l->last_id = f->id;
	return l->b->toobig;
}

static int name_row_cb(void *ctx, const struct store_dns_answer *d)
{
	struct flow_list *l = ctx;

	ew_buf_puts(l->b, l->n++ ? "," : "");
	ew_buf_json_str(l->b, d->name);
	return l->b->toobig;
}

enum MHD_Result dash_api_alert(struct dash_req *q, uint64_t id)
{
	struct store_alert_search a = {.id = id, .acknowledged = -1};
	struct one_alert o = {0};
	struct store_flow_search f = {
		.port = -1, .remote_port = -1, .proto = -1, .direction = -1,
		.limit = 1001,
	};
	struct flow_list l = {0};
	struct store_reader *r;
	enum MHD_Result ret;
	char err[256], rip[EW_IPSTR_MAX];
	struct ew_buf b;
	int n;

	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	ew_buf_puts(&b, "{\"alert\":");
	o.b = &b;
	n = store_search_alerts(r, &a, alert_detail_cb, &o, err, sizeof(err));
	if (n <= 0) {
		dash_reader_put(q->d, r);
		ew_buf_free(&b);
		return n < 0 ? dash_error(q, 500, "%s", err) :
			       dash_error(q, 404, "no alert %" PRIu64, id);
	}
	/* The flows behind it: the workload's flows to that remote (and
	 * port) from a little before the first sighting to a little after
	 * the last, bounded like any other flow query. */
	f.until_ns = o.a.last_seen_ns + ALERT_FLOW_MARGIN_NS;
	f.since_ns = o.a.first_seen_ns > ALERT_FLOW_MARGIN_NS ?
			     o.a.first_seen_ns - ALERT_FLOW_MARGIN_NS : 1;
	if (f.until_ns - f.since_ns > DASH_WINDOW_MAX_NS)
		f.since_ns = f.until_ns - DASH_WINDOW_MAX_NS;
	if (o.a.workload[0])
		f.workload = o.a.workload;
	{
		static const uint8_t zero[16];

		if (memcmp(o.a.remote_ip, zero, 16) != 0) {
			f.has_cidr = 1;
			memcpy(f.cidr_lo, o.a.remote_ip, 16);
			memcpy(f.cidr_hi, o.a.remote_ip, 16);
			if (o.a.remote_port)
				f.remote_port = o.a.remote_port;
			if (o.a.proto)
				f.proto = o.a.proto;
		}
	}
	l.b = &b;
	l.limit = 1000;
	ew_buf_puts(&b, ",\"flows\":[");
	if (f.workload || f.has_cidr)
		n = store_search_flows(r, &f, flow_row_cb, &l, err, sizeof(err));
	else
		n = 0;	/* nothing ties the alert to flows */
	if (n < 0) {
		dash_reader_put(q->d, r);
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_printf(&b, "\n],\"flows_truncated\":%s,\"flows_query\":{",
		      (uint32_t)n > l.limit ? "true" : "false");
	ew_buf_puts(&b, "\"since\":");
	dash_json_time(&b, f.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, f.until_ns);
	ew_buf_puts(&b, ",\"workload\":");
	dash_json_workload(&b, f.workload);
	if (f.has_cidr) {
		ew_ip_to_str(o.a.remote_ip, rip);
		ew_buf_printf(&b, ",\"remote\":\"%s\"", rip);
	} else {
		ew_buf_puts(&b, ",\"remote\":null");
	}
	if (f.remote_port >= 0)
		ew_buf_printf(&b, ",\"port\":%d}", f.remote_port);
	else
		ew_buf_puts(&b, ",\"port\":null}");
	/* Every name the workload resolved to the remote address. */
	ew_buf_puts(&b, ",\"remote_names\":[");
	if (f.has_cidr) {
		struct flow_list nl = {.b = &b};

		n = store_ip_names(r, o.a.remote_ip,
				   o.a.workload[0] ? o.a.workload : NULL, 20,
				   name_row_cb, &nl, err, sizeof(err));
		if (n < 0)
			log_debug("dashboard: alert %" PRIu64 " names: %s", id,
				  err);
	}
	ew_buf_puts(&b, "]}\n");
	dash_reader_put(q->d, r);
	return dash_send_json(q, 200, &b);
}

enum MHD_Result dash_api_alert_ack(struct dash_req *q, uint64_t id)
{
	struct store_alert_search a = {.id = id, .acknowledged = -1};
	struct one_alert o = {0};
	struct store_reader *r;
	enum MHD_Result ret;
	char err[256], by[64], ip[EW_IPSTR_MAX] = "?";
	const union MHD_ConnectionInfo *ci;
	struct ew_buf b;
	int n;

	if (!dash_csrf_check(q, &ret))
		return ret;
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	n = store_search_alerts(r, &a, alert_detail_cb, &o, err, sizeof(err));
	dash_reader_put(q->d, r);
	if (n <= 0)
		return n < 0 ? dash_error(q, 500, "%s", err) :
			       dash_error(q, 404, "no alert %" PRIu64, id);

	ci = MHD_get_connection_info(q->c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		uint8_t a16[16];
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET) {
			ew_ip_from_v4(a16, (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr);
			ew_ip_to_str(a16, ip);
		} else if (sa->sa_family == AF_INET6) {
			memcpy(a16, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
			ew_ip_to_str(a16, ip);
		}
	}
	snprintf(by, sizeof(by), "%s@%s",
		 q->auth == DASH_AUTH_BEARER ? "api-token" :
		 q->auth == DASH_AUTH_SESSION ? "dashboard-login" : "dashboard",
		 ip);
	if (q->d->store) {
		int rc = store_ack_alert(q->d->store, id, by, ew_now_ns());

		if (rc == 0)
			rc = store_sync(q->d->store);
		if (rc)
			return dash_error(q, 503, "the store did not take the "
					  "acknowledgement: %s", strerror(-rc));
	} else {
		int rc = store_ack_alert_db(q->d->db_path, id, by, ew_now_ns(),
					    err, sizeof(err));

		if (rc == -ENOENT)
			return dash_error(q, 404, "no alert %" PRIu64, id);
		if (rc)
			return dash_error(q, rc == -EROFS || rc == -EACCES ?
					  503 : 500, "%s", err);
	}
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	memset(&o, 0, sizeof(o));
	o.b = &b;
	ew_buf_puts(&b, "{\"ok\":true,\"alert\":");
	n = store_search_alerts(r, &a, alert_detail_cb, &o, err, sizeof(err));
	dash_reader_put(q->d, r);
	if (n <= 0 || !o.a.acknowledged) {
		/* The store took it but could not write it (disk full, ...):
		 * it is counted there; say so here rather than claim it. */
		ew_buf_free(&b);
		return dash_error(q, 503, "the acknowledgement was not written "
				  "(see the store's write errors)");
	}
	ew_buf_puts(&b, "}\n");
	return dash_send_json(q, 200, &b);
}

/* ---- flows ------------------------------------------------------------------------ */

/* The filters of /api/flows, with copies of the strings (exports outlive the
 * handler call that parsed them). */
struct flow_params {
	struct store_flow_search f;
	char workload[STORE_WORKLOAD_MAX];
	char ns[64];
	char name[520];
	char country[4];
	char verdict[STORE_VERDICT_MAX];
	char cursor_prefix;
};

static int flow_params(struct dash_req *q, struct flow_params *p, char *msg,
		       size_t msglen)
{
	struct store_flow_search *f = &p->f;
	struct dash_window w;
	const char *s;
	uint64_t v;

	memset(p, 0, sizeof(*p));
	f->port = f->remote_port = f->proto = f->direction = -1;
	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			msglen))
		return -EINVAL;
	f->since_ns = w.since_ns;
	f->until_ns = w.until_ns;
	if ((s = dash_arg(q, "workload"))) {
		if (dash_workload_valid(s)) {
			snprintf(msg, msglen, "workload: expected namespace/name");
			return -EINVAL;
		}
		snprintf(p->workload, sizeof(p->workload), "%s", s);
		f->workload = p->workload;
	}
	if ((s = dash_arg(q, "namespace"))) {
		if (strlen(s) >= sizeof(p->ns) || strchr(s, '/')) {
			snprintf(msg, msglen, "namespace: a Kubernetes namespace");
			return -EINVAL;
		}
		snprintf(p->ns, sizeof(p->ns), "%s", s);
		f->namespace = p->ns;
	}
	if ((s = dash_arg(q, "remote"))) {
		struct ew_cidr c;

		if (ew_cidr_parse(s, &c)) {
			snprintf(msg, msglen, "remote: not an address or CIDR");
			return -EINVAL;
		}
		f->has_cidr = 1;
		memcpy(f->cidr_lo, c.lo, 16);
		memcpy(f->cidr_hi, c.hi, 16);
	}
	if ((s = dash_arg(q, "name"))) {
		if (dash_name_pattern(s, p->name, sizeof(p->name))) {
			snprintf(msg, msglen, "name: at most 253 printable "
				 "characters ('*' and '?' for a glob)");
			return -EINVAL;
		}
		f->name_like = p->name;
	}
	if (dash_uint(q, "port", 0, 65535, (uint64_t)-1, &v, msg, msglen))
		return -EINVAL;
	f->port = v == (uint64_t)-1 ? -1 : (int)v;
	if ((s = dash_arg(q, "proto"))) {
		uint8_t pr;

		if (ew_proto_parse(s, &pr)) {
			snprintf(msg, msglen, "proto: tcp, udp, icmp, ipv6-icmp "
				 "or a number");
			return -EINVAL;
		}
		f->proto = pr;
	}
	if ((s = dash_arg(q, "country"))) {
		if (strcmp(s, "none") == 0) {
			f->country = "";
		} else if (strlen(s) == 2 && s[0] >= 'A' && s[0] <= 'Z' &&
			   s[1] >= 'A' && s[1] <= 'Z') {
			memcpy(p->country, s, 3);
			f->country = p->country;
		} else {
			snprintf(msg, msglen, "country: an ISO 3166 code such "
				 "as NL, or none");
			return -EINVAL;
		}
	}
	if ((s = dash_arg(q, "verdict"))) {
		if (strcmp(s, "none") == 0) {
			f->verdict = "";
		} else if (strcmp(s, "allow") == 0 || strcmp(s, "alert") == 0 ||
			   strcmp(s, "audit") == 0) {
			snprintf(p->verdict, sizeof(p->verdict), "%s", s);
			f->verdict = p->verdict;
		} else {
			snprintf(msg, msglen, "verdict: allow, alert, audit or "
				 "none");
			return -EINVAL;
		}
	}
	if ((s = dash_arg(q, "direction"))) {
		if (strcmp(s, "egress") == 0) {
			f->direction = STORE_EGRESS;
		} else if (strcmp(s, "ingress") == 0) {
			f->direction = STORE_INGRESS;
		} else {
			snprintf(msg, msglen, "direction: egress or ingress");
			return -EINVAL;
		}
	}
	s = dash_arg(q, "sort");
	if (!s || strcmp(s, "start") == 0) {
		f->sort = STORE_SORT_START;
	} else if (strcmp(s, "bytes") == 0) {
		f->sort = STORE_SORT_BYTES;
	} else if (strcmp(s, "sent") == 0) {
		f->sort = STORE_SORT_SENT;
	} else {
		snprintf(msg, msglen, "sort: start, bytes or sent");
		return -EINVAL;
	}
	s = dash_arg(q, "order");
	if (!s || strcmp(s, "desc") == 0) {
		f->ascending = 0;
	} else if (strcmp(s, "asc") == 0) {
		f->ascending = 1;
	} else {
		snprintf(msg, msglen, "order: desc or asc");
		return -EINVAL;
	}
	/* The cursor names its order, so that one made for another order is
	 * refused rather than misread. */
	p->cursor_prefix = "sbt"[f->sort] - (f->ascending ? 'a' - 'A' : 0);
	if ((s = dash_arg(q, "cursor"))) {
		if (dash_cursor_parse(s, p->cursor_prefix, &f->after_key,
				      &f->after_id)) {
			snprintf(msg, msglen, "cursor: not one of ours, or "
				 "made for another sort order");
			return -EINVAL;
		}
		f->has_after = 1;
	}
	return 0;
}

/* One CSV cell: invalid UTF-8 and control characters become U+FFFD, a
 * leading = + - @ gets a ' so that no spreadsheet runs it as a formula
 * (OWASP "CSV injection"), and the cell is quoted when it needs to be. */
static void csv_cell(struct ew_buf *b, const char *s)
{
	static const char repl[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)s;
	int quote = strpbrk(s, ",\"") != NULL;

	if (quote)
		ew_buf_puts(b, "\"");
	if (strchr("=+-@", s[0]) && s[0])
		ew_buf_puts(b, "'");
	while (*p) {
		size_t n = 0;
		uint32_t cp = 0;

		if (*p < 0x80) {
			n = 1;
			cp = *p;
		} else if ((*p & 0xe0) == 0xc0 && (p[1] & 0xc0) == 0x80) {
			n = 2;
			cp = (uint32_t)(*p & 0x1f) << 6 | (p[1] & 0x3f);
			if (cp < 0x80)
				n = 0;
		} else if ((*p & 0xf0) == 0xe0 && (p[1] & 0xc0) == 0x80 &&
			   (p[2] & 0xc0) == 0x80) {
			n = 3;
			cp = (uint32_t)(*p & 0x0f) << 12 |
			     (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f);
			if (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))
				n = 0;
		} else if ((*p & 0xf8) == 0xf0 && (p[1] & 0xc0) == 0x80 &&
			   (p[2] & 0xc0) == 0x80 && (p[3] & 0xc0) == 0x80) {
			n = 4;
			cp = (uint32_t)(*p & 0x07) << 18 |
			     (uint32_t)(p[1] & 0x3f) << 12 |
			     (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
			if (cp < 0x10000 || cp > 0x10ffff)
				n = 0;
		}
		if (n == 0 || cp < 0x20 || cp == 0x7f) {
			ew_buf_puts(b, repl);
			p += n ? n : 1;
			continue;
		}
		if (cp == '"')
			ew_buf_puts(b, "\"\"");
		else
			ew_buf_append(b, p, n);
		p += n;
	}
	if (quote)
		ew_buf_puts(b, "\"");
}

static const char csv_header[] =
	"start,end,interface,proto,direction,local_ip,local_port,remote_ip,"
	"remote_port,bytes_sent,bytes_received,packets_sent,packets_received,"
	"workload,remote_workload,remote_name,remote_country,remote_asn,"
	"verdict,state,end_reason,id\r\n";

static void csv_row(struct ew_buf *b, const struct store_flow *f)
{
	char t0[EW_TIME_STRLEN], t1[EW_TIME_STRLEN], lip[EW_IPSTR_MAX];
	char rip[EW_IPSTR_MAX], pnum[4];

	ew_fmt_time(f->start_ns, t0);
	ew_fmt_time(f->end_ns, t1);
	ew_ip_to_str(f->local_ip, lip);
	ew_ip_to_str(f->remote_ip, rip);
	ew_buf_printf(b, "%s,%s,", t0, t1);
	csv_cell(b, f->interface);
	ew_buf_printf(b, ",%s,%s,%s,%u,%s,%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64
		      ",%" PRIu64 ",", store_proto_str(f->proto, pnum),
		      f->direction == STORE_INGRESS ? "ingress" : "egress",
		      lip, f->local_port, rip, f->remote_port, f->bytes_sent,
		      f->bytes_received, f->packets_sent, f->packets_received);
	csv_cell(b, f->workload);
	ew_buf_puts(b, ",");
	csv_cell(b, f->remote_workload);
	ew_buf_puts(b, ",");
	csv_cell(b, f->remote_name);
	ew_buf_puts(b, ",");
	csv_cell(b, f->remote_country);
	if (f->remote_asn)
		ew_buf_printf(b, ",%" PRIu32 ",", f->remote_asn);
	else
		ew_buf_puts(b, ",,");
	csv_cell(b, f->verdict);
	ew_buf_printf(b, ",%s,%s,%" PRIu64 "\r\n", f->ended ? "ended" : "active",
		      store_end_reason_name(f->end_reason), f->id);
}

struct export {
	struct dashboard *d;
	struct flow_params p;
	int csv, done, failed;
	uint64_t left;			/* rows still to send */
	uint64_t last_key, last_id;
	uint32_t got;			/* rows of the current step */
	struct ew_buf out;		/* the current step, being sent */
	size_t off;
};

static int export_row_cb(void *ctx, const struct store_flow *f)
{
	struct export *e = ctx;

	if (e->csv) {
		csv_row(&e->out, f);
	} else {
		store_flow_json(f, &e->out);
		ew_buf_puts(&e->out, "\n");
	}
	e->got++;
	e->last_key = sort_key(e->p.f.sort, f);
	e->last_id = f->id;
	return 0;
}

/* Fetch the next step of rows into e->out; -1 on a database error. */
static int export_step(struct export *e)
{
	char err[256];
	struct store_reader *r;
	int n;

	ew_buf_reset(&e->out);
	e->off = 0;
	e->got = 0;
	e->p.f.limit = (uint32_t)(e->left < DASH_EXPORT_PAGE ? e->left :
					  DASH_EXPORT_PAGE);
	r = dash_reader_acquire(e->d, err, sizeof(err));
	if (!r) {
		log_warnx("dashboard: export: %s", err);
		return -1;
	}
	n = store_search_flows(r, &e->p.f, export_row_cb, e, err, sizeof(err));
	dash_reader_put(e->d, r);
	if (n < 0) {
		log_warnx("dashboard: export: %s", err);
		return -1;
	}
	atomic_fetch_add(&e->d->export_rows, (uint64_t)e->got);
	e->left -= e->got;
	if (e->got < e->p.f.limit || e->left == 0)
		e->done = 1;
	e->p.f.has_after = 1;
	e->p.f.after_key = e->last_key;
	e->p.f.after_id = e->last_id;
	return 0;
}

static ssize_t export_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct export *e = cls;
	size_t n;

	(void)pos;
	while (e->off >= e->out.len) {
		if (e->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		/* A failed step ends the transfer without the final chunk,
		 * so the client sees a broken download, not a short file. */
		if (export_step(e))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	n = e->out.len - e->off;
	if (n > max)
		n = max;
	memcpy(buf, e->out.data + e->off, n);
	e->off += n;
	return (ssize_t)n;
}

static void export_free(void *cls)
{
	struct export *e = cls;

	ew_buf_free(&e->out);
	free(e);
}

static enum MHD_Result flows_export(struct dash_req *q,
				    const struct flow_params *p, int csv)
{
	struct export *e = calloc(1, sizeof(*e));
	struct MHD_Response *r;
	enum MHD_Result ret;
	char disp[160], t0[EW_TIME_STRLEN], t1[EW_TIME_STRLEN];
	uint64_t limit;
	char msg[256];

	if (!e)
		return dash_error(q, 500, "out of memory");
	if (dash_uint(q, "limit", 1, DASH_EXPORT_MAX, DASH_EXPORT_MAX, &limit,
		      msg, sizeof(msg))) {
		free(e);
		return dash_error(q, 400, "%s", msg);
	}
	e->d = q->d;
	e->p = *p;
	/* The copied filter must point at the copied strings. */
	if (p->f.workload)
		e->p.f.workload = e->p.workload;
	if (p->f.namespace)
		e->p.f.namespace = e->p.ns;
	if (p->f.name_like)
		e->p.f.name_like = e->p.name;
	if (p->f.country)
		e->p.f.country = p->f.country[0] ? e->p.country : "";
	if (p->f.verdict)
		e->p.f.verdict = p->f.verdict[0] ? e->p.verdict : "";
	e->csv = csv;
	e->left = limit;
	ew_buf_init(&e->out, 16u << 20);
	if (csv)
		ew_buf_puts(&e->out, csv_header);
	if (q->head)
		e->done = 1;
	atomic_fetch_add(&q->d->exports, 1);

	/* 16 KiB blocks: MHD takes them from the connection's memory pool. */
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024,
					      export_read, e, export_free);
	if (!r) {
		export_free(e);
		return MHD_NO;
	}
	ew_fmt_time(p->f.since_ns, t0);
	ew_fmt_time(p->f.until_ns, t1);
	t0[19] = t1[19] = '\0';	/* seconds; ':' is fine in a quoted name */
	for (char *c = t0; *c; c++)
		if (*c == ':')
			*c = '-';
	for (char *c = t1; *c; c++)
		if (*c == ':')
			*c = '-';
	snprintf(disp, sizeof(disp), "attachment; filename=\"egresswatch-flows-"
		 "%s_%s.%s\"", t0, t1, csv ? "csv" : "jsonl");
	dash_add_security_headers(r, "no-store");
	MHD_add_response_header(r, "Content-Type", csv ?
				"text/csv; charset=utf-8; header=present" :
				"application/x-ndjson; charset=utf-8");
	MHD_add_response_header(r, "Content-Disposition", disp);
	ret = MHD_queue_response(q->c, 200, r);
	MHD_destroy_response(r);
	dash_count_status(q->d, 200);
	return ret;
}

enum MHD_Result dash_api_flows(struct dash_req *q)
{
	struct flow_params p;
	struct flow_list l = {0};
	struct store_reader *r;
	enum MHD_Result ret;
	const char *fmt = dash_arg(q, "format");
	char msg[256], err[256], cur[48];
	uint64_t limit;
	struct ew_buf b;
	int n;

	if (flow_params(q, &p, msg, sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (fmt && strcmp(fmt, "csv") == 0)
		return flows_export(q, &p, 1);
	if (fmt && strcmp(fmt, "json") == 0)
		return flows_export(q, &p, 0);
	if (fmt)
		return dash_error(q, 400, "format: csv or json (JSON lines); "
				  "leave it out for a page");
	if (dash_uint(q, "limit", 1, DASH_PAGE_MAX, DASH_PAGE_DEFAULT, &limit,
		      msg, sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	p.f.limit = (uint32_t)limit + 1;
	l.limit = (uint32_t)limit;
	l.sort = p.f.sort;
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	l.b = &b;
	ew_buf_puts(&b, "{\"flows\":[");
	n = store_search_flows(r, &p.f, flow_row_cb, &l, err, sizeof(err));
	dash_reader_put(q->d, r);
	if (n < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, "\n],\"next_cursor\":");
	if ((uint32_t)n > l.limit) {
		dash_cursor_fmt(cur, p.cursor_prefix, l.last_key, l.last_id);
		ew_buf_printf(&b, "\"%s\"", cur);
	} else {
		ew_buf_puts(&b, "null");
	}
	ew_buf_puts(&b, ",\"since\":");
	dash_json_time(&b, p.f.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, p.f.until_ns);
	ew_buf_printf(&b, ",\"sort\":\"%s\",\"order\":\"%s\",\"count\":%u,"
		      "\"limit\":%" PRIu64 "}\n",
		      p.f.sort == STORE_SORT_BYTES ? "bytes" :
		      p.f.sort == STORE_SORT_SENT ? "sent" : "start",
		      p.f.ascending ? "asc" : "desc", l.n, limit);
	return dash_send_json(q, 200, &b);
}

/* ---- workloads ------------------------------------------------------------- */

struct wl_entry {
	char ref[STORE_WORKLOAD_MAX];	/* "" unknown */
	int known;			/* a row of the workloads table */
	uint64_t bytes_sent, bytes_received, flows;
	uint32_t ndests;
	uint32_t top[WORKLOAD_TOP_DESTS];	/* indices into dests */
	uint32_t ntop;
	struct { uint16_t port; uint8_t proto; } ports[WORKLOAD_TOP_PORTS];
	uint32_t nports;
	struct ew_buf row;		/* the table row as JSON, if known */
};

struct wl_list {
	struct wl_entry *e;
	size_t n, cap;
	struct store_dest *dests;	/* biggest first */
	size_t ndests;
	int overflow;
};

static struct wl_entry *wl_add(struct wl_list *l, const char *ref)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 64;
		struct wl_entry *m;

		if (cap > WORKLOADS_MAX * 2 + 64)
			return NULL;
		m = realloc(l->e, cap * sizeof(*m));
		if (!m)
			return NULL;
		l->e = m;
		l->cap = cap;
	}
	struct wl_entry *w = &l->e[l->n++];

	memset(w, 0, sizeof(*w));
	snprintf(w->ref, sizeof(w->ref), "%s", ref);
	return w;
}

static int wl_cmp(const void *a, const void *b)
{
	return strcmp(((const struct wl_entry *)a)->ref,
		      ((const struct wl_entry *)b)->ref);
}

static struct wl_entry *wl_find(struct wl_list *l, const char *ref)
{
	struct wl_entry key;

	snprintf(key.ref, sizeof(key.ref), "%s", ref);
	return bsearch(&key, l->e, l->n, sizeof(*l->e), wl_cmp);
}

static int wl_table_cb(void *ctx, const struct store_workload *w)
{
	struct wl_list *l = ctx;
	char ref[STORE_WORKLOAD_MAX];
	struct wl_entry *e;

	if (w->namespace[0])
		snprintf(ref, sizeof(ref), "%s/%s", w->namespace, w->name);
	else
		snprintf(ref, sizeof(ref), "%s", w->name);
	if (!(e = wl_add(l, ref))) {
		l->overflow = 1;
		return 1;
	}
	e->known = 1;
	ew_buf_init(&e->row, STORE_JSON_MAX * 4);
	store_workload_json(w, &e->row);
	return 0;
}

/* Merge the rows that describe one workload (table row, totals) into one
 * entry; the list is sorted by ref. */
static void wl_merge(struct wl_list *l)
{
	size_t o = 0;

	qsort(l->e, l->n, sizeof(*l->e), wl_cmp);
	for (size_t i = 0; i < l->n; i++) {
		if (o && strcmp(l->e[o - 1].ref, l->e[i].ref) == 0) {
			struct wl_entry *a = &l->e[o - 1], *b = &l->e[i];

			if (b->known && !a->known) {
				a->known = 1;
				a->row = b->row;
			} else if (b->known) {
				ew_buf_free(&b->row);
			}
			a->bytes_sent += b->bytes_sent;
			a->bytes_received += b->bytes_received;
			a->flows += b->flows;
			continue;
		}
		if (o != i)
			l->e[o] = l->e[i];
		o++;
	}
	l->n = o;
}

static void dest_json(struct ew_buf *b, const struct store_dest *d,
		      const struct store_ip_info *info)
{
	char pnum[4];

	ew_buf_puts(b, "{\"remote_ip\":");
	dash_json_ip(b, d->remote_ip);
	/* The rollups keep the service port: the remote's going out, ours
	 * coming in (the client's port is ephemeral and summed over). */
	if (d->direction == STORE_EGRESS)
		ew_buf_printf(b, ",\"port\":%u,\"remote_port\":%u,"
			      "\"local_port\":null", d->port, d->port);
	else
		ew_buf_printf(b, ",\"port\":%u,\"remote_port\":null,"
			      "\"local_port\":%u", d->port, d->port);
	ew_buf_printf(b, ",\"proto\":\"%s\",\"direction\":\"%s\"",
		      store_proto_str(d->proto, pnum),
		      d->direction == STORE_INGRESS ? "ingress" : "egress");
	ew_buf_puts(b, ",\"remote_name\":");
	ew_buf_json_str(b, info && info->name[0] ? info->name : NULL);
	ew_buf_puts(b, ",\"remote_country\":");
	ew_buf_json_str(b, info && info->country[0] ? info->country : NULL);
	if (info && info->asn)
		ew_buf_printf(b, ",\"remote_asn\":%" PRIu32, info->asn);
	else
		ew_buf_puts(b, ",\"remote_asn\":null");
	ew_buf_printf(b, ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%"
		      PRIu64 ",\"packets_sent\":%" PRIu64
		      ",\"packets_received\":%" PRIu64 ",\"flows\":%" PRIu64,
		      d->bytes_sent, d->bytes_received, d->packets_sent,
		      d->packets_received, d->flows);
	ew_buf_puts(b, ",\"first_seen\":");
	dash_json_time(b, d->first_ns);
	ew_buf_puts(b, ",\"last_seen\":");
	dash_json_time(b, d->last_ns);
	ew_buf_puts(b, "}");
}

/* Destination entries, biggest first. */
static int aent_cmp(const void *x, const void *y)
{
	const struct dash_aent *a = *(const struct dash_aent *const *)x;
	const struct dash_aent *b = *(const struct dash_aent *const *)y;
	uint64_t ta = a->bytes_sent + a->bytes_received;
	uint64_t tb = b->bytes_sent + b->bytes_received;

	if (ta != tb)
		return ta < tb ? 1 : -1;
	return memcmp(a->key, b->key, sizeof(a->key));
}

/* The destinations of the aggregate as rows, biggest first.  0 or -ENOMEM. */
static int wl_dests(struct wl_list *l, const struct dash_agg *agg)
{
	struct dash_aent **order = calloc(agg->dests.n + 1, sizeof(*order));
	size_t nd = 0;

	l->dests = calloc(agg->dests.n + 1, sizeof(*l->dests));
	if (!order || !l->dests) {
		free(order);
		return -ENOMEM;
	}
	for (size_t i = 0; i < agg->dests.cap; i++)
		if (agg->dests.e[i].used)
			order[nd++] = &agg->dests.e[i];
	qsort(order, nd, sizeof(*order), aent_cmp);
	for (size_t i = 0; i < nd; i++)
		dash_agg_dest(agg, order[i], &l->dests[l->ndests++]);
	free(order);
	return 0;
}

/*
 * Every workload: the inventory's rows and whatever the rollups of the
 * window name, with totals, top destinations, ports and countries.  One pass
 * over the rollups (agg.c) gives the totals and every destination; the
 * addresses shown are then looked up in one batch.
 */
enum MHD_Result dash_api_workloads(struct dash_req *q)
{
	struct wl_list l = {0};
	struct dash_window w;
	struct dash_ipcache ic;
	struct dash_agg agg;
	struct store_reader *r;
	enum MHD_Result ret;
	char msg[256], err[256];
	struct ew_buf b;
	int n;

	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (dash_agg_init(&agg, w.since_ns, w.until_ns, 0))
		return dash_error(q, 500, "out of memory");
	agg.want_dests = 1;
	if (!(r = dash_reader_get(q, &ret))) {
		dash_agg_free(&agg);
		return ret;
	}
	n = store_query_workloads(r, wl_table_cb, &l, err, sizeof(err));
	if (n >= 0)
		n = dash_agg_run(&agg, r, NULL, err, sizeof(err));
	if (n < 0 || wl_dests(&l, &agg)) {
		dash_reader_put(q->d, r);
		ret = n < 0 ? dash_error(q, 500, "%s", err) :
			      dash_error(q, 500, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < agg.workloads.cap; i++) {
		const struct dash_aent *a = &agg.workloads.e[i];
		struct wl_entry *e;

		if (!a->used)
			continue;
		if (!(e = wl_add(&l, a->skey))) {
			l.overflow = 1;
			break;
		}
		e->bytes_sent = a->bytes_sent;
		e->bytes_received = a->bytes_received;
		e->flows = a->flows;
	}
	wl_merge(&l);
	/* Destinations come biggest first: the first few of each workload
	 * are its top ones. */
	for (size_t i = 0; i < l.ndests; i++) {
		const struct store_dest *d = &l.dests[i];
		struct wl_entry *e = wl_find(&l, d->workload);

		if (!e)
			continue;
		e->ndests++;
		if (e->ntop < WORKLOAD_TOP_DESTS)
			e->top[e->ntop++] = (uint32_t)i;
		if (d->direction == STORE_EGRESS &&
		    e->nports < WORKLOAD_TOP_PORTS) {
			uint32_t k;

			for (k = 0; k < e->nports; k++)
				if (e->ports[k].port == d->port &&
				    e->ports[k].proto == d->proto)
					break;
			if (k == e->nports) {
				e->ports[k].port = d->port;
				e->ports[k].proto = d->proto;
				e->nports++;
			}
		}
	}
	dash_ipcache_init(&ic, r);
	{
		/* Every address the list shows, looked up in one batch. */
		size_t nips = 0;
		uint8_t (*ips)[16] = calloc(l.n * WORKLOAD_TOP_DESTS + 1, 16);

		for (size_t i = 0; ips && i < l.n; i++)
			for (uint32_t k = 0; k < l.e[i].ntop; k++)
				memcpy(ips[nips++],
				       l.dests[l.e[i].top[k]].remote_ip, 16);
		if (ips)
			dash_ipcache_prefetch(&ic, (const uint8_t (*)[16])ips,
					      nips);
		free(ips);
	}
	dash_buf(&b);
	ew_buf_puts(&b, "{\"since\":");
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_printf(&b, ",\"truncated\":%s,\"workloads\":[",
		      l.overflow || agg.truncated ? "true" : "false");
	for (size_t i = 0; i < l.n && i < WORKLOADS_MAX; i++) {
		struct wl_entry *e = &l.e[i];
		struct store_ip_info scratch;
		char pnum[4];

		ew_buf_puts(&b, i ? ",\n{\"workload\":" : "\n{\"workload\":");
		dash_json_workload(&b, e->ref);
		ew_buf_printf(&b, ",\"known\":%s,\"info\":",
			      e->known ? "true" : "false");
		if (e->known)
			ew_buf_append(&b, e->row.data, e->row.len);
		else
			ew_buf_puts(&b, "null");
		ew_buf_printf(&b, ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%"
			      PRIu64 ",\"flows\":%" PRIu64 ",\"destinations\":%u",
			      e->bytes_sent, e->bytes_received, e->flows,
			      e->ndests);
		ew_buf_puts(&b, ",\"top_destinations\":[");
		for (uint32_t k = 0; k < e->ntop; k++) {
			const struct store_dest *d = &l.dests[e->top[k]];

			if (k)
				ew_buf_puts(&b, ",");
			dest_json(&b, d, dash_ipcache_get(&ic, d->remote_ip,
							  &scratch));
		}
		ew_buf_puts(&b, "],\"ports\":[");
		for (uint32_t k = 0; k < e->nports; k++)
			ew_buf_printf(&b, "%s{\"port\":%u,\"proto\":\"%s\"}",
				      k ? "," : "", e->ports[k].port,
				      store_proto_str(e->ports[k].proto, pnum));
		ew_buf_puts(&b, "],\"countries\":[");
		int nc = 0;
		char seen[WORKLOAD_TOP_DESTS][4];
		for (uint32_t k = 0; k < e->ntop; k++) {
			const struct store_ip_info *info = dash_ipcache_get(
				&ic, l.dests[e->top[k]].remote_ip, &scratch);
			int dup = 0;

			if (!info->country[0])
				continue;
			for (int m = 0; m < nc; m++)
				dup |= strcmp(seen[m], info->country) == 0;
			if (dup)
				continue;
			memcpy(seen[nc], info->country, 4);
			ew_buf_puts(&b, nc++ ? "," : "");
			ew_buf_json_str(&b, info->country);
		}
		ew_buf_puts(&b, "]}");
	}
	ew_buf_puts(&b, "\n]}\n");
	dash_ipcache_free(&ic);
	dash_reader_put(q->d, r);
	ret = dash_send_json(q, 200, &b);
out:
	for (size_t i = 0; i < l.n; i++)
		if (l.e[i].known)
			ew_buf_free(&l.e[i].row);
	free(l.e);
	free(l.dests);
	dash_agg_free(&agg);
	return ret;
}

/* ---- one workload -------------------------------------------------------- */

struct wl_detail {
	struct ew_buf *b;
	int found;
	struct store_dest *dests;
	size_t n, cap;
};

static int wd_row_cb(void *ctx, const struct store_workload *w)
{
	struct wl_detail *x = ctx;

	store_workload_json(w, x->b);
	x->found = 1;
	return 1;
}

static int wd_dest_cb(void *ctx, const struct store_dest *d)
{
	struct wl_detail *x = ctx;

	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 64;
		struct store_dest *m = realloc(x->dests, cap * sizeof(*m));

		if (!m)
			return 1;
		x->dests = m;
		x->cap = cap;
	}
	x->dests[x->n++] = *d;
	return 0;
}

struct agg {
	char key[8];
	uint16_t port;
	uint8_t proto;
	uint64_t bytes_sent, bytes_received, flows, destinations;
};

static struct agg *agg_find(struct agg *a, size_t *n, size_t cap,
			    const char *key, uint16_t port, uint8_t proto)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp(a[i].key, key) == 0 && a[i].port == port &&
		    a[i].proto == proto)
			return &a[i];
	if (*n == cap)
		return NULL;
	memset(&a[*n], 0, sizeof(a[*n]));
	snprintf(a[*n].key, sizeof(a[*n].key), "%s", key);
	a[*n].port = port;
	a[*n].proto = proto;
	return &a[(*n)++];
}

static int agg_cmp(const void *x, const void *y)
{
	const struct agg *a = x, *b = y;
	uint64_t ta = a->bytes_sent + a->bytes_received;
	uint64_t tb = b->bytes_sent + b->bytes_received;

	return ta < tb ? 1 : ta > tb ? -1 : 0;
}

enum MHD_Result dash_api_workload(struct dash_req *q, const char *ref)
{
	struct wl_detail x = {0};
	struct alert_page ap = {0};
	struct store_alert_search as = {.acknowledged = -1, .limit = 20};
	struct dash_window w;
	struct store_reader *r;
	enum MHD_Result ret;
	char ns[64], name[254], msg[256], err[256], pnum[4];
	const char *slash = strchr(ref, '/');
	struct agg ports[64], countries[64];
	size_t nports = 0, ncountries = 0;
	uint64_t ts = 0, tr = 0, tf = 0;
	struct ew_buf b;
	int n;

	if (dash_workload_valid(ref))
		return dash_error(q, 404, "not a workload reference: expected "
				  "/api/workloads/NAMESPACE/NAME");
	if (slash) {
		size_t nl = (size_t)(slash - ref);

		if (nl >= sizeof(ns) || strlen(slash + 1) >= sizeof(name))
			return dash_error(q, 404, "no such workload");
		memcpy(ns, ref, nl);
		ns[nl] = '\0';
		snprintf(name, sizeof(name), "%s", slash + 1);
	} else {
		if (strlen(ref) >= sizeof(name))
			return dash_error(q, 404, "no such workload");
		ns[0] = '\0';
		snprintf(name, sizeof(name), "%s", ref);
	}
	if (dash_window(q, 3600 * NS_PER_S, DASH_WINDOW_MAX_NS, &w, msg,
			sizeof(msg)))
		return dash_error(q, 400, "%s", msg);
	if (!(r = dash_reader_get(q, &ret)))
		return ret;
	dash_buf(&b);
	x.b = &b;
	ew_buf_puts(&b, "{\"workload\":");
	dash_json_workload(&b, ref);
	ew_buf_puts(&b, ",\"info\":");
	n = store_get_workload(r, ns, name, wd_row_cb, &x, err, sizeof(err));
	if (n == 0)
		ew_buf_puts(&b, "null");
	if (n >= 0)
		n = store_sum_destinations(r, ref, w.since_ns, w.until_ns, 500,
					   wd_dest_cb, &x, err, sizeof(err));
	if (n < 0) {
		dash_reader_put(q->d, r);
		ew_buf_free(&b);
		free(x.dests);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, ",\"since\":");
	dash_json_time(&b, w.since_ns);
	ew_buf_puts(&b, ",\"until\":");
	dash_json_time(&b, w.until_ns);
	ew_buf_puts(&b, ",\"destinations\":[");
	for (size_t i = 0; i < x.n; i++) {
		const struct store_dest *d = &x.dests[i];
		struct store_ip_info info;
		struct agg *a;

		if (store_ip_info(r, d->remote_ip, ref, &info, err,
				  sizeof(err)) < 0)
			memset(&info, 0, sizeof(info));
		ew_buf_puts(&b, i ? ",\n" : "\n");
		dest_json(&b, d, &info);
		ts += d->bytes_sent;
		tr += d->bytes_received;
		tf += d->flows;
		if (d->direction == STORE_EGRESS &&
		    (a = agg_find(ports, &nports, EW_ARRAY_LEN(ports), "",
				  d->port, d->proto))) {
			a->bytes_sent += d->bytes_sent;
			a->bytes_received += d->bytes_received;
			a->flows += d->flows;
			a->destinations++;
		}
		if ((a = agg_find(countries, &ncountries,
				  EW_ARRAY_LEN(countries), info.country, 0,
				  0))) {
			a->bytes_sent += d->bytes_sent;
			a->bytes_received += d->bytes_received;
			a->flows += d->flows;
			a->destinations++;
		}
	}
	qsort(ports, nports, sizeof(ports[0]), agg_cmp);
	qsort(countries, ncountries, sizeof(countries[0]), agg_cmp);
	ew_buf_printf(&b, "\n],\"destinations_truncated\":%s",
		      x.n >= 500 ? "true" : "false");
	ew_buf_printf(&b, ",\"totals\":{\"bytes_sent\":%" PRIu64
		      ",\"bytes_received\":%" PRIu64 ",\"flows\":%" PRIu64 "}",
		      ts, tr, tf);
	ew_buf_puts(&b, ",\"ports\":[");
	for (size_t i = 0; i < nports; i++)
		ew_buf_printf(&b, "%s{\"port\":%u,\"proto\":\"%s\","
			      "\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%"
			      PRIu64 ",\"flows\":%" PRIu64
			      ",\"destinations\":%" PRIu64 "}", i ? "," : "",
			      ports[i].port, store_proto_str(ports[i].proto,
							      pnum),
			      ports[i].bytes_sent, ports[i].bytes_received,
			      ports[i].flows, ports[i].destinations);
	ew_buf_puts(&b, "],\"countries\":[");
	for (size_t i = 0; i < ncountries; i++) {
		ew_buf_puts(&b, i ? ",{\"country\":" : "{\"country\":");
		ew_buf_json_str(&b, countries[i].key[0] ? countries[i].key :
							  NULL);
		ew_buf_printf(&b, ",\"bytes_sent\":%" PRIu64
			      ",\"bytes_received\":%" PRIu64 ",\"flows\":%"
			      PRIu64 ",\"destinations\":%" PRIu64 "}",
			      countries[i].bytes_sent,
			      countries[i].bytes_received, countries[i].flows,
			      countries[i].destinations);
	}
	ew_buf_puts(&b, "],\"alerts\":[");
	as.workload = ref;
	ap.b = &b;
	ap.limit = 20;
	n = store_search_alerts(r, &as, alert_row_cb, &ap, err, sizeof(err));
	dash_reader_put(q->d, r);
	free(x.dests);
	if (n < 0) {
		ew_buf_free(&b);
		return dash_error(q, 500, "%s", err);
	}
	ew_buf_puts(&b, "\n]}\n");
	return dash_send_json(q, 200, &b);
}
