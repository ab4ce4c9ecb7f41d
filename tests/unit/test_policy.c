/*
 * test_policy.c - the egresswatch/v1 policy format: loading (every error
 * class, with its exact file:line:col), hostile input (alias bombs, deep
 * nesting, huge files, node floods), evaluation of every rule kind, audit
 * mode, defaults, the built-in datastore rules, and the speed of
 * policy_eval() with a 200-entry policy.
 *
 * Fixtures: tests/policy/full.yaml (the complete example of docs/policy.md)
 * and docs/policy.md itself, every ```yaml block of which must load.  Both
 * are found through EW_SOURCE (set by ctest), or the current directory.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "policy.h"
#include "t.h"
#include "util.h"

/* ---- helpers ---------------------------------------------------------------- */

static const char *source_path(const char *rel)
{
	static char path[4096];
	const char *root = getenv("EW_SOURCE");

	snprintf(path, sizeof(path), "%s/%s", root ? root : ".", rel);
	return path;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static void print_errors(const struct policy_errors *e)
{
	for (unsigned i = 0; i < e->n; i++)
		fprintf(stderr, "    %s\n", e->msg[i]);
}

/* Load one in-memory document named "t.yaml"; NULL (reported) on error. */
static struct policy *load(const char *yaml)
{
	struct policy_source src = {.name = "t.yaml", .data = yaml,
				    .len = strlen(yaml)};
	struct policy_errors errs;
	struct policy *p = NULL;

	if (policy_load(&src, 1, &p, &errs) != 0) {
		fprintf(stderr, "  unexpected load failure:\n");
		print_errors(&errs);
		t_failed++;
	}
	return p;
}

/* The load must fail, and its first message be "t.yaml:<want>". */
static void expect_error(const char *yaml, size_t len, const char *want)
{
	struct policy_source src = {.name = "t.yaml", .data = yaml, .len = len};
	struct policy_errors errs;
	struct policy *p = (struct policy *)&errs;
	char full[POLICY_ERRMSG_MAX];

	snprintf(full, sizeof(full), "t.yaml:%s", want);
	CHECK(policy_load(&src, 1, &p, &errs) < 0);
	CHECK(p == NULL);
	CHECK(errs.n >= 1);
	if (errs.n >= 1 && strcmp(errs.msg[0], full) != 0) {
		fprintf(stderr, "  want: %s\n", full);
		print_errors(&errs);
		t_failed++;
	}
	t_checks++;
	if (p && p != (struct policy *)&errs)
		policy_close(p);
}
#define EXPECT_ERROR(yaml, want) expect_error(yaml, strlen(yaml), want)

static struct policy_flow flow(int dir, const struct policy_workload *local,
			       const char *ip, uint8_t proto, uint16_t port)
{
	struct policy_flow f = {.direction = (uint8_t)dir, .proto = proto,
				.local = local};

	if (ew_ip_parse(ip, f.remote_ip))
		fprintf(stderr, "bad test address %s\n", ip);
	f.remote_outside = strncmp(ip, "10.", 3) != 0 && strncmp(ip, "fd00:", 5) != 0;
	if (dir == POLICY_EGRESS) {
		f.local_port = 40000;
		f.remote_port = port;
	} else {
		f.local_port = port;
		f.remote_port = 40000;
	}
	return f;
}

static struct policy_result eval(const struct policy *p, const struct policy_flow *f)
{
	struct policy_result r;

	policy_eval(p, f, &r);
	return r;
}

/* Verdict and deciding rule of one flow. */
static void expect(const struct policy *p, const struct policy_flow *f,
		   int line, enum policy_verdict v, const char *rule)
{
	struct policy_result r = eval(p, f);

	t_checks++;
	if (r.verdict != v || !r.rule || strcmp(r.rule, rule) != 0) {
		fprintf(stderr, "%s:%d: got %s by %s, want %s by %s\n", __FILE__,
			line, policy_verdict_name(r.verdict), r.rule ? r.rule : "(null)",
			policy_verdict_name(v), rule);
		t_failed++;
	}
}
#define EXPECT(p, f, v, rule) expect(p, &(f), __LINE__, v, rule)

enum { EG = POLICY_EGRESS, IN = POLICY_INGRESS, TCP = 6, UDP = 17 };

static const struct policy_label L_redis[] = {{"app", "redis"}};
static const struct policy_label L_api[] = {{"app", "api"}, {"tier", "backend"}};
static const struct policy_label L_web[] = {{"app", "web"}};
static const struct policy_label L_dns[] = {{"k8s-app", "kube-dns"}};
static const struct policy_label NS_prod[] = {{"env", "production"}};

static const struct policy_workload W_redis = {
	.namespace = "prod", .name = "redis-0", .labels = L_redis, .n_labels = 1};
static const struct policy_workload W_api = {
	.namespace = "prod", .name = "api-7f9c", .labels = L_api, .n_labels = 2,
	.ns_labels = NS_prod, .n_ns_labels = 1};
static const struct policy_workload W_api_staging = {
	.namespace = "staging", .name = "api-1", .labels = L_api, .n_labels = 2};
static const struct policy_workload W_web = {
	.namespace = "frontend", .name = "web-0", .labels = L_web, .n_labels = 1};
static const struct policy_workload W_dns = {
	.namespace = "kube-system", .name = "coredns-1", .labels = L_dns, .n_labels = 1};
static const struct policy_workload W_plain = {.namespace = "", .name = "nginx"};

/* ---- loading ------------------------------------------------------------------- */

static void test_full_example_loads(void)
{
	struct policy_source src = {.name = source_path("tests/policy/full.yaml")};
	struct policy_errors errs;
	struct policy_info info;
	struct policy *p = NULL;

	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), 0);
	if (!p) {
		print_errors(&errs);
		return;
	}
	policy_get_info(p, &info);
	CHECK_EQ_U(info.documents, 1);
	CHECK_EQ_U(info.workloads, 3);
	CHECK_EQ_U(info.networks, 2);
	CHECK_EQ_U(info.zones, 3);
	CHECK_EQ_U(info.zone_pairs, 2);
	CHECK_EQ_U(info.netpols, 0);
	CHECK_EQ_U(info.mode, POLICY_MODE_ENFORCE);
	CHECK_EQ_U(info.datastore_guard, 1);
	policy_close(p);
}

/* Every ```yaml block of docs/policy.md is a valid policy on its own, and
 * the last one is tests/policy/full.yaml, byte for byte. */
static void test_docs_examples_are_valid(void)
{
	size_t len, flen, blocks = 0;
	char *doc = slurp(source_path("docs/policy.md"), &len);
	char *full = slurp(source_path("tests/policy/full.yaml"), &flen);
	const char *last = NULL;
	size_t last_len = 0;

	CHECK(doc != NULL);
	CHECK(full != NULL);
	for (char *s = doc; doc && (s = strstr(s, "```yaml\n"));) {
		struct policy_source src = {.name = "docs/policy.md block"};
		struct policy_errors errs;
		struct policy *p = NULL;
		char *end;

		s += 8;
		if (!(end = strstr(s, "```")))
			break;
		src.data = s;
		src.len = (size_t)(end - s);
		if (policy_load(&src, 1, &p, &errs) != 0) {
			fprintf(stderr, "  docs block %zu does not load:\n", blocks + 1);
			print_errors(&errs);
			t_failed++;
		}
		policy_close(p);
		last = s;
		last_len = src.len;
		blocks++;
		s = end + 3;
	}
	CHECK(blocks >= 12);
	CHECK(last && full && last_len == flen && memcmp(last, full, flen) == 0);
	free(doc);
	free(full);
}

static void test_builtin(void)
{
	struct policy_info info;
	struct policy *p = NULL;

	CHECK_EQ_U(policy_builtin(&p), 0);
	policy_get_info(p, &info);
	CHECK_EQ_U(info.documents, 0);
	CHECK_EQ_U(info.workloads, 0);
	CHECK_EQ_U(info.datastore_guard, 1);
	CHECK_EQ_U(info.mode, POLICY_MODE_ENFORCE);
	policy_close(p);
	policy_close(NULL);
}

/* Documents merge: a network defined in one file is usable in another;
 * names stay unique across files; a setting is made once. */
