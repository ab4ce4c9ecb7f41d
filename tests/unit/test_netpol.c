/*
 * test_netpol.c - Kubernetes NetworkPolicy semantics, table-driven.
 *
 * Each case loads a few manifests, judges one flow seen from the local pod
 * and checks two things: whether the flow is allowed, and whether a
 * NetworkPolicy decided it at all (the local pod isolated in that
 * direction).  The manifests reproduce the examples of the Kubernetes
 * documentation, concepts/services-networking/network-policies ("the
 * NetworkPolicy resource", "Behavior of to and from selectors", "Default
 * policies", "Targeting a range of ports", "Targeting a Namespace by its
 * name") and the API reference (networking.k8s.io/v1 NetworkPolicySpec,
 * NetworkPolicyPeer, NetworkPolicyPort), as each case says.  The built-in
 * egresswatch rules run alongside and decide nothing in these flows (no
 * datastore port is reached outside the cluster).
 *
 * Also here: reading multi-document files and `kind: List`, and the
 * validation errors of malformed manifests.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "t.h"
#include "util.h"

/* ---- manifests ------------------------------------------------------------ */

/* The docs' "test-network-policy" example, verbatim. */
static const char TNP[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: test-network-policy\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector:\n"
	"    matchLabels:\n"
	"      role: db\n"
	"  policyTypes:\n"
	"  - Ingress\n"
	"  - Egress\n"
	"  ingress:\n"
	"  - from:\n"
	"    - ipBlock:\n"
	"        cidr: 172.17.0.0/16\n"
	"        except:\n"
	"        - 172.17.1.0/24\n"
	"    - namespaceSelector:\n"
	"        matchLabels:\n"
	"          project: myproject\n"
	"    - podSelector:\n"
	"        matchLabels:\n"
	"          role: frontend\n"
	"    ports:\n"
	"    - protocol: TCP\n"
	"      port: 6379\n"
	"  egress:\n"
	"  - to:\n"
	"    - ipBlock:\n"
	"        cidr: 10.0.0.0/24\n"
	"    ports:\n"
	"    - protocol: TCP\n"
	"      port: 5978\n";

/* "Behavior of to and from selectors": one peer with both selectors (AND). */
static const char AND[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: and, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from:\n"
	"    - namespaceSelector:\n"
	"        matchLabels:\n"
	"          user: alice\n"
	"      podSelector:\n"
	"        matchLabels:\n"
	"          role: client\n";

/* ... and the same selectors as two list items (OR). */
static const char OR[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: or, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from:\n"
	"    - namespaceSelector:\n"
	"        matchLabels:\n"
	"          user: alice\n"
	"    - podSelector:\n"
	"        matchLabels:\n"
	"          role: client\n";

/* "Default policies", verbatim (namespace added). */
#define DENY_INGRESS_YAML                                                   \
	"apiVersion: networking.k8s.io/v1\n"                                \
	"kind: NetworkPolicy\n"                                             \
	"metadata:\n"                                                       \
	"  name: default-deny-ingress\n"                                    \
	"  namespace: default\n"                                            \
	"spec:\n"                                                           \
	"  podSelector: {}\n"                                               \
	"  policyTypes:\n"                                                  \
	"  - Ingress\n"
#define ALLOW_ALL_INGRESS_YAML                                              \
	"apiVersion: networking.k8s.io/v1\n"                                \
	"kind: NetworkPolicy\n"                                             \
	"metadata:\n"                                                       \
	"  name: allow-all-ingress\n"                                       \
	"  namespace: default\n"                                            \
	"spec:\n"                                                           \
	"  podSelector: {}\n"                                               \
	"  ingress:\n"                                                      \
	"  - {}\n"                                                          \
	"  policyTypes:\n"                                                  \
	"  - Ingress\n"
static const char DENY_INGRESS[] = DENY_INGRESS_YAML;
static const char ALLOW_ALL_INGRESS[] = ALLOW_ALL_INGRESS_YAML;
static const char DENY_AND_ALLOW_INGRESS[] =
	DENY_INGRESS_YAML "---\n" ALLOW_ALL_INGRESS_YAML;
static const char DENY_EGRESS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: default-deny-egress\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  policyTypes:\n"
	"  - Egress\n";
static const char ALLOW_ALL_EGRESS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: allow-all-egress\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  egress:\n"
	"  - {}\n"
	"  policyTypes:\n"
	"  - Egress\n";
static const char DENY_ALL[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: default-deny-all\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  policyTypes:\n"
	"  - Ingress\n"
	"  - Egress\n";

/* "Targeting a range of ports", verbatim. */
static const char END_PORT[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata:\n"
	"  name: multi-port-egress\n"
	"  namespace: default\n"
	"spec:\n"
	"  podSelector:\n"
	"    matchLabels:\n"
	"      role: db\n"
	"  policyTypes:\n"
	"    - Egress\n"
	"  egress:\n"
	"    - to:\n"
	"        - ipBlock:\n"
	"            cidr: 10.0.0.0/24\n"
	"      ports:\n"
	"        - protocol: TCP\n"
	"          port: 32000\n"
	"          endPort: 32768\n";

/* NetworkPolicyPort: "port ... can be a numerical or named port on a pod". */
static const char NAMED_PORTS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: named, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  policyTypes: [Ingress, Egress]\n"
	"  ingress:\n"
	"  - ports:\n"
	"    - port: http\n"
	"  egress:\n"
	"  - ports:\n"
	"    - port: metrics\n"
	"      protocol: TCP\n";

/* policyTypes left out: Ingress, and Egress only with egress rules. */
static const char TYPES_INGRESS_ONLY[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: t1, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {role: client}}}]\n";
static const char TYPES_WITH_EGRESS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: t2, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  egress:\n"
	"  - to: [{ipBlock: {cidr: 192.0.2.0/24}}]\n";
static const char TYPES_EMPTY_EGRESS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: t3, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - {}\n"
	"  egress: []\n";
static const char TYPES_NOTHING[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: t4, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n";

/* Two policies selecting the same pod: their rules add up. */
static const char UNION[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: web-http, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {role: a}}}]\n"
	"    ports: [{port: 80}]\n"
	"---\n"
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: web-https, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {matchLabels: {role: b}}}]\n"
	"    ports: [{port: 443}]\n";

