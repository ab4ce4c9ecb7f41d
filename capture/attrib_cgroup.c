/*
 * attrib_cgroup.c - what a cgroup path says about the container and pod a
 * process belongs to (layouts in attrib.h).
 *
 * The path is walked one component at a time, left to right, and each
 * component is tried against two small tables: pod components (the kubelet's
 * QoS and pod cgroups, systemd and cgroupfs spellings) and container
 * components (one row per runtime and driver).  Matching per component, not
 * per whole path, is what lets the same rules work when the kubelet's tree
 * sits under another prefix (a sandbox's /process_api/<hash>/, kind's
 * kubelet.slice, a systemd unit) and when nested cgroups follow the
 * container's (.../libpod-<id>.scope/container).
 *
 * Deliberately strict: ids must be exactly 64 lowercase hex digits and uids
 * well-formed, because a wrong container id is worse than none: it would put
 * a flow on another workload.  A path that is not a container's is not an
 * error; input that cannot be a cgroup path at all is (-EINVAL).
 */
#include <errno.h>
#include <string.h>

#include "attrib.h"
#include "util.h"

#define NAME_MAX_LEN 255		/* a cgroup directory name */

static const char *const runtime_names[] = {
	[ATTRIB_RT_UNKNOWN] = "",
	[ATTRIB_RT_CONTAINERD] = "containerd",
	[ATTRIB_RT_CRIO] = "cri-o",
	[ATTRIB_RT_DOCKER] = "docker",
	[ATTRIB_RT_PODMAN] = "podman",
};

static const char *const qos_names[] = {
	[ATTRIB_QOS_NONE] = "",
	[ATTRIB_QOS_GUARANTEED] = "guaranteed",
	[ATTRIB_QOS_BURSTABLE] = "burstable",
	[ATTRIB_QOS_BESTEFFORT] = "besteffort",
};

const char *attrib_runtime_name(unsigned rt)
{
	return rt < EW_ARRAY_LEN(runtime_names) ? runtime_names[rt] : "";
}

const char *attrib_qos_name(unsigned qos)
{
	return qos < EW_ARRAY_LEN(qos_names) ? qos_names[qos] : "";
}

static int is_lhex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int attrib_cid_valid(const char *s, size_t len)
{
	if (len != ATTRIB_CID_LEN)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!is_lhex(s[i]))
			return 0;
	return 1;
}

/* A UUID 8-4-4-4-12 with `sep` between the groups, or 32 hex digits. */
static int uid_valid_sep(const char *s, size_t len, char sep)
{
	if (len == 32) {
		for (size_t i = 0; i < len; i++)
			if (!is_lhex(s[i]))
				return 0;
		return 1;
	}
	if (len != 36)
		return 0;
	for (size_t i = 0; i < len; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != sep : !is_lhex(s[i]))
			return 0;
	}
	return 1;
}

int attrib_uid_valid(const char *s, size_t len)
{
	return uid_valid_sep(s, len, '-');
}

/* Copy a uid written with `sep` into `out` with '-'. */
static void uid_copy(char out[ATTRIB_UID_MAX], const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		out[i] = s[i] == '_' ? '-' : s[i];
	out[len] = '\0';
}

struct comp {
	const char *p;
	size_t len;
};

static int comp_is(const struct comp *c, const char *s)
{
	size_t n = strlen(s);

	return c->len == n && memcmp(c->p, s, n) == 0;
}

static int has_prefix(const char *p, size_t len, const char *pre, size_t n)
{
	return len >= n && memcmp(p, pre, n) == 0;
}

static int has_suffix(const char *p, size_t len, const char *suf, size_t n)
{
	return len >= n && memcmp(p + len - n, suf, n) == 0;
}

/* ---- container components ------------------------------------------------ */

struct ctr_rule {
	const char *prefix;
	const char *suffix;
	uint8_t runtime;
	uint8_t kind;
};

/* <prefix><64 hex><suffix>.  The monitors' rows come before the prefixes
 * they extend only for the reader: an id never starts with "conmon-". */
static const struct ctr_rule ctr_rules[] = {
	{"cri-containerd-", ".scope", ATTRIB_RT_CONTAINERD, ATTRIB_CG_CONTAINER},
	{"crio-conmon-", ".scope", ATTRIB_RT_CRIO, ATTRIB_CG_MONITOR},
	{"crio-conmon-", "", ATTRIB_RT_CRIO, ATTRIB_CG_MONITOR},
	{"crio-", ".scope", ATTRIB_RT_CRIO, ATTRIB_CG_CONTAINER},
	{"crio-", "", ATTRIB_RT_CRIO, ATTRIB_CG_CONTAINER},
	{"docker-", ".scope", ATTRIB_RT_DOCKER, ATTRIB_CG_CONTAINER},
	{"libpod-conmon-", ".scope", ATTRIB_RT_PODMAN, ATTRIB_CG_MONITOR},
	{"libpod-", ".scope", ATTRIB_RT_PODMAN, ATTRIB_CG_CONTAINER},
	{"libpod-", "", ATTRIB_RT_PODMAN, ATTRIB_CG_CONTAINER},
	{"nerdctl-", ".scope", ATTRIB_RT_CONTAINERD, ATTRIB_CG_CONTAINER},
};