static void test_documents_merge(void)
{
	static const char a[] =
		"apiVersion: egresswatch/v1\n"
		"mode: audit\n"
		"workloads:\n"
		"  - name: api\n"
		"    select: {namespace: prod}\n"
		"    egress: [{to: [{network: partner}]}]\n";
	static const char b[] =
		"apiVersion: egresswatch/v1\n"
		"networks: {partner: 198.51.100.0/24}\n";
	static const char c[] =
		"apiVersion: egresswatch/v1\n"
		"mode: enforce\n"
		"workloads:\n"
		"  - name: api\n"
		"    select: {}\n";
	struct policy_source src[3] = {
		{.name = "a.yaml", .data = a, .len = sizeof(a) - 1},
		{.name = "b.yaml", .data = b, .len = sizeof(b) - 1},
		{.name = "c.yaml", .data = c, .len = sizeof(c) - 1},
	};
	struct policy_errors errs;
	struct policy *p = NULL;
	struct policy_info info;

	CHECK_EQ_U(policy_load(src, 2, &p, &errs), 0);
	if (!p)
		return print_errors(&errs);
	policy_get_info(p, &info);
	CHECK_EQ_U(info.documents, 2);
	CHECK_EQ_U(info.mode, POLICY_MODE_AUDIT);
	struct policy_flow f = flow(EG, &W_api, "198.51.100.7", TCP, 443);
	EXPECT(p, f, POLICY_ALLOW, "api/egress[0]");
	f = flow(EG, &W_api, "203.0.113.7", TCP, 443);
	EXPECT(p, f, POLICY_AUDIT, "api/egress");
	policy_close(p);

	CHECK_EQ_U(policy_load(src, 3, &p, &errs), -EINVAL);
	CHECK(p == NULL);
	CHECK_EQ_U(errs.n, 2);
	CHECK_STR(errs.msg[0], "c.yaml:2:7: mode is already set at a.yaml:2:7");
	CHECK_STR(errs.msg[1],
		  "c.yaml:4:11: duplicate workload entry 'api' (first at a.yaml:4:11)");
}

struct bad {
	const char *yaml;
	const char *want;
};

/* One case per error class, each with its exact position. */
static void test_errors_are_positioned(void)
{
	static const struct bad bad[] = {
		/* YAML syntax (libyaml's message and mark) */
		{"apiVersion: egresswatch/v1\nworkloads: [\n",
		 "3:1: did not find expected node content (while parsing a flow node "
		 "at line 3, column 1)"},
		{"apiVersion: egresswatch/v1\n  mode: audit\n",
		 "2:7: mapping values are not allowed in this context"},
		/* document shape */
		{"- apiVersion: egresswatch/v1\n",
		 "1:1: a policy document must be a mapping, not a list"},
		{"kind: Policy\n",
		 "1:1: missing apiVersion (egresswatch/v1, or networking.k8s.io/v1 for a "
		 "NetworkPolicy)"},
		{"apiVersion: egresswatch/v2\n",
		 "1:13: unsupported policy version 'egresswatch/v2' (this egresswatch "
		 "reads egresswatch/v1)"},
		{"apiVersion: cilium.io/v2\n",
		 "1:13: unsupported apiVersion 'cilium.io/v2' (expected egresswatch/v1 or "
		 "networking.k8s.io/v1)"},
		{"apiVersion: egresswatch/v1\nkind: Polcy\n",
		 "2:7: kind of an egresswatch/v1 document must be 'Policy'"},
		/* unknown keys: with a suggestion, or the list of keys */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egres: []\n",
		 "5:5: unknown key 'egres' in a workload entry (did you mean 'egress'?)"},
		{"apiVersion: egresswatch/v1\nbudget: 1\n",
		 "2:1: unknown key 'budget' in an egresswatch/v1 document (expected one "
		 "of: apiVersion, kind, name, description, mode, default, defaults, "
		 "datastore_guard, cluster_networks, networks, zones, deny_between, "
		 "workloads)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: "
		 "{namespaces: prod}\n",
		 "4:14: unknown key 'namespaces' in select (did you mean 'namespace'?)"},
		/* wrong types */
		{"apiVersion: egresswatch/v1\nmode: 3\n",
		 "2:7: mode must be a string, not an integer (quote it)"},
		{"apiVersion: egresswatch/v1\nworkloads: {}\n",
		 "2:12: workloads must be a list, not a mapping"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    listen_only: yes\n",
		 "5:18: listen_only must be true or false, not a string"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select:\n"
		 "      matchLabels: {version: 1}\n",
		 "5:30: a label value must be a string, not an integer (quote it)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: 42\n    select: {}\n",
		 "3:11: a workload entry name must be a string, not an integer (quote it)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - select: {}\n",
		 "3:5: a workload entry needs a 'name'"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n",
		 "3:5: workload entry 'a' needs 'select' ({} selects every workload)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a b\n    select: {}\n",
		 "3:11: a workload entry name 'a b' must be 1-63 characters of A-Z a-z "
		 "0-9 . _ -"},
		/* duplicate keys and names */
		{"apiVersion: egresswatch/v1\nmode: audit\nmode: enforce\n",
		 "3:1: duplicate key 'mode' (first at line 2, column 1)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - {name: a, select: {}}\n"
		 "  - {name: a, select: {}}\n",
		 "4:12: duplicate workload entry 'a' (first at t.yaml:3:12)"},
		{"apiVersion: egresswatch/v1\nnetworks: {a: 10.0.0.0/8}\n---\n"
		 "apiVersion: egresswatch/v1\nnetworks: {a: 10.0.0.0/8}\n",
		 "5:12: duplicate network 'a' (first at t.yaml:2:12)"},
		/* CIDRs */
		{"apiVersion: egresswatch/v1\nnetworks:\n  x: [10.0.0.0/33]\n",
		 "3:7: network: '10.0.0.0/33' is not a CIDR (like 198.51.100.0/24 or "
		 "2001:db8::/32)"},
		{"apiVersion: egresswatch/v1\ncluster_networks: [10.0.0.0/8, bogus]\n",
		 "2:32: cluster_networks: 'bogus' is not a CIDR (like 198.51.100.0/24 or "
		 "2001:db8::/32)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress:\n      - to: [{cidr: 10.0.0.0/8, except: 10.0.0.0/4}]\n",
		 "6:41: except: '10.0.0.0/4' is not inside the peer's cidr"},
		/* ports */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    serves: [tcp/0]\n",
		 "5:14: serves: 'tcp/0' is not a port (like tcp/443, udp/53, "
		 "tcp/8000-8100, 443, icmp or any)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    serves: [udp/65536]\n",
		 "5:14: serves: 'udp/65536' is not a port (like tcp/443, udp/53, "
		 "tcp/8000-8100, 443, icmp or any)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    serves: [tcp/9000-8000]\n",
		 "5:14: serves: 'tcp/9000-8000' is not a port range (low-high, low <= high)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    serves: icmp/8\n",
		 "5:13: serves: protocol icmp has no ports"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    serves: []\n",
		 "5:13: serves must not be an empty list (leave it out for any port)"},
		/* patterns and names */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: "
		 "{name: \"redis/*\"}\n",
		 "4:20: name: 'redis/*' is not a valid pattern (A-Z a-z 0-9 . _ - with * "
		 "and ?, at most 253)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{dns: \"api.*.com\"}]}]\n",
		 "5:26: dns: 'api.*.com' is not a DNS name or pattern (like stripe.com "
		 "or *.stripe.com; '*' only as the whole first label)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{country: DEU}]}]\n",
		 "5:30: country 'DEU' is not an ISO 3166 alpha-2 code (like DE)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{asn: 0}]}]\n",
		 "5:26: asn must be between 1 and 4294967295"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select:\n"
		 "      matchExpressions: [{key: a, operator: Is, values: [b]}]\n",
		 "5:45: operator 'Is' is not one of In, NotIn, Exists, DoesNotExist"},
		/* references */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{network: nowhere}]}]\n",
		 "5:30: network 'nowhere' is not defined under 'networks:'"},
		{"apiVersion: egresswatch/v1\nzones: {pci: [payments]}\n"
		 "deny_between: [[pci, web]]\n",
		 "3:22: zone 'web' is not defined under 'zones:'"},
		{"apiVersion: egresswatch/v1\nzones: {pci: [payments]}\n"
		 "deny_between: [[pci, pci]]\n",
		 "3:16: a zone cannot be denied from itself ('pci')"},
		{"apiVersion: egresswatch/v1\nzones: {pci: [payments], b: x, c: y}\n"
		 "deny_between: [[pci, b, c]]\n",
		 "3:16: a deny_between item is a pair of zone names, like [web, pci]"},
		/* peers */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{dns: a.com, country: DE}]}]\n",
		 "5:20: a peer has exactly one of cidr, network, workload, dns, country, "
		 "asn, cluster (this one has 'dns' and 'country'); use two list items "
		 "for either-or"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: [{dns: a.com, except: 10.0.0.0/8}]}]\n",
		 "5:20: 'except' goes with 'cidr' only"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    egress: [{to: []}]\n",
		 "5:19: 'to' must not be empty (leave it out to match any destination)"},
		/* budgets and defaults */
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    budget: {outside: 5MiB, window: 5x}\n",
		 "5:37: budget window: '5x' is not a duration between 1s and 7d (like "
		 "30s, 5m, 1h)"},
		{"apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n    select: {}\n"
		 "    budget: {window: 5m}\n",
		 "5:13: budget needs 'outside' (bytes, like 50MiB) and 'window' (like 5m)"},
		{"apiVersion: egresswatch/v1\ndefault: deny\n",
		 "2:10: a default must be 'allow' or 'alert', not 'deny'"},
		{"apiVersion: egresswatch/v1\ndefaults:\n  prod: {egres: alert}\n",
		 "3:10: unknown key 'egres' in a default (did you mean 'egress'?)"},
		/* YAML features we refuse */
		{"apiVersion: egresswatch/v1\nnetworks:\n  a: &blk [10.0.0.0/8]\n  b: *blk\n",
		 "4:6: YAML aliases are not supported (*blk)"},
		{"apiVersion: egresswatch/v1\n? [a, b]\n: c\n",
		 "2:3: mapping keys must be scalars"},
		{"apiVersion: egresswatch/v1\nname: !!binary aGk=\n",
		 "2:7: unsupported YAML tag '!!binary'"},
		{"apiVersion: egresswatch/v1\nname: !local x\n",
		 "2:7: unsupported YAML tag '!local'"},
		{"apiVersion: egresswatch/v1\ndatastore_guard: !!bool maybe\n",
		 "2:18: 'maybe' is not a valid bool"},
		{"apiVersion: egresswatch/v1\nname: \"a\\0b\"\n",
		 "2:7: scalar contains a NUL character"},
		{"apiVersion: egresswatch/v1\nname: caf\xe9\n",
		 "2:10: incomplete UTF-8 octet sequence"},
		/* quoted input cannot smuggle terminal controls into messages */
		{"apiVersion: egresswatch/v1\n\"\\e[2J\\u009b\": 1\n",
		 "2:1: unknown key '?[2J?\?' in an egresswatch/v1 document (expected "
		 "one of: apiVersion, kind, name, description, mode, default, "
		 "defaults, datastore_guard, cluster_networks, networks, zones, "
		 "deny_between, workloads)"},
	};

	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++)
		EXPECT_ERROR(bad[i].yaml, bad[i].want);
	printf("     %zu error cases\n", EW_ARRAY_LEN(bad));
}