/* Empty lists and empty selectors. */
static const char EMPTY_FROM[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: empty-from, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: []\n"
	"    ports: [{port: 8080}]\n";
static const char EMPTY_PORTS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: empty-ports, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{ipBlock: {cidr: 192.0.2.0/24}}]\n"
	"    ports: []\n";
static const char SAME_NS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: same-namespace, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{podSelector: {}}]\n";
static const char ALL_NS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: all-namespaces, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from: [{namespaceSelector: {}}]\n";

/* "Targeting a Namespace by its name": the automatic namespace label. */
static const char NS_BY_NAME[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: from-monitoring, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  ingress:\n"
	"  - from:\n"
	"    - namespaceSelector:\n"
	"        matchLabels:\n"
	"          kubernetes.io/metadata.name: monitoring\n";

/* LabelSelector matchExpressions, one operator each. */
#define EXPR_POLICY(NAME, EXPR)                                             \
	"apiVersion: networking.k8s.io/v1\n"                                \
	"kind: NetworkPolicy\n"                                             \
	"metadata: {name: " NAME ", namespace: default}\n"                  \
	"spec:\n"                                                           \
	"  podSelector: {matchLabels: {app: web}}\n"                        \
	"  ingress:\n"                                                      \
	"  - from:\n"                                                       \
	"    - podSelector:\n"                                              \
	"        matchExpressions:\n"                                       \
	"        - " EXPR "\n"
static const char EXPR_IN[] =
	EXPR_POLICY("expr-in", "{key: role, operator: In, values: [client, a]}");
static const char EXPR_NOTIN[] =
	EXPR_POLICY("expr-notin", "{key: role, operator: NotIn, values: [client]}");
static const char EXPR_EXISTS[] =
	EXPR_POLICY("expr-exists", "{key: role, operator: Exists}");
static const char EXPR_NOTEXISTS[] =
	EXPR_POLICY("expr-notexists", "{key: role, operator: DoesNotExist}");

/* ipBlock with IPv6 (NetworkPolicyPeer: "cidr ... e.g. 2001:db8::/64"). */
static const char IPV6[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: v6, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  policyTypes: [Egress]\n"
	"  egress:\n"
	"  - to:\n"
	"    - ipBlock:\n"
	"        cidr: 2001:db8::/32\n"
	"        except: [\"2001:db8:dead::/48\"]\n";

/* protocol: UDP and SCTP (NetworkPolicyPort.protocol). */
static const char PROTOS[] =
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: protos, namespace: default}\n"
	"spec:\n"
	"  podSelector: {matchLabels: {app: web}}\n"
	"  policyTypes: [Egress]\n"
	"  egress:\n"
	"  - ports:\n"
	"    - protocol: UDP\n"
	"      port: 53\n"
	"    - protocol: SCTP\n"
	"      port: 9999\n";

/* Our own policy alongside a NetworkPolicy. */
static const char OURS_ALERT_AND_ALLOW_ALL[] =
	"apiVersion: egresswatch/v1\n"
	"default: alert\n"
	"---\n"
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: allow-all-egress, namespace: default}\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  egress: [{}]\n";
static const char OURS_AUDIT_AND_DENY[] =
	"apiVersion: egresswatch/v1\n"
	"mode: audit\n"
	"---\n"
	"apiVersion: networking.k8s.io/v1\n"
	"kind: NetworkPolicy\n"
	"metadata: {name: default-deny-egress, namespace: default}\n"
	"spec:\n"
	"  podSelector: {}\n"
	"  policyTypes: [Egress]\n";

