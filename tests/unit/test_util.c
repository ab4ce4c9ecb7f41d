/* test_util.c - util: time text, durations, sizes, addresses, CIDR blocks,
 * the bounded buffer, JSON escaping of hostile strings, the keyed hash and
 * the SPSC queue under two threads. */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "t.h"
#include "util.h"

static void time_format_is_rfc3339_utc_with_microseconds(void)
{
	char s[EW_TIME_STRLEN];

	ew_fmt_time(0, s);
	CHECK_STR(s, "1970-01-01T00:00:00.000000Z");
	ew_fmt_time(1764344180123456789ull, s);
	CHECK_STR(s, "2025-11-28T15:36:20.123456Z");
}

static void time_parse_accepts_documented_forms_only(void)
{
	uint64_t ns = 0, now = 1764344180ull * 1000000000ull;

	CHECK(ew_parse_time("2025-11-28T15:36:20Z", now, &ns) == 0);
	CHECK_EQ_U(ns, 1764344180ull * 1000000000ull);
	CHECK(ew_parse_time("2025-11-28T16:36:20.5+01:00", now, &ns) == 0);
	CHECK_EQ_U(ns, 1764344180ull * 1000000000ull + 500000000ull);
	CHECK(ew_parse_time("2025-11-28", now, &ns) == 0);
	CHECK_EQ_U(ns, 1764288000ull * 1000000000ull);
	CHECK(ew_parse_time("1764344180", now, &ns) == 0);
	CHECK_EQ_U(ns, 1764344180ull * 1000000000ull);
	CHECK(ew_parse_time("-2h", now, &ns) == 0);
	CHECK_EQ_U(ns, now - 7200ull * 1000000000ull);
	CHECK(ew_parse_time("-7d", now, &ns) == 0);
	CHECK_EQ_U(ns, now - 7 * 86400ull * 1000000000ull);
	const char *bad[] = {"", "yesterday", "2025-13-01", "2025-11-28T25:00Z",
			     "2025-11-28T15:36:20Zjunk", "-", "-5x", "-99999999999d",
			     "123456789012345", "2025-11-28T15", "1969-01-01"};
	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++)
		CHECK(ew_parse_time(bad[i], now, &ns) == -EINVAL);
}

static void durations_and_sizes_parse_with_units_and_reject_overflow(void)
{
	uint64_t v;

	CHECK(ew_parse_duration("90", &v) == 0 && v == 90);
	CHECK(ew_parse_duration("5m", &v) == 0 && v == 300);
	CHECK(ew_parse_duration("7d", &v) == 0 && v == 604800);
	CHECK(ew_parse_duration("5q", &v) == -EINVAL);
	CHECK(ew_parse_duration("99999999999999999999", &v) == -EINVAL);
	CHECK(ew_parse_size("1G", &v) == 0 && v == 1073741824ull);
	CHECK(ew_parse_size("64MiB", &v) == 0 && v == 64ull << 20);
	CHECK(ew_parse_size("512k", &v) == 0 && v == 512ull << 10);
	CHECK(ew_parse_size("99999999999T", &v) == -EINVAL);
	CHECK(ew_parse_size("-1", &v) == -EINVAL);
}