static void test_empty_input(void)
{
	EXPECT_ERROR("", " contains no policy documents");
	t_checks++;
	EXPECT_ERROR("# nothing but a comment\n---\n", " contains no policy documents");
}

/* "Billion laughs": refused at the first alias, before any expansion. */
static void test_alias_bomb_refused(void)
{
	static const char bomb[] =
		"apiVersion: egresswatch/v1\n"
		"a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
		"b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
		"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
		"d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
		"e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
		"f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
		"g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
		"h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
		"i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
	uint64_t t0 = ew_mono_ns();

	EXPECT_ERROR(bomb, "3:8: YAML aliases are not supported (*a)");
	CHECK(ew_mono_ns() - t0 < 1000000000ull);
}

/* 32 levels are read; the 33rd collection is refused where it starts. */
static void test_deep_nesting_refused(void)
{
	char y[256];
	int n;

	/* the top-level mapping is level 1, so 31 lists make 32 levels */
	n = snprintf(y, sizeof(y), "apiVersion: egresswatch/v1\nx: ");
	for (int i = 0; i < 31; i++)
		y[n++] = '[';
	for (int i = 0; i < 31; i++)
		y[n++] = ']';
	y[n++] = '\n';
	y[n] = '\0';
	EXPECT_ERROR(y, "2:1: unknown key 'x' in an egresswatch/v1 document "
			"(expected one of: apiVersion, kind, name, description, mode, "
			"default, defaults, datastore_guard, cluster_networks, networks, "
			"zones, deny_between, workloads)");

	n = snprintf(y, sizeof(y), "apiVersion: egresswatch/v1\nx: ");
	for (int i = 0; i < 40; i++)
		y[n++] = '[';
	for (int i = 0; i < 40; i++)
		y[n++] = ']';
	y[n++] = '\n';
	y[n] = '\0';
	EXPECT_ERROR(y, "2:35: nesting deeper than 32 levels");
}

static void test_huge_input_refused(void)
{
	size_t big = POLICY_FILE_MAX + 1;
	char *buf = malloc(big);
	char path[] = "/tmp/ew-policy-huge-XXXXXX";
	struct policy_source src = {.name = "t.yaml"};
	struct policy_errors errs;
	struct policy *p = NULL;
	int fd;

	CHECK(buf != NULL);
	if (!buf)
		return;
	/* a comment of exactly the cap is fine size-wise ... */
	memset(buf, 'x', big);
	buf[0] = '#';
	buf[POLICY_FILE_MAX - 1] = '\n';
	expect_error(buf, POLICY_FILE_MAX, " contains no policy documents");
	/* ... one byte more is refused before parsing, in memory ... */
	src.data = buf;
	src.len = big;
	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), -EFBIG);
	CHECK(p == NULL);
	CHECK_STR(errs.msg[0], "t.yaml: larger than 4194304 bytes");

	/* ... and from a file (5 MiB) */
	fd = mkstemp(path);
	CHECK(fd >= 0);
	for (int i = 0; fd >= 0 && i < 5; i++)
		CHECK(write(fd, buf, 1u << 20) == 1 << 20);
	if (fd >= 0)
		close(fd);
	src = (struct policy_source){.name = path};
	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), -EFBIG);
	CHECK(p == NULL);
	CHECK(errs.n == 1 && strstr(errs.msg[0], ": larger than 4194304 bytes"));
	unlink(path);
	free(buf);
}

static void test_node_flood_refused(void)
{
	/* "a: [1,1,1,...]": the map, key and list are nodes 1-3, so the item
	 * refused (node 200001) is item 199997, at column 5 + 2 * 199997. */
	size_t items = POLICY_NODES_MAX + 10, n = 0;
	char *y = malloc(items * 2 + 64);

	CHECK(y != NULL);
	if (!y)
		return;
	n += (size_t)sprintf(y, "a: [");
	for (size_t i = 0; i < items; i++) {
		y[n++] = '1';
		y[n++] = ',';
	}
	y[n - 1] = ']';
	y[n++] = '\n';
	y[n] = '\0';
	expect_error(y, n, "1:399999: more than 200000 YAML nodes");
	free(y);
}

static void test_long_scalar_refused(void)
{
	size_t n = POLICY_SCALAR_MAX + 100;
	char *y = malloc(n + 64);
	int off;

	CHECK(y != NULL);
	if (!y)
		return;
	off = sprintf(y, "apiVersion: egresswatch/v1\nname: ");

	memset(y + off, 'a', n);
	strcpy(y + off + n, "\n");
	EXPECT_ERROR(y, "2:7: scalar longer than 65536 bytes");
	free(y);
}

