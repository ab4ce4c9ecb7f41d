/*
 * json.c - rows of the store as the JSON objects of DESIGN.md's interface
 * contract: flows, alerts and workloads, as `egresswatch flows --json`, the
 * alert sinks' readers and the dashboard's API print them.
 *
 * Every string goes through ew_buf_json_str, so names that came off the wire
 * or out of a cluster (DNS names, pod labels) are always valid, inert JSON:
 * no raw '<', '&', quote, U+2028/9 or invalid UTF-8 ever leaves here.
 *
 * The JSON texts a row carries (alert evidence, workload labels and
 * addresses) were written by other modules and are not trusted either: they
 * are parsed and written out again token by token (store_json_copy), so a
 * damaged or hostile text can neither break the enclosing document nor smuggle
 * unescaped characters through it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"	/* enum flow_end_reason: the meaning of end_reason */
#include "store.h"
#include "util.h"

#define JSON_DEPTH_MAX 32

void store_tcp_flags_str(uint8_t f, char out[9])
{
	static const char letters[] = "FSRPAUEC";
	int n = 0;

	for (int i = 0; i < 8; i++)
		if (f & (1u << i))
			out[n++] = letters[i];
	out[n] = '\0';
}

const char *store_end_reason_name(uint8_t r)
{
	static const char *names[] = {
		[FLOW_END_NONE] = "active",
		[FLOW_END_IDLE] = "idle",
		[FLOW_END_TCP_FIN] = "fin",
		[FLOW_END_TCP_RST] = "rst",
		[FLOW_END_EVICTED] = "evicted",
		[FLOW_END_SHUTDOWN] = "shutdown",
		[FLOW_END_IFACE_GONE] = "interface-gone",
	};
	_Static_assert(EW_ARRAY_LEN(names) == FLOW_END__COUNT,
		       "a name for every enum flow_end_reason");

	if (r >= EW_ARRAY_LEN(names) || !names[r])
		return "unknown";
	return names[r];
}

const char *store_proto_str(uint8_t proto, char buf[4])
{
	const char *n = ew_proto_name(proto);

	if (n)
		return n;
	snprintf(buf, 4, "%u", proto);
	return buf;
}

static void str_or_null(struct ew_buf *b, const char *key, const char *v)
{
	ew_buf_printf(b, ",\"%s\":", key);
	ew_buf_json_str(b, v && v[0] ? v : NULL);
}

static void time_field(struct ew_buf *b, const char *key, uint64_t ns)
{
	char t[EW_TIME_STRLEN];

	if (!ns) {
		ew_buf_printf(b, ",\"%s\":null", key);
		return;
	}
	ew_fmt_time(ns, t);
	ew_buf_printf(b, ",\"%s\":\"%s\"", key, t);
}

static int ip_is_zero(const uint8_t ip[16])
{
	static const uint8_t zero[16];

	return memcmp(ip, zero, 16) == 0;
}

int store_flow_json(const struct store_flow *f, struct ew_buf *b)
{
	char start[EW_TIME_STRLEN], end[EW_TIME_STRLEN];
	char lip[EW_IPSTR_MAX], rip[EW_IPSTR_MAX], fs[9], fr[9], pnum[4];

	ew_fmt_time(f->start_ns, start);
	ew_fmt_time(f->end_ns, end);
	ew_ip_to_str(f->local_ip, lip);
	ew_ip_to_str(f->remote_ip, rip);
	store_tcp_flags_str(f->tcp_flags_sent, fs);
	store_tcp_flags_str(f->tcp_flags_received, fr);
	ew_buf_printf(b, "{\"id\":%" PRIu64 ",\"start\":\"%s\",\"end\":\"%s\"",
		      f->id, start, end);
	ew_buf_puts(b, ",\"interface\":");
	ew_buf_json_str(b, f->interface);
	ew_buf_printf(b,
		      ",\"vlan\":%u,\"proto\":\"%s\",\"direction\":\"%s\""
		      ",\"local_ip\":\"%s\",\"local_port\":%u"
		      ",\"remote_ip\":\"%s\",\"remote_port\":%u"
		      ",\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64
		      ",\"packets_sent\":%" PRIu64 ",\"packets_received\":%" PRIu64
		      ",\"tcp_flags_sent\":\"%s\",\"tcp_flags_received\":\"%s\"",
		      f->vlan, store_proto_str(f->proto, pnum),
		      f->direction == STORE_INGRESS ? "ingress" : "egress", lip,
		      f->local_port, rip, f->remote_port, f->bytes_sent,
		      f->bytes_received, f->packets_sent, f->packets_received, fs,
		      fr);
	str_or_null(b, "workload", f->workload);
	str_or_null(b, "remote_workload", f->remote_workload);
	str_or_null(b, "remote_name", f->remote_name);
	str_or_null(b, "remote_country", f->remote_country);
	if (f->remote_asn)
		ew_buf_printf(b, ",\"remote_asn\":%" PRIu32, f->remote_asn);
	else
		ew_buf_puts(b, ",\"remote_asn\":null");
	str_or_null(b, "verdict", f->verdict);
	ew_buf_printf(b, ",\"state\":\"%s\",\"end_reason\":\"%s\"}",
		      f->ended ? "ended" : "active",
		      store_end_reason_name(f->end_reason));
	return b->toobig ? -E2BIG : 0;
}

