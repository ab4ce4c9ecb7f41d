/*
 * attrib_watch.c - the attribution refresher thread; see attrib_watch.h.
 */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <pthread.h>
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

struct attrib_watch {
	struct attrib *a;
	int nl;			/* NETLINK_ROUTE, RTMGRP_LINK */
	int stop;		/* eventfd */
	pthread_t thread;
	uint64_t scan_errors_logged;
};

static void rescan(struct attrib_watch *w)
{
	char err[512];

	if (attrib_rescan(w->a, err, sizeof(err)) != 0 && !w->scan_errors_logged++)
		log_warnx("attribution: rescan: %s (logged once)", err);
}

/* Read every pending link message; 1 if there was any (or the socket
 * overflowed, which means we missed some: rescan anyway). */
static int drain(int fd)
{
	char buf[16384];
	int any = 0;

	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			any = 1;
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
		if (pfd[0].revents && drain(w->nl) && !due)
			due = ew_mono_ns() + DEBOUNCE_MS * 1000000ull;
		now = ew_mono_ns();
		if ((due && now >= due) || now >= next_period) {
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
	free(w);
}
