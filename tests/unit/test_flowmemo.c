/*
 * test_flowmemo.c - the pipeline's memo of each open flow's attribution and
 * of each interface's last owner (cli/flowmemo.c): entries survive growth
 * and deletions in any order, forgotten flows expire after two epochs of
 * packet time, and an interface's owner outlives the registry's knowledge
 * of it for the linger time, not longer.
 *
 * flowmemo.c is private to cli/, which is a program rather than a library,
 * so the file under test is compiled into this test directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "t.h"
#include "attrib.h"
#include "util.h"
#include "../../cli/flowmemo.c"

#define S 1000000000ull

static void entries_are_kept_until_deleted(void)
{
	struct flowmemo *m = flowmemo_open();
	struct flowmemo_entry *e;
	int fresh;

	CHECK(m != NULL);
	if (!m)
		return;
	e = flowmemo_get(m, 42, 10 * S, &fresh);
	CHECK(e != NULL && fresh);
	if (!e)
		goto out;
	CHECK(e->local_id == 0 && e->remote_id == 0 && e->swapped == 0);
	e->local_id = 7;
	e->remote_id = 9;
	e->swapped = 1;
	e = flowmemo_get(m, 42, 11 * S, &fresh);
	CHECK(e != NULL && !fresh);
	CHECK(e && e->local_id == 7 && e->remote_id == 9 && e->swapped == 1);
	flowmemo_del(m, 42);
	flowmemo_del(m, 42);		/* twice: no-op */
	e = flowmemo_get(m, 42, 12 * S, &fresh);
	CHECK(e != NULL && fresh && e->local_id == 0);
	CHECK(flowmemo_get(m, 0, 12 * S, &fresh) == NULL);	/* no id 0 */
out:
	flowmemo_close(m);
}

/* Random inserts and deletions against a plain array: every live id is found
 * with its value, through growth and backward-shift deletions. */
static void random_churn_matches_a_reference(void)
{
	enum { N = 1 << 16 };
	struct flowmemo *m = flowmemo_open();
	struct flowmemo_stats st;
	uint8_t *live = calloc(N, 1);
	uint64_t x = 88172645463325252ull, bad = 0, n = 0;
	int fresh;

	CHECK(m && live);
	if (!m || !live)
		goto out;
	for (int op = 0; op < 400000; op++) {
		uint64_t id;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		/* Mostly recent ids (capture hands them out in sequence). */
		id = 1 + (x % 4 ? (uint64_t)(op / 8 + x % 64) % N : x % N);
		if ((x >> 20) % 3) {
			struct flowmemo_entry *e = flowmemo_get(m, id, S, &fresh);

			if (!e || fresh != !live[id])
				bad++;
			else if (!fresh && e->local_id != id * 3)
				bad++;
			if (e) {
				e->local_id = id * 3;
				n += !live[id];
				live[id] = 1;
			}
		} else {
			flowmemo_del(m, id);
			n -= live[id];
			live[id] = 0;
		}
	}
	CHECK_EQ_U(bad, 0);
	flowmemo_get_stats(m, &st);
	CHECK_EQ_U(st.entries, n);
	CHECK(st.slots >= 2 * st.entries);
	for (uint64_t id = 1; id < N; id++) {
		if (!live[id])
			continue;
		struct flowmemo_entry *e = flowmemo_get(m, id, S, &fresh);

		if (!e || fresh || e->local_id != id * 3)
			bad++;
	}
	CHECK_EQ_U(bad, 0);
out:
	free(live);
	flowmemo_close(m);
}

/* An entry no event touched for two epochs of packet time goes; one touched
 * in the last epoch stays. */
static void untouched_entries_expire(void)
{
	struct flowmemo *m = flowmemo_open();
	struct flowmemo_stats st;
	uint64_t t0 = 5 * FLOWMEMO_EPOCH_NS;
	int fresh;

	CHECK(m != NULL);
	if (!m)
		return;
	CHECK(flowmemo_get(m, 1, t0, &fresh) && fresh);
	CHECK(flowmemo_get(m, 2, t0, &fresh) && fresh);
	/* Epoch 6; an event with an older packet time counts as now. */
	CHECK(flowmemo_get(m, 2, t0 + FLOWMEMO_EPOCH_NS, &fresh) && !fresh);
	CHECK(flowmemo_get(m, 1, t0 + FLOWMEMO_EPOCH_NS / 2, &fresh) && !fresh);
	/* Epoch 7: both were touched in the one before. */
	CHECK(flowmemo_get(m, 2, t0 + 2 * FLOWMEMO_EPOCH_NS, &fresh) && !fresh);
	CHECK(flowmemo_get(m, 3, t0 + 2 * FLOWMEMO_EPOCH_NS, &fresh) && fresh);
	flowmemo_get_stats(m, &st);
	CHECK_EQ_U(st.entries, 3);
	CHECK_EQ_U(st.expired, 0);
	/* Epoch 8: 1 was last touched in epoch 6, two epochs ago. */
	CHECK(flowmemo_get(m, 3, t0 + 3 * FLOWMEMO_EPOCH_NS, &fresh) && !fresh);
	flowmemo_get_stats(m, &st);
	CHECK_EQ_U(st.expired, 1);
	CHECK_EQ_U(st.entries, 2);
	CHECK(flowmemo_get(m, 2, t0 + 3 * FLOWMEMO_EPOCH_NS, &fresh) && !fresh);
	CHECK(flowmemo_get(m, 1, t0 + 3 * FLOWMEMO_EPOCH_NS, &fresh) && fresh);
	flowmemo_close(m);
}