int store_alert_json(const struct store_alert *a, int with_evidence,
		     struct ew_buf *b)
{
	char rip[EW_IPSTR_MAX], pnum[4];

	ew_buf_printf(b, "{\"id\":%" PRIu64, a->id);
	time_field(b, "first_seen", a->first_seen_ns);
	time_field(b, "last_seen", a->last_seen_ns);
	ew_buf_printf(b, ",\"count\":%" PRIu64, a->count ? a->count : 1);
	str_or_null(b, "severity", a->severity);
	str_or_null(b, "kind", a->kind);
	str_or_null(b, "rule", a->rule);
	str_or_null(b, "workload", a->workload);
	if (ip_is_zero(a->remote_ip)) {
		ew_buf_puts(b, ",\"remote_ip\":null,\"remote_port\":null");
	} else {
		ew_ip_to_str(a->remote_ip, rip);
		ew_buf_printf(b, ",\"remote_ip\":\"%s\",\"remote_port\":%u", rip,
			      a->remote_port);
	}
	if (a->proto)
		ew_buf_printf(b, ",\"proto\":\"%s\"",
			      store_proto_str(a->proto, pnum));
	else
		ew_buf_puts(b, ",\"proto\":null");
	str_or_null(b, "remote_name", a->remote_name);
	str_or_null(b, "remote_country", a->remote_country);
	if (a->remote_asn)
		ew_buf_printf(b, ",\"remote_asn\":%" PRIu32, a->remote_asn);
	else
		ew_buf_puts(b, ",\"remote_asn\":null");
	ew_buf_printf(b, ",\"bytes_sent\":%" PRIu64, a->bytes_sent);
	ew_buf_puts(b, ",\"message\":");
	ew_buf_json_str(b, a->message);
	/* What the sinks carry too: correlates a row with a webhook call. */
	str_or_null(b, "dedup_key", a->dedup_key);
	ew_buf_printf(b, ",\"acknowledged\":%s",
		      a->acknowledged ? "true" : "false");
	time_field(b, "ack_time", a->acknowledged ? a->ack_ns : 0);
	str_or_null(b, "ack_by", a->acknowledged ? a->ack_by : NULL);
	/* An acknowledged alert that fired again since: worth a new look. */
	ew_buf_printf(b, ",\"new_since_ack\":%s",
		      a->acknowledged && a->last_seen_ns > a->ack_ns ? "true" :
								       "false");
	if (with_evidence) {
		ew_buf_puts(b, ",\"evidence\":");
		store_json_copy(b, a->evidence);
	}
	ew_buf_puts(b, "}");
	return b->toobig ? -E2BIG : 0;
}

int store_workload_json(const struct store_workload *w, struct ew_buf *b)
{
	ew_buf_printf(b, "{\"id\":%" PRIu64, w->id);
	ew_buf_puts(b, ",\"workload\":");
	if (w->namespace[0]) {
		char ref[STORE_WORKLOAD_MAX];

		snprintf(ref, sizeof(ref), "%s/%s", w->namespace, w->name);
		ew_buf_json_str(b, ref);
	} else {
		ew_buf_json_str(b, w->name);
	}
	ew_buf_puts(b, ",\"namespace\":");
	ew_buf_json_str(b, w->namespace);
	ew_buf_puts(b, ",\"name\":");
	ew_buf_json_str(b, w->name);
	str_or_null(b, "kind", w->kind);
	str_or_null(b, "runtime", w->runtime);
	str_or_null(b, "container_id", w->container_id);
	str_or_null(b, "pod_uid", w->pod_uid);
	str_or_null(b, "interface", w->interface);
	ew_buf_puts(b, ",\"labels\":");
	store_json_copy(b, w->labels);
	ew_buf_puts(b, ",\"ips\":");
	store_json_copy(b, w->ips);
	time_field(b, "first_seen", w->first_seen_ns);
	time_field(b, "last_seen", w->last_seen_ns);
	ew_buf_puts(b, "}");
	return b->toobig ? -E2BIG : 0;
}