/* Duplicate detection sorts: 90000 keys cost no quadratic time. */
static void test_many_keys_fast(void)
{
	size_t keys = 90000, n = 0;
	char *y = malloc(keys * 16 + 64);
	uint64_t t0 = ew_mono_ns();

	CHECK(y != NULL);
	if (!y)
		return;
	for (size_t i = 0; i < keys; i++)
		n += (size_t)sprintf(y + n, "k%zu: 1\n", i);
	n += (size_t)sprintf(y + n, "k7: 2\n");
	expect_error(y, n, "90001:1: duplicate key 'k7' (first at line 8, column 1)");
	CHECK(ew_mono_ns() - t0 < 5000000000ull);
	free(y);
}

static void test_errors_are_capped_and_counted(void)
{
	char y[1024];
	int n = sprintf(y, "apiVersion: egresswatch/v1\n");
	struct policy_source src = {.name = "t.yaml", .data = y};
	struct policy_errors errs;
	struct policy *p;

	for (int i = 0; i < 20; i++)
		n += sprintf(y + n, "unknown%d: 1\n", i);
	src.len = (size_t)n;
	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), -EINVAL);
	CHECK_EQ_U(errs.n, POLICY_ERR_MAX);
	CHECK_EQ_U(errs.total, 20);
}

static void test_unreadable_files(void)
{
	struct policy_source src = {.name = "/nonexistent/policy.yaml"};
	struct policy_errors errs;
	struct policy *p;

	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), -ENOENT);
	CHECK_STR(errs.msg[0],
		  "/nonexistent/policy.yaml: cannot open: No such file or directory");
	src.name = "/tmp";
	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), -EISDIR);
	CHECK_STR(errs.msg[0], "/tmp: is a directory");
	/* NULL errs is allowed */
	CHECK_EQ_U(policy_load(&src, 1, &p, NULL), -EISDIR);
}

/* A failed load leaves the running policy as it was. */
static void test_bad_reload_keeps_old_policy(void)
{
	struct policy *old = load("apiVersion: egresswatch/v1\ndefault: alert\n");
	struct policy_source bad = {.name = "t.yaml",
				    .data = "apiVersion: egresswatch/v1\ndefault: allow\nx: 1\n"};
	struct policy *next = (struct policy *)&bad;
	struct policy_flow f = flow(EG, &W_api, "203.0.113.1", TCP, 443);

	bad.len = strlen(bad.data);
	if (!old)
		return;
	EXPECT(old, f, POLICY_ALERT, "default");
	CHECK_EQ_U(policy_load(&bad, 1, &next, NULL), -EINVAL);
	CHECK(next == NULL);
	EXPECT(old, f, POLICY_ALERT, "default");
	policy_close(old);
}

/* ---- evaluation: the built-in policy ---------------------------------------------- */

static void test_builtin_allows_benign_traffic(void)
{
	struct policy *p;
	struct policy_flow f;
	struct policy_result r;

	CHECK_EQ_U(policy_builtin(&p), 0);
	f = flow(EG, &W_api, "203.0.113.10", TCP, 443);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_EQ_U(r.reason, POLICY_R_DEFAULT);
	CHECK_STR(r.rule, "default");
	CHECK(r.netpol == NULL && r.entry == NULL);
	CHECK_EQ_U(r.listen_only + r.unexpected_port + r.zone_violation + r.has_budget, 0);
	f = flow(IN, &W_redis, "10.1.0.5", TCP, 6379);
	EXPECT(p, f, POLICY_ALLOW, "default");
	f = flow(EG, &W_api, "10.1.0.5", TCP, 5432);	/* in-cluster database */
	EXPECT(p, f, POLICY_ALLOW, "default");
	f = flow(EG, &W_api, "203.0.113.10", UDP, 6379); /* not Redis's protocol */
	EXPECT(p, f, POLICY_ALLOW, "default");
	f = flow(IN, &W_api, "203.0.113.10", TCP, 6379); /* inbound: not egress */
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);
}

/* The flagship case: a Redis image shipping data out over 6379. */
static void test_builtin_datastore_egress(void)
{
	struct policy *p;
	struct policy_flow f;
	struct policy_result r;

	CHECK_EQ_U(policy_builtin(&p), 0);
	f = flow(EG, &W_redis, "203.0.113.66", TCP, 6379);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_DATASTORE);
	CHECK_STR(r.rule, "builtin/datastore-egress");
	CHECK_STR(policy_reason_name(r.reason), "datastore");
	CHECK_STR(policy_verdict_name(r.verdict), "alert");
	/* any workload, any datastore, IPv6, and an unknown local workload */
	f = flow(EG, &W_api, "2001:db8::66", TCP, 27017);
	EXPECT(p, f, POLICY_ALERT, "builtin/datastore-egress");
	f = flow(EG, NULL, "198.51.100.1", TCP, 5432);
	EXPECT(p, f, POLICY_ALERT, "builtin/datastore-egress");
	f = flow(EG, &W_plain, "198.51.100.1", UDP, 11211);
	EXPECT(p, f, POLICY_ALERT, "builtin/datastore-egress");
	policy_close(p);
}

static void test_builtin_listen_only_inferred(void)
{
	struct policy_served served = {0};
	struct policy_workload redis = W_redis;
	struct policy_flow f;
	struct policy_result r;
	struct policy *p;

	CHECK_EQ_U(policy_builtin(&p), 0);
	redis.served = &served;
	/* nothing served yet: no inference */
	f = flow(EG, &redis, "203.0.113.66", TCP, 443);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_EQ_U(r.listen_only, 0);
	/* it accepted a connection on 6379: a Redis server */
	CHECK_EQ_U(policy_note_served(&served, TCP, 6379), 1);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_LISTEN_ONLY);
	CHECK_STR(r.rule, "builtin/listen-only");
	CHECK_EQ_U(r.listen_only, 1);
	/* DNS and in-cluster connections stay allowed, flagged */
	f = flow(EG, &redis, "203.0.113.53", UDP, 53);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_EQ_U(r.listen_only, 1);
	f = flow(EG, &redis, "10.1.0.9", TCP, 6379);	/* replication */
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);

	/* a workload entry saying listen_only: false wins over inference */
	p = load("apiVersion: egresswatch/v1\nworkloads:\n"
		 "  - {name: redis-backup, select: {matchLabels: {app: redis}}, "
		 "listen_only: false}\n");
	if (!p)
		return;
	f = flow(EG, &redis, "203.0.113.66", TCP, 443);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_EQ_U(r.listen_only, 0);
	CHECK_STR(r.entry, "redis-backup");
	policy_close(p);

	/* and datastore_guard: false switches both rules off */
	p = load("apiVersion: egresswatch/v1\ndatastore_guard: false\n");
	if (!p)
		return;
	EXPECT(p, f, POLICY_ALLOW, "default");
	f = flow(EG, &redis, "203.0.113.66", TCP, 6379);
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);
}

static void test_note_served(void)
{
	struct policy_served s = {0};
	static const uint16_t ports[] = {6379, 5432, 3306, 27017, 9200, 9300, 2379,
					 2181};

	CHECK_EQ_U(policy_note_served(&s, TCP, 8080), 0);	/* not a datastore */
	CHECK_EQ_U(policy_note_served(&s, UDP, 6379), 0);	/* wrong protocol */
	CHECK_EQ_U(s.n, 0);
	for (size_t i = 0; i < EW_ARRAY_LEN(ports); i++)
		CHECK_EQ_U(policy_note_served(&s, TCP, ports[i]), 1);
	CHECK_EQ_U(policy_note_served(&s, TCP, 6379), 0);	/* already there */
	CHECK_EQ_U((unsigned)-policy_note_served(&s, TCP, 9092), ENOSPC);
	CHECK_EQ_U(s.n, POLICY_SERVED_MAX);
	CHECK_STR(policy_datastore_name(TCP, 6379), "redis");
	CHECK_STR(policy_datastore_name(TCP, 5432), "postgresql");
	CHECK_STR(policy_datastore_name(UDP, 11211), "memcached");
	CHECK(policy_datastore_name(TCP, 443) == NULL);
}

/* ---- evaluation: our rules ----------------------------------------------------------- */