/* ---- workloads --------------------------------------------------------------- */

static const struct policy_label L_db[] = {{"role", "db"}};
static const struct policy_label L_frontend[] = {{"role", "frontend"}};
static const struct policy_label L_client[] = {{"role", "client"}};
static const struct policy_label L_other[] = {{"role", "other"}};
static const struct policy_label L_a[] = {{"role", "a"}};
static const struct policy_label L_b[] = {{"role", "b"}};
static const struct policy_label L_web[] = {{"app", "web"}};
static const struct policy_label L_none[] = {{"tier", "x"}};
static const struct policy_label NS_myproject[] = {{"project", "myproject"}};
static const struct policy_label NS_alice[] = {{"user", "alice"}};
static const struct policy_label NS_bob[] = {{"user", "bob"}};
static const struct policy_port_name P_web[] = {{"http", 6, 8080},
						 {"dns", 17, 5353}};
static const struct policy_port_name P_metrics[] = {{"metrics", 6, 9090},
						     {"stats", 17, 9091}};

#define WL(NS, NAME, LBL) \
	{.namespace = NS, .name = NAME, .labels = LBL, .n_labels = EW_ARRAY_LEN(LBL)}
#define WLN(NS, NAME, LBL, NSL) \
	{.namespace = NS, .name = NAME, .labels = LBL, .n_labels = EW_ARRAY_LEN(LBL), \
	 .ns_labels = NSL, .n_ns_labels = EW_ARRAY_LEN(NSL)}

static const struct policy_workload W_db = WL("default", "db-0", L_db);
static const struct policy_workload W_db_prod = WL("prod", "db-0", L_db);
static const struct policy_workload W_frontend = WL("default", "fe-0", L_frontend);
static const struct policy_workload W_frontend_other = WL("other", "fe-0", L_frontend);
static const struct policy_workload W_myproject =
	WLN("myproject-ns", "worker", L_other, NS_myproject);
static const struct policy_workload W_alice_client =
	WLN("alice-ns", "client", L_client, NS_alice);
static const struct policy_workload W_alice_other =
	WLN("alice-ns", "other", L_other, NS_alice);
static const struct policy_workload W_bob_client =
	WLN("bob-ns", "client", L_client, NS_bob);
static const struct policy_workload W_client = WL("default", "client", L_client);
static const struct policy_workload W_other = WL("default", "other", L_other);
static const struct policy_workload W_a = WL("default", "a", L_a);
static const struct policy_workload W_b = WL("default", "b", L_b);
static const struct policy_workload W_nolabel = WL("default", "bare", L_none);
static const struct policy_workload W_monitoring = WL("monitoring", "prometheus", L_other);
static const struct policy_workload W_web = {
	.namespace = "default", .name = "web-0", .labels = L_web, .n_labels = 1,
	.ports = P_web, .n_ports = EW_ARRAY_LEN(P_web)};
static const struct policy_workload W_web_noports = WL("default", "web-1", L_web);
static const struct policy_workload W_metrics = {
	.namespace = "default", .name = "exporter", .labels = L_other, .n_labels = 1,
	.ports = P_metrics, .n_ports = EW_ARRAY_LEN(P_metrics)};
static const struct policy_workload W_container = {.namespace = "", .name = "nginx",
						   .labels = L_web, .n_labels = 1};

/* ---- the table ------------------------------------------------------------------ */

enum { E = POLICY_EGRESS, I = POLICY_INGRESS };
enum { TCP = 6, UDP = 17, SCTP = 132 };
enum { DENY = 0, ALLOW = 1 };
enum { OPEN = 0, ISOLATED = 1 };

struct nc {
	const char *what;
	const char *yaml;
	uint8_t dir, proto;
	const struct policy_workload *local, *remote;
	const char *remote_ip;
	uint16_t port;		/* destination port: remote (egress), local (ingress) */
	int allow;
	int isolated;		/* a NetworkPolicy selects the pod this way */
};

