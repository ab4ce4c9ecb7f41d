/*
 * live.h - private to capture/: interface discovery over rtnetlink, used by
 * live.c.
 *
 * discover.c knows links, not capture: it reports every link of the agent's
 * network namespace with the facts live.c's selection needs (name, kind, flags,
 * whether its peer is in another namespace, whether it is the uplink), as a
 * full list at start and after an event overflow, and as events in between.
 * Nothing here needs a capability: reading links and routes and listening to
 * RTNLGRP_LINK is open to every user.
 */
#ifndef EW_CAPTURE_LIVE_H
#define EW_CAPTURE_LIVE_H

#include <net/if.h>
#include <stddef.h>
#include <stdint.h>

#define DISCOVER_MAX_UPLINKS 16	/* default-route interfaces remembered */

struct discover_link {
	int32_t ifindex;
	uint32_t flags;			/* IFF_* (ifi_flags) */
	char name[IF_NAMESIZE];
	char kind[16];			/* IFLA_INFO_KIND ("veth", "bridge", ...)
					   or "" for devices without one */
	uint8_t peer_other_netns;	/* IFLA_LINK_NETNSID present: the other
					   end of the link is in another netns */
	uint8_t uplink;			/* holds a default route in the main
					   table (as of the last full read) */
};

enum discover_event {
	DISCOVER_LINK = 1,	/* the link exists, with these properties (new,
				   changed, or listed by a full read) */
	DISCOVER_GONE,		/* removed, or moved to another namespace */
	DISCOVER_SYNC_BEGIN,	/* a full read starts: a LINK for every link */
	DISCOVER_SYNC_END,	/* the full read is complete: links not listed
				   since SYNC_BEGIN no longer exist */
};

/* `link` is NULL for SYNC_BEGIN/SYNC_END and borrowed for the call. */
typedef void (*discover_fn)(void *ctx, enum discover_event ev,
			    const struct discover_link *link);

struct discover;

/* Open the event socket (non-blocking, subscribed to RTNLGRP_LINK) and the
 * socket used for full reads.  Reports nothing yet: call discover_sync().
 * NULL with a reason in `err`. */
struct discover *discover_open(discover_fn fn, void *ctx, char *err,
			       size_t errlen);
void discover_close(struct discover *d);

/* The event socket's descriptor, for epoll (readable when events wait). */
int discover_fd(const struct discover *d);

/*
 * Full read: the default routes (to know the uplinks), then every link,
 * reported as SYNC_BEGIN, LINK..., SYNC_END.  Subscribe-then-dump order means
 * no change is missed; events queued meanwhile may repeat what the read
 * already said, which is harmless because reports are states, not deltas.
 * 0 or -errno (nothing after SYNC_BEGIN was reported complete: no SYNC_END).
 */
int discover_sync(struct discover *d);

/*
 * Report the events waiting on the event socket, without blocking.  When the
 * kernel dropped events (socket buffer overflow), a full read follows, so the
 * caller's view is right again.  Returns the number of messages read, or
 * -errno.
 */
int discover_read(struct discover *d);

#endif
