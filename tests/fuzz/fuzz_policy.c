/*
 * fuzz_policy.c - libFuzzer target: the policy reader (policy/policy.h):
 * egresswatch/v1 documents and Kubernetes NetworkPolicy manifests, loaded
 * with policy_load() from memory, then a fixed set of flows evaluated
 * against what loaded.
 *
 * The input is up to three sources, separated by a line "#---8<---": a
 * policy may come in several files, and names must be unique across them.
 *
 * Checked, beyond the sanitizers:
 *  - a load returns 0 with a policy or an error with none, -EINVAL with at
 *    least one message; at most POLICY_ERR_MAX kept, n <= total, each
 *    NUL-terminated and free of control characters (C0, DEL, UTF-8 C1:
 *    diag.c promises messages safe for a terminal);
 *  - policy_eval() answers in range (verdict, reason), always names a rule,
 *    and gives the same answer twice (it keeps no state);
 *  - the lookups used by enrichment answer without crashing.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "policy.h"
#include "util.h"

#define SEP "\n#---8<---\n"
#define MAX_SOURCES 3

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

static const struct policy_label L_redis[] = {{"app", "redis"}, {"tier", "db"}};
static const struct policy_label L_api[] = {{"app", "api"}, {"tier", "backend"}};
static const struct policy_label L_web[] = {{"app", "web"}, {"role", "frontend"}};
static const struct policy_label L_dns[] = {{"k8s-app", "kube-dns"}};
static const struct policy_label NS_prod[] = {{"env", "production"},
					      {"kubernetes.io/metadata.name", "prod"}};
static const struct policy_port_name P_api[] = {{"http", 6, 8080}, {"metrics", 6, 9090}};
static struct policy_served served_redis = {1, {6}, {6379}};

static const struct policy_workload W[] = {
	{.namespace = "prod", .name = "redis-0", .labels = L_redis, .n_labels = 2,
	 .ns_labels = NS_prod, .n_ns_labels = 2, .served = &served_redis},
	{.namespace = "prod", .name = "checkout-7f9c", .labels = L_api,
	 .n_labels = 2, .ns_labels = NS_prod, .n_ns_labels = 2, .ports = P_api,
	 .n_ports = 2},
	{.namespace = "frontend", .name = "web-0", .labels = L_web, .n_labels = 2},
	{.namespace = "kube-system", .name = "coredns-1", .labels = L_dns,
	 .n_labels = 1},
	{.namespace = "payments", .name = "vault-0"},
	{.namespace = "", .name = "nginx"},
};

static const struct {
	const char *ip;
	uint8_t proto;
	uint16_t port;
	uint8_t outside;
	const char *name, *country;
	uint32_t asn;
} R[] = {
	{"203.0.113.66", 6, 6379, 1, NULL, "NL", 64500},
	{"198.51.100.7", 6, 443, 1, "api.stripe.com", "US", 64501},
	{"10.244.0.11", 6, 8080, 0, NULL, NULL, 0},
	{"192.0.2.10", 17, 53, 1, "dns.example", "DE", 0},
	{"2001:db8::5", 6, 5432, 1, "db\\046x.example", NULL, 64502},
	{"fd00:10::7", 132, 3868, 0, NULL, NULL, 0},
	{"10.96.0.10", 1, 2048, 0, NULL, NULL, 0},
};

static void check_message(const char *m)
{
	size_t n = strnlen(m, POLICY_ERRMSG_MAX);

	FUZZ_CHECK(n < POLICY_ERRMSG_MAX, "message not NUL-terminated");
	for (size_t i = 0; i < n; i++) {
		uint8_t b = (uint8_t)m[i];

		FUZZ_CHECK(b >= 0x20 && b != 0x7f, "control byte 0x%02x in \"%s\"",
			   b, m);
		FUZZ_CHECK(!(b == 0xc2 && i + 1 < n && (uint8_t)m[i + 1] >= 0x80 &&
			     (uint8_t)m[i + 1] <= 0x9f),
			   "C1 control in \"%s\"", m);
	}
}

static void check_result(const struct policy_result *r)
{
	FUZZ_CHECK(r->verdict <= POLICY_AUDIT, "verdict %u", r->verdict);
	FUZZ_CHECK(r->reason < POLICY_R__COUNT, "reason %u", r->reason);
	FUZZ_CHECK(r->rule != NULL, "no deciding rule");
	(void)strlen(r->rule);
	if (r->entry)
		(void)strlen(r->entry);
	if (r->netpol)
		(void)strlen(r->netpol);
	FUZZ_CHECK(policy_verdict_name(r->verdict) &&
		   policy_reason_name(r->reason), "unnamed verdict or reason");
}

static void evaluate(const struct policy *p)
{
	struct policy_info info;

	policy_get_info(p, &info);
	for (size_t i = 0; i < EW_ARRAY_LEN(R); i++) {
		struct policy_flow f = {0};
		const char *net;

		FUZZ_CHECK(ew_ip_parse(R[i].ip, f.remote_ip) == 0, "%s", R[i].ip);
		net = policy_network_name(p, f.remote_ip);
		if (net)
			(void)strlen(net);
		(void)policy_in_cluster(p, f.remote_ip);
		f.proto = R[i].proto;
		f.remote_outside = R[i].outside;
		f.remote_name = R[i].name;
		f.remote_country = R[i].country;
		f.remote_asn = R[i].asn;
		for (size_t w = 0; w <= EW_ARRAY_LEN(W); w++) {
			for (int dir = 0; dir < 2; dir++) {
				struct policy_result r1, r2;

				f.direction = (uint8_t)dir;
				f.local = w < EW_ARRAY_LEN(W) ? &W[w] : NULL;
				f.remote = i == 2 ? &W[2] : NULL;
				f.local_port = dir == POLICY_EGRESS ? 40000 : R[i].port;
				f.remote_port = dir == POLICY_EGRESS ? R[i].port : 40000;
				policy_eval(p, &f, &r1);
				check_result(&r1);
				policy_eval(p, &f, &r2);
				FUZZ_CHECK(r1.verdict == r2.verdict &&
					   r1.reason == r2.reason &&
					   strcmp(r1.rule, r2.rule) == 0 &&
					   r1.budget_bytes == r2.budget_bytes,
					   "the same flow judged twice differently");
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct policy_errors errs;
	static const char *names[MAX_SOURCES] = {"a.yaml", "b.yaml", "c.yaml"};
	struct policy_source src[MAX_SOURCES];
	struct policy *p = NULL;
	const uint8_t *part;
	size_t off = 0, len, n = 0;
	int rc;

	while (n < MAX_SOURCES &&
	       fuzz_next_part(data, size, SEP, strlen(SEP), &off, &part, &len)) {
		src[n].name = names[n];
		src[n].data = (const char *)part;
		src[n].len = len;
		n++;
	}
	if (n == 0)
		return 0;
	memset(&errs, 0, sizeof(errs));
	rc = policy_load(src, n, &p, &errs);
	FUZZ_CHECK((rc == 0) == (p != NULL), "rc %d with policy %p", rc, (void *)p);
	FUZZ_CHECK(rc == 0 || rc == -EINVAL || rc == -ENOMEM || rc == -EFBIG,
		   "policy_load returned %d", rc);
	FUZZ_CHECK(errs.n <= POLICY_ERR_MAX && errs.n <= errs.total,
		   "%u messages kept of %u", errs.n, errs.total);
	if (rc == -EINVAL)
		FUZZ_CHECK(errs.n >= 1, "-EINVAL without a message");
	if (rc == 0)
		FUZZ_CHECK(errs.total == 0, "loaded with %u errors: %s", errs.total,
			   errs.msg[0]);
	for (unsigned i = 0; i < errs.n; i++)
		check_message(errs.msg[i]);
	if (p) {
		evaluate(p);
		policy_close(p);
	}
	return 0;
}
