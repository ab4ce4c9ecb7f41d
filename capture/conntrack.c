/*
 * conntrack.c - one ctnetlink GET per question (contract in conntrack.h).
 *
 * The request is IPCTNL_MSG_CT_GET with the original tuple (CTA_TUPLE_ORIG:
 * addresses, protocol, ports); the kernel answers with the whole entry
 * (IPCTNL_MSG_CT_NEW) or an error (ENOENT when there is none).  The reply
 * tuple's source is where the connection was sent after any DNAT: when it
 * differs from the original destination, the destination was rewritten.
 * Messages are built and read with libnl's message and attribute helpers
 * on a plain netlink socket with a receive timeout, so a kernel that does
 * not answer costs CT_TIMEOUT_MS, never a hang; replies are matched by
 * sequence number, so one that comes too late is skipped by the next query.
 *
 * The caller is the pipeline thread, which must not be slowed by a table it
 * cannot use (no CAP_NET_ADMIN in that namespace, ctnetlink missing, a
 * kernel that does not answer): after CT_FAIL_RUN failures in a row the
 * queries pause for CT_PAUSE_NS, with one log line when they stop and one
 * when they work again.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conntrack.h"
#include "util.h"

#define RX_BUF 8192
#define CT_FAIL_RUN 8
#define CT_PAUSE_NS (60ull * 1000000000)

struct conntrack {
	int fd;
	uint32_t seq;
	uint32_t fails;			/* failures in a row */
	int paused_logged;
	uint64_t paused_until;		/* monotonic ns */
	uint8_t rx[RX_BUF];
	_Atomic uint64_t queries, translated, untranslated, not_found, errors,
		skipped;
};

