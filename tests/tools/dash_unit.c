/*
 * dash_unit - unit tests of the dashboard's and the store's small parsers
 * and writers of outside input, run by tests/dashboard/unit.sh: the stored-
 * JSON re-encoder (store_json_copy), the health-object-to-Prometheus mapping,
 * cursors, name patterns, workload references, percent-decoding and the
 * constant-time comparison.  It includes the dashboard's private header, as
 * the store's unit tests include store_int.h.
 *
 * Prints "ok"/"FAIL" per check; exit status 0 when all pass.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "dash_int.h"
#include "store.h"
#include "util.h"

static int fails, checks;

#define CHECK(what, cond)                                                     \
	do {                                                                  \
		checks++;                                                     \
		if (cond) {                                                   \
			printf("ok   %s\n", what);                            \
		} else {                                                      \
			fails++;                                              \
			printf("FAIL %s (%s:%d)\n", what, __FILE__, __LINE__); \
		}                                                             \
	} while (0)

/* store_json_copy(in) == want */
static void json_is(const char *what, const char *in, const char *want)
{
	struct ew_buf b;

	ew_buf_init(&b, 1 << 20);
	store_json_copy(&b, in);
	CHECK(what, b.data && strcmp(b.data, want) == 0);
	if (!b.data || strcmp(b.data, want) != 0)
		printf("     got:  %s\n     want: %s\n", b.data ? b.data : "(null)", want);
	ew_buf_free(&b);
}

static int json_invalid(const char *in)
{
	struct ew_buf b;
	int r;

	ew_buf_init(&b, 1 << 20);
	store_json_copy(&b, in);
	r = b.data && strncmp(b.data, "{\"invalid_json\":", 16) == 0;
	ew_buf_free(&b);
	return r;
}

static void test_json_copy(void)
{
	char deep[200] = "", big[70000];

	json_is("json: null and empty give null", NULL, "null");
	json_is("json: empty string gives null", "", "null");
	json_is("json: nested values kept, whitespace dropped",
		" {\"a\" : [1, -2.5e+3, true, false, null, {}, []] } ",
		"{\"a\":[1,-2.5e+3,true,false,null,{},[]]}");
	json_is("json: <, >, &, ' and \" in strings escaped",
		"{\"x\":\"<script>'&\\\"\"}",
		"{\"x\":\"\\u003cscript\\u003e\\u0027\\u0026\\u0022\"}");
	json_is("json: keys escaped too", "{\"<k>\":1}", "{\"\\u003ck\\u003e\":1}");
	json_is("json: \\u2028 and a raw U+2029 escaped",
		"[\"\\u2028\",\"\xe2\x80\xa9\"]", "[\"\\u2028\",\"\\u2029\"]");
	json_is("json: a surrogate pair becomes one character",
		"[\"\\ud83d\\ude00\"]", "[\"\xf0\x9f\x98\x80\"]");
	json_is("json: a lone surrogate becomes U+FFFD", "[\"\\ud800x\"]",
		"[\"\xef\xbf\xbdx\"]");
	json_is("json: \\u0000 becomes U+FFFD, nothing is cut",
		"[\"a\\u0000b\"]", "[\"a\xef\xbf\xbd" "b\"]");
	json_is("json: invalid UTF-8 in a string becomes U+FFFD",
		"[\"a\xff\xfe\"]", "[\"a\\ufffd\\ufffd\"]");
	json_is("json: escapes \\/ \\b \\n decoded and written again",
		"[\"a\\/b\\n\\b\"]", "[\"a/b\\u000a\\u0008\"]");
	CHECK("json: trailing comma is not JSON", json_invalid("[1,]"));
	CHECK("json: unterminated string is not JSON", json_invalid("[\"abc"));
	CHECK("json: text after the value is not JSON", json_invalid("{} x"));
	CHECK("json: 01 is not a number", json_invalid("[01]"));
	CHECK("json: 1. is not a number", json_invalid("[1.]"));
	CHECK("json: a raw control character is not JSON", json_invalid("[\"a\tb\"]"));
	CHECK("json: a bare word is not JSON", json_invalid("<script>"));
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	CHECK("json: nesting deeper than 32 is refused", json_invalid(deep));
	memset(big, ' ', sizeof(big) - 1);
	big[0] = '1';
	big[sizeof(big) - 1] = '\0';
	CHECK("json: text longer than STORE_EVIDENCE_MAX is refused",
	      json_invalid(big));
	json_is("json: what is not JSON is kept as an escaped string",
		"<b>x", "{\"invalid_json\":\"\\u003cb\\u003ex\"}");
}