static const struct nc cases[] = {
	/* test-network-policy: ingress to role=db in default. */
	{"tnp: ipBlock source allowed", TNP, I, TCP, &W_db, NULL,
	 "172.17.0.5", 6379, ALLOW, ISOLATED},
	{"tnp: ipBlock except refuses 172.17.1.0/24", TNP, I, TCP, &W_db, NULL,
	 "172.17.1.5", 6379, DENY, ISOLATED},
	{"tnp: namespaceSelector project=myproject allowed", TNP, I, TCP, &W_db,
	 &W_myproject, "10.1.0.9", 6379, ALLOW, ISOLATED},
	{"tnp: podSelector role=frontend in the policy's namespace", TNP, I, TCP,
	 &W_db, &W_frontend, "10.1.0.10", 6379, ALLOW, ISOLATED},
	{"tnp: podSelector does not reach into other namespaces", TNP, I, TCP,
	 &W_db, &W_frontend_other, "10.1.0.11", 6379, DENY, ISOLATED},
	{"tnp: wrong port", TNP, I, TCP, &W_db, NULL, "172.17.0.5", 6380, DENY,
	 ISOLATED},
	{"tnp: wrong protocol (UDP to a TCP rule)", TNP, I, UDP, &W_db, NULL,
	 "172.17.0.5", 6379, DENY, ISOLATED},
	{"tnp: egress to 10.0.0.0/24 tcp/5978", TNP, E, TCP, &W_db, NULL,
	 "10.0.0.7", 5978, ALLOW, ISOLATED},
	{"tnp: egress outside the ipBlock", TNP, E, TCP, &W_db, NULL, "10.0.1.7",
	 5978, DENY, ISOLATED},
	{"tnp: egress to the block on another port", TNP, E, TCP, &W_db, NULL,
	 "10.0.0.7", 5979, DENY, ISOLATED},
	{"tnp: a pod the policy does not select is non-isolated", TNP, E, TCP,
	 &W_frontend, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"tnp: policies are namespaced (role=db in prod not selected)", TNP, I,
	 TCP, &W_db_prod, NULL, "172.17.1.5", 6379, ALLOW, OPEN},

	/* Behavior of to and from selectors. */
	{"and: alice's namespace, role=client", AND, I, TCP, &W_web,
	 &W_alice_client, "10.1.1.1", 80, ALLOW, ISOLATED},
	{"and: alice's namespace but another role", AND, I, TCP, &W_web,
	 &W_alice_other, "10.1.1.2", 80, DENY, ISOLATED},
	{"and: role=client outside alice's namespaces", AND, I, TCP, &W_web,
	 &W_client, "10.1.1.3", 80, DENY, ISOLATED},
	{"or: any pod of alice's namespaces", OR, I, TCP, &W_web, &W_alice_other,
	 "10.1.1.2", 80, ALLOW, ISOLATED},
	{"or: role=client in the policy's namespace", OR, I, TCP, &W_web,
	 &W_client, "10.1.1.3", 80, ALLOW, ISOLATED},
	{"or: role=client in bob's namespace matches neither item", OR, I, TCP,
	 &W_web, &W_bob_client, "10.1.1.4", 80, DENY, ISOLATED},

	/* Default policies. */
	{"default-deny-ingress denies ingress", DENY_INGRESS, I, TCP, &W_other,
	 &W_client, "10.1.1.3", 8080, DENY, ISOLATED},
	{"default-deny-ingress leaves egress open", DENY_INGRESS, E, TCP,
	 &W_other, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"allow-all-ingress allows an outside source", ALLOW_ALL_INGRESS, I, TCP,
	 &W_other, NULL, "203.0.113.9", 22, ALLOW, ISOLATED},
	{"allow-all-ingress wins over default-deny-ingress (union)",
	 DENY_AND_ALLOW_INGRESS, I, TCP, &W_other, NULL, "203.0.113.9", 22, ALLOW, ISOLATED},
	{"default-deny-egress denies egress", DENY_EGRESS, E, TCP, &W_other,
	 NULL, "203.0.113.9", 443, DENY, ISOLATED},
	{"default-deny-egress leaves ingress open", DENY_EGRESS, I, TCP, &W_other,
	 NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"allow-all-egress allows anything out", ALLOW_ALL_EGRESS, E, UDP,
	 &W_other, NULL, "203.0.113.9", 4500, ALLOW, ISOLATED},
	{"default-deny-all denies ingress", DENY_ALL, I, TCP, &W_other, &W_client,
	 "10.1.1.3", 80, DENY, ISOLATED},
	{"default-deny-all denies egress", DENY_ALL, E, TCP, &W_other, &W_client,
	 "10.1.1.3", 80, DENY, ISOLATED},

	/* Targeting a range of ports. */
	{"endPort: first port of the range", END_PORT, E, TCP, &W_db, NULL,
	 "10.0.0.3", 32000, ALLOW, ISOLATED},
	{"endPort: last port of the range", END_PORT, E, TCP, &W_db, NULL,
	 "10.0.0.3", 32768, ALLOW, ISOLATED},
	{"endPort: one past the range", END_PORT, E, TCP, &W_db, NULL, "10.0.0.3",
	 32769, DENY, ISOLATED},
	{"endPort: one before the range", END_PORT, E, TCP, &W_db, NULL,
	 "10.0.0.3", 31999, DENY, ISOLATED},
	{"endPort: UDP in a TCP range", END_PORT, E, UDP, &W_db, NULL, "10.0.0.3",
	 32000, DENY, ISOLATED},

	/* Named ports. */
	{"named port: ingress to the local pod's 'http' (8080)", NAMED_PORTS, I,
	 TCP, &W_web, NULL, "10.1.2.3", 8080, ALLOW, ISOLATED},
	{"named port: another number than the name's", NAMED_PORTS, I, TCP,
	 &W_web, NULL, "10.1.2.3", 8081, DENY, ISOLATED},
	{"named port: pod's port names unknown never match", NAMED_PORTS, I, TCP,
	 &W_web_noports, NULL, "10.1.2.3", 8080, DENY, ISOLATED},
	{"named port: egress resolves on the destination pod", NAMED_PORTS, E,
	 TCP, &W_web, &W_metrics, "10.1.2.4", 9090, ALLOW, ISOLATED},
	{"named port: destination is no known pod", NAMED_PORTS, E, TCP, &W_web,
	 NULL, "10.1.2.4", 9090, DENY, ISOLATED},
	{"named port: the name exists for another protocol only", NAMED_PORTS, E,
	 TCP, &W_web, &W_metrics, "10.1.2.4", 9091, DENY, ISOLATED},

	/* policyTypes defaulting. */
	{"no policyTypes + ingress rules: egress not isolated",
	 TYPES_INGRESS_ONLY, E, TCP, &W_web, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"no policyTypes + ingress rules: ingress isolated", TYPES_INGRESS_ONLY,
	 I, TCP, &W_web, &W_other, "10.1.1.9", 80, DENY, ISOLATED},
	{"no policyTypes + egress rules: egress isolated", TYPES_WITH_EGRESS, E,
	 TCP, &W_web, NULL, "203.0.113.9", 443, DENY, ISOLATED},
	{"no policyTypes + egress rules: the rule allows", TYPES_WITH_EGRESS, E,
	 TCP, &W_web, NULL, "192.0.2.9", 443, ALLOW, ISOLATED},
	{"no policyTypes + egress rules: ingress isolated too", TYPES_WITH_EGRESS,
	 I, TCP, &W_web, NULL, "192.0.2.9", 80, DENY, ISOLATED},
	{"no policyTypes + 'egress: []': egress not isolated",
	 TYPES_EMPTY_EGRESS, E, TCP, &W_web, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"no policyTypes, no rules at all: deny all ingress", TYPES_NOTHING, I,
	 TCP, &W_web, &W_client, "10.1.1.3", 80, DENY, ISOLATED},

	/* Multiple policies: union of their rules. */
	{"union: the second policy allows role=b on 443", UNION, I, TCP, &W_web,
	 &W_b, "10.1.1.5", 443, ALLOW, ISOLATED},
	{"union: role=a on 443 allowed by neither", UNION, I, TCP, &W_web, &W_a,
	 "10.1.1.6", 443, DENY, ISOLATED},
	{"union: role=a on 80 by the first", UNION, I, TCP, &W_web, &W_a,
	 "10.1.1.6", 80, ALLOW, ISOLATED},

	/* Empty versus missing. */
	{"'from: []' is every source", EMPTY_FROM, I, TCP, &W_web, NULL,
	 "203.0.113.9", 8080, ALLOW, ISOLATED},
	{"'from: []' still restricts ports", EMPTY_FROM, I, TCP, &W_web, NULL,
	 "203.0.113.9", 8081, DENY, ISOLATED},
	{"'ports: []' is every port", EMPTY_PORTS, I, UDP, &W_web, NULL,
	 "192.0.2.77", 5000, ALLOW, ISOLATED},
	{"peer 'podSelector: {}' is every pod of the namespace", SAME_NS, I, TCP,
	 &W_web, &W_nolabel, "10.1.1.7", 80, ALLOW, ISOLATED},
	{"peer 'podSelector: {}' is not other namespaces", SAME_NS, I, TCP,
	 &W_web, &W_bob_client, "10.1.1.4", 80, DENY, ISOLATED},
	{"peer 'namespaceSelector: {}' is every pod everywhere", ALL_NS, I, TCP,
	 &W_web, &W_bob_client, "10.1.1.4", 80, ALLOW, ISOLATED},
	{"peer 'namespaceSelector: {}' is not an outside address", ALL_NS, I,
	 TCP, &W_web, NULL, "203.0.113.9", 80, DENY, ISOLATED},

	/* Namespace labels. */
	{"kubernetes.io/metadata.name selects a namespace by name", NS_BY_NAME, I,
	 TCP, &W_web, &W_monitoring, "10.1.3.1", 9100, ALLOW, ISOLATED},
	{"kubernetes.io/metadata.name: another namespace", NS_BY_NAME, I, TCP,
	 &W_web, &W_client, "10.1.3.2", 9100, DENY, ISOLATED},

	/* matchExpressions operators. */
	{"In: value listed", EXPR_IN, I, TCP, &W_web, &W_client, "10.1.1.3", 80,
	 ALLOW, ISOLATED},
	{"In: value not listed", EXPR_IN, I, TCP, &W_web, &W_other, "10.1.1.8",
	 80, DENY, ISOLATED},
	{"NotIn: other value", EXPR_NOTIN, I, TCP, &W_web, &W_other, "10.1.1.8",
	 80, ALLOW, ISOLATED},
	{"NotIn: listed value", EXPR_NOTIN, I, TCP, &W_web, &W_client, "10.1.1.3",
	 80, DENY, ISOLATED},
	{"NotIn: label absent matches", EXPR_NOTIN, I, TCP, &W_web, &W_nolabel,
	 "10.1.1.7", 80, ALLOW, ISOLATED},
	{"Exists: label present", EXPR_EXISTS, I, TCP, &W_web, &W_other,
	 "10.1.1.8", 80, ALLOW, ISOLATED},
	{"Exists: label absent", EXPR_EXISTS, I, TCP, &W_web, &W_nolabel,
	 "10.1.1.7", 80, DENY, ISOLATED},
	{"DoesNotExist: label absent", EXPR_NOTEXISTS, I, TCP, &W_web, &W_nolabel,
	 "10.1.1.7", 80, ALLOW, ISOLATED},
	{"DoesNotExist: label present", EXPR_NOTEXISTS, I, TCP, &W_web, &W_other,
	 "10.1.1.8", 80, DENY, ISOLATED},

	/* IPv6 ipBlock. */
	{"ipv6: inside cidr", IPV6, E, TCP, &W_web, NULL, "2001:db8:1::1", 443,
	 ALLOW, ISOLATED},
	{"ipv6: inside except", IPV6, E, TCP, &W_web, NULL, "2001:db8:dead::1",
	 443, DENY, ISOLATED},
	{"ipv6: an IPv4 address never matches an IPv6 block", IPV6, E, TCP,
	 &W_web, NULL, "192.0.2.1", 443, DENY, ISOLATED},

	/* Protocols. */
	{"UDP port rule", PROTOS, E, UDP, &W_web, NULL, "10.96.0.10", 53, ALLOW,
	 ISOLATED},
	{"UDP rule does not allow TCP", PROTOS, E, TCP, &W_web, NULL,
	 "10.96.0.10", 53, DENY, ISOLATED},
	{"SCTP port rule", PROTOS, E, SCTP, &W_web, NULL, "10.2.0.1", 9999, ALLOW,
	 ISOLATED},

	/* Who is selected at all. */
	{"a pod without the selected labels is non-isolated", PROTOS, E, TCP,
	 &W_other, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"a plain container (no namespace) is never selected", DENY_ALL, E, TCP,
	 &W_container, NULL, "203.0.113.9", 443, ALLOW, OPEN},
	{"an unknown local workload is never selected", DENY_ALL, E, TCP, NULL,
	 NULL, "203.0.113.9", 443, ALLOW, OPEN},

	/* Combined with our own policy: a deny from either side wins. */
	{"our default alert beats a NetworkPolicy allow", OURS_ALERT_AND_ALLOW_ALL,
	 E, TCP, &W_other, NULL, "203.0.113.9", 443, DENY, ISOLATED},
	{"a NetworkPolicy deny in audit mode", OURS_AUDIT_AND_DENY, E, TCP,
	 &W_other, NULL, "203.0.113.9", 443, DENY, ISOLATED},
};

