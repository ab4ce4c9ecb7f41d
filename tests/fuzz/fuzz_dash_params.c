/*
 * fuzz_dash_params.c - libFuzzer target: what the dashboard makes of the
 * query parameters and form fields a client sends (dashboard/params.c and
 * the util.h parsers the API applies to them, and the escaping of label
 * values on /metrics).  The agent's own health object that promjson.c turns
 * into /metrics is the agent's output, not a client's, and is left out.
 *
 * The request handlers themselves take a libmicrohttpd connection and are
 * not reachable without one; every check they make of a value is one of the
 * functions below, given the value as libmicrohttpd hands it over.  The
 * input is a query string, "key=value&key=value...", each value run through
 * the check its key gets in dashboard/api.c, auth.c and stats.c.
 *
 * Checked, beyond the sanitizers:
 *  - dash_unescape never grows the text and leaves no NUL inside it;
 *  - a cursor that parses formats back to one that parses to the same keys;
 *  - a name filter becomes a LIKE pattern in which '%', '_' and '\' are
 *    wildcards only where the user asked for one ('*', '?', or the implied
 *    substring '%' at both ends): every other one is escaped;
 *  - a CIDR contains its own first and last address, and no address above;
 *  - a protocol name parses back from its canonical name;
 *  - a time that parses, formatted as RFC 3339, parses back to within a
 *    microsecond (the format's precision);
 *  - Prometheus label values come out with no raw newline or quote.
 */
#include <errno.h>
#include <string.h>

#include "dash_int.h"
#include "fuzz.h"
#include "util.h"

#define VALUE_MAX 4096
#define NOW_NS 1764342000000000000ull	/* 2025-11-28T15:00:00Z */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

static void check_unescape(const char *v)
{
	char s[VALUE_MAX];
	size_t n = strlen(v);

	memcpy(s, v, n + 1);
	for (char *c = s; *c; c++)	/* a form field: '+' is a space */
		if (*c == '+')
			*c = ' ';
	if (dash_unescape(s) == 0)
		FUZZ_CHECK(strlen(s) <= n, "unescaping grew \"%s\"", v);
}

static void check_cursor(const char *v)
{
	static const char prefixes[] = "atfw";
	uint64_t key, id, key2, id2;
	char out[48];

	for (const char *p = prefixes; *p; p++) {
		if (dash_cursor_parse(v, *p, &key, &id) != 0)
			continue;
		dash_cursor_fmt(out, *p, key, id);
		FUZZ_CHECK(dash_cursor_parse(out, *p, &key2, &id2) == 0 &&
			   key2 == key && id2 == id,
			   "cursor \"%s\" formats to \"%s\", which reads differently",
			   v, out);
	}
}

static void check_name(const char *v)
{
	char out[2 * 256 + 3];
	int glob = strpbrk(v, "*?") != NULL;
	size_t wild = 0, asked = 0;

	if (dash_name_pattern(v, out, sizeof(out)) != 0)
		return;
	FUZZ_CHECK(memchr(out, 0, sizeof(out)), "pattern unterminated");
	for (const char *p = v; *p; p++)
		asked += *p == '*' || *p == '?';
	for (const char *p = out; *p; p++) {
		if (*p == '\\') {
			FUZZ_CHECK(p[1] == '%' || p[1] == '_' || p[1] == '\\',
				   "stray escape in \"%s\" from \"%s\"", out, v);
			p++;
			continue;
		}
		wild += *p == '%' || *p == '_';
	}
	FUZZ_CHECK(wild == (glob ? asked : 2),
		   "\"%s\" became \"%s\": %zu wildcards, %zu asked for", v, out,
		   wild, glob ? asked : (size_t)2);
}

static void check_cidr(const char *v)
{
	struct ew_cidr c;
	uint8_t above[16];
	int i;

	if (ew_cidr_parse(v, &c) != 0)
		return;
	FUZZ_CHECK(ew_cidr_contains(&c, c.lo) && ew_cidr_contains(&c, c.hi),
		   "%s does not contain its own ends", v);
	FUZZ_CHECK(memcmp(c.lo, c.hi, 16) <= 0, "%s: first above last", v);
	memcpy(above, c.hi, 16);
	for (i = 15; i >= 0 && ++above[i] == 0; i--)
		;
	if (i >= 0)
		FUZZ_CHECK(!ew_cidr_contains(&c, above),
			   "%s contains the address after its last", v);
}

static void check_proto(const char *v)
{
	uint8_t p, q;
	const char *name;

	if (ew_proto_parse(v, &p) != 0)
		return;
	name = ew_proto_name(p);
	if (name)
		FUZZ_CHECK(ew_proto_parse(name, &q) == 0 && q == p,
			   "protocol %u is \"%s\", which parses to %u", p, name, q);
}

static void check_time(const char *v)
{
	char text[EW_TIME_STRLEN];
	uint64_t t, t2;

	if (ew_parse_time(v, NOW_NS, &t) != 0)
		return;
	if (t == 0)
		return;		/* "no time" to ew_fmt_time's callers */
	ew_fmt_time(t, text);
	FUZZ_CHECK(ew_parse_time(text, NOW_NS, &t2) == 0 && t2 <= t &&
		   t - t2 < 1000,
		   "\"%s\" is %llu, printed \"%s\", read back as %llu", v,
		   (unsigned long long)t, text, (unsigned long long)t2);
}

static void check_label(const char *v)
{
	struct ew_buf b;

	ew_buf_init(&b, 4 * VALUE_MAX);
	dash_prom_label(&b, v);
	for (size_t i = 0; i < b.len; i++) {
		FUZZ_CHECK(b.data[i] != '\n', "raw newline in a label value");
		if (b.data[i] == '\\') {
			FUZZ_CHECK(i + 1 < b.len && (b.data[i + 1] == '\\' ||
				   b.data[i + 1] == '"' || b.data[i + 1] == 'n'),
				   "stray backslash in a label value");
			i++;
			continue;
		}
		FUZZ_CHECK(b.data[i] != '"', "raw quote in a label value");
	}
	ew_buf_free(&b);
}

static void param(const char *key, const char *v)
{
	check_unescape(v);
	if (!strcmp(key, "since") || !strcmp(key, "until"))
		check_time(v);
	else if (!strcmp(key, "cursor"))
		check_cursor(v);
	else if (!strcmp(key, "name"))
		check_name(v);
	else if (!strcmp(key, "workload"))
		(void)dash_workload_valid(v);
	else if (!strcmp(key, "remote"))
		check_cidr(v);
	else if (!strcmp(key, "proto"))
		check_proto(v);
	else if (!strcmp(key, "label"))
		check_label(v);
	else {
		/* Unknown keys: every check, so each sees every mutation. */
		check_time(v);
		check_cursor(v);
		check_name(v);
		(void)dash_workload_valid(v);
		check_cidr(v);
		check_proto(v);
		check_label(v);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *part;
	size_t off = 0, len;

	while (fuzz_next_part(data, size, "&", 1, &off, &part, &len)) {
		char kv[VALUE_MAX];
		char *eq;

		if (len >= sizeof(kv) || memchr(part, 0, len))
			continue;	/* libmicrohttpd's values hold no NUL */
		memcpy(kv, part, len);
		kv[len] = '\0';
		eq = strchr(kv, '=');
		if (eq) {
			*eq = '\0';
			param(kv, eq + 1);
		} else {
			param("", kv);
		}
	}
	return 0;
}