static void test_network_lookup(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"cluster_networks: [10.0.0.0/8, \"fd00:10::/48\"]\n"
		"networks:\n"
		"  wide: [198.51.0.0/16]\n"
		"  partner: [198.51.100.0/24, \"2001:db8:100::/48\"]\n"
		"  host: 198.51.100.7\n");
	uint8_t ip[16];

	if (!p)
		return;
	ew_ip_parse("198.51.100.7", ip);
	CHECK_STR(policy_network_name(p, ip), "host");
	ew_ip_parse("198.51.100.8", ip);
	CHECK_STR(policy_network_name(p, ip), "partner");
	ew_ip_parse("198.51.7.1", ip);
	CHECK_STR(policy_network_name(p, ip), "wide");
	ew_ip_parse("2001:db8:100::1", ip);
	CHECK_STR(policy_network_name(p, ip), "partner");
	ew_ip_parse("203.0.113.1", ip);
	CHECK(policy_network_name(p, ip) == NULL);
	CHECK_EQ_U(policy_in_cluster(p, ip), 0);
	ew_ip_parse("10.244.3.7", ip);
	CHECK_EQ_U(policy_in_cluster(p, ip), 1);
	ew_ip_parse("fd00:10::7", ip);
	CHECK_EQ_U(policy_in_cluster(p, ip), 1);
	policy_close(p);
}

/* Address sets and longest-prefix lookups against a brute-force oracle:
 * 3000 random, overlapping, nested IPv4 (/12-/32) and IPv6 (/44-/64)
 * blocks in three networks (and as cluster_networks), 20000 random
 * addresses. */
static void test_cidr_sets_match_brute_force(void)
{
	enum { BLOCKS = 3000, PROBES = 20000 };
	static const char *const names[] = {"alpha", "beta", "gamma"};
	struct ew_cidr *blk = calloc(BLOCKS, sizeof(*blk));
	int *net = calloc(BLOCKS, sizeof(*net));
	struct ew_buf b;
	struct policy *p = NULL;
	unsigned seed = 12345, bad_name = 0, bad_cluster = 0, hits = 0;
	char txt[64];

	CHECK(blk && net);
	if (!blk || !net)
		goto out;
	ew_buf_init(&b, 1u << 20);
	ew_buf_puts(&b, "apiVersion: egresswatch/v1\ncluster_networks:\n");
	for (int i = 0; i < BLOCKS; i++) {
		unsigned r = (unsigned)rand_r(&seed);
		if (i % 4 == 3)	/* IPv6 under 2001:db8::/44 */
			snprintf(txt, sizeof(txt), "2001:db8:%x:%x::/%u", r & 0xf,
				 (r >> 4) & 0xff, 44 + (r >> 12) % 21);
		else		/* IPv4 under 10.0.0.0/10 */
			snprintf(txt, sizeof(txt), "10.%u.%u.%u/%u", r & 0x3f,
				 (r >> 6) & 0xff, (r >> 14) & 0xff, 12 + (r >> 22) % 21);
		CHECK(ew_cidr_parse(txt, &blk[i]) == 0);
		net[i] = (int)((r >> 29) % 3);
		ew_buf_printf(&b, "  - \"%s\"\n", txt);
	}
	ew_buf_puts(&b, "networks:\n");
	for (int n = 0; n < 3; n++) {
		ew_buf_printf(&b, "  %s:\n", names[n]);
		for (int i = 0; i < BLOCKS; i++) {
			char lo[EW_IPSTR_MAX];
			if (net[i] != n)
				continue;
			ew_ip_to_str(blk[i].lo, lo);
			ew_buf_printf(&b, "    - \"%s/%u\"\n", lo,
				      ew_ip_is_v4(blk[i].lo) ? blk[i].prefix - 96 :
							       blk[i].prefix);
		}
	}
	CHECK(!b.toobig);
	p = load(b.data);
	ew_buf_free(&b);
	if (!p)
		goto out;
	for (int k = 0; k < PROBES; k++) {
		unsigned r = (unsigned)rand_r(&seed), r2 = (unsigned)rand_r(&seed);
		uint8_t ip[16];
		int best = -1, in = 0;

		/* four times the space the blocks are drawn from */
		if (k % 4 == 3)
			snprintf(txt, sizeof(txt), "2001:db8:%x:%x::%x", r & 0x3f,
				 (r >> 6) & 0xff, r2 & 0xffff);
		else
			snprintf(txt, sizeof(txt), "10.%u.%u.%u", r & 0xff,
				 (r >> 8) & 0xff, r2 & 0xff);
		ew_ip_parse(txt, ip);
		for (int i = 0; i < BLOCKS; i++) {
			if (!ew_cidr_contains(&blk[i], ip))
				continue;
			in = 1;
			if (best < 0 || blk[i].prefix > blk[best].prefix ||
			    (blk[i].prefix == blk[best].prefix && net[i] < net[best]))
				best = i;
		}
		const char *got = policy_network_name(p, ip);
		const char *want = best < 0 ? NULL : names[net[best]];
		bad_name += !(got == want || (got && want && strcmp(got, want) == 0));
		bad_cluster += policy_in_cluster(p, ip) != in;
		hits += in;
	}
	printf("     %u of %d probes inside some block\n", hits, PROBES);
	CHECK(hits > PROBES / 10 && hits < PROBES - PROBES / 10);
	CHECK_EQ_U(bad_name, 0);
	CHECK_EQ_U(bad_cluster, 0);
	policy_close(p);
out:
	free(blk);
	free(net);
}

static void test_selection(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"workloads:\n"
		"  - name: by-ns-list\n"
		"    select: {namespace: [staging, \"qa-*\"]}\n"
		"    egress: []\n"
		"  - name: by-name\n"
		"    select: {name: \"redis-?\"}\n"
		"    egress: []\n"
		"  - name: by-expr\n"
		"    select:\n"
		"      namespace: prod\n"
		"      matchExpressions:\n"
		"        - {key: tier, operator: In, values: [backend]}\n"
		"        - {key: canary, operator: DoesNotExist}\n"
		"    egress: []\n"
		"  - name: by-ns-labels\n"
		"    select: {namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: frontend}}}\n"
		"    egress: []\n"
		"  - name: plain-containers\n"
		"    select: {namespace: \"\"}\n"
		"    egress: []\n");
	struct policy_flow f;

	if (!p)
		return;
	f = flow(EG, &W_api_staging, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "by-ns-list/egress");
	f = flow(EG, &W_redis, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "by-name/egress");
	f = flow(EG, &W_api, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "by-expr/egress");
	f = flow(EG, &W_web, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "by-ns-labels/egress");
	f = flow(EG, &W_plain, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "plain-containers/egress");
	f = flow(EG, &W_dns, "203.0.113.1", TCP, 443);	/* selected by none */
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);

	/* "" is a namespace (no Kubernetes namespace), never a name */
	EXPECT_ERROR("apiVersion: egresswatch/v1\nworkloads:\n  - name: a\n"
		     "    select: {name: \"\"}\n",
		     "4:20: name must not be empty");
}

static const char PEERS[] =
	"apiVersion: egresswatch/v1\n"
	"cluster_networks: [10.0.0.0/8]\n"
	"networks: {partner: [198.51.100.0/24]}\n"
	"workloads:\n"
	"  - name: api\n"
	"    select: {namespace: prod, matchLabels: {app: api}}\n"
	"    egress:\n"
	"      - name: cidr\n"
	"        to: [{cidr: [192.0.2.0/24, \"2001:db8:1::/48\"], except: 192.0.2.128/25}]\n"
	"      - name: net\n"
	"        to: [{network: partner}]\n"
	"        ports: [tcp/443, tcp/8000-8100]\n"
	"      - name: kube-dns\n"
	"        to: [{workload: {namespace: kube-system, matchLabels: {k8s-app: kube-dns}}}]\n"
	"        ports: [udp/53, 53]\n"
	"      - name: stripe\n"
	"        to: [{dns: [\"*.stripe.com\", \"Stripe.COM.\"]}]\n"
	"        ports: tcp/443\n"
	"      - name: eu\n"
	"        to: [{country: [de, FR]}]\n"
	"        ports: tcp/443\n"
	"      - name: cloud\n"
	"        to: [{asn: [AS16509, 15169]}]\n"
	"        ports: tcp/443\n"
	"      - name: inside\n"
	"        to: [{cluster: true}]\n"
	"        ports: [any]\n"
	"      - name: ping\n"
	"        to: [{cluster: false}]\n"
	"        ports: icmp\n";

