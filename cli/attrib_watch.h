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

#endif