/* Match `c` against the table; on success fill runtime, kind and id. */
static int match_ctr(const struct comp *c, struct attrib_cgroup *out)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(ctr_rules); i++) {
		const struct ctr_rule *r = &ctr_rules[i];
		size_t pl = strlen(r->prefix), sl = strlen(r->suffix);

		if (c->len != pl + ATTRIB_CID_LEN + sl ||
		    !has_prefix(c->p, c->len, r->prefix, pl) ||
		    !has_suffix(c->p, c->len, r->suffix, sl) ||
		    !attrib_cid_valid(c->p + pl, ATTRIB_CID_LEN))
			continue;
		out->runtime = r->runtime;
		out->kind = r->kind;
		memcpy(out->id, c->p + pl, ATTRIB_CID_LEN);
		out->id[ATTRIB_CID_LEN] = '\0';
		return 1;
	}
	return 0;
}

/* ---- pod components --------------------------------------------------------- */

struct qos_rule {
	const char *name;	/* after "kubepods" (systemd) or alone (cgroupfs) */
	uint8_t qos;
};

static const struct qos_rule qos_rules[] = {
	{"burstable", ATTRIB_QOS_BURSTABLE},
	{"besteffort", ATTRIB_QOS_BESTEFFORT},
};

/*
 * systemd: [<anything>-]kubepods[-burstable|-besteffort]-pod<UID_>.slice.
 * The "<anything>-" prefix covers kubelets whose root slice is not "/"
 * (kind's kubelet.slice gives "kubelet-kubepods-...").
 */
static int match_pod_systemd(const struct comp *c, struct attrib_cgroup *pod)
{
	static const char slice[] = ".slice";
	const char *p = c->p;
	size_t len = c->len, ulen, head;
	uint8_t qos = ATTRIB_QOS_GUARANTEED;

	if (!has_suffix(p, len, slice, sizeof(slice) - 1))
		return 0;
	len -= sizeof(slice) - 1;
	/* The uid is the tail: 36 (UUID) or 32 (static pod) characters. */
	for (ulen = 36;; ulen = 32) {
		if (len > ulen + 4 && memcmp(p + len - ulen - 4, "-pod", 4) == 0 &&
		    uid_valid_sep(p + len - ulen, ulen, '_'))
			break;
		if (ulen == 32)
			return 0;
	}
	head = len - ulen - 4;		/* "...kubepods[-qos]" */
	for (size_t i = 0; i < EW_ARRAY_LEN(qos_rules); i++) {
		size_t n = strlen(qos_rules[i].name);

		if (head > n + 1 && p[head - n - 1] == '-' &&
		    memcmp(p + head - n, qos_rules[i].name, n) == 0) {
			qos = qos_rules[i].qos;
			head -= n + 1;
			break;
		}
	}
	if (!has_suffix(p, head, "kubepods", 8) ||
	    (head > 8 && p[head - 9] != '-'))
		return 0;
	pod->qos = qos;
	uid_copy(pod->pod_uid, p + len - ulen, ulen);
	return 1;
}

/*
 * cgroupfs: pod<UID> whose parent is "kubepods" (guaranteed) or a QoS
 * directory whose parent is "kubepods".
 */
static int match_pod_cgroupfs(const struct comp *cs, size_t i,
			      struct attrib_cgroup *pod)
{
	const struct comp *c = &cs[i];
	uint8_t qos = ATTRIB_QOS_GUARANTEED;

	if (c->len < 3 || memcmp(c->p, "pod", 3) != 0 ||
	    !uid_valid_sep(c->p + 3, c->len - 3, '-') || i == 0)
		return 0;
	if (!comp_is(&cs[i - 1], "kubepods")) {
		size_t q;

		for (q = 0; q < EW_ARRAY_LEN(qos_rules); q++)
			if (comp_is(&cs[i - 1], qos_rules[q].name))
				break;
		if (q == EW_ARRAY_LEN(qos_rules) || i < 2 ||
		    !comp_is(&cs[i - 2], "kubepods"))
			return 0;
		qos = qos_rules[q].qos;
	}
	pod->qos = qos;
	uid_copy(pod->pod_uid, c->p + 3, c->len - 3);
	return 1;
}

/* ---- the walk ------------------------------------------------------------------ */

