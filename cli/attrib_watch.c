/*
 * attrib_watch.c - the attribution refresher thread; see attrib_watch.h.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "attrib_watch.h"
#include "util.h"

#define DEBOUNCE_MS 200
#define PERIOD_MS 30000
#define REFRESH_SLOTS 256		/* interfaces remembered by refresh */
#define REFRESH_FIRST_MS 1000		/* back-off after a refresh... */
#define REFRESH_MAX_MS 300000		/* ...doubling up to this */

/* The last traffic-triggered rescan for one interface name. */
struct refresh_slot {
	char name[CAPTURE_IFNAME_MAX];
	uint64_t next_ns;		/* monotonic: no refresh before */
	uint32_t backoff_ms;
};

struct attrib_watch {
	struct attrib *a;
	int nl;			/* NETLINK_ROUTE, RTMGRP_LINK */
	int stop;		/* eventfd */
	pthread_t thread;
	_Atomic uint64_t scan_errors_logged;
	pthread_mutex_t refresh_mu;
	struct refresh_slot refresh[REFRESH_SLOTS];
	_Atomic uint64_t link_scans, periodic_scans, refresh_scans,
		refresh_skipped;
};

static void rescan(struct attrib_watch *w)
{
	char err[512];

	if (attrib_rescan(w->a, err, sizeof(err)) != 0 &&
	    !atomic_fetch_add(&w->scan_errors_logged, 1))
		log_warnx("attribution: rescan: %s (logged once)", err);
}

static struct refresh_slot *refresh_slot(struct attrib_watch *w,
					 const char *name, size_t len)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)name[i]) * 1099511628211ull;
	return &w->refresh[h % REFRESH_SLOTS];
}

/* A link of this name appeared or changed: its next unknown traffic may
 * rescan at once (a veth re-created under the name of one just deleted,
 * as CNIs that derive names from the pod's do, is a new pod). */
static void refresh_forget(struct attrib_watch *w, const char *name, size_t len)
{
	struct refresh_slot *rs = refresh_slot(w, name, len);

	pthread_mutex_lock(&w->refresh_mu);
	if (strlen(rs->name) == len && memcmp(rs->name, name, len) == 0)
		memset(rs, 0, sizeof(*rs));
	pthread_mutex_unlock(&w->refresh_mu);
}

int attrib_watch_refresh(struct attrib_watch *w, const char *ifname)
{
	struct refresh_slot *rs;
	uint64_t now;
	size_t len;

	if (!w || !ifname || !(len = strnlen(ifname, CAPTURE_IFNAME_MAX)) ||
	    len >= CAPTURE_IFNAME_MAX)
		return 0;
	rs = refresh_slot(w, ifname, len);
	pthread_mutex_lock(&w->refresh_mu);
	now = ew_mono_ns();
	if (strcmp(rs->name, ifname) == 0) {
		if (now < rs->next_ns) {
			pthread_mutex_unlock(&w->refresh_mu);
			atomic_fetch_add_explicit(&w->refresh_skipped, 1,
						  memory_order_relaxed);
			return 0;
		}
		rs->backoff_ms = rs->backoff_ms * 2 > REFRESH_MAX_MS ?
					 REFRESH_MAX_MS : rs->backoff_ms * 2;
	} else {
		/* A new name (or one that took over the slot). */
		memcpy(rs->name, ifname, len + 1);
		rs->backoff_ms = REFRESH_FIRST_MS;
	}
	rs->next_ns = now + rs->backoff_ms * 1000000ull;
	pthread_mutex_unlock(&w->refresh_mu);
	rescan(w);
	atomic_fetch_add_explicit(&w->refresh_scans, 1, memory_order_relaxed);
	return 1;
}

void attrib_watch_get_stats(struct attrib_watch *w,
			    struct attrib_watch_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!w)
		return;
	out->link_scans = atomic_load(&w->link_scans);
	out->periodic_scans = atomic_load(&w->periodic_scans);
	out->refresh_scans = atomic_load(&w->refresh_scans);
	out->refresh_skipped = atomic_load(&w->refresh_skipped);
}

/* The names of the links that RTM_NEWLINK messages in `buf` announce. */
static void forget_new_links(struct attrib_watch *w, const char *buf, size_t n)
{
	const struct nlmsghdr *h;
	int left = (int)n;

	for (h = (const struct nlmsghdr *)buf; NLMSG_OK(h, left);
	     h = NLMSG_NEXT(h, left)) {
		const struct ifinfomsg *ifi = NLMSG_DATA(h);
		const struct rtattr *rta;
		int alen;

		if (h->nlmsg_type != RTM_NEWLINK ||
		    h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
			continue;
		alen = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(*ifi)));
		for (rta = IFLA_RTA(ifi); RTA_OK(rta, alen);
		     rta = RTA_NEXT(rta, alen))
			if (rta->rta_type == IFLA_IFNAME)
				refresh_forget(w, RTA_DATA(rta),
					       strnlen(RTA_DATA(rta),
						       RTA_PAYLOAD(rta)));
	}
}

/* Read every pending link message; 1 if there was any (or the socket
 * overflowed, which means we missed some: rescan anyway). */
static int drain(struct attrib_watch *w)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	int any = 0;

	for (;;) {
		ssize_t n = recv(w->nl, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			any = 1;
			forget_new_links(w, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == ENOBUFS) {
			any = 1;
			continue;
		}
		return any;
	}
}

static void *run(void *arg)
{
	struct attrib_watch *w = arg;
	uint64_t due = 0, next_period = ew_mono_ns() + PERIOD_MS * 1000000ull;

	for (;;) {
		struct pollfd pfd[2] = {{w->nl, POLLIN, 0}, {w->stop, POLLIN, 0}};
		uint64_t now = ew_mono_ns(), wake = due ? due : next_period;
		int timeout = wake > now ? (int)((wake - now) / 1000000ull) + 1 : 0;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (pfd[0].revents && drain(w) && !due)
			due = ew_mono_ns() + DEBOUNCE_MS * 1000000ull;
		now = ew_mono_ns();
		if ((due && now >= due) || now >= next_period) {
			atomic_fetch_add_explicit(due && now >= due ?
						  &w->link_scans : &w->periodic_scans,
						  1, memory_order_relaxed);
			rescan(w);
			due = 0;
			next_period = ew_mono_ns() + PERIOD_MS * 1000000ull;
		}
	}
	return NULL;
}

struct attrib_watch *attrib_watch_start(struct attrib *a, char *err,
					size_t errlen)
{
	struct attrib_watch *w = calloc(1, sizeof(*w));
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK};

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->a = a;
	pthread_mutex_init(&w->refresh_mu, NULL);
	w->stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	w->nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		       NETLINK_ROUTE);
	if (w->stop < 0 || w->nl < 0 ||
	    bind(w->nl, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "attribution: link events: %s",
			 strerror(errno));
		goto err;
	}
	if (pthread_create(&w->thread, NULL, run, w)) {
		snprintf(err, errlen, "attribution: cannot start its thread");
		goto err;
	}
	return w;
err:
	if (w->nl >= 0)
		close(w->nl);
	if (w->stop >= 0)
		close(w->stop);
	pthread_mutex_destroy(&w->refresh_mu);
	free(w);
	return NULL;
}

void attrib_watch_stop(struct attrib_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	(void)!write(w->stop, &one, sizeof(one));
	pthread_join(w->thread, NULL);
	close(w->nl);
	close(w->stop);
	pthread_mutex_destroy(&w->refresh_mu);
	free(w);
}
