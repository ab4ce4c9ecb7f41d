/*
 * subjects.h - private to cli/: workloads as the policy sees them.
 *
 * The pipeline judges several events per second per flow; building a
 * policy_workload from the attribution registry each time would copy ~6 KiB
 * of labels per event.  This cache keeps one entry per workload, rebuilt
 * only when the registry's version of it changes, and also remembers which
 * datastore ports each workload has been seen serving (the listen-only
 * inference of the built-in policy).  Direct-mapped by workload id: a
 * collision replaces the entry and forgets its served ports (counted).
 * Pipeline thread only.
 */
#ifndef EW_CLI_SUBJECTS_H
#define EW_CLI_SUBJECTS_H

#include <stdint.h>
#include "capture.h"
#include "policy.h"

#define SUBJECT_SLOTS 1024

struct subject {
	uint64_t id, version;		/* attribution id and version; 0: free */
	char namespace[ATTRIB_NS_MAX];
	char name[ATTRIB_NAME_MAX];
	struct attrib_labels labels, ns_labels;	/* own the text */
	struct policy_label pl[ATTRIB_MAX_LABELS];
	struct policy_label pnl[ATTRIB_MAX_LABELS];
	struct policy_served served;
	struct policy_workload pw;	/* points into the above */
};

struct subjects {
	struct attrib *attrib;		/* borrowed */
	struct subject *slot;		/* SUBJECT_SLOTS entries */
	struct attrib_workload scratch;	/* ~6.5 KiB, reused */
	uint64_t rebuilt, replaced, served_full;
};

int subjects_init(struct subjects *s, struct attrib *a);
void subjects_free(struct subjects *s);
/* The policy view of the workload `ref` names, or NULL when the registry no
 * longer knows it. */
struct subject *subjects_get(struct subjects *s, const struct attrib_ref *ref);

#endif