static void run_case(const struct nc *c)
{
	struct policy_source src = {.name = c->what, .data = c->yaml,
				    .len = strlen(c->yaml)};
	struct policy_errors errs;
	struct policy_result r;
	struct policy_flow f = {0};
	struct policy *p = NULL;
	int rc;

	rc = policy_load(&src, 1, &p, &errs);
	CHECK_EQ_U(rc, 0);
	if (rc) {
		for (unsigned i = 0; i < errs.n; i++)
			fprintf(stderr, "  %s\n", errs.msg[i]);
		return;
	}
	f.direction = c->dir;
	f.proto = c->proto;
	f.local = c->local;
	f.remote = c->remote;
	f.remote_outside = !c->remote && strncmp(c->remote_ip, "10.", 3) != 0;
	CHECK(ew_ip_parse(c->remote_ip, f.remote_ip) == 0);
	f.local_port = c->dir == E ? 40000 : c->port;
	f.remote_port = c->dir == E ? c->port : 40000;
	policy_eval(p, &f, &r);
	if ((r.verdict == POLICY_ALLOW) != c->allow ||
	    (r.netpol != NULL) != c->isolated) {
		fprintf(stderr, "case '%s': got %s by %s (netpol %s), want %s, %s\n",
			c->what, policy_verdict_name(r.verdict), r.rule,
			r.netpol ? r.netpol : "none", c->allow ? "allow" : "deny",
			c->isolated ? "isolated" : "not isolated");
		t_failed++;
	}
	t_checks++;
	policy_close(p);
}

