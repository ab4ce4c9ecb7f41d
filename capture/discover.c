/*
 * discover.c - which links exist, over rtnetlink (libnl-3 for sockets and
 * attribute parsing; the messages themselves are read directly, so a link
 * event costs one recv and no allocation).
 *
 * Two sockets: an event socket subscribed to RTNLGRP_LINK, non-blocking, whose
 * descriptor sits in the capture thread's epoll set, and a blocking socket for
 * full reads (RTM_GETLINK / RTM_GETROUTE dumps).  The subscription is made
 * before the first dump, so a link that appears while the dump runs is
 * reported by one or the other.  When the kernel reports that it dropped
 * events (ENOBUFS: hundreds of veths created at once can overflow any socket
 * buffer), the only safe answer is a full read, and that is what happens.
 *
 * The uplink is known from the default routes of the main table, read with
 * every full read.  A link that becomes the uplink later is noticed at the
 * next full read; in practice the uplink exists before any container does.
 *
 * Deliberately not here: which links to capture (live.c decides), and
 * anything that needs a capability.
 */
#include <errno.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/route/rtnl.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "util.h"

#define EVENT_RCVBUF (4 << 20)		/* asked for; the kernel caps it at
					   net.core.rmem_max */
#define EVENT_MSGBUF (64 << 10)		/* one recv; link messages are ~1.5 KB */
#define SYNC_TRIES 5			/* dumps interrupted by changes */

struct discover {
	struct nl_sock *ev;		/* RTNLGRP_LINK events, non-blocking */
	struct nl_sock *dump;		/* full reads, blocking */
	struct nl_cb *ev_cb;		/* the event socket's callbacks */
	discover_fn fn;
	void *ctx;
	int32_t uplinks[DISCOVER_MAX_UPLINKS];
	int n_uplinks;
	int n_uplinks_new;		/* collected by the running route dump */
	int32_t uplinks_new[DISCOVER_MAX_UPLINKS];
};

static int is_uplink(const struct discover *d, int32_t ifindex)
{
	for (int i = 0; i < d->n_uplinks; i++)
		if (d->uplinks[i] == ifindex)
			return 1;
	return 0;
}

/* Parse RTM_NEWLINK / RTM_DELLINK.  -EINVAL for a message too short to be
 * one or not about a link; attributes we do not need are ignored. */
static int parse_link(const struct discover *d, struct nlmsghdr *nlh,
		      struct discover_link *out)
{
	struct nlattr *tb[IFLA_MAX + 1], *li[IFLA_INFO_MAX + 1];
	const struct ifinfomsg *ifi;

	if (nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0)
		return -EINVAL;
	ifi = nlmsg_data(nlh);
	/* Bridge port notifications (AF_BRIDGE) share the message types and
	 * the group but describe the port, not the link: a RTM_DELLINK of
	 * that family means "left the bridge". */
	if (ifi->ifi_family != AF_UNSPEC)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->ifindex = ifi->ifi_index;
	out->flags = ifi->ifi_flags;
	if (tb[IFLA_IFNAME])
		nla_strlcpy(out->name, tb[IFLA_IFNAME], sizeof(out->name));
	if (tb[IFLA_LINKINFO] &&
	    nla_parse_nested(li, IFLA_INFO_MAX, tb[IFLA_LINKINFO], NULL) == 0 &&
	    li[IFLA_INFO_KIND])
		nla_strlcpy(out->kind, li[IFLA_INFO_KIND], sizeof(out->kind));
	out->peer_other_netns = tb[IFLA_LINK_NETNSID] != NULL;
	out->uplink = (uint8_t)is_uplink(d, out->ifindex);
	return out->ifindex > 0 && out->name[0] ? 0 : -EINVAL;
}

static int on_link_msg(struct nl_msg *msg, void *arg)
{
	struct discover *d = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct discover_link k;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return NL_OK;
	if (parse_link(d, nlh, &k) < 0)
		return NL_OK;
	d->fn(d->ctx, nlh->nlmsg_type == RTM_NEWLINK ? DISCOVER_LINK :
						      DISCOVER_GONE, &k);
	return NL_OK;
}

static void add_uplink(struct discover *d, int32_t ifindex)
{
	for (int i = 0; i < d->n_uplinks_new; i++)
		if (d->uplinks_new[i] == ifindex)
			return;
	if (ifindex > 0 && d->n_uplinks_new < DISCOVER_MAX_UPLINKS)
		d->uplinks_new[d->n_uplinks_new++] = ifindex;
}

/* Default unicast routes of the main table: note their output links. */
static int on_route_msg(struct nl_msg *msg, void *arg)
{
	struct discover *d = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[RTA_MAX + 1];
	const struct rtmsg *rtm;
	uint32_t table;

	if (nlh->nlmsg_type != RTM_NEWROUTE ||
	    nlmsg_parse(nlh, sizeof(*rtm), tb, RTA_MAX, NULL) < 0)
		return NL_OK;
	rtm = nlmsg_data(nlh);
	table = tb[RTA_TABLE] && nla_len(tb[RTA_TABLE]) >= 4 ?
			nla_get_u32(tb[RTA_TABLE]) : rtm->rtm_table;
	if (rtm->rtm_dst_len != 0 || rtm->rtm_type != RTN_UNICAST ||
	    table != RT_TABLE_MAIN)
		return NL_OK;
	if (tb[RTA_OIF] && nla_len(tb[RTA_OIF]) >= 4)
		add_uplink(d, (int32_t)nla_get_u32(tb[RTA_OIF]));
	if (tb[RTA_MULTIPATH]) {
		const struct rtnexthop *nh = nla_data(tb[RTA_MULTIPATH]);
		int left = nla_len(tb[RTA_MULTIPATH]);

		while (RTNH_OK(nh, left)) {
			add_uplink(d, nh->rtnh_ifindex);
			left -= NLMSG_ALIGN(nh->rtnh_len);
			nh = RTNH_NEXT(nh);
		}
	}
	return NL_OK;
}