/* A registry with one inventory workload owning `ifname` and two addresses. */
static struct attrib *registry_with(const char *ifname, struct attrib_ref *ref)
{
	struct attrib_config cfg;
	struct attrib_iface ifc = {{0}, 7};
	uint8_t ips[2][16] = {{0}};
	struct attrib_stmt st;
	char err[256];
	struct attrib *a;

	attrib_config_defaults(&cfg);
	cfg.podlog_root = NULL;
	a = attrib_open(&cfg, err, sizeof(err));
	if (!a)
		return NULL;
	snprintf(ifc.name, sizeof(ifc.name), "%s", ifname);
	ew_ip_parse("10.244.0.11", ips[0]);
	ew_ip_parse("fd00:10:244::11", ips[1]);
	memset(&st, 0, sizeof(st));
	st.src = ATTRIB_SRC_INVENTORY;
	st.namespace = "prod";
	st.name = "web-0";
	st.ifaces = &ifc;
	st.n_ifaces = 1;
	st.ips = (const uint8_t (*)[16])ips;
	st.n_ips = 2;
	attrib_sync_begin(a, ATTRIB_SRC_INVENTORY);
	if (attrib_apply_stmt(a, &st) != 0 ||
	    attrib_lookup_iface(a, ifname, ref) != 0) {
		attrib_close(a);
		return NULL;
	}
	attrib_sync_end(a, ATTRIB_SRC_INVENTORY);
	return a;
}

static void owners_outlive_the_registry_for_the_linger_only(void)
{
	struct flowmemo *m = flowmemo_open();
	const struct flowmemo_owner *o;
	struct attrib_ref ref, now;
	uint8_t ip[16];
	struct attrib *a = registry_with("vethweb0", &ref);
	uint64_t t = 100 * S;

	CHECK(m && a);
	if (!m || !a)
		goto out;
	CHECK(flowmemo_owner_gone(m, "vethweb0", t) == NULL);	/* never seen */
	flowmemo_owner_seen(m, a, "vethweb0", &ref);
	/* The pod is deleted: the inventory no longer lists it. */
	attrib_sync_begin(a, ATTRIB_SRC_INVENTORY);
	attrib_sync_end(a, ATTRIB_SRC_INVENTORY);
	CHECK(attrib_lookup_iface(a, "vethweb0", &now) == -ENOENT);
	CHECK(attrib_lookup_id(a, ref.id, &now) == -ENOENT);
	o = flowmemo_owner_gone(m, "vethweb0", t);
	CHECK(o != NULL);
	if (o) {
		CHECK_STR(o->ref.workload, "prod/web-0");
		CHECK_EQ_U(o->ref.id, ref.id);
		ew_ip_parse("fd00:10:244::11", ip);
		CHECK(flowmemo_owner_has_ip(o, ip));
		ew_ip_parse("10.244.0.11", ip);
		CHECK(flowmemo_owner_has_ip(o, ip));
		ew_ip_parse("10.244.0.20", ip);
		CHECK(!flowmemo_owner_has_ip(o, ip));
	}
	CHECK(flowmemo_owner_gone(m, "vethother", t) == NULL);
	/* Still within the linger, counted from the first miss... */
	CHECK(flowmemo_owner_gone(m, "vethweb0", t + FLOWMEMO_OWNER_LINGER_NS) != NULL);
	/* ...then no more, and not again. */
	CHECK(flowmemo_owner_gone(m, "vethweb0", t + FLOWMEMO_OWNER_LINGER_NS + 1) == NULL);
	CHECK(flowmemo_owner_gone(m, "vethweb0", t + 1) == NULL);
	/* Seen again: the linger starts over from the next miss. */
	flowmemo_owner_seen(m, a, "vethweb0", &ref);
	CHECK(flowmemo_owner_gone(m, "vethweb0", t + 50 * S) != NULL);
out:
	attrib_close(a);
	flowmemo_close(m);
}

int main(void)
{
	RUN(entries_are_kept_until_deleted);
	RUN(random_churn_matches_a_reference);
	RUN(untouched_entries_expire);
	RUN(owners_outlive_the_registry_for_the_linger_only);
	return T_DONE();
}