static void test_peers(void)
{
	struct policy *p = load(PEERS);
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	/* cidr with except, IPv4 and IPv6 */
	f = flow(EG, &W_api, "192.0.2.7", UDP, 9999);
	EXPECT(p, f, POLICY_ALLOW, "api/cidr");
	f = flow(EG, &W_api, "192.0.2.200", UDP, 9999);
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	f = flow(EG, &W_api, "2001:db8:1::9", TCP, 22);
	EXPECT(p, f, POLICY_ALLOW, "api/cidr");
	/* named network with a port range */
	f = flow(EG, &W_api, "198.51.100.20", TCP, 8100);
	EXPECT(p, f, POLICY_ALLOW, "api/net");
	f = flow(EG, &W_api, "198.51.100.20", TCP, 8101);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_ISOLATED);
	CHECK_EQ_U(r.unexpected_port, 0);	/* rule "cidr" takes any port */
	/* workload by namespace and labels; a bare port number is TCP */
	f = flow(EG, &W_api, "10.96.0.10", UDP, 53);
	f.remote = &W_dns;
	EXPECT(p, f, POLICY_ALLOW, "api/kube-dns");
	f.proto = TCP;
	EXPECT(p, f, POLICY_ALLOW, "api/kube-dns");
	f.remote = &W_web;			/* inside, so "inside" allows it */
	EXPECT(p, f, POLICY_ALLOW, "api/inside");
	/* DNS names: wildcard is one or more labels below; case and a trailing
	 * dot do not matter; the apex needs its own entry */
	f = flow(EG, &W_api, "203.0.113.30", TCP, 443);
	f.remote_name = "api.stripe.com";
	EXPECT(p, f, POLICY_ALLOW, "api/stripe");
	f.remote_name = "a.b.STRIPE.com.";
	EXPECT(p, f, POLICY_ALLOW, "api/stripe");
	f.remote_name = "stripe.com";
	EXPECT(p, f, POLICY_ALLOW, "api/stripe");
	f.remote_name = "evilstripe.com";
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	f.remote_name = "stripe.com.evil.net";
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	/* an escaped dot is inside a label: "evil.stripe" under "com" */
	f.remote_name = "evil\\.stripe.com";
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	f.remote_name = "x\\046y.stripe.com";	/* any escape: refused */
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	f.remote_name = NULL;
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	/* country (case-insensitive) and ASN */
	f.remote_country = "DE";
	EXPECT(p, f, POLICY_ALLOW, "api/eu");
	f.remote_country = "fr";
	EXPECT(p, f, POLICY_ALLOW, "api/eu");
	f.remote_country = "US";
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	f.remote_asn = 16509;
	EXPECT(p, f, POLICY_ALLOW, "api/cloud");
	f.remote_asn = 15169;
	EXPECT(p, f, POLICY_ALLOW, "api/cloud");
	f.remote_asn = 13335;
	EXPECT(p, f, POLICY_ALERT, "api/egress");
	/* cluster: true / false, protocol-only ports */
	f = flow(EG, &W_api, "10.7.7.7", UDP, 5000);
	EXPECT(p, f, POLICY_ALLOW, "api/inside");
	f = flow(EG, &W_api, "203.0.113.7", 1, 0x0800);
	EXPECT(p, f, POLICY_ALLOW, "api/ping");
	f = flow(EG, &W_api, "10.7.7.7", 1, 0x0800);
	EXPECT(p, f, POLICY_ALLOW, "api/inside");
	policy_close(p);
}

static void test_serves_and_ingress(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"networks: {vpn: 192.0.2.0/25}\n"
		"workloads:\n"
		"  - name: api\n"
		"    select: {matchLabels: {app: api}}\n"
		"    serves: [tcp/8080, tcp/9090]\n"
		"    ingress:\n"
		"      - from: [{workload: {matchLabels: {app: web}}}]\n"
		"        ports: tcp/8080\n"
		"      - name: ssh-from-vpn\n"
		"        from: [{network: vpn}]\n"
		"        ports: tcp/22\n"
		"  - name: cache\n"
		"    select: {matchLabels: {app: redis}}\n"
		"    serves: tcp/6379\n");
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	f = flow(IN, &W_api, "10.1.1.1", TCP, 8080);
	f.remote = &W_web;
	EXPECT(p, f, POLICY_ALLOW, "api/ingress[0]");
	f.remote = &W_dns;			/* served port, but not from web */
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_STR(r.rule, "api/ingress");
	CHECK_EQ_U(r.reason, POLICY_R_ISOLATED);
	CHECK_EQ_U(r.unexpected_port, 0);
	/* a port outside serves: denied and flagged; an explicit rule wins */
	f = flow(IN, &W_api, "203.0.113.5", TCP, 4444);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_STR(r.rule, "api/serves");
	CHECK_EQ_U(r.reason, POLICY_R_NOT_SERVED);
	CHECK_EQ_U(r.unexpected_port, 1);
	f = flow(IN, &W_api, "192.0.2.9", TCP, 22);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_STR(r.rule, "api/ssh-from-vpn");
	CHECK_EQ_U(r.unexpected_port, 1);	/* still not a served port */
	/* serves without ingress rules: any source, served ports only */
	f = flow(IN, &W_redis, "10.1.1.1", TCP, 6379);
	EXPECT(p, f, POLICY_ALLOW, "default");
	f = flow(IN, &W_redis, "10.1.1.1", TCP, 16379);
	EXPECT(p, f, POLICY_ALERT, "cache/serves");
	/* serves says nothing about egress */
	f = flow(EG, &W_redis, "10.1.1.1", TCP, 16379);
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);
}

static void test_declared_listen_only(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"workloads:\n"
		"  - name: redis\n"
		"    select: {namespace: prod, matchLabels: {app: redis}}\n"
		"    listen_only: true\n"
		"  - name: redis-dns\n"
		"    select: {matchLabels: {app: redis}}\n"
		"    egress:\n"
		"      - name: dns\n"
		"        to: [{workload: {namespace: kube-system}}]\n"
		"        ports: [udp/53]\n");
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	f = flow(EG, &W_redis, "10.1.2.3", TCP, 6379);	/* even in-cluster */
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_LISTEN_ONLY);
	CHECK_STR(r.rule, "redis/listen-only");
	CHECK_STR(r.entry, "redis");
	CHECK_EQ_U(r.listen_only, 1);
	f = flow(EG, &W_redis, "10.96.0.10", UDP, 53);
	f.remote = &W_dns;
	EXPECT(p, f, POLICY_ALLOW, "redis-dns/dns");
	/* the datastore guard comes before listen-only */
	f = flow(EG, &W_redis, "203.0.113.66", TCP, 6379);
	EXPECT(p, f, POLICY_ALERT, "builtin/datastore-egress");
	/* ingress is what a listen-only workload is for */
	f = flow(IN, &W_redis, "10.1.2.3", TCP, 6379);
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);
}

/* An explicit allow rule overrides the datastore guard (a managed
 * database outside the cluster). */
static void test_explicit_allow_beats_guard(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"networks: {cloud-sql: 198.51.100.10/32}\n"
		"workloads:\n"
		"  - name: api\n"
		"    select: {matchLabels: {app: api}}\n"
		"    egress:\n"
		"      - {name: db, to: [{network: cloud-sql}], ports: tcp/5432}\n"
		"      - {name: web, ports: tcp/443}\n");
	struct policy_flow f;

	if (!p)
		return;
	f = flow(EG, &W_api, "198.51.100.10", TCP, 5432);
	EXPECT(p, f, POLICY_ALLOW, "api/db");
	f = flow(EG, &W_api, "198.51.100.11", TCP, 5432);
	EXPECT(p, f, POLICY_ALERT, "builtin/datastore-egress");
	f = flow(EG, &W_api, "203.0.113.9", TCP, 443);	/* no `to`: any host */
	EXPECT(p, f, POLICY_ALLOW, "api/web");
	policy_close(p);
}

