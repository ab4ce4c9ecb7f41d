/*
 * subjects.c - the pipeline's cache of workloads in policy form; see
 * subjects.h for why it exists and how it forgets.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "subjects.h"

int subjects_init(struct subjects *s, struct attrib *a)
{
	memset(s, 0, sizeof(*s));
	s->attrib = a;
	s->slot = calloc(SUBJECT_SLOTS, sizeof(*s->slot));
	return s->slot ? 0 : -ENOMEM;
}

void subjects_free(struct subjects *s)
{
	free(s->slot);
	s->slot = NULL;
}

static size_t to_policy_labels(const struct attrib_labels *l,
			       struct policy_label *out)
{
	for (size_t i = 0; i < l->n; i++) {
		out[i].key = attrib_label_key(l, i);
		out[i].value = attrib_label_value(l, i);
	}
	return l->n;
}

static int rebuild(struct subjects *s, struct subject *e,
		   const struct attrib_ref *ref)
{
	struct attrib_workload *w = &s->scratch;

	if (attrib_get(s->attrib, ref->id, w) != 0)
		return -ENOENT;
	if (e->id != w->id) {
		if (e->id)
			s->replaced++;
		memset(&e->served, 0, sizeof(e->served));
	}
	e->id = w->id;
	e->version = w->version;
	memcpy(e->namespace, w->namespace, sizeof(e->namespace));
	memcpy(e->name, w->name, sizeof(e->name));
	e->labels = w->labels;
	if (!w->namespace[0] ||
	    attrib_namespace_labels(s->attrib, w->namespace, &e->ns_labels) != 0)
		e->ns_labels.n = 0;
	memset(&e->pw, 0, sizeof(e->pw));
	e->pw.namespace = e->namespace[0] ? e->namespace : NULL;
	e->pw.name = e->name;
	e->pw.labels = e->pl;
	e->pw.n_labels = to_policy_labels(&e->labels, e->pl);
	e->pw.ns_labels = e->pnl;
	e->pw.n_ns_labels = to_policy_labels(&e->ns_labels, e->pnl);
	e->pw.served = &e->served;
	s->rebuilt++;
	return 0;
}

struct subject *subjects_get(struct subjects *s, const struct attrib_ref *ref)
{
	struct subject *e = &s->slot[ref->id % SUBJECT_SLOTS];

	if (e->id == ref->id && e->version == ref->version)
		return e;
	return rebuild(s, e, ref) == 0 ? e : NULL;
}
