/*
 * fuzz_dns.c - libFuzzer target: the DNS response parser (capture/dns.h),
 * dns_parse_response() and dns_parse_tcp_segment(), and the per-workload
 * name cache its events feed (dnscache).
 *
 * The input is one DNS message (as a UDP payload would carry it); the same
 * bytes are also parsed as a TCP segment (length-prefixed messages).  Every
 * parse works on a copy of exactly the bytes it is given, so ASan sees any
 * read past them.
 *
 * Checked, beyond the sanitizers:
 *  - every dns_parse_response() call lands in exactly one outcome counter,
 *    and the one its return value names;
 *  - a message handed over whole (len == wire_len) is never "truncated" or
 *    "partial": running out of bytes there is invalid;
 *  - a whole message that parses gives the same event when its length is
 *    unknown;
 *  - the same message cut short by the capture (len < wire_len) never names
 *    an address the whole message does not name, nor another question;
 *  - events keep their bounds and the presentation-form promise
 *    (fuzz_events.h);
 *  - after dnscache_add_event(), each address of the event looks up to its
 *    question name.
 */
#include <errno.h>
#include <string.h>

#include "capture.h"
#include "dns.h"
#include "fuzz.h"
#include "fuzz_events.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

static uint64_t outcomes(const struct dns_stats *s)
{
	return s->responses + s->partial + s->queries_ignored +
	       s->opcode_ignored + s->no_question + s->truncated + s->invalid;
}

/* Parse `len` bytes of `msg` (a copy of exactly that size) and check the
 * outcome bookkeeping.  Returns the parser's return value. */
static int parse(const uint8_t *msg, size_t len, size_t wire_len,
		 struct dns_event *ev, struct dns_stats *st)
{
	struct dns_stats before = *st;
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	FUZZ_CHECK(copy, "out of memory");
	memcpy(copy, msg, len);
	rc = dns_parse_response(copy, len, wire_len, ev, st);
	free(copy);
	FUZZ_CHECK(outcomes(st) == outcomes(&before) + 1,
		   "one message moved the outcome counters by %llu",
		   (unsigned long long)(outcomes(st) - outcomes(&before)));
	switch (rc) {
	case 0:
		FUZZ_CHECK(st->responses + st->partial ==
			   before.responses + before.partial + 1, "0 without a response");
		fuzz_check_dns_event(ev);
		break;
	case -ENOMSG:
		FUZZ_CHECK(st->queries_ignored + st->opcode_ignored + st->no_question ==
			   before.queries_ignored + before.opcode_ignored +
			   before.no_question + 1, "-ENOMSG not counted as ignored");
		break;
	case -EMSGSIZE:
		FUZZ_CHECK(st->truncated == before.truncated + 1,
			   "-EMSGSIZE not counted truncated");
		break;
	case -EBADMSG:
		FUZZ_CHECK(st->invalid == before.invalid + 1,
			   "-EBADMSG not counted invalid");
		break;
	default:
		FUZZ_CHECK(0, "dns_parse_response returned %d", rc);
	}
	return rc;
}

static int has_addr(const struct dns_event *ev, const uint8_t a[16])
{
	for (unsigned i = 0; i < ev->n_addrs; i++)
		if (memcmp(ev->addr[i], a, 16) == 0)
			return 1;
	return 0;
}

static void cache_event(struct dnscache *dc, const struct dns_event *ev)
{
	char name[DNS_NAME_MAX];
	int stored = dnscache_add_event(dc, "fuzz/pod", ev, 1000000000ull);

	if (stored != ev->n_addrs)
		return;		/* a name the cache refuses (counted) */
	for (unsigned i = 0; i < ev->n_addrs; i++) {
		int rc = dnscache_lookup(dc, "fuzz/pod", ev->addr[i],
					 2000000000ull, name);

		FUZZ_CHECK(rc == 0 && strcmp(name, ev->qname) == 0,
			   "address %u of \"%s\" looks up to \"%s\" (%d)", i,
			   ev->qname, name, rc);
	}
}

struct tcp_ctx {
	struct dnscache *dc;
	int calls;
};

static void on_tcp_event(void *ctx, const struct dns_event *ev)
{
	struct tcp_ctx *t = ctx;

	fuzz_check_dns_event(ev);
	cache_event(t->dc, ev);
	t->calls++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dns_event whole, unknown, cut, tcp;
	struct dnscache_config dcfg;
	struct dns_stats st = {0};
	struct dnscache *dc;
	struct tcp_ctx t;
	char err[128];
	int rw, ru, rc, n;

	dnscache_config_defaults(&dcfg);
	dcfg.max_entries = 64;
	dcfg.max_per_workload = 32;
	dcfg.max_workloads = 4;
	dc = dnscache_open(&dcfg, err, sizeof(err));
	FUZZ_CHECK(dc, "dnscache_open: %s", err);

	rw = parse(data, size, size, &whole, &st);
	FUZZ_CHECK(rw != -EMSGSIZE && st.partial == 0,
		   "a whole message reported cut short (%d)", rw);
	if (rw == 0)
		cache_event(dc, &whole);

	ru = parse(data, size, DNS_WIRE_LEN_UNKNOWN, &unknown, &st);
	if (rw == 0) {
		FUZZ_CHECK(ru == 0 && st.responses == 2 &&
			   unknown.n_addrs == whole.n_addrs &&
			   strcmp(unknown.qname, whole.qname) == 0 &&
			   strcmp(unknown.cname, whole.cname) == 0 &&
			   memcmp(unknown.addr, whole.addr, sizeof(whole.addr)) == 0,
			   "the same whole message parses differently when its "
			   "length is unknown");
	}

	for (size_t k = size / 2; k < size; k += (size - k + 1) / 2) {
		rc = parse(data, k, size, &cut, &st);
		if (rc != 0 || rw != 0)
			continue;
		FUZZ_CHECK(strcmp(cut.qname, whole.qname) == 0 &&
			   cut.qtype == whole.qtype && cut.rcode == whole.rcode,
			   "cut at %zu: question \"%s\" vs \"%s\"", k, cut.qname,
			   whole.qname);
		if (!whole.truncated_answers)
			for (unsigned i = 0; i < cut.n_addrs; i++)
				FUZZ_CHECK(has_addr(&whole, cut.addr[i]),
					   "cut at %zu names an address the whole "
					   "message does not", k);
	}

	uint8_t *copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy, "out of memory");
	memcpy(copy, data, size);
	t.dc = dc;
	t.calls = 0;
	n = dns_parse_tcp_segment(copy, size, &tcp, on_tcp_event, &t, &st);
	FUZZ_CHECK(n == t.calls, "returned %d, called back %d times", n, t.calls);
	FUZZ_CHECK(n >= 0 && (size_t)n <= size / 2, "%d messages in %zu bytes",
		   n, size);
	free(copy);
	dnscache_close(dc);
	return 0;
}