static void test_prom(void)
{
	struct ew_buf b;
	const char *in =
		"{\"uptime_s\":5,\"ok\":true,\"state\":\"running\","
		"\"interfaces\":[{\"name\":\"a\\\"b\",\"received\":1,\"drops\":2},"
		"{\"name\":\"c\",\"received\":3,\"drops\":4}],"
		"\"store\":{\"written\":7,\"nested\":{\"deep\":8}},"
		"\"dashboard\":{\"requests\":9},\"db\":{\"x\":1},"
		"\"weird key!\":10}";

	ew_buf_init(&b, 1 << 20);
	CHECK("prom: a health object parses", dash_prom_from_json(&b, in, strlen(in)) == 0);
	CHECK("prom: top-level numbers and booleans",
	      strstr(b.data, "\negresswatch_uptime_s 5\n") &&
	      strstr(b.data, "\negresswatch_ok 1\n"));
	CHECK("prom: strings are not samples", !strstr(b.data, "state"));
	CHECK("prom: arrays of objects become labelled families, contiguous",
	      strstr(b.data, "egresswatch_interface_drops{interface=\"a\\\"b\"} 2\n"
			     "egresswatch_interface_drops{interface=\"c\"} 4\n"));
	CHECK("prom: groups and nested groups join names",
	      strstr(b.data, "egresswatch_store_written 7\n") &&
	      strstr(b.data, "egresswatch_store_nested_deep 8\n"));
	CHECK("prom: our own groups (dashboard, db) are skipped",
	      !strstr(b.data, "requests") && !strstr(b.data, "egresswatch_db_"));
	CHECK("prom: odd characters in names become _",
	      strstr(b.data, "egresswatch_weird_key_ 10\n"));
	CHECK("prom: one TYPE line per family",
	      strstr(b.data, "# TYPE egresswatch_interface_drops untyped\n") ==
	      strstr(b.data, "# TYPE egresswatch_interface_drops"));
	ew_buf_reset(&b);
	CHECK("prom: malformed input writes nothing",
	      dash_prom_from_json(&b, "{\"a\":[1,", 8) == -EINVAL && b.len == 0);
	CHECK("prom: not an object writes nothing",
	      dash_prom_from_json(&b, "[1]", 3) == -EINVAL && b.len == 0);
	ew_buf_reset(&b);
	in = "{\"big\":123456789012345678901234,\"ratio\":0.1,"
	     "\"interfaces\":[{\"name\":\"caf\\u00e9\\u0001\",\"received\":2},"
	     "{\"received\":3},7]}";
	CHECK("prom: integers past 2^63 and fractions are still samples",
	      dash_prom_from_json(&b, in, strlen(in)) == 0 &&
	      strstr(b.data, "\negresswatch_big 1.2345678901234569e+23\n") &&
	      strstr(b.data, "\negresswatch_ratio 0.1\n"));
	CHECK("prom: label values are UTF-8, control characters as spaces",
	      strstr(b.data, "{interface=\"caf\xc3\xa9 \"} 2\n"));
	CHECK("prom: an element without a name is labelled by its index",
	      strstr(b.data, "{interface=\"1\"} 3\n"));
	ew_buf_reset(&b);
	CHECK("prom: input cut short writes nothing",
	      dash_prom_from_json(&b, in, strlen(in) - 1) == -EINVAL && b.len == 0);
	ew_buf_reset(&b);
	dash_prom_label(&b, "a\\b\"c\nd");
	CHECK("prom: label values escape \\ \" and newline",
	      strcmp(b.data, "a\\\\b\\\"c\\nd") == 0);
	ew_buf_free(&b);
}