static void addresses_round_trip_in_mapped_form(void)
{
	uint8_t ip[16];
	char s[EW_IPSTR_MAX];

	CHECK(ew_ip_parse("203.0.113.66", ip) == 0);
	CHECK(ew_ip_is_v4(ip));
	ew_ip_to_str(ip, s);
	CHECK_STR(s, "203.0.113.66");
	CHECK(ew_ip_parse("2001:db8::1", ip) == 0);
	CHECK(!ew_ip_is_v4(ip));
	ew_ip_to_str(ip, s);
	CHECK_STR(s, "2001:db8::1");
	CHECK(ew_ip_parse("300.1.1.1", ip) == -EINVAL);
	CHECK(ew_ip_parse("", ip) == -EINVAL);
	/* IPv4 is formatted by hand: the same text as inet_ntop for every
	 * value of each octet, in every position. */
	for (int pos = 0; pos < 4; pos++)
		for (int v = 0; v < 256; v++) {
			uint8_t v4[4] = {10, 1, 100, 255};
			char want[INET_ADDRSTRLEN];

			v4[pos] = (uint8_t)v;
			ew_ip_from_v4(ip, v4);
			ew_ip_to_str(ip, s);
			inet_ntop(AF_INET, v4, want, sizeof(want));
			if (strcmp(s, want) != 0) {
				CHECK_STR(s, want);
				return;
			}
		}
	{
		char small[4];

		ew_strcpy_cut(small, sizeof(small), "abcdef");
		CHECK_STR(small, "abc");
		ew_strcpy_cut(small, sizeof(small), "");
		CHECK_STR(small, "");
	}
}

static void cidr_blocks_contain_exactly_their_range(void)
{
	struct ew_cidr c;
	uint8_t ip[16];

	CHECK(ew_cidr_parse("198.51.100.0/24", &c) == 0);
	ew_ip_parse("198.51.100.255", ip);
	CHECK(ew_cidr_contains(&c, ip));
	ew_ip_parse("198.51.101.0", ip);
	CHECK(!ew_cidr_contains(&c, ip));
	ew_ip_parse("::ffff:198.51.100.7", ip);
	CHECK(ew_cidr_contains(&c, ip));
	CHECK(ew_cidr_parse("10.1.2.3/8", &c) == 0); /* host bits ignored */
	ew_ip_parse("10.255.0.1", ip);
	CHECK(ew_cidr_contains(&c, ip));
	CHECK(ew_cidr_parse("2001:db8::/32", &c) == 0);
	ew_ip_parse("2001:db8:ffff::1", ip);
	CHECK(ew_cidr_contains(&c, ip));
	ew_ip_parse("2001:db9::1", ip);
	CHECK(!ew_cidr_contains(&c, ip));
	CHECK(ew_cidr_parse("0.0.0.0/0", &c) == 0);
	ew_ip_parse("2001:db8::1", ip);
	CHECK(!ew_cidr_contains(&c, ip)); /* IPv4 /0 is not all of IPv6 */
	const char *bad[] = {"10.0.0.0/33", "2001:db8::/129", "10.0.0.0/", "/8",
			     "10.0.0.0/8x", "nonsense/8", "10.0.0.0/-1"};
	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++)
		CHECK(ew_cidr_parse(bad[i], &c) == -EINVAL);
}

static void buffer_refuses_to_grow_past_its_maximum(void)
{
	struct ew_buf b;

	ew_buf_init(&b, 16);
	CHECK(ew_buf_puts(&b, "0123456789") == 0);
	CHECK(ew_buf_puts(&b, "0123456789") == -E2BIG);
	CHECK(b.toobig);
	CHECK_EQ_U(b.len, 10);
	CHECK_STR(b.data, "0123456789");
	ew_buf_reset(&b);
	CHECK(ew_buf_printf(&b, "%d-%s", 42, "x") == 0);
	CHECK_STR(b.data, "42-x");
	ew_buf_free(&b);
}