static void test_table(void)
{
	printf("     %zu NetworkPolicy cases\n", EW_ARRAY_LEN(cases));
	CHECK(EW_ARRAY_LEN(cases) >= 40);
	for (size_t i = 0; i < EW_ARRAY_LEN(cases); i++)
		run_case(&cases[i]);
}

/* The rule a verdict names: the allowing rule, or the isolating policy. */
static void test_rule_names(void)
{
	struct policy_source src = {.name = "tnp", .data = TNP, .len = strlen(TNP)};
	struct policy_flow f = {.direction = E, .proto = TCP, .local = &W_db,
				.remote_port = 5978};
	struct policy_result r;
	struct policy *p;

	CHECK(policy_load(&src, 1, &p, NULL) == 0);
	ew_ip_parse("10.0.0.7", f.remote_ip);
	policy_eval(p, &f, &r);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_EQ_U(r.reason, POLICY_R_NETPOL_ALLOW);
	CHECK_STR(r.rule, "netpol/default/test-network-policy/egress[0]");
	CHECK_STR(r.netpol, "netpol/default/test-network-policy");
	ew_ip_parse("10.9.0.7", f.remote_ip);
	policy_eval(p, &f, &r);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_EQ_U(r.reason, POLICY_R_NETPOL_DENY);
	CHECK_STR(r.rule, "netpol/default/test-network-policy");
	policy_close(p);

	src = (struct policy_source){.name = "audit", .data = OURS_AUDIT_AND_DENY,
				     .len = strlen(OURS_AUDIT_AND_DENY)};
	CHECK(policy_load(&src, 1, &p, NULL) == 0);
	f.local = &W_other;
	policy_eval(p, &f, &r);
	CHECK_EQ_U(r.verdict, POLICY_AUDIT);
	CHECK_STR(r.rule, "netpol/default/default-deny-egress");
	policy_close(p);
}