/* libnl error -> negative errno, for the project's error convention. */
static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_PERM: return -EPERM;
	case NLE_DUMP_INTR: return -EINTR;
	case NLE_MSG_TRUNC: return -EMSGSIZE;
	default: return -EIO;
	}
}

/* One dump of `type` for `family` through `cb`. */
static int dump(struct discover *d, int type, int family,
		nl_recvmsg_msg_cb_t cb)
{
	int rc;

	nl_socket_modify_cb(d->dump, NL_CB_VALID, NL_CB_CUSTOM, cb, d);
	rc = nl_rtgen_request(d->dump, type, family, NLM_F_DUMP);
	if (rc < 0)
		return nl_errno(rc);
	rc = nl_recvmsgs_default(d->dump);
	return rc < 0 ? nl_errno(rc) : 0;
}

static int read_uplinks(struct discover *d)
{
	int rc;

	d->n_uplinks_new = 0;
	rc = dump(d, RTM_GETROUTE, AF_INET, on_route_msg);
	if (rc == 0)
		rc = dump(d, RTM_GETROUTE, AF_INET6, on_route_msg);
	if (rc)
		return rc;
	memcpy(d->uplinks, d->uplinks_new, sizeof(d->uplinks));
	d->n_uplinks = d->n_uplinks_new;
	return 0;
}

int discover_sync(struct discover *d)
{
	int rc = -EINTR;

	/* A dump that a concurrent change interrupted (NLM_F_DUMP_INTR) may
	 * have skipped links: start it over. */
	for (int i = 0; i < SYNC_TRIES && rc == -EINTR; i++)
		rc = read_uplinks(d);
	if (rc)
		return rc;
	rc = -EINTR;
	for (int i = 0; i < SYNC_TRIES && rc == -EINTR; i++) {
		d->fn(d->ctx, DISCOVER_SYNC_BEGIN, NULL);
		rc = dump(d, RTM_GETLINK, AF_UNSPEC, on_link_msg);
	}
	if (rc)
		return rc;
	d->fn(d->ctx, DISCOVER_SYNC_END, NULL);
	return 0;
}

int discover_read(struct discover *d)
{
	int total = 0, resyncs = 0, rc;

	for (;;) {
		/* The _report variant returns how many messages it read, so
		 * that "read some" and "nothing left" can be told apart. */
		rc = nl_recvmsgs_report(d->ev, d->ev_cb);
		if (rc > 0) {
			total += rc;
			continue;
		}
		if (rc == 0 || rc == -NLE_AGAIN)
			return total;
		/* ENOBUFS (libnl says NLE_NOMEM): the kernel dropped events,
		 * so anything may have changed; the same answer serves any
		 * other error of the socket.  A few times per call at most,
		 * so that a socket that keeps failing cannot spin us. */
		if (++resyncs > SYNC_TRIES)
			return nl_errno(rc);
		log_info("link events: %s; re-reading the link list",
			 rc == -NLE_NOMEM ? "some were lost (socket buffer overflow)" :
					    nl_geterror(rc));
		rc = discover_sync(d);
		if (rc)
			return rc;
	}
}

int discover_fd(const struct discover *d)
{
	return nl_socket_get_fd(d->ev);
}

struct discover *discover_open(discover_fn fn, void *ctx, char *err,
			       size_t errlen)
{
	struct discover *d = calloc(1, sizeof(*d));
	int rc;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->fn = fn;
	d->ctx = ctx;
	d->ev = nl_socket_alloc();
	d->dump = nl_socket_alloc();
	if (!d->ev || !d->dump) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	nl_socket_disable_seq_check(d->ev);
	nl_socket_modify_cb(d->ev, NL_CB_VALID, NL_CB_CUSTOM, on_link_msg, d);
	d->ev_cb = nl_socket_get_cb(d->ev);
	if (!d->ev_cb) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	if ((rc = nl_connect(d->ev, NETLINK_ROUTE)) < 0 ||
	    (rc = nl_connect(d->dump, NETLINK_ROUTE)) < 0 ||
	    (rc = nl_socket_add_membership(d->ev, RTNLGRP_LINK)) < 0 ||
	    (rc = nl_socket_set_nonblocking(d->ev)) < 0) {
		snprintf(err, errlen, "netlink: %s", nl_geterror(rc));
		goto err;
	}
	/* A larger kernel buffer makes overflows (and full reads) rarer; a
	 * fixed user buffer without MSG_PEEK keeps one recv per batch. */
	(void)nl_socket_set_buffer_size(d->ev, EVENT_RCVBUF, 0);
	nl_socket_disable_msg_peek(d->ev);
	(void)nl_socket_set_msg_buf_size(d->ev, EVENT_MSGBUF);
	return d;
err:
	discover_close(d);
	return NULL;
}

void discover_close(struct discover *d)
{
	if (!d)
		return;
	if (d->ev_cb)
		nl_cb_put(d->ev_cb);
	nl_socket_free(d->ev);
	nl_socket_free(d->dump);
	free(d);
}