static void json_escaping_makes_hostile_strings_inert(void)
{
	struct ew_buf b;

	ew_buf_init(&b, 4096);
	ew_buf_json_str(&b, "<script>alert(1)</script>");
	CHECK_STR(b.data, "\"\\u003cscript\\u003ealert(1)\\u003c/script\\u003e\"");
	ew_buf_reset(&b);
	ew_buf_json_str(&b, "\"><img src=x onerror='a'>&");
	CHECK_STR(b.data, "\"\\u0022\\u003e\\u003cimg src=x onerror=\\u0027a\\u0027\\u003e\\u0026\"");
	ew_buf_reset(&b);
	ew_buf_json_str(&b, "a\xe2\x80\xa8" "b\n\x01");	/* U+2028, newline, ^A */
	CHECK_STR(b.data, "\"a\\u2028b\\u000a\\u0001\"");
	ew_buf_reset(&b);
	ew_buf_json_str(&b, "bad\xff\xc0\xafutf8\xed\xa0\x80");	/* invalid, overlong, surrogate */
	CHECK_STR(b.data, "\"bad\\ufffd\\ufffd\\ufffdutf8\\ufffd\\ufffd\\ufffd\"");
	ew_buf_reset(&b);
	ew_buf_json_str(&b, "caf\xc3\xa9 \xf0\x9f\x90\xb3");	/* valid stays */
	CHECK_STR(b.data, "\"caf\xc3\xa9 \xf0\x9f\x90\xb3\"");
	ew_buf_reset(&b);
	ew_buf_json_str(&b, NULL);
	CHECK_STR(b.data, "null");
	ew_buf_free(&b);
}

static void keyed_hash_depends_on_key_and_every_byte(void)
{
	uint8_t k1[16] = {0}, k2[16] = {1};
	uint8_t data[64];

	for (int i = 0; i < 64; i++)
		data[i] = (uint8_t)i;
	uint64_t h = ew_siphash(k1, data, sizeof(data));
	CHECK(h == ew_siphash(k1, data, sizeof(data)));
	CHECK(h != ew_siphash(k2, data, sizeof(data)));
	for (int i = 0; i < 64; i++) {
		data[i] ^= 1;
		CHECK(h != ew_siphash(k1, data, sizeof(data)));
		data[i] ^= 1;
	}
	for (size_t len = 0; len < 16; len++)
		CHECK(ew_siphash(k1, data, len) != ew_siphash(k1, data, len + 1));
	uint8_t r1[16], r2[16];
	CHECK(ew_random_bytes(r1, 16) == 0 && ew_random_bytes(r2, 16) == 0);
	CHECK(memcmp(r1, r2, 16) != 0);
}

#define QN 200000
static struct ew_queue q;

static void *producer(void *arg)
{
	for (uint64_t i = 0; i < QN; i++)
		ew_queue_push(&q, &i, 1);
	ew_queue_close(&q);
	return arg;
}

static void queue_passes_every_element_in_order_between_threads(void)
{
	pthread_t t;
	uint64_t v, expect = 0;
	int in_order = 1;

	CHECK(ew_queue_init(&q, sizeof(uint64_t), 64) == 0);
	pthread_create(&t, NULL, producer, NULL);
	while (ew_queue_pop(&q, &v, -1) == 0) {
		if (v != expect)
			in_order = 0;
		expect++;
	}
	pthread_join(t, NULL);
	CHECK(in_order);
	CHECK_EQ_U(expect, QN);
	CHECK(q.high_water <= 64);
	ew_queue_destroy(&q);
}

struct inplace_arg {
	struct ew_queue *q;
	uint64_t n;
};

/* Producer in place, pausing now and then so that the consumer goes from
 * streaming to waiting alone and back. */
static void *inplace_producer(void *arg)
{
	struct inplace_arg *a = arg;

	for (uint64_t i = 0; i < a->n; i++) {
		uint64_t *slot = ew_queue_reserve(a->q, 1);

		if (!slot)
			break;
		*slot = i;
		ew_queue_commit(a->q);
		if (i % 20000 == 19999)
			usleep(3000);
	}
	ew_queue_close(a->q);
	return NULL;
}

/* reserve/commit and wait/front/advance hand over every element once and in
 * order, whatever the ring's size (2: a quarter of it is one slot). */