static const char ZONES[] =
	"apiVersion: egresswatch/v1\n"
	"zones:\n"
	"  pci: [payments, vault]\n"
	"  web: [frontend, \"web-*\"]\n"
	"deny_between: [[web, pci]]\n"
	"workloads:\n"
	"  - name: web\n"
	"    select: {namespace: frontend}\n"
	"    egress:\n"
	"      - name: anything-internal\n"
	"        to: [{cidr: 10.0.0.0/8}]\n"
	"      - name: checkout-api\n"
	"        to: [{workload: {namespace: payments, matchLabels: {app: checkout}}}]\n"
	"        ports: tcp/8443\n";

static void test_zones(void)
{
	static const struct policy_label checkout[] = {{"app", "checkout"}};
	static const struct policy_label ledger[] = {{"app", "ledger"}};
	const struct policy_workload w_checkout = {
		.namespace = "payments", .name = "checkout-0", .labels = checkout,
		.n_labels = 1};
	const struct policy_workload w_ledger = {
		.namespace = "payments", .name = "ledger-0", .labels = ledger,
		.n_labels = 1};
	const struct policy_workload w_web2 = {.namespace = "web-shop", .name = "x"};
	struct policy *p = load(ZONES);
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	/* the CIDR rule would allow it, but a CIDR never opens a boundary */
	f = flow(EG, &W_web, "10.2.0.8", TCP, 5432);
	f.remote = &w_ledger;
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_ZONE);
	CHECK_STR(r.rule, "zone/web-pci");
	CHECK_EQ_U(r.zone_violation, 1);
	/* naming the remote workload does */
	f.remote = &w_checkout;
	f.remote_port = 8443;
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_STR(r.rule, "web/checkout-api");
	CHECK_EQ_U(r.zone_violation, 0);
	/* both directions, patterns, and ingress records */
	f = flow(IN, &w_ledger, "10.3.0.1", TCP, 5432);
	f.remote = &w_web2;
	EXPECT(p, f, POLICY_ALERT, "zone/web-pci");
	f = flow(EG, &w_ledger, "10.3.0.1", TCP, 80);
	f.remote = &W_web;
	EXPECT(p, f, POLICY_ALERT, "zone/web-pci");
	/* inside one zone, or with an unknown remote: no boundary */
	f = flow(EG, &w_ledger, "10.3.0.2", TCP, 80);
	f.remote = &w_checkout;
	EXPECT(p, f, POLICY_ALLOW, "default");
	f.remote = NULL;
	EXPECT(p, f, POLICY_ALLOW, "default");
	policy_close(p);
}

/* ICMPv6 neighbour discovery and MLD between pods and to the gateway's
 * link-local address: allowed whatever the rules, zones and NetworkPolicies
 * say, with no unexpected port; other ICMPv6 (echo) is judged as usual. */
static void test_neighbor_discovery_is_not_judged(void)
{
	const struct policy_workload w_web2 = {.namespace = "web-shop", .name = "x"};
	const struct policy_workload w_pci = {.namespace = "payments", .name = "p"};
	struct policy *p = load(ZONES);
	struct policy_flow f;
	struct policy_result r;
	static const uint8_t types[] = {130, 131, 132, 133, 134, 135, 136, 137, 143};

	if (!p)
		return;
	/* web restricts egress: anything else to fe80::1 is web/egress */
	f = flow(EG, &W_web, "fe80::1", 58, 128 << 8);
	EXPECT(p, f, POLICY_ALERT, "web/egress");
	for (size_t i = 0; i < sizeof(types); i++) {
		/* NS/NA, RS, MLD to the gateway's link-local address */
		f = flow(EG, &W_web, "fe80::1", 58, (uint16_t)(types[i] << 8));
		r = eval(p, &f);
		CHECK_EQ_U(r.verdict, POLICY_ALLOW);
		CHECK_STR(r.rule, "builtin/neighbor-discovery");
		CHECK_EQ_U(r.unexpected_port + r.zone_violation + r.listen_only, 0);
		/* across a zone boundary, either direction */
		f = flow(IN, &w_pci, "fd00:10::20", 58, (uint16_t)(types[i] << 8));
		f.remote = &w_web2;
		EXPECT(p, f, POLICY_ALLOW, "builtin/neighbor-discovery");
	}
	/* an echo request across the boundary is still a violation */
	f = flow(EG, &w_web2, "fd00:10::21", 58, 128 << 8);
	f.remote = &w_pci;
	EXPECT(p, f, POLICY_ALERT, "zone/web-pci");
	policy_close(p);
}

static void test_defaults(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"default: {egress: alert}\n"
		"defaults:\n"
		"  kube-system: allow\n"
		"  \"front*\":\n"
		"    ingress: alert\n"
		"  prod: {ingress: alert}\n");
	struct policy_flow f;

	if (!p)
		return;
	f = flow(EG, &W_dns, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALLOW, "default/kube-system");
	f = flow(EG, &W_web, "203.0.113.1", TCP, 443);	/* falls through */
	EXPECT(p, f, POLICY_ALERT, "default");
	f = flow(IN, &W_web, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "default/front*");
	f = flow(IN, &W_api_staging, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALLOW, "default");		/* global ingress default */
	f = flow(IN, &W_api, "10.0.0.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "default/prod");
	f = flow(EG, NULL, "203.0.113.1", TCP, 443);	/* unknown workload */
	EXPECT(p, f, POLICY_ALERT, "default");
	policy_close(p);
}

static void test_audit_mode(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"mode: audit\n"
		"defaults: {prod: alert}\n"
		"workloads:\n"
		"  - name: strict\n"
		"    select: {namespace: staging}\n"
		"    mode: enforce\n"
		"    egress: [{to: [{cluster: true}]}]\n"
		"  - name: web\n"
		"    select: {namespace: frontend}\n"
		"    egress: [{to: [{cluster: true}]}]\n");
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	f = flow(EG, &W_api, "203.0.113.1", TCP, 443);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_AUDIT);
	CHECK_STR(r.rule, "default/prod");
	CHECK_STR(policy_verdict_name(r.verdict), "audit");
	f = flow(EG, &W_web, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_AUDIT, "web/egress");
	f = flow(EG, &W_api_staging, "203.0.113.1", TCP, 443);
	EXPECT(p, f, POLICY_ALERT, "strict/egress");	/* entry overrides */
	f = flow(EG, &W_redis, "203.0.113.1", TCP, 6379);
	EXPECT(p, f, POLICY_AUDIT, "builtin/datastore-egress");
	f = flow(EG, &W_web, "10.0.0.1", TCP, 443);
	EXPECT(p, f, POLICY_ALLOW, "web/egress[0]");
	policy_close(p);
}

static void test_budget_and_union(void)
{
	struct policy *p = load(
		"apiVersion: egresswatch/v1\n"
		"workloads:\n"
		"  - name: api-budget\n"
		"    select: {matchLabels: {app: api}}\n"
		"    budget: {outside: 50MiB, window: 5m}\n"
		"  - name: prod-budget\n"
		"    select: {namespace: prod}\n"
		"    budget: {outside: 1048576, window: 3600}\n"
		"  - name: api-https\n"
		"    select: {matchLabels: {app: api}}\n"
		"    egress: [{ports: tcp/443}]\n"
		"  - name: prod-dns\n"
		"    select: {namespace: prod}\n"
		"    egress: [{ports: [udp/53]}]\n");
	struct policy_flow f;
	struct policy_result r;

	if (!p)
		return;
	f = flow(EG, &W_api, "203.0.113.1", TCP, 443);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_STR(r.rule, "api-https/egress[0]");
	CHECK_EQ_U(r.has_budget, 1);
	CHECK_EQ_U(r.budget_bytes, 50ull << 20);
	CHECK_EQ_U(r.budget_window_s, 300);
	f = flow(EG, &W_api, "203.0.113.1", UDP, 53);	/* the other entry's rule */
	EXPECT(p, f, POLICY_ALLOW, "prod-dns/egress[0]");
	f = flow(EG, &W_api, "203.0.113.1", TCP, 80);
	r = eval(p, &f);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_STR(r.rule, "api-https/egress");		/* first isolating entry */
	CHECK_EQ_U(r.unexpected_port, 1);		/* no rule mentions tcp/80 */
	CHECK_EQ_U(r.has_budget, 1);
	f = flow(EG, &W_redis, "10.0.0.1", UDP, 53);
	r = eval(p, &f);
	CHECK_EQ_U(r.has_budget, 1);
	CHECK_EQ_U(r.budget_bytes, 1048576);
	CHECK_EQ_U(r.budget_window_s, 3600);
	policy_close(p);
}