int conntrack_open(struct conntrack **out)
{
	struct conntrack *ct = calloc(1, sizeof(*ct));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	struct timeval tv = {.tv_sec = 0, .tv_usec = CT_TIMEOUT_MS * 1000};
	int rc;

	*out = NULL;
	if (!ct)
		return -ENOMEM;
	ct->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (ct->fd < 0 ||
	    setsockopt(ct->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    bind(ct->fd, (struct sockaddr *)&sa, sizeof(sa))) {
		rc = -errno;
		conntrack_close(ct);
		return rc;
	}
	ct->seq = (uint32_t)ew_mono_ns();
	*out = ct;
	return 0;
}

void conntrack_close(struct conntrack *ct)
{
	if (!ct)
		return;
	if (ct->fd >= 0)
		close(ct->fd);
	free(ct);
}

static void count(_Atomic uint64_t *c)
{
	atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

/* A failed query: counted, and the CT_FAIL_RUN-th in a row pauses them. */
static int failed(struct conntrack *ct, int rc)
{
	count(&ct->errors);
	if (++ct->fails >= CT_FAIL_RUN) {
		ct->paused_until = ew_mono_ns() + CT_PAUSE_NS;
		ct->fails = 0;
		if (!ct->paused_logged)
			log_warnx("dnat: connection tracking queries fail (%s); "
				  "pausing them for %llu s: flows to Service "
				  "addresses name no remote workload meanwhile",
				  strerror(-rc),
				  (unsigned long long)(CT_PAUSE_NS / 1000000000));
		ct->paused_logged = 1;
	}
	return rc;
}

/* A query answered (found or not). */
static void answered(struct conntrack *ct)
{
	ct->fails = 0;
	if (ct->paused_logged)
		log_info("dnat: connection tracking queries work again");
	ct->paused_logged = 0;
}

/* The request for the original tuple; NULL when out of memory. */
static struct nl_msg *build(int family, uint8_t proto, const uint8_t src[16],
			    uint16_t sport, const uint8_t dst[16],
			    uint16_t dport, uint32_t seq)
{
	struct nfgenmsg g = {.nfgen_family = (uint8_t)(family == 4 ? AF_INET :
							  AF_INET6),
			     .version = NFNETLINK_V0};
	struct nl_msg *m = nlmsg_alloc_simple(
		(NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, NLM_F_REQUEST);
	struct nlattr *tuple, *ip, *pr;

	if (!m)
		return NULL;
	nlmsg_hdr(m)->nlmsg_seq = seq;
	if (nlmsg_append(m, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    !(tuple = nla_nest_start(m, CTA_TUPLE_ORIG)) ||
	    !(ip = nla_nest_start(m, CTA_TUPLE_IP)))
		goto err;
	if (family == 4) {
		if (nla_put(m, CTA_IP_V4_SRC, 4, src + 12) < 0 ||
		    nla_put(m, CTA_IP_V4_DST, 4, dst + 12) < 0)
			goto err;
	} else if (nla_put(m, CTA_IP_V6_SRC, 16, src) < 0 ||
		   nla_put(m, CTA_IP_V6_DST, 16, dst) < 0) {
		goto err;
	}
	nla_nest_end(m, ip);
	if (!(pr = nla_nest_start(m, CTA_TUPLE_PROTO)) ||
	    nla_put_u8(m, CTA_PROTO_NUM, proto) < 0 ||
	    nla_put_u16(m, CTA_PROTO_SRC_PORT, htons(sport)) < 0 ||
	    nla_put_u16(m, CTA_PROTO_DST_PORT, htons(dport)) < 0)
		goto err;
	nla_nest_end(m, pr);
	nla_nest_end(m, tuple);
	return m;
err:
	nlmsg_free(m);
	return NULL;
}

/* The source address and port of the reply tuple of an IPCTNL_MSG_CT_NEW
 * message: 0, or -EINVAL when it lacks them. */
static int reply_source(struct nlmsghdr *nlh, int family, uint8_t to[16],
			uint16_t *to_port)
{
	struct nlattr *tb[CTA_MAX + 1], *tt[CTA_TUPLE_MAX + 1];
	struct nlattr *ti[CTA_IP_MAX + 1], *tp[CTA_PROTO_MAX + 1];

	if (nlmsg_parse(nlh, sizeof(struct nfgenmsg), tb, CTA_MAX, NULL) < 0 ||
	    !tb[CTA_TUPLE_REPLY] ||
	    nla_parse_nested(tt, CTA_TUPLE_MAX, tb[CTA_TUPLE_REPLY], NULL) < 0 ||
	    !tt[CTA_TUPLE_IP] || !tt[CTA_TUPLE_PROTO] ||
	    nla_parse_nested(ti, CTA_IP_MAX, tt[CTA_TUPLE_IP], NULL) < 0 ||
	    nla_parse_nested(tp, CTA_PROTO_MAX, tt[CTA_TUPLE_PROTO], NULL) < 0 ||
	    !tp[CTA_PROTO_SRC_PORT] || nla_len(tp[CTA_PROTO_SRC_PORT]) != 2)
		return -EINVAL;
	if (family == 4) {
		if (!ti[CTA_IP_V4_SRC] || nla_len(ti[CTA_IP_V4_SRC]) != 4)
			return -EINVAL;
		ew_ip_from_v4(to, nla_data(ti[CTA_IP_V4_SRC]));
	} else {
		if (!ti[CTA_IP_V6_SRC] || nla_len(ti[CTA_IP_V6_SRC]) != 16)
			return -EINVAL;
		memcpy(to, nla_data(ti[CTA_IP_V6_SRC]), 16);
	}
	*to_port = ntohs(nla_get_u16(tp[CTA_PROTO_SRC_PORT]));
	return 0;
}

int conntrack_dnat(struct conntrack *ct, int family, uint8_t proto,
		   const uint8_t src[16], uint16_t sport,
		   const uint8_t dst[16], uint16_t dport,
		   uint8_t to[16], uint16_t *to_port)
{
	struct nl_msg *m;
	struct nlmsghdr *req;
	uint32_t seq;
	ssize_t n;

	if (proto != 6 && proto != 17 && proto != 132)
		return 0;
	if (ct->paused_until && ew_mono_ns() < ct->paused_until) {
		count(&ct->skipped);
		return 0;
	}
	count(&ct->queries);
	seq = ++ct->seq;
	if (!(m = build(family, proto, src, sport, dst, dport, seq)))
		return failed(ct, -ENOMEM);
	req = nlmsg_hdr(m);
	n = send(ct->fd, req, req->nlmsg_len, 0);
	nlmsg_free(m);
	if (n < 0)
		return failed(ct, -errno);
	for (;;) {
		struct nlmsghdr *nlh = (struct nlmsghdr *)(void *)ct->rx;
		int len;

		n = recv(ct->fd, ct->rx, sizeof(ct->rx), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return failed(ct, errno == EAGAIN || errno == EWOULDBLOCK ?
						  -ETIMEDOUT : -errno);
		}
		for (len = (int)n; nlmsg_ok(nlh, len); nlh = nlmsg_next(nlh, &len)) {
			if (nlh->nlmsg_seq != seq)
				continue;	/* the answer to a query given up */
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = nlmsg_data(nlh);

				if (nlh->nlmsg_len < (uint32_t)nlmsg_size(sizeof(*e)))
					return failed(ct, -EPROTO);
				if (e->error != -ENOENT)
					return failed(ct, e->error < 0 ? e->error :
								       -EPROTO);
				answered(ct);
				count(&ct->not_found);
				return 0;
			}
			if ((nlh->nlmsg_type & 0xff) != IPCTNL_MSG_CT_NEW ||
			    reply_source(nlh, family, to, to_port) < 0)
				return failed(ct, -EPROTO);
			answered(ct);
			if (memcmp(to, dst, 16) == 0 && *to_port == dport) {
				count(&ct->untranslated);
				return 0;
			}
			count(&ct->translated);
			return 1;
		}
	}
}

void conntrack_get_stats(const struct conntrack *ct, struct conntrack_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!ct)
		return;
	out->queries = atomic_load_explicit(&ct->queries, memory_order_relaxed);
	out->translated = atomic_load_explicit(&ct->translated,
					       memory_order_relaxed);
	out->untranslated = atomic_load_explicit(&ct->untranslated,
						 memory_order_relaxed);
	out->not_found = atomic_load_explicit(&ct->not_found,
					      memory_order_relaxed);
	out->errors = atomic_load_explicit(&ct->errors, memory_order_relaxed);
	out->skipped = atomic_load_explicit(&ct->skipped, memory_order_relaxed);
}