static void queue_in_place_api_passes_every_element_in_order(void)
{
	static const size_t caps[] = {2, 64, 4096};

	for (size_t c = 0; c < EW_ARRAY_LEN(caps); c++) {
		struct ew_queue iq;
		struct inplace_arg a = {&iq, QN};
		pthread_t t;
		uint64_t expect = 0;
		int in_order = 1, rc;

		CHECK(ew_queue_init(&iq, sizeof(uint64_t), caps[c]) == 0);
		pthread_create(&t, NULL, inplace_producer, &a);
		while ((rc = ew_queue_wait(&iq, -1)) == 0) {
			const uint64_t *v;

			while ((v = ew_queue_front(&iq)) != NULL) {
				if (*v != expect)
					in_order = 0;
				expect++;
				ew_queue_advance(&iq);
			}
		}
		pthread_join(t, NULL);
		CHECK(rc == -EPIPE);
		CHECK(in_order);
		CHECK_EQ_U(expect, QN);
		CHECK(ew_queue_front(&iq) == NULL);
		CHECK(ew_queue_reserve(&iq, 0) == NULL);	/* closed */
		ew_queue_destroy(&iq);
	}
}

static void queue_full_fails_fast_when_not_blocking(void)
{
	uint64_t v = 7;

	CHECK(ew_queue_init(&q, sizeof(v), 4) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(ew_queue_push(&q, &v, 0) == 0);
	CHECK(ew_queue_push(&q, &v, 0) == -EAGAIN);
	CHECK_EQ_U(ew_queue_depth(&q), 4);
	v = 0;
	CHECK(ew_queue_peek(&q, &v) == 0 && v == 7);
	CHECK_EQ_U(ew_queue_depth(&q), 4);	/* peek removes nothing */
	CHECK(ew_queue_pop(&q, &v, 0) == 0 && v == 7);
	CHECK(ew_queue_push(&q, &v, 0) == 0);
	ew_queue_close(&q);
	CHECK(ew_queue_push(&q, &v, 0) == -EPIPE);
	int n = 0;
	while (ew_queue_pop(&q, &v, 0) == 0)
		n++;
	CHECK_EQ_U(n, 4);
	CHECK(ew_queue_pop(&q, &v, 10) == -EPIPE);
	ew_queue_destroy(&q);
}

static void queue_pop_times_out_when_empty(void)
{
	uint64_t v, t0;

	CHECK(ew_queue_init(&q, sizeof(v), 4) == 0);
	CHECK(ew_queue_peek(&q, &v) == -EAGAIN);
	t0 = ew_mono_ns();
	CHECK(ew_queue_pop(&q, &v, 50) == -EAGAIN);
	CHECK(ew_mono_ns() - t0 >= 40000000ull);
	ew_queue_destroy(&q);
}

static void protocol_names_round_trip(void)
{
	uint8_t p;

	CHECK_STR(ew_proto_name(6), "tcp");
	CHECK_STR(ew_proto_name(58), "ipv6-icmp");
	CHECK(ew_proto_name(253) == NULL);
	CHECK(ew_proto_parse("udp", &p) == 0 && p == 17);
	CHECK(ew_proto_parse("icmpv6", &p) == 0 && p == 58);
	CHECK(ew_proto_parse("132", &p) == 0 && p == 132);
	CHECK(ew_proto_parse("256", &p) == -EINVAL);
	CHECK(ew_proto_parse("tcpx", &p) == -EINVAL);
}

int main(void)
{
	RUN(time_format_is_rfc3339_utc_with_microseconds);
	RUN(time_parse_accepts_documented_forms_only);
	RUN(durations_and_sizes_parse_with_units_and_reject_overflow);
	RUN(addresses_round_trip_in_mapped_form);
	RUN(cidr_blocks_contain_exactly_their_range);
	RUN(buffer_refuses_to_grow_past_its_maximum);
	RUN(json_escaping_makes_hostile_strings_inert);
	RUN(keyed_hash_depends_on_key_and_every_byte);
	RUN(queue_passes_every_element_in_order_between_threads);
	RUN(queue_in_place_api_passes_every_element_in_order);
	RUN(queue_full_fails_fast_when_not_blocking);
	RUN(queue_pop_times_out_when_empty);
	RUN(protocol_names_round_trip);
	return T_DONE();
}