int attrib_cgroup_parse(const char *path, size_t len, struct attrib_cgroup *out)
{
	static const char deleted[] = " (deleted)";
	struct comp cs[64];
	struct attrib_cgroup pod, ctr;
	size_t n = 0, start;
	int have_pod = 0, have_ctr = 0;

	memset(out, 0, sizeof(*out));
	if (has_suffix(path, len, deleted, sizeof(deleted) - 1))
		len -= sizeof(deleted) - 1;
	if (len == 0 || len > ATTRIB_CGROUP_PATH_MAX || path[0] != '/')
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)path[i] < 0x20 || path[i] == 0x7f)
			return -EINVAL;
	/*
	 * Components, keeping the last 64: everything we match sits in the
	 * last few (pod slice, container scope, a nested cgroup or two), and
	 * a prefix deeper than that cannot change the answer except by hiding
	 * the pod's parents, which then reads as "no pod".
	 */
	for (size_t i = 1; i <= len; i = start + 1) {
		start = i;
		while (start < len && path[start] != '/')
			start++;
		if (start - i > NAME_MAX_LEN)
			return -EINVAL;
		if (start == i)
			continue;
		if (n == EW_ARRAY_LEN(cs)) {
			memmove(cs, cs + 1, sizeof(cs) - sizeof(cs[0]));
			n--;
		}
		cs[n].p = path + i;
		cs[n].len = start - i;
		n++;
	}

	memset(&pod, 0, sizeof(pod));
	memset(&ctr, 0, sizeof(ctr));
	for (size_t i = 0; i < n; i++) {
		struct attrib_cgroup t;

		memset(&t, 0, sizeof(t));
		if (match_ctr(&cs[i], &t)) {
			ctr = t;
			have_ctr = 1;
			/* The pod, if any, is the one above this container. */
			if (have_pod) {
				memcpy(ctr.pod_uid, pod.pod_uid, sizeof(pod.pod_uid));
				ctr.qos = pod.qos;
			}
		} else if (match_pod_systemd(&cs[i], &t) ||
			   match_pod_cgroupfs(cs, i, &t)) {
			pod = t;
			have_pod = 1;
			have_ctr = 0;	/* a container above a pod is not ours */
		} else if (i > 0 && attrib_cid_valid(cs[i].p, cs[i].len) &&
			   (comp_is(&cs[i - 1], "docker") ||
			    (have_pod && !have_ctr &&
			     match_pod_cgroupfs(cs, i - 1, &t)))) {
			/* Bare ids: /docker/<id>, /kubepods/.../pod<uid>/<id>. */
			memset(&ctr, 0, sizeof(ctr));
			ctr.kind = ATTRIB_CG_CONTAINER;
			ctr.runtime = comp_is(&cs[i - 1], "docker") ?
					      ATTRIB_RT_DOCKER : ATTRIB_RT_UNKNOWN;
			memcpy(ctr.id, cs[i].p, ATTRIB_CID_LEN);
			ctr.id[ATTRIB_CID_LEN] = '\0';
			if (have_pod) {
				memcpy(ctr.pod_uid, pod.pod_uid, sizeof(pod.pod_uid));
				ctr.qos = pod.qos;
			}
			have_ctr = 1;
		}
	}
	if (have_ctr)
		*out = ctr;
	else if (have_pod) {
		*out = pod;
		out->kind = ATTRIB_CG_POD;
	}
	return 0;
}

static int rank(const struct attrib_cgroup *c)
{
	switch (c->kind) {
	case ATTRIB_CG_CONTAINER:
	case ATTRIB_CG_MONITOR:
		return 2;
	case ATTRIB_CG_POD:
		return 1;
	default:
		return 0;
	}
}

int attrib_cgroup_parse_proc(const char *text, size_t len,
			     struct attrib_cgroup *out)
{
	struct attrib_cgroup best, cur;
	int best_pref = 0;		/* 3 v2, 2 name=systemd, 1 other v1 */
	size_t i = 0;

	memset(&best, 0, sizeof(best));
	while (i < len) {
		const char *line = text + i, *nl, *c1, *c2;
		size_t ll;
		int pref;

		nl = memchr(line, '\n', len - i);
		ll = nl ? (size_t)(nl - line) : len - i;
		i += ll + 1;
		/* "ID:CONTROLLERS:PATH"; the path may itself hold ':'. */
		c1 = memchr(line, ':', ll);
		if (!c1)
			continue;
		c2 = memchr(c1 + 1, ':', ll - (size_t)(c1 + 1 - line));
		if (!c2)
			continue;
		if (c1 - line == 1 && line[0] == '0' && c2 == c1 + 1)
			pref = 3;
		else if (c2 - c1 - 1 == 12 && memcmp(c1 + 1, "name=systemd", 12) == 0)
			pref = 2;
		else
			pref = 1;
		if (attrib_cgroup_parse(c2 + 1, ll - (size_t)(c2 + 1 - line),
					&cur) < 0)
			continue;
		if (rank(&cur) > rank(&best) ||
		    (rank(&cur) == rank(&best) && rank(&cur) > 0 &&
		     pref > best_pref)) {
			best = cur;
			best_pref = pref;
		}
	}
	*out = best;
	return 0;
}
