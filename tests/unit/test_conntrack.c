/*
 * test_conntrack.c - the connection tracking queries (capture/conntrack.c)
 * against the running kernel: an answer for a connection that does not
 * exist, no question for a protocol without ports, and the pause after
 * failures in a row, provoked by giving up the root user (ctnetlink wants
 * CAP_NET_ADMIN).  tests/e2e/live_topologies.sh has the translated case,
 * on a real DNAT rule.
 */
#include <errno.h>
#include <unistd.h>

#include "conntrack.h"
#include "t.h"
#include "util.h"

static void ip(const char *s, uint8_t out[16])
{
	CHECK(ew_ip_parse(s, out) == 0);
}

static void no_entry_is_an_answer_not_an_error(void)
{
	struct conntrack *ct;
	struct conntrack_stats st;
	uint8_t a[16], b[16], to[16];
	uint16_t to_port = 0;
	int rc;

	CHECK(conntrack_open(&ct) == 0);
	if (!ct)
		return;
	ip("192.0.2.201", a);
	ip("198.51.100.202", b);
	/* ICMP has no ports to translate: not even asked. */
	CHECK(conntrack_dnat(ct, 4, 1, a, 0, b, 0, to, &to_port) == 0);
	conntrack_get_stats(ct, &st);
	CHECK_EQ_U(st.queries, 0);
	rc = conntrack_dnat(ct, 4, 6, a, 40001, b, 6379, to, &to_port);
	conntrack_get_stats(ct, &st);
	if (rc < 0 && geteuid() != 0) {
		printf("     not root: %s (the kernel wants CAP_NET_ADMIN)\n",
		       strerror(-rc));
		conntrack_close(ct);
		return;
	}
	CHECK_EQ_U(rc, 0);
	CHECK_EQ_U(st.queries, 1);
	CHECK_EQ_U(st.not_found, 1);
	CHECK_EQ_U(st.errors, 0);
	ip("2001:db8::1", a);
	ip("2001:db8::2", b);
	CHECK_EQ_U(conntrack_dnat(ct, 6, 17, a, 5353, b, 53, to, &to_port), 0);
	conntrack_get_stats(ct, &st);
	CHECK_EQ_U(st.not_found, 2);
	conntrack_close(ct);
}

/* Last: it gives up root for good. */
static void failures_in_a_row_pause_the_queries(void)
{
	struct conntrack *ct;
	struct conntrack_stats st;
	uint8_t a[16], b[16], to[16];
	uint16_t to_port = 0;

	if (geteuid() != 0) {
		printf("     not root: skipped\n");
		return;
	}
	CHECK(conntrack_open(&ct) == 0);
	if (!ct)
		return;
	CHECK(setresgid(65534, 65534, 65534) == 0);
	CHECK(setresuid(65534, 65534, 65534) == 0);
	ip("192.0.2.201", a);
	ip("198.51.100.202", b);
	for (int i = 0; i < 8; i++)
		CHECK_EQ_U(conntrack_dnat(ct, 4, 6, a, 40001, b, 6379, to,
					  &to_port), (unsigned long long)-EPERM);
	conntrack_get_stats(ct, &st);
	CHECK_EQ_U(st.errors, 8);
	CHECK_EQ_U(st.skipped, 0);
	/* Paused: no question, no error, no wait. */
	for (int i = 0; i < 100; i++)
		CHECK_EQ_U(conntrack_dnat(ct, 4, 6, a, 40001, b, 6379, to,
					  &to_port), 0);
	conntrack_get_stats(ct, &st);
	CHECK_EQ_U(st.queries, 8);
	CHECK_EQ_U(st.errors, 8);
	CHECK_EQ_U(st.skipped, 100);
	conntrack_close(ct);
}

int main(void)
{
	RUN(no_entry_is_an_answer_not_an_error);
	RUN(failures_in_a_row_pause_the_queries);
	return T_DONE();
}
