/*
 * attrib_watch.h - private to cli/: keeps the attribution registry current
 * while the agent runs.  One thread rescans the host (attrib_rescan) when a
 * link appears, changes or goes (netlink link events, debounced for 200 ms
 * so a pod start that touches several links costs one scan), and every 30 s
 * to catch processes that moved between cgroups.  Nothing is polled while
 * nothing happens but the 30 s timer.
 */
#ifndef EW_CLI_ATTRIB_WATCH_H
#define EW_CLI_ATTRIB_WATCH_H

#include "capture.h"

struct attrib_watch;

/* Start watching; `a` is borrowed and must outlive the watch.  NULL with
 * `err` set when netlink cannot be opened. */
struct attrib_watch *attrib_watch_start(struct attrib *a, char *err,
					size_t errlen);
/* Stop the thread and free.  NULL is a no-op. */
void attrib_watch_stop(struct attrib_watch *w);

/*
 * Traffic on interface `ifname`, which the registry does not know: rescan
 * now, on the caller's thread, and return 1 - unless this interface had such
 * a rescan lately (0): after one, the next waits 1 s, then 2 s, 4 s, ... up
 * to 5 min, so that an interface no workload owns costs a handful of scans,
 * not one per packet; a link event naming the interface (it was created
 * again, or changed) ends the wait.  This closes the gap between a new veth's first packets
 * and the debounced link-event rescan (and the case of a veth that appeared
 * before its pod's processes did: traffic means a process is there now).
 * Any thread; NULL `w` is a no-op returning 0.
 */
int attrib_watch_refresh(struct attrib_watch *w, const char *ifname);

struct attrib_watch_stats {
	uint64_t link_scans;		/* after link events (debounced) */
	uint64_t periodic_scans;	/* every 30 s */
	uint64_t refresh_scans;		/* attrib_watch_refresh */
	uint64_t refresh_skipped;	/* ...not done: within the back-off */
};
void attrib_watch_get_stats(struct attrib_watch *w,
			    struct attrib_watch_stats *out);

#endif