static char *fixture(const char *name)
{
	const char *root = getenv("EW_SOURCE");
	static char path[4096];

	snprintf(path, sizeof(path), "%s/tests/policy/%s", root ? root : ".", name);
	return path;
}

/* Multi-document files and `kind: List` (kubectl get -o yaml). */
static void test_files(void)
{
	struct policy_source src[2] = {{.name = NULL}, {.name = NULL}};
	struct policy_errors errs;
	struct policy_info info;
	struct policy *p = NULL;
	char a[4096], b[4096];
	int rc;

	snprintf(a, sizeof(a), "%s", fixture("netpol-docs.yaml"));
	snprintf(b, sizeof(b), "%s", fixture("netpol-list.yaml"));
	src[0].name = a;
	src[1].name = b;
	rc = policy_load(src, 2, &p, &errs);
	CHECK_EQ_U(rc, 0);
	for (unsigned i = 0; rc && i < errs.n; i++)
		fprintf(stderr, "  %s\n", errs.msg[i]);
	if (rc)
		return;
	policy_get_info(p, &info);
	CHECK_EQ_U(info.netpols, 10);
	CHECK_EQ_U(info.documents, 0);
	CHECK_EQ_U(info.datastore_guard, 1);

	/* From the List file: prod's api may reach the database only. */
	static const struct policy_label api[] = {{"app", "api"}};
	static const struct policy_label pg[] = {{"app", "postgres"}};
	struct policy_workload w_api = {.namespace = "prod", .name = "api-0",
					.labels = api, .n_labels = 1};
	struct policy_workload w_pg = {.namespace = "prod", .name = "pg-0",
				       .labels = pg, .n_labels = 1};
	struct policy_flow f = {.direction = E, .proto = TCP, .local = &w_api,
				.remote = &w_pg, .remote_port = 5432};
	struct policy_result r;
	ew_ip_parse("10.1.0.20", f.remote_ip);
	policy_eval(p, &f, &r);
	CHECK_EQ_U(r.verdict, POLICY_ALLOW);
	CHECK_STR(r.rule, "netpol/prod/api-egress/egress[0]");
	f.remote = NULL;
	f.remote_outside = 1;
	f.remote_port = 443;
	ew_ip_parse("203.0.113.5", f.remote_ip);
	policy_eval(p, &f, &r);
	CHECK_EQ_U(r.verdict, POLICY_ALERT);
	CHECK_STR(r.rule, "netpol/prod/api-egress");
	policy_close(p);
}

