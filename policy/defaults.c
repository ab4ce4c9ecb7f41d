/*
 * defaults.c - the built-in policy: what egresswatch enforces when nobody
 * wrote a policy, and what every policy starts from.
 *
 *   - Everything is allowed by default, so benign traffic raises nothing.
 *   - builtin/datastore-egress: a connection from any workload to a
 *     well-known datastore port (table below) on an address outside the
 *     cluster is ALERT.  Databases are reached inside the cluster; a pod
 *     speaking the Redis protocol to the internet is the backdoored-image
 *     case this agent exists for.  An explicit allow rule overrides it.
 *   - builtin/listen-only: a workload seen *serving* a datastore port
 *     (policy_note_served) is a server; it is listen-only unless a workload
 *     entry says `listen_only: false`, and an outside connection it opens
 *     (other than DNS) is ALERT.  In-cluster traffic (replication, DNS to
 *     kube-dns) stays allowed because we only infer, never know, its role.
 * Both are switched off with `datastore_guard: false`.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* IANA registrations or the vendors' documented defaults. */
static const struct {
	uint16_t port;
	uint8_t proto;
	const char *name;
} datastores[] = {
	{1433, 6, "mssql"},
	{1521, 6, "oracle"},
	{2181, 6, "zookeeper"},
	{2379, 6, "etcd"},
	{2380, 6, "etcd"},
	{3306, 6, "mysql"},
	{4222, 6, "nats"},
	{5432, 6, "postgresql"},
	{5671, 6, "rabbitmq"},
	{5672, 6, "rabbitmq"},
	{5701, 6, "hazelcast"},
	{5984, 6, "couchdb"},
	{6379, 6, "redis"},
	{7687, 6, "neo4j"},
	{8086, 6, "influxdb"},
	{8087, 6, "riak"},
	{8123, 6, "clickhouse"},
	{8529, 6, "arangodb"},
	{8983, 6, "solr"},
	{9042, 6, "cassandra"},
	{9092, 6, "kafka"},
	{9160, 6, "cassandra"},
	{9200, 6, "elasticsearch"},
	{9300, 6, "elasticsearch"},
	{11210, 6, "couchbase"},
	{11211, 6, "memcached"},
	{11211, 17, "memcached"},
	{16379, 6, "redis"},
	{26257, 6, "cockroachdb"},
	{26379, 6, "redis-sentinel"},
	{27017, 6, "mongodb"},
	{27018, 6, "mongodb"},
	{27019, 6, "mongodb"},
	{28015, 6, "rethinkdb"},
	{33060, 6, "mysql"},
	{50000, 6, "db2"},
};

const char *policy_datastore_name(uint8_t proto, uint16_t port)
{
	for (size_t i = 0; i < EW_ARRAY_LEN(datastores); i++)
		if (datastores[i].port == port && datastores[i].proto == proto)
			return datastores[i].name;
	return NULL;
}

int datastore_port(uint8_t proto, uint16_t port)
{
	return policy_datastore_name(proto, port) != NULL;
}

int policy_note_served(struct policy_served *s, uint8_t proto, uint16_t port)
{
	if (!datastore_port(proto, port))
		return 0;
	for (unsigned i = 0; i < s->n && i < POLICY_SERVED_MAX; i++)
		if (s->proto[i] == proto && s->port[i] == port)
			return 0;
	if (s->n >= POLICY_SERVED_MAX)
		return -ENOSPC;
	s->proto[s->n] = proto;
	s->port[s->n] = port;
	s->n++;
	return 1;
}

void defaults_init(struct policy *p)
{
	p->mode = POLICY_MODE_ENFORCE;
	p->datastore_guard = 1;
	p->default_action[POLICY_EGRESS] = ACT_ALLOW;
	p->default_action[POLICY_INGRESS] = ACT_ALLOW;
	p->default_rule = "default";
}