/* Damaged inputs: every load of a mutated fixture either succeeds or
 * fails with -EINVAL and a message; under ASan/UBSan this is a small,
 * deterministic fuzz run (the libFuzzer target explores much further). */
static void test_mutated_inputs_are_refused_cleanly(void)
{
	static const char *const fixtures[] = {"tests/policy/full.yaml",
					       "tests/policy/netpol-docs.yaml",
					       "tests/policy/netpol-list.yaml"};
	static const char specials[] = "-:[]{}&*!|>'\"#%@`,?\n\t \\";
	unsigned seed = 4242, ok = 0, refused = 0, odd = 0;

	for (size_t f = 0; f < EW_ARRAY_LEN(fixtures); f++) {
		size_t len;
		char *orig = slurp(source_path(fixtures[f]), &len);
		char *buf;

		CHECK(orig != NULL);
		if (!orig)
			continue;
		buf = malloc(len + 16);
		for (int round = 0; buf && round < 1000; round++) {
			struct policy_source src = {.name = "m.yaml", .data = buf};
			struct policy_errors errs;
			struct policy *p = NULL;
			size_t n = len;
			int rc;

			memcpy(buf, orig, len);
			for (int m = 1 + rand_r(&seed) % 4; m > 0 && n > 1; m--) {
				size_t at = (size_t)rand_r(&seed) % n;
				char c = rand_r(&seed) % 2 ? specials[rand_r(&seed) %
								     (sizeof(specials) - 1)] :
							     (char)rand_r(&seed);
				switch (rand_r(&seed) % 3) {
				case 0: buf[at] = c; break;
				case 1: memmove(buf + at, buf + at + 1, n - at - 1); n--; break;
				default:
					memmove(buf + at + 1, buf + at, n - at);
					buf[at] = c;
					n++;
					break;
				}
			}
			src.len = n;
			rc = policy_load(&src, 1, &p, &errs);
			if (rc == 0)
				ok++;
			else if (rc == -EINVAL && errs.n > 0 &&
				 strncmp(errs.msg[0], "m.yaml:", 7) == 0)
				refused++;
			else
				odd++;
			policy_close(p);
		}
		free(buf);
		free(orig);
	}
	printf("     3000 mutated inputs: %u loaded, %u refused\n", ok, refused);
	CHECK_EQ_U(odd, 0);
	CHECK(ok > 0 && refused > 0);
}

/* ---- speed ----------------------------------------------------------------------------- */

/* 200 workload entries over 20 namespaces, each with two egress rules, plus
 * 200 NetworkPolicies: the evaluation of a mixed stream of flows. */
static void test_eval_speed(void)
{
	struct ew_buf b;
	struct policy_source src = {.name = "speed.yaml"};
	struct policy_errors errs;
	struct policy *p = NULL;
	static const struct policy_label lbl[] = {{"app", "app-7"}, {"tier", "backend"}};
	static const struct policy_label rlbl[] = {{"app", "app-3"}};
	struct policy_workload local = {.namespace = "ns-7", .name = "app-7-5d8f",
					.labels = lbl, .n_labels = 2};
	struct policy_workload remote = {.namespace = "ns-3", .name = "app-3-1",
					 .labels = rlbl, .n_labels = 1};
	struct policy_flow flows[4];
	struct policy_result r;
	uint64_t t0, dt, n = 0, denied = 0;

	ew_buf_init(&b, 8u << 20);
	ew_buf_puts(&b, "apiVersion: egresswatch/v1\n"
			"networks: {partner: [198.51.100.0/24, 192.0.2.0/24]}\n"
			"zones: {pci: [ns-0], web: [ns-1]}\n"
			"deny_between: [[web, pci]]\n"
			"workloads:\n");
	for (int i = 0; i < 200; i++)
		ew_buf_printf(&b,
			"  - name: e%d\n"
			"    select: {namespace: ns-%d, matchLabels: {app: app-%d}}\n"
			"    egress:\n"
			"      - to: [{dns: \"*.svc%d.example.com\"}, {network: partner}]\n"
			"        ports: [tcp/443]\n"
			"      - to: [{workload: {namespace: ns-%d, matchLabels: {app: app-%d}}}]\n"
			"        ports: [tcp/8000-8100]\n",
			i, i % 20, i % 10, i, (i + 3) % 20, (i + 3) % 10);
	for (int i = 0; i < 200; i++)
		ew_buf_printf(&b,
			"---\n"
			"apiVersion: networking.k8s.io/v1\n"
			"kind: NetworkPolicy\n"
			"metadata: {name: np%d, namespace: ns-%d}\n"
			"spec:\n"
			"  podSelector: {matchLabels: {app: app-%d}}\n"
			"  policyTypes: [Egress]\n"
			"  egress:\n"
			"  - to: [{ipBlock: {cidr: 198.51.100.0/24}}]\n"
			"    ports: [{port: 443}]\n"
			"  - to: [{namespaceSelector: {matchLabels: {team: t%d}}}]\n",
			i, i % 20, i % 10, i);
	CHECK(!b.toobig);
	src.data = b.data;
	src.len = b.len;
	CHECK_EQ_U(policy_load(&src, 1, &p, &errs), 0);
	if (!p) {
		print_errors(&errs);
		ew_buf_free(&b);
		return;
	}
	flows[0] = flow(EG, &local, "198.51.100.9", TCP, 443);
	flows[1] = flow(EG, &local, "203.0.113.9", TCP, 443);
	flows[1].remote_name = "api.svc57.example.com";
	flows[2] = flow(EG, &local, "10.3.0.9", TCP, 8080);
	flows[2].remote = &remote;
	flows[3] = flow(EG, &local, "203.0.113.66", TCP, 6379);
	t0 = ew_mono_ns();
	do {
		for (int i = 0; i < 10000; i++) {
			policy_eval(p, &flows[i & 3], &r);
			denied += r.verdict != POLICY_ALLOW;
		}
		n += 10000;
		dt = ew_mono_ns() - t0;
	} while (dt < 500000000ull);
	printf("     %" PRIu64 " evaluations in %.3f s: %.0f evals/s "
	       "(200 entries, 200 NetworkPolicies; %" PRIu64 " denied)\n",
	       n, (double)dt / 1e9, (double)n / ((double)dt / 1e9), denied);
	CHECK(denied > 0 && denied < n);
	policy_close(p);
	ew_buf_free(&b);
}

int main(void)
{
	RUN(test_full_example_loads);
	RUN(test_docs_examples_are_valid);
	RUN(test_builtin);
	RUN(test_documents_merge);
	RUN(test_errors_are_positioned);
	RUN(test_empty_input);
	RUN(test_alias_bomb_refused);
	RUN(test_deep_nesting_refused);
	RUN(test_huge_input_refused);
	RUN(test_node_flood_refused);
	RUN(test_long_scalar_refused);
	RUN(test_many_keys_fast);
	RUN(test_errors_are_capped_and_counted);
	RUN(test_unreadable_files);
	RUN(test_bad_reload_keeps_old_policy);
	RUN(test_builtin_allows_benign_traffic);
	RUN(test_builtin_datastore_egress);
	RUN(test_builtin_listen_only_inferred);
	RUN(test_note_served);
	RUN(test_network_lookup);
	RUN(test_cidr_sets_match_brute_force);
	RUN(test_selection);
	RUN(test_peers);
	RUN(test_serves_and_ingress);
	RUN(test_declared_listen_only);
	RUN(test_neighbor_discovery_is_not_judged);
	RUN(test_explicit_allow_beats_guard);
	RUN(test_zones);
	RUN(test_defaults);
	RUN(test_audit_mode);
	RUN(test_budget_and_union);
	RUN(test_mutated_inputs_are_refused_cleanly);
	RUN(test_eval_speed);
	return T_DONE();
}