struct bad {
	const char *yaml;
	const char *want;	/* the first message, after "bad:" */
};

static void test_errors(void)
{
	static const struct bad bad[] = {
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelecter: {}\n",
		 "5:3: unknown key 'podSelecter' in spec (did you mean 'podSelector'?)"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  ingress: []\n",
		 "5:3: spec needs 'podSelector' ({} selects every pod in the namespace)"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  policyTypes: [ingress]\n",
		 "6:17: policy type 'ingress' is not Ingress or Egress"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  ingress:\n  - ports:\n    - protocol: tcp\n",
		 "8:17: protocol 'tcp' is not one of TCP, UDP, SCTP (upper case, as the "
		 "API requires)"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - ports: [{port: 80, endPort: 79}]\n",
		 "7:33: endPort 79 is below port 80"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - ports: [{port: http, endPort: 90}]\n",
		 "7:35: endPort needs a numeric port, not a named one"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [11.0.0.0/8]}}]\n",
		 "7:48: ipBlock except '11.0.0.0/8' must be a strict subset of cidr"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.1}}]\n",
		 "7:27: ipBlock cidr: '10.0.0.1' is not a CIDR (like 198.51.100.0/24 or "
		 "2001:db8::/32)"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  egress:\n  - to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]\n",
		 "7:10: a peer has either ipBlock or podSelector/namespaceSelector, not both"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  ingress:\n  - from: [{}]\n",
		 "7:12: a peer needs podSelector, namespaceSelector or ipBlock"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector:\n    matchExpressions:\n"
		 "    - {key: a, operator: In}\n",
		 "7:7: operator In needs a non-empty 'values' list"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector:\n    matchExpressions:\n"
		 "    - {key: a, operator: Exists, values: [b]}\n",
		 "7:42: operator Exists takes no values"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector:\n    matchLabels: {version: 2}\n",
		 "6:28: a label value must be a string, not an integer (quote it)"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: Bad_Name}\nspec: {podSelector: {}}\n",
		 "3:18: metadata.name 'Bad_Name' is not a DNS-1123 subdomain"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  ingress:\n  - ports: [{port: 0}]\n",
		 "7:20: port must be between 1 and 65535"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x}\nspec:\n  podSelector: {}\n"
		 "  ingress:\n  - ports: [{port: \"8080\"}]\n",
		 "7:20: named port '8080' must be at most 15 of a-z 0-9 - with at least "
		 "one letter"},
		{"apiVersion: networking.k8s.io/v1\nkind: Deployment\nmetadata: {name: x}\n",
		 "2:7: kind must be NetworkPolicy, NetworkPolicyList or List"},
		{"apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n",
		 "4:3: list item is not a networking.k8s.io/v1 NetworkPolicy"},
		{"apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x, namespace: a}\nspec: {podSelector: {}}\n---\n"
		 "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\n"
		 "metadata: {name: x, namespace: a}\nspec: {podSelector: {}}\n",
		 "6:1: duplicate NetworkPolicy 'netpol/a/x' (first at bad:1:1)"},
	};

	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++) {
		struct policy_source src = {.name = "bad", .data = bad[i].yaml,
					    .len = strlen(bad[i].yaml)};
		struct policy_errors errs;
		struct policy *p = (struct policy *)1;
		char want[POLICY_ERRMSG_MAX];

		snprintf(want, sizeof(want), "bad:%s", bad[i].want);
		CHECK(policy_load(&src, 1, &p, &errs) == -EINVAL);
		CHECK(p == NULL);
		CHECK(errs.n >= 1);
		if (errs.n >= 1)
			CHECK_STR(errs.msg[0], want);
	}
}

int main(void)
{
	RUN(test_table);
	RUN(test_rule_names);
	RUN(test_files);
	RUN(test_errors);
	return T_DONE();
}