/* ---- re-encoding stored JSON ---------------------------------------------
 * A recursive-descent reader over (p, len, off) whose first error sticks;
 * it writes as it reads, into a scratch buffer that is kept only when the
 * whole text parsed. */

struct jr {
	const char *p;
	size_t len, off;
	const char *err;
	struct ew_buf *out;
	struct ew_buf str;		/* one decoded string */
};

static void jr_ws(struct jr *j)
{
	while (j->off < j->len && (j->p[j->off] == ' ' || j->p[j->off] == '\t' ||
				   j->p[j->off] == '\n' || j->p[j->off] == '\r'))
		j->off++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int jr_hex4(struct jr *j, uint32_t *out)
{
	uint32_t v = 0;

	if (j->len - j->off < 4) {
		j->err = "truncated \\u escape";
		return -1;
	}
	for (int i = 0; i < 4; i++) {
		int h = hexval(j->p[j->off + (size_t)i]);

		if (h < 0) {
			j->err = "bad \\u escape";
			return -1;
		}
		v = v << 4 | (uint32_t)h;
	}
	j->off += 4;
	*out = v;
	return 0;
}

static void put_utf8(struct ew_buf *b, uint32_t cp)
{
	char u[4];

	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		cp = 0xfffd;	/* NUL would cut the C string: replace it */
	if (cp < 0x80) {
		u[0] = (char)cp;
		ew_buf_append(b, u, 1);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		ew_buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		ew_buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
		u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		ew_buf_append(b, u, 4);
	}
}

/* A string literal, decoded into j->str, then written with ew_buf_json_str
 * (which also turns raw invalid UTF-8 into U+FFFD). */
static void jr_string(struct jr *j)
{
	ew_buf_reset(&j->str);
	j->off++;	/* opening quote */
	for (;;) {
		unsigned char c;

		if (j->off >= j->len) {
			j->err = "unterminated string";
			return;
		}
		c = (unsigned char)j->p[j->off++];
		if (c == '"')
			break;
		if (c < 0x20) {
			j->err = "control character in string";
			return;
		}
		if (c != '\\') {
			ew_buf_append(&j->str, &c, 1);
			continue;
		}
		if (j->off >= j->len) {
			j->err = "truncated escape";
			return;
		}
		c = (unsigned char)j->p[j->off++];
		switch (c) {
		case '"': case '\\': case '/':
			ew_buf_append(&j->str, &c, 1);
			break;
		case 'b': ew_buf_append(&j->str, "\b", 1); break;
		case 'f': ew_buf_append(&j->str, "\f", 1); break;
		case 'n': ew_buf_append(&j->str, "\n", 1); break;
		case 'r': ew_buf_append(&j->str, "\r", 1); break;
		case 't': ew_buf_append(&j->str, "\t", 1); break;
		case 'u': {
			uint32_t cp, lo;

			if (jr_hex4(j, &cp))
				return;
			if (cp >= 0xd800 && cp <= 0xdbff && j->len - j->off >= 6 &&
			    j->p[j->off] == '\\' && j->p[j->off + 1] == 'u') {
				size_t save = j->off;

				j->off += 2;
				if (jr_hex4(j, &lo))
					return;
				if (lo >= 0xdc00 && lo <= 0xdfff)
					cp = 0x10000 + ((cp - 0xd800) << 10) +
					     (lo - 0xdc00);
				else
					j->off = save;	/* lone high surrogate */
			}
			put_utf8(&j->str, cp);
			break;
		}
		default:
			j->err = "bad escape";
			return;
		}
	}
	if (j->str.toobig) {
		j->err = "string too long";
		return;
	}
	ew_buf_json_str(j->out, j->str.data ? j->str.data : "");
}

/* A number as RFC 8259 section 6 spells it; copied as is. */
static void jr_number(struct jr *j)
{
	size_t s = j->off;

	if (j->off < j->len && j->p[j->off] == '-')
		j->off++;
	if (j->off < j->len && j->p[j->off] == '0') {
		j->off++;
	} else if (j->off < j->len && j->p[j->off] >= '1' && j->p[j->off] <= '9') {
		while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9')
			j->off++;
	} else {
		j->err = "bad number";
		return;
	}
	if (j->off < j->len && j->p[j->off] == '.') {
		size_t d = ++j->off;

		while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9')
			j->off++;
		if (j->off == d) {
			j->err = "bad number";
			return;
		}
	}
	if (j->off < j->len && (j->p[j->off] == 'e' || j->p[j->off] == 'E')) {
		size_t d;

		j->off++;
		if (j->off < j->len && (j->p[j->off] == '+' || j->p[j->off] == '-'))
			j->off++;
		d = j->off;
		while (j->off < j->len && j->p[j->off] >= '0' && j->p[j->off] <= '9')
			j->off++;
		if (j->off == d) {
			j->err = "bad number";
			return;
		}
	}
	ew_buf_append(j->out, j->p + s, j->off - s);
}

static void jr_value(struct jr *j, int depth);

static void jr_container(struct jr *j, int depth, char open, char close)
{
	int first = 1;

	if (depth >= JSON_DEPTH_MAX) {
		j->err = "nested too deep";
		return;
	}
	j->off++;
	ew_buf_append(j->out, &open, 1);
	jr_ws(j);
	if (j->off < j->len && j->p[j->off] == close) {
		j->off++;
		ew_buf_append(j->out, &close, 1);
		return;
	}
	while (!j->err) {
		if (!first)
			ew_buf_append(j->out, ",", 1);
		first = 0;
		jr_ws(j);
		if (open == '{') {
			if (j->off >= j->len || j->p[j->off] != '"') {
				j->err = "expected a key";
				return;
			}
			jr_string(j);
			jr_ws(j);
			if (j->err || j->off >= j->len || j->p[j->off] != ':') {
				j->err = j->err ? j->err : "expected ':'";
				return;
			}
			j->off++;
			ew_buf_append(j->out, ":", 1);
		}
		jr_value(j, depth + 1);
		jr_ws(j);
		if (j->err)
			return;
		if (j->off < j->len && j->p[j->off] == ',') {
			j->off++;
			continue;
		}
		if (j->off < j->len && j->p[j->off] == close) {
			j->off++;
			ew_buf_append(j->out, &close, 1);
			return;
		}
		j->err = "expected ',' or the end of the container";
	}
}

static void jr_lit(struct jr *j, const char *lit)
{
	size_t n = strlen(lit);

	if (j->len - j->off < n || memcmp(j->p + j->off, lit, n) != 0) {
		j->err = "bad literal";
		return;
	}
	j->off += n;
	ew_buf_append(j->out, lit, n);
}

static void jr_value(struct jr *j, int depth)
{
	jr_ws(j);
	if (j->off >= j->len) {
		j->err = "expected a value";
		return;
	}
	switch (j->p[j->off]) {
	case '{': jr_container(j, depth, '{', '}'); break;
	case '[': jr_container(j, depth, '[', ']'); break;
	case '"': jr_string(j); break;
	case 't': jr_lit(j, "true"); break;
	case 'f': jr_lit(j, "false"); break;
	case 'n': jr_lit(j, "null"); break;
	default: jr_number(j); break;
	}
}

static int json_copy(struct ew_buf *b, const char *text, size_t len,
		     size_t max)
{
	struct ew_buf out;
	struct jr j;
	int rc = 0;

	if (!text || len == 0)
		return ew_buf_puts(b, "null");
	ew_buf_init(&out, b->max ? b->max : max * 8);
	memset(&j, 0, sizeof(j));
	j.p = text;
	j.len = len;
	j.out = &out;
	ew_buf_init(&j.str, STORE_EVIDENCE_MAX);
	if (j.len > max)
		j.err = "too long";
	if (!j.err)
		jr_value(&j, 0);
	jr_ws(&j);
	if (!j.err && j.off != j.len)
		j.err = "text after the value";
	if (!j.err && out.toobig)
		j.err = "too long";
	if (j.err) {
		/* Not JSON: keep what it says, as one (escaped) string, cut to
		 * the cap so that it stays bounded. */
		char *copy = strndup(text, len < STORE_EVIDENCE_MAX ? len :
					   STORE_EVIDENCE_MAX);

		ew_buf_puts(b, "{\"invalid_json\":");
		rc = ew_buf_json_str(b, copy ? copy : "");
		ew_buf_puts(b, "}");
		free(copy);
	} else {
		rc = ew_buf_append(b, out.data, out.len);
	}
	ew_buf_free(&out);
	ew_buf_free(&j.str);
	return rc ? rc : (b->toobig ? -E2BIG : 0);
}

int store_json_copy(struct ew_buf *b, const char *text)
{
	if (!text)
		return ew_buf_puts(b, "null");
	return json_copy(b, text, strnlen(text, STORE_EVIDENCE_MAX + 1),
			 STORE_EVIDENCE_MAX);
}

int store_json_copy_len(struct ew_buf *b, const char *text, size_t len)
{
	return json_copy(b, text, len, len);
}