static void test_params(void)
{
	char out[48], pat[600];
	uint64_t k = 0, id = 0;

	dash_cursor_fmt(out, 's', 1795880400000000000ull, 42);
	CHECK("cursor: round trip",
	      dash_cursor_parse(out, 's', &k, &id) == 0 &&
	      k == 1795880400000000000ull && id == 42);
	CHECK("cursor: another order's cursor is refused",
	      dash_cursor_parse(out, 'b', &k, &id) == -EINVAL);
	static const char *bad[] = {"", "s", "s.", "s.1", "s.1.", "s..1", "s.1.x",
				    "s.A.1", "s.11111111111111111.1", "x.1.1",
				    "s.1.1.1"};
	int all = 1;
	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++)
		all &= dash_cursor_parse(bad[i], 's', &k, &id) == -EINVAL;
	CHECK("cursor: malformed ones are refused", all);

	CHECK("name: a substring matches anywhere",
	      dash_name_pattern("abc", pat, sizeof(pat)) == 0 &&
	      strcmp(pat, "%abc%") == 0);
	CHECK("name: a glob is anchored, * and ? become % and _",
	      dash_name_pattern("*.ex?mple.com", pat, sizeof(pat)) == 0 &&
	      strcmp(pat, "%.ex_mple.com") == 0);
	CHECK("name: LIKE's own % _ \\ are literal",
	      dash_name_pattern("50%_off\\", pat, sizeof(pat)) == 0 &&
	      strcmp(pat, "%50\\%\\_off\\\\%") == 0);
	char longname[300];
	memset(longname, 'a', 254);
	longname[254] = '\0';
	CHECK("name: over 253 characters is refused",
	      dash_name_pattern(longname, pat, sizeof(pat)) == -EINVAL);
	CHECK("name: control characters are refused",
	      dash_name_pattern("a\nb", pat, sizeof(pat)) == -EINVAL);

	CHECK("workload: namespace/name and plain names",
	      dash_workload_valid("prod/redis-0") == 0 &&
	      dash_workload_valid("web") == 0);
	CHECK("workload: empty parts, two slashes, controls refused",
	      dash_workload_valid("") && dash_workload_valid("/x") &&
	      dash_workload_valid("x/") && dash_workload_valid("a/b/c") &&
	      dash_workload_valid("a\x01"));

	char u1[] = "a%41%2f+", u2[] = "%00", u3[] = "%4", u4[] = "%zz";
	CHECK("unescape: %XX decoded, + kept (forms map it first)",
	      dash_unescape(u1) == 0 && strcmp(u1, "aA/+") == 0);
	CHECK("unescape: %00, short and bad escapes refused",
	      dash_unescape(u2) && dash_unescape(u3) && dash_unescape(u4));

	CHECK("ct_equal: equal", dash_ct_equal("abcd", 4, "abcd", 4));
	CHECK("ct_equal: a prefix is not equal", !dash_ct_equal("abc", 3, "abcd", 4));
	CHECK("ct_equal: one byte differs", !dash_ct_equal("abcd", 4, "abce", 4));
	CHECK("ct_equal: empty against something", !dash_ct_equal("", 0, "a", 1));
}

static void test_flow_json(void)
{
	struct store_flow f;
	struct ew_buf b;

	memset(&f, 0, sizeof(f));
	f.id = 7;
	f.proto = 6;
	f.family = 4;
	f.start_ns = 1000000000;
	f.end_ns = 2000000000;
	f.remote_port = 6379;
	f.tcp_flags_sent = 0x12;
	f.ended = 1;
	f.end_reason = 2;
	snprintf(f.remote_name, sizeof(f.remote_name), "<x>");
	ew_buf_init(&b, 1 << 16);
	CHECK("flow json: written", store_flow_json(&f, &b) == 0);
	CHECK("flow json: contract fields, unknowns null, names escaped",
	      strstr(b.data, "\"id\":7,\"start\":\"1970-01-01T00:00:01.000000Z\"") &&
	      strstr(b.data, "\"proto\":\"tcp\"") &&
	      strstr(b.data, "\"workload\":null") &&
	      strstr(b.data, "\"remote_asn\":null") &&
	      strstr(b.data, "\"remote_name\":\"\\u003cx\\u003e\"") &&
	      strstr(b.data, "\"tcp_flags_sent\":\"SA\"") &&
	      strstr(b.data, "\"state\":\"ended\",\"end_reason\":\"fin\""));
	ew_buf_free(&b);
	ew_buf_init(&b, 64);
	CHECK("flow json: a full buffer is -E2BIG, not an overrun",
	      store_flow_json(&f, &b) == -E2BIG && b.toobig);
	ew_buf_free(&b);
}

int main(void)
{
	test_json_copy();
	test_prom();
	test_params();
	test_flow_json();
	printf("%d checks, %d failed\n", checks, fails);
	return fails ? 1 : 0;
}
