/*
 * cmd_run.c - `egresswatch run`: the live agent.
 *
 * Threads: this (main) thread becomes the capture thread and runs the epoll
 * loop of capture/live.c, which also reads the signalfd; the pipeline thread
 * (pipeline.c, live mode: a full queue is a counted drop, never a wait); the
 * store's writer thread; and a status thread that rewrites the status file
 * every second from the snapshot the capture thread publishes.
 *
 * Start-up order is the privilege story (see privs.h): read the configuration,
 * raise the descriptor limit, block the signals, create the directories as
 * root, drop privileges while still single-threaded, and only then open the
 * store, start the threads and open the capture handles.  CAP_NET_RAW is kept
 * because every container started later needs a new packet socket; the
 * initial handles are opened with it too, after the drop.
 *
 * Signals: SIGTERM/SIGINT stop capture, which reads the rings to the end and
 * ends every flow (FLOW_END_SHUTDOWN); those END events are the one burst the
 * queues cannot absorb, so while stopping the capture thread waits for room
 * (bounded by DRAIN_MAX_NS) instead of dropping.  Then the pipeline drains,
 * the store syncs, and the process exits 0.  SIGHUP re-reads the
 * configuration file (flags still override it) and applies the interface
 * selection, snaplen and buffer size; a file with an error changes nothing.
 * SIGHUP also has the pipeline look for replaced geo databases at once
 * (it otherwise looks every 30 s).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "attrib_watch.h"
#include "cli.h"
#include "config.h"
#include "dashboard.h"
#include "pipeline.h"
#include "policy.h"
#include "privs.h"
#include "store.h"
#include "util.h"

#define PIPELINE_QUEUE 65536		/* flow events */
#define DRAIN_MAX_NS (30ull * 1000000000)
#define STATUS_MAX (16u << 20)		/* bytes of status JSON */

/*
 * The capabilities the agent keeps after start-up, each with its reason.
 *   CAP_NET_RAW: a PF_PACKET socket for every interface that appears later
 *     (pcap_activate).  Ring setup (PACKET_RX_RING, mmap), the BPF filter and
 *     binding need nothing more; neither do netlink link events and dumps,
 *     nor the sysfs counters.  No promiscuous mode.
 *   CAP_SYS_PTRACE: attribution reads /proc/PID/ns/net of every process to
 *     find which network namespace holds a veth's peer; the kernel allows
 *     that only with ptrace read access to the process (containers' processes
 *     run with capabilities we no longer have, and as other users).
 *   CAP_NET_ADMIN: attribution asks the kernel for the addresses inside a
 *     pod's network namespace (RTM_GETADDR with IFA_TARGET_NETNSID) without
 *     entering it, which needs CAP_NET_ADMIN over that namespace.
 * /proc/PID/cgroup and /var/log/pods are world-readable: nothing more.
 */
static const int keep_caps[] = {CAP_NET_RAW, CAP_NET_ADMIN, CAP_SYS_PTRACE};

struct run {
	struct config cfg;		/* in force; `mu` guards it */
	struct config over;		/* from the flags; reapplied on reload */
	const char *config_path;	/* --config, or NULL for the default */
	const char *loaded_path;	/* file read last, or NULL */
	const char *status_path;	/* cfg.status_file, fixed at start-up */
	struct privs_user user;
	int has_user;
	int sigfd;
	struct store *st;
	struct pipeline *pl;
	struct capture *cap;
	struct capture_live *live;
	struct geo *geo;
	struct attrib *attrib;
	struct attrib_watch *awatch;
	struct conntrack *ct;		/* NULL: not available */
	struct meta *meta;
	struct sinks *sinks;
	struct dashboard *dash;
	pthread_mutex_t hmu;		/* guards health */
	struct ew_buf health;		/* the last status object, for the dashboard */
	uint32_t store_queue_rows;
	/* stopping */
	_Atomic int draining;
	uint64_t drain_deadline;	/* monotonic */
	uint64_t credit;		/* emits known to fit without a check */
	/* status */
	uint64_t started_ns, started_mono;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int status_stop, status_started;
	pthread_t status_thread;
	struct capture_iface_stats *ifs;
	size_t ifs_cap;
	struct ew_buf json;
	int status_failing;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: egresswatch run [OPTIONS]\n"
		"\n"
		"Capture the traffic of every container on this host on the host\n"
		"side of its interface, track flows and store them.  Runs until\n"
		"SIGTERM or SIGINT; SIGHUP re-reads the configuration.\n"
		"\n"
		"Interfaces captured: the host side of every veth whose peer is in\n"
		"another network namespace, and every interface matching --include;\n"
		"never loopback, the uplink (default route) or --exclude matches.\n"
		"\n"
		"options (each is also a key of the configuration file):\n"
		"  --config FILE        configuration file; flags override it\n"
		"                       (default %s if it exists)\n"
		"  --db FILE            database (default %s)\n"
		"  --include GLOB       also capture interfaces matching GLOB; repeat\n"
		"                       for more (default: cali* lxc* vnet* tap*)\n"
		"  --exclude GLOB       never capture interfaces matching GLOB; repeat\n"
		"  --buffer-size SIZE   kernel ring per interface (default 2M; 256k..1G)\n"
		"  --snaplen N          bytes kept of DNS packets (default %d);\n"
		"                       others keep their first 256 bytes (headers)\n"
		"  --max-flows N        flow table cap (default 262144)\n"
		"  --policy FILE        policy or NetworkPolicy file; repeat for more\n"
		"                       (default: the built-in policy, docs/policy.md)\n"
		"  --inventory FILE     workloads file (YAML) naming interfaces and\n"
		"                       addresses, besides what the host scan finds\n"
		"  --geoip-country FILE country database (default: the bundled one;\n"
		"                       'none' disables)\n"
		"  --geoip2-country FILE  GeoIP2/GeoLite2 Country or City database\n"
		"  --geoip-asn FILE     GeoLite2/GeoIP2 ASN database\n"
		"  --kubeconfig FILE    Kubernetes API access (default: $KUBECONFIG,\n"
		"                       else the in-cluster service account; 'none')\n"
		"  --node-name NAME     this node in the API (default: $NODE_NAME,\n"
		"                       else the hostname)\n"
		"  --listen ADDR:PORT   serve the dashboard and API in the agent (off\n"
		"                       by default; 127.0.0.1:8080 is the usual; other\n"
		"                       addresses need --token-file)\n"
		"  --token-file FILE    dashboard access token (first line)\n"
		"  --alerts-json FILE   also write alerts as JSON lines ('-': stdout)\n"
		"  --syslog[=FACILITY]  also send alerts to syslog (default daemon)\n"
		"  --webhook SPEC       also post alerts: URL[,format=json|slack|\n"
		"                       alertmanager] (docs/alerts.md); repeatable\n"
		"  --docker-socket PATH Docker/Podman API socket (default: the usual\n"
		"                       sockets if present; 'none')\n"
		"  --pod-logs-dir DIR   the kubelet's pod log directory, whose\n"
		"                       <namespace>_<name>_<uid> entries name pods\n"
		"                       (default /var/log/pods; 'none')\n"
		"  --user USER          run as USER after start-up, keeping only\n"
		"                       CAP_NET_RAW, CAP_NET_ADMIN and CAP_SYS_PTRACE\n"
		"  --status-file PATH   status JSON, rewritten every second\n"
		"                       (default %s)\n"
		"  -h, --help           this text\n"
		"\n"
		"exit status: 0 stopped by a signal, 1 failure, 2 usage or\n"
		"configuration error.\n",
		CONFIG_DEFAULT_PATH, CONFIG_DEFAULT_DB,
		CAPTURE_LIVE_SNAPLEN_DEFAULT, CONFIG_DEFAULT_STATUS_FILE);
}

/* ---- configuration ------------------------------------------------------- */

/* Defaults, then the file (its name, or NULL for none, to `*path`), then the
 * flags.  0 or -errno with `err` set. */
static int load_config(struct run *r, struct config *out, const char **path,
		       char *err, size_t errlen)
{
	int rc;

	*path = r->config_path;
	if (config_init(out)) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	if (!*path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		*path = CONFIG_DEFAULT_PATH;
	if (*path && (rc = config_load_file(out, *path, err, errlen)))
		goto err;
	if ((rc = config_merge(out, &r->over))) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	return 0;
err:
	config_free(out);
	return rc;
}

static void live_config(const struct config *c, struct capture_live_config *lc)
{
	capture_live_config_defaults(lc);
	lc->include = (const char *const *)c->include;
	lc->exclude = (const char *const *)c->exclude;
	lc->snaplen = c->snaplen;
	lc->buffer_bytes = c->buffer_size;
}

static int str_differs(const char *a, const char *b)
{
	return (a == NULL) != (b == NULL) || (a && strcmp(a, b) != 0);
}

/* SIGHUP.  Capture thread. */
static void reload(struct run *r)
{
	struct capture_live_config lc;
	struct policy *pol = NULL;
	struct config nc, old;
	const char *path;
	char err[512], later[128] = "";
	int rc;

	pipeline_check_geo(r->pl);
	rc = load_config(r, &nc, &path, err, sizeof(err));
	if (rc) {
		log_warnx("reload: %s; keeping the running configuration", err);
		return;
	}
	if (cli_load_policy((const char *const *)nc.policy, (int)nc.n_policy,
			    &pol)) {
		log_warnx("reload: the policy has errors (above); keeping the "
			  "running configuration and policy");
		config_free(&nc);
		return;
	}
	live_config(&nc, &lc);
	rc = capture_live_reconfigure(r->live, &lc);
	if (rc) {
		log_warnx("reload: %s; keeping the running configuration",
			  strerror(-rc));
		policy_close(pol);
		config_free(&nc);
		return;
	}
	pipeline_set_policy(r->pl, pol);
	if (r->sinks)
		sink_reopen(r->sinks);
	/* What is opened once at start-up stays as it is until a restart. */
	if (str_differs(nc.db, r->cfg.db))
		strcat(later, " db");
	if (str_differs(nc.status_file, r->cfg.status_file))
		strcat(later, " status-file");
	if (str_differs(nc.user, r->cfg.user))
		strcat(later, " user");
	if (str_differs(nc.pod_logs_dir, r->cfg.pod_logs_dir))
		strcat(later, " pod-logs-dir");
	if (nc.max_flows != r->cfg.max_flows)
		strcat(later, " max-flows");
	free(nc.db);
	free(nc.status_file);
	free(nc.user);
	nc.max_flows = r->cfg.max_flows;

	pthread_mutex_lock(&r->mu);
	nc.db = r->cfg.db;
	nc.status_file = r->cfg.status_file;
	nc.user = r->cfg.user;
	old = r->cfg;
	old.db = old.status_file = old.user = NULL;
	r->cfg = nc;
	r->loaded_path = path;
	pthread_mutex_unlock(&r->mu);
	config_free(&old);
	log_info("reload: configuration %s%s: %zu include, %zu exclude "
		 "patterns%s%s", path ? "read from " : "from flags only",
		 path ? path : "", r->cfg.n_include,
		 r->cfg.n_exclude, later[0] ? "; changed, applied at restart:" : "",
		 later);
}

/* ---- stopping ------------------------------------------------------------ */

/*
 * While stopping, every open flow ends at once: far more END events than the
 * pipeline and store queues hold.  Wait until both have room (the pipeline
 * thread moves events into the store's queue; the store writer empties it),
 * so that no flow is lost; `credit` spares the check while the room last seen
 * is not used up.  A store that cannot write at all is not waited for longer
 * than DRAIN_MAX_NS; what is dropped then is counted as usual.
 */
static void wait_for_room(struct run *r)
{
	struct pipeline_stats ps;
	struct store_stats ss;
	struct timespec ms = {0, 1000000};

	if (r->credit) {
		r->credit--;
		return;
	}
	for (;;) {
		uint64_t in_flight, room_p, room_s;

		pipeline_get_stats(r->pl, &ps);
		store_get_stats(r->st, &ss);
		in_flight = ps.queue_depth + ss.queue_depth;
		room_p = PIPELINE_QUEUE > ps.queue_depth + 1 ?
				 PIPELINE_QUEUE - ps.queue_depth - 1 : 0;
		room_s = r->store_queue_rows > in_flight + 64 ?
				 r->store_queue_rows - in_flight - 64 : 0;
		if (room_p && room_s) {
			r->credit = (room_p < room_s ? room_p : room_s) - 1;
			return;
		}
		if (ew_mono_ns() > r->drain_deadline)
			return;
		nanosleep(&ms, NULL);
	}
}

/* capture_emit_fn, on the capture thread. */
static void run_emit(void *ctx, const struct flow_record *rec)
{
	struct run *r = ctx;

	if (atomic_load_explicit(&r->draining, memory_order_relaxed))
		wait_for_room(r);
	pipeline_emit(r->pl, rec);
}

/* pipeline_config.refresh, on the pipeline thread. */
static int run_attrib_refresh(void *ctx, const char *ifname)
{
	return attrib_watch_refresh(ctx, ifname);
}

/* capture_dns_fn, on the capture thread. */
static void run_emit_dns(void *ctx, const struct dns_event *ev)
{
	struct run *r = ctx;

	pipeline_emit_dns(r->pl, ev);
}

/* The signalfd is readable.  Capture thread. */
static void on_signal(void *ctx)
{
	struct run *r = ctx;
	struct signalfd_siginfo si;

	while (read(r->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			if (atomic_load(&r->draining))
				break;
			log_info("%s: stopping: reading what is left and ending "
				 "every flow", strsignal((int)si.ssi_signo));
			r->drain_deadline = ew_mono_ns() + DRAIN_MAX_NS;
			atomic_store(&r->draining, 1);
			capture_live_stop(r->live);
			break;
		case SIGHUP:
			reload(r);
			break;
		}
	}
}

/* ---- status file ---------------------------------------------------------- */

#define U64(b, first, name, v)                                                  \
	ew_buf_printf(b, "%s\"%s\":%" PRIu64, (first) ? "" : ",", name,         \
		      (uint64_t)(v))

static void json_time(struct ew_buf *b, const char *key, uint64_t ns)
{
	char t[EW_TIME_STRLEN];

	ew_fmt_time(ns, t);
	ew_buf_printf(b, ",\"%s\":\"%s\"", key, t);
}

static void json_list(struct ew_buf *b, const char *key, char *const *v)
{
	ew_buf_printf(b, ",\"%s\":[", key);
	for (size_t i = 0; v && v[i]; i++) {
		if (i)
			ew_buf_puts(b, ",");
		ew_buf_json_str(b, v[i]);
	}
	ew_buf_puts(b, "]");
}

static void json_config(struct run *r, struct ew_buf *b)
{
	pthread_mutex_lock(&r->mu);
	ew_buf_puts(b, ",\"config\":{\"file\":");
	ew_buf_json_str(b, r->loaded_path);
	ew_buf_puts(b, ",\"db\":");
	ew_buf_json_str(b, r->cfg.db);
	ew_buf_puts(b, ",\"status_file\":");
	ew_buf_json_str(b, r->cfg.status_file);
	ew_buf_puts(b, ",\"user\":");
	ew_buf_json_str(b, r->cfg.user);
	json_list(b, "include", r->cfg.include);
	json_list(b, "exclude", r->cfg.exclude);
	ew_buf_printf(b, ",\"buffer_size\":%u,\"snaplen\":%u,\"max_flows\":%u}",
		      r->cfg.buffer_size, r->cfg.snaplen, r->cfg.max_flows);
	pthread_mutex_unlock(&r->mu);
}

static void json_capture(struct run *r, struct ew_buf *b)
{
	struct capture_stats cs;
	struct capture_live_stats ls;
	size_t n;

	capture_live_snapshot(r->live, &cs, &ls, r->ifs, r->ifs_cap, &n);
	if (n > r->ifs_cap) {
		struct capture_iface_stats *m = realloc(r->ifs, n * 2 * sizeof(*m));

		if (m) {
			r->ifs = m;
			r->ifs_cap = n * 2;
			capture_live_snapshot(r->live, &cs, &ls, r->ifs,
					      r->ifs_cap, &n);
		}
	}
	if (n > r->ifs_cap)
		n = r->ifs_cap;

	ew_buf_puts(b, ",\"interfaces\":[");
	for (size_t i = 0; i < n; i++) {
		const struct capture_iface_stats *f = &r->ifs[i];

		ew_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		ew_buf_json_str(b, f->name);
		ew_buf_printf(b, ",\"state\":\"%s\",\"ifindex\":%d,\"index\":%u",
			      capture_iface_state_name(f->state), f->ifindex,
			      f->iface);
		ew_buf_printf(b, ",\"received\":%" PRIu64 ",\"kernel_drops\":%"
			      PRIu64 ",\"if_drops\":%" PRIu64, f->received,
			      f->kernel_drops, f->if_drops);
		json_time(b, "since", f->since_ns);
		ew_buf_puts(b, "}");
	}
	ew_buf_puts(b, "],\"capture\":{");
	U64(b, 1, "interfaces_capturing", ls.ifaces_capturing);
	U64(b, 0, "interfaces_waiting", ls.ifaces_waiting);
	U64(b, 0, "interfaces_failed", ls.ifaces_failed);
	U64(b, 0, "received", ls.received);
	U64(b, 0, "kernel_drops", ls.kernel_drops);
	U64(b, 0, "if_drops", ls.if_drops);
	U64(b, 0, "attached", ls.attached);
	U64(b, 0, "detached", ls.detached);
	U64(b, 0, "open_errors", ls.open_errors);
	U64(b, 0, "read_errors", ls.read_errors);
	U64(b, 0, "renames", ls.renames);
	U64(b, 0, "link_events", ls.link_events);
	U64(b, 0, "resyncs", ls.resyncs);
	U64(b, 0, "table_full", ls.table_full);
	U64(b, 0, "clock_steps", ls.clock_steps);
	U64(b, 0, "stamps_clamped", ls.stamps_clamped);

	const struct capture_decode_stats *d = &cs.decode;
	ew_buf_puts(b, "},\"decode\":{");
	U64(b, 1, "packets", d->packets);
	U64(b, 0, "bytes", d->bytes);
	U64(b, 0, "ip_packets", d->ip_packets);
	U64(b, 0, "non_ip", d->non_ip);
	U64(b, 0, "frag_first", d->frag_first);
	U64(b, 0, "frag_later", d->frag_later);
	U64(b, 0, "frag_matched", d->frag_matched);
	U64(b, 0, "tunnel_vxlan", d->tunnel_vxlan);
	U64(b, 0, "tunnel_geneve", d->tunnel_geneve);
	U64(b, 0, "tunnel_gre", d->tunnel_gre);
	U64(b, 0, "tunnel_ipip", d->tunnel_ipip);
	ew_buf_puts(b, "},\"decode_errors\":{");
	U64(b, 1, "unsupported_link", d->unsupported_link);
	U64(b, 0, "l2_truncated", d->l2_truncated);
	U64(b, 0, "l2_invalid", d->l2_invalid);
	U64(b, 0, "vlan_too_deep", d->vlan_too_deep);
	U64(b, 0, "ipv4_truncated", d->ipv4_truncated);
	U64(b, 0, "ipv4_invalid", d->ipv4_invalid);
	U64(b, 0, "ipv6_truncated", d->ipv6_truncated);
	U64(b, 0, "ipv6_invalid", d->ipv6_invalid);
	U64(b, 0, "ipv6_ext_too_deep", d->ipv6_ext_too_deep);
	U64(b, 0, "tcp_truncated", d->tcp_truncated);
	U64(b, 0, "tcp_invalid", d->tcp_invalid);
	U64(b, 0, "udp_truncated", d->udp_truncated);
	U64(b, 0, "udp_invalid", d->udp_invalid);
	U64(b, 0, "icmp_truncated", d->icmp_truncated);
	U64(b, 0, "icmp_invalid", d->icmp_invalid);
	U64(b, 0, "sctp_truncated", d->sctp_truncated);
	U64(b, 0, "sctp_invalid", d->sctp_invalid);
	U64(b, 0, "frag_orphan", d->frag_orphan);
	U64(b, 0, "frag_cache_full", d->frag_cache_full);
	U64(b, 0, "tunnel_too_deep", d->tunnel_too_deep);
	U64(b, 0, "tunnel_inner_invalid", d->tunnel_inner_invalid);
	U64(b, 0, "tunnel_inner_non_ip", d->tunnel_inner_non_ip);

	const struct capture_flow_stats *f = &cs.flow;
	ew_buf_puts(b, "},\"flows\":{");
	U64(b, 1, "created", f->created);
	U64(b, 0, "active", f->active);
	U64(b, 0, "expired", f->expired);
	U64(b, 0, "evicted", f->evicted);
	U64(b, 0, "refused", f->refused);
	U64(b, 0, "updates", f->updates);
	U64(b, 0, "trailing_updates", f->trailing_updates);
	U64(b, 0, "ended_shutdown", f->ended_shutdown);
	U64(b, 0, "emergency", f->emergency);
	U64(b, 0, "emergency_entered", f->emergency_entered);
	U64(b, 0, "max_flows", f->max_flows);
	U64(b, 0, "peak", f->peak);
	U64(b, 0, "memory_bytes", f->memory_bytes);
	ew_buf_puts(b, "}");
}

static void json_pipeline_store(struct ew_buf *b, const struct pipeline_stats *p,
				const struct store_stats *s)
{
	ew_buf_puts(b, ",\"pipeline\":{");
	U64(b, 1, "events", p->events);
	U64(b, 0, "dropped", p->dropped);
	U64(b, 0, "processed", p->processed);
	U64(b, 0, "store_refused", p->store_refused);
	U64(b, 0, "queue_depth", p->queue_depth);
	U64(b, 0, "queue_high_water", p->queue_high_water);
	U64(b, 0, "policy_reloads", p->policy_reloads);
	ew_buf_puts(b, "},\"store\":{");
	U64(b, 1, "queued", s->queued);
	U64(b, 0, "written", s->written);
	U64(b, 0, "dropped_queue_full", s->dropped_queue_full);
	U64(b, 0, "dropped_write_error", s->dropped_write_error);
	U64(b, 0, "dropped_invalid", s->dropped_invalid);
	U64(b, 0, "write_errors", s->write_errors);
	U64(b, 0, "disk_full", s->disk_full);
	U64(b, 0, "batches", s->batches);
	U64(b, 0, "coalesced", s->coalesced);
	U64(b, 0, "queue_depth", s->queue_depth);
	U64(b, 0, "queue_high_water", s->queue_high_water);
	U64(b, 0, "last_commit_us", s->last_commit_us);
	U64(b, 0, "max_commit_us", s->max_commit_us);
	U64(b, 0, "retention_deleted", s->retention_deleted);
	U64(b, 0, "retention_runs", s->retention_runs);
	U64(b, 0, "db_bytes", s->db_bytes);
	U64(b, 0, "writing_paused", s->writing_paused);
	ew_buf_puts(b, "}");
}

static void json_geo(struct run *r, struct ew_buf *b)
{
	struct geo_stats g;

	geo_get_stats(r->geo, &g);
	ew_buf_puts(b, ",\"geo\":{");
	U64(b, 1, "lookups", g.lookups);
	U64(b, 0, "hits", g.hits);
	U64(b, 0, "errors", g.errors);
	U64(b, 0, "reloads", g.reloads);
	U64(b, 0, "reload_failures", g.reload_failures);
	ew_buf_puts(b, "}");
}

static void json_attribution(struct run *r, struct ew_buf *b,
			     const struct pipeline_stats *ps)
{
	struct attrib_stats a;
	struct attrib_watch_stats w;

	attrib_get_stats(r->attrib, &a);
	attrib_watch_get_stats(r->awatch, &w);
	ew_buf_puts(b, ",\"attribution\":{");
	U64(b, 1, "workloads", a.workloads);
	U64(b, 0, "namespaces", a.namespaces);
	U64(b, 0, "ips", a.ips);
	U64(b, 0, "interfaces", a.ifaces);
	U64(b, 0, "podlog_pods", a.podlog_pods);
	U64(b, 0, "created", a.created);
	U64(b, 0, "removed", a.removed);
	U64(b, 0, "ip_moves", a.ip_moves);
	U64(b, 0, "scans", a.scans);
	U64(b, 0, "scan_errors", a.scan_errors);
	U64(b, 0, "scan_last_us", a.scan_last_ns / 1000);
	U64(b, 0, "scan_links", a.scan_links);
	U64(b, 0, "scan_links_attributed", a.scan_links_attributed);
	U64(b, 0, "link_scans", w.link_scans);
	U64(b, 0, "periodic_scans", w.periodic_scans);
	U64(b, 0, "refresh_scans", w.refresh_scans);
	U64(b, 0, "refresh_skipped", w.refresh_skipped);
	U64(b, 0, "lookups", a.lookups);
	U64(b, 0, "lookup_misses", a.lookup_misses);
	U64(b, 0, "open_flows", ps->memo_entries);
	U64(b, 0, "events_workload_gone", ps->attrib_gone);
	U64(b, 0, "events_without_memo", ps->memo_full);
	{
		struct conntrack_stats c;

		conntrack_get_stats(r->ct, &c);
		ew_buf_puts(b, ",\"dnat\":{");
		U64(b, 1, "available", r->ct != NULL);
		U64(b, 0, "queries", c.queries);
		U64(b, 0, "translated", c.translated);
		U64(b, 0, "untranslated", c.untranslated);
		U64(b, 0, "not_found", c.not_found);
		U64(b, 0, "errors", c.errors);
		U64(b, 0, "skipped", c.skipped);
		ew_buf_puts(b, "}");
	}
	ew_buf_puts(b, "}");
}

/* Alerts raised (pipeline; per detector while it runs) and their delivery
 * (sinks); `fs` NULL: read the sinks live.  No "sinks" without sinks. */
static void json_alerts(struct run *r, struct ew_buf *b,
			const struct pipeline_stats *ps,
			const struct sink_stats *fs)
{
	struct detect_stats d;
	struct sink_stats now;

	ew_buf_puts(b, ",\"alerts\":{");
	U64(b, 1, "raised", ps->alerts);
	U64(b, 0, "sink_refused", ps->alerts_sink_refused);
	if (r->pl) {	/* the detectors are gone once the pipeline stopped */
		pipeline_detect_stats(r->pl, &d);
		U64(b, 0, "repeats", d.repeats);
		U64(b, 0, "suppressed", d.suppressed);
		for (int k = 0; k < DETECT__COUNT; k++)
			U64(b, 0, detect_kind_name((enum detect_kind)k),
			    d.alerts[k]);
	}
	ew_buf_puts(b, "}");
	if (!fs && r->sinks) {
		sink_get_stats(r->sinks, &now);
		fs = &now;
	}
	if (!fs)
		return;
	ew_buf_puts(b, ",\"sinks\":{");
	U64(b, 1, "submitted", fs->submitted);
	U64(b, 0, "dropped_queue_full", fs->dropped_queue_full);
	U64(b, 0, "dropped_closed", fs->dropped_closed);
	U64(b, 0, "queue_depth", fs->queue_depth);
	U64(b, 0, "queue_high_water", fs->queue_high_water);
	ew_buf_puts(b, ",\"sink\":[");
	for (size_t i = 0; i < fs->n && i < SINK_MAX; i++) {
		const __typeof__(fs->sink[0]) *k = &fs->sink[i];

		ew_buf_puts(b, i ? ",{\"name\":" : "{\"name\":");
		ew_buf_json_str(b, k->name);
		ew_buf_printf(b, ",\"kind\":\"%s\"", k->kind == SINK_JSON ? "json" :
			      k->kind == SINK_SYSLOG ? "syslog" : "webhook");
		U64(b, 0, "delivered", k->delivered);
		U64(b, 0, "filtered", k->filtered);
		U64(b, 0, "write_errors", k->write_errors);
		U64(b, 0, "attempts", k->attempts);
		U64(b, 0, "retries", k->retries);
		U64(b, 0, "failures", k->failures);
		U64(b, 0, "timeouts", k->timeouts);
		U64(b, 0, "http_5xx", k->http_5xx);
		U64(b, 0, "rejected", k->rejected);
		U64(b, 0, "dropped_queue_full", k->dropped_queue_full);
		U64(b, 0, "dropped_attempts", k->dropped_attempts);
		U64(b, 0, "dropped_age", k->dropped_age);
		U64(b, 0, "dropped_shutdown", k->dropped_shutdown);
		U64(b, 0, "dropped", k->dropped_queue_full + k->dropped_attempts +
				     k->dropped_age + k->dropped_shutdown +
				     k->rejected);
		U64(b, 0, "pending", k->pending);
		ew_buf_printf(b, ",\"last_status\":%d}", k->last_status);
	}
	ew_buf_puts(b, "]}");
}

/* Write `b` to the status file through a temporary file and rename(2), so a
 * reader sees the old or the new file, never half of one. */
static int write_file_atomic(const char *path, const struct ew_buf *b)
{
	char tmp[PATH_MAX];
	size_t off = 0;
	int fd, rc = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0644);
	if (fd < 0)
		return -errno;
	while (off < b->len) {
		ssize_t n = write(fd, b->data + off, b->len - off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path))
		rc = -errno;
	if (rc)
		unlink(tmp);
	return rc;
}

/* Build and write the status; `ps`/`ss`/`fs` NULL: read them live. */
static void write_status(struct run *r, const char *state,
			 const struct pipeline_stats *ps,
			 const struct store_stats *ss,
			 const struct sink_stats *fs)
{
	struct pipeline_stats pnow;
	struct store_stats snow;
	struct ew_buf *b = &r->json;
	uint64_t now = ew_now_ns();
	int rc;

	if (!ps) {
		pipeline_get_stats(r->pl, &pnow);
		ps = &pnow;
	}
	if (!ss) {
		store_get_stats(r->st, &snow);
		ss = &snow;
	}
	ew_buf_reset(b);
	ew_buf_printf(b, "{\"version\":\"%s\",\"pid\":%ld,\"state\":\"%s\"",
		      EW_VERSION, (long)getpid(), state);
	json_time(b, "started", r->started_ns);
	json_time(b, "updated", now);
	ew_buf_printf(b, ",\"uptime_s\":%" PRIu64,
		      (uint64_t)((ew_mono_ns() - r->started_mono) / 1000000000ull));
	json_config(r, b);
	json_capture(r, b);
	json_pipeline_store(b, ps, ss);
	json_attribution(r, b, ps);
	json_alerts(r, b, ps, fs);
	json_geo(r, b);
	ew_buf_puts(b, "}\n");
	if (!b->toobig) {
		pthread_mutex_lock(&r->hmu);
		ew_buf_reset(&r->health);
		ew_buf_append(&r->health, b->data, b->len - 1);
		pthread_mutex_unlock(&r->hmu);
	}
	if (b->toobig) {
		rc = -EFBIG;
	} else {
		rc = write_file_atomic(r->status_path, b);
	}
	if (rc && !r->status_failing)
		log_warnx("status file %s: %s", r->status_path, strerror(-rc));
	else if (!rc && r->status_failing)
		log_info("status file %s: written again", r->status_path);
	r->status_failing = rc != 0;
}

/* dashboard_provider.health: the agent's last status object. */
static int run_health(void *ctx, struct ew_buf *out)
{
	struct run *r = ctx;
	int rc;

	pthread_mutex_lock(&r->hmu);
	rc = r->health.len ? ew_buf_append(out, r->health.data, r->health.len) :
			     ew_buf_puts(out, "{\"state\":\"starting\"}");
	pthread_mutex_unlock(&r->hmu);
	return rc;
}

static void *status_main(void *arg)
{
	struct run *r = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&r->mu);
	while (!r->status_stop) {
		pthread_mutex_unlock(&r->mu);
		write_status(r, "running", NULL, NULL, NULL);
		pthread_mutex_lock(&r->mu);
		next.tv_sec++;
		while (!r->status_stop &&
		       pthread_cond_timedwait(&r->cv, &r->mu, &next) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

/* ---- start-up -------------------------------------------------------------- */

/* Enough descriptors for hundreds of interfaces (three each: packet socket,
 * libpcap's eventfd, the sysfs counter): raise the soft limit to the hard
 * one. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Create the directory of `file` (and its parents) with `mode`, and give the
 * ones created here to `u`.  Directories that exist are left alone: they are
 * the administrator's.  0 or -errno with `err` set.
 */
static int prepare_dir(const char *file, mode_t mode,
		       const struct privs_user *u, char *err, size_t errlen)
{
	char dir[PATH_MAX], *slash;
	size_t len;

	if ((size_t)snprintf(dir, sizeof(dir), "%s", file) >= sizeof(dir)) {
		snprintf(err, errlen, "%.400s: path too long", file);
		return -ENAMETOOLONG;
	}
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0; /* current directory or / */
	*slash = '\0';
	len = strlen(dir);
	for (size_t i = 1; i <= len; i++) {
		if (dir[i] != '/' && dir[i] != '\0')
			continue;
		dir[i] = '\0';
		if (mkdir(dir, mode) == 0) {
			if (u && chown(dir, u->uid, u->gid)) {
				snprintf(err, errlen, "chown %.400s: %s", dir,
					 strerror(errno));
				return -errno;
			}
		} else if (errno != EEXIST) {
			snprintf(err, errlen, "mkdir %.400s: %s", dir, strerror(errno));
			return -errno;
		}
		if (i < len)
			dir[i] = '/';
	}
	return 0;
}

/* With --user: the database files of an earlier run as root become the
 * user's (a database that the agent cannot write is of no use). */
static int chown_db(const char *db, const struct privs_user *u, char *err,
		    size_t errlen)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < EW_ARRAY_LEN(sfx); i++) {
		snprintf(path, sizeof(path), "%s%s", db, sfx[i]);
		if (lstat(path, &st) || !S_ISREG(st.st_mode) ||
		    (st.st_uid == u->uid && st.st_gid == u->gid))
			continue;
		if (chown(path, u->uid, u->gid)) {
			snprintf(err, errlen, "chown %.400s: %s", path, strerror(errno));
			return -errno;
		}
	}
	return 0;
}

static int check_writable(const char *file, char *err, size_t errlen)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", file);
	if (access(dirname(dir), W_OK | X_OK)) {
		snprintf(dir, sizeof(dir), "%s", file);
		snprintf(err, errlen, "%.200s: cannot write to its directory %.200s "
			 "as uid %ld: %s", file, dirname(dir), (long)getuid(),
			 strerror(errno));
		return -errno;
	}
	return 0;
}

static int parse_args(struct run *r, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"db", required_argument, NULL, CONFIG_DB + 256},
		{"include", required_argument, NULL, CONFIG_INCLUDE + 256},
		{"exclude", required_argument, NULL, CONFIG_EXCLUDE + 256},
		{"buffer-size", required_argument, NULL, CONFIG_BUFFER_SIZE + 256},
		{"snaplen", required_argument, NULL, CONFIG_SNAPLEN + 256},
		{"max-flows", required_argument, NULL, CONFIG_MAX_FLOWS + 256},
		{"user", required_argument, NULL, CONFIG_USER + 256},
		{"status-file", required_argument, NULL, CONFIG_STATUS_FILE + 256},
		{"policy", required_argument, NULL, CONFIG_POLICY + 256},
		{"inventory", required_argument, NULL, CONFIG_INVENTORY + 256},
		{"geoip-country", required_argument, NULL, CONFIG_GEOIP_COUNTRY + 256},
		{"geoip2-country", required_argument, NULL, CONFIG_GEOIP2_COUNTRY + 256},
		{"geoip-asn", required_argument, NULL, CONFIG_GEOIP_ASN + 256},
		{"kubeconfig", required_argument, NULL, CONFIG_KUBECONFIG + 256},
		{"node-name", required_argument, NULL, CONFIG_NODE_NAME + 256},
		{"docker-socket", required_argument, NULL, CONFIG_DOCKER_SOCKET + 256},
		{"alerts-json", required_argument, NULL, CONFIG_ALERTS_JSON + 256},
		{"syslog", optional_argument, NULL, CONFIG_SYSLOG + 256},
		{"webhook", required_argument, NULL, CONFIG_WEBHOOK + 256},
		{"listen", required_argument, NULL, CONFIG_LISTEN + 256},
		{"token-file", required_argument, NULL, CONFIG_TOKEN_FILE + 256},
		{"pod-logs-dir", required_argument, NULL, CONFIG_POD_LOGS_DIR + 256},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	char err[512], where[64];
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 0;
		}
		if (c == 'c') {
			r->config_path = optarg;
			continue;
		}
		if (c < 256 || c >= 256 + CONFIG__COUNT) {
			usage(stderr);
			return 2;
		}
		snprintf(where, sizeof(where), "--%s",
			 config_key_name((enum config_key)(c - 256)));
		if (config_set(&r->over, c - 256, optarg ? optarg : "", where, err,
			       sizeof(err))) {
			fprintf(stderr, "egresswatch run: %s\n", err);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "egresswatch run: unexpected argument '%s'\n\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	return -1;
}

/*
 * The attribution registry: a first scan of this host (interfaces, network
 * namespaces, cgroups, kubelet pod-log directories) and the inventory file
 * if one is configured.  What each source found is logged once.
 */
static int open_attribution(struct run *r, char *err, size_t errlen)
{
	struct attrib_config acfg;
	struct attrib_stats as;

	attrib_config_defaults(&acfg);
	if (r->cfg.pod_logs_dir)
		acfg.podlog_root = strcmp(r->cfg.pod_logs_dir, "none") == 0 ?
					   NULL : r->cfg.pod_logs_dir;
	r->attrib = attrib_open(&acfg, err, errlen);
	if (!r->attrib)
		return -1;
	if (r->cfg.inventory &&
	    attrib_load_inventory(r->attrib, r->cfg.inventory, err, errlen))
		return -1;
	if (attrib_rescan(r->attrib, err, errlen))
		log_warnx("attribution: host scan: %s", err);
	attrib_get_stats(r->attrib, &as);
	log_info("attribution: host scan: %" PRIu64 " workloads, %" PRIu64
		 " of %" PRIu64 " container links attributed; %s: %"
		 PRIu64 " pods%s%s", as.workloads, as.scan_links_attributed,
		 as.scan_links, acfg.podlog_root ? acfg.podlog_root :
		 "pod log directories off", as.podlog_pods,
		 r->cfg.inventory ? "; inventory " : "",
		 r->cfg.inventory ? r->cfg.inventory : "");
	return 0;
}

/* Everything before the threads: 0, or the exit status. */
static int start(struct run *r)
{
	struct store_config scfg;
	struct pipeline_config pcfg = {0};
	struct capture_config ccfg;
	struct capture_live_config lc;
	const struct privs_user *u = r->has_user ? &r->user : NULL;
	char err[512], caps[128] = "";
	sigset_t sigs;
	int rc;

	r->status_path = r->cfg.status_file;
	raise_fd_limit();
	/* Blocked here, before any thread exists, so that every thread
	 * inherits the mask and the signals reach only the signalfd. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) ||
	    (r->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_warn("signalfd");
		return 1;
	}
	if (prepare_dir(r->cfg.db, 0750, u, err, sizeof(err)) ||
	    prepare_dir(r->cfg.status_file, 0755, u, err, sizeof(err)) ||
	    (u && chown_db(r->cfg.db, u, err, sizeof(err)))) {
		log_warnx("%s", err);
		return 1;
	}
	if (open_attribution(r, err, sizeof(err))) {
		log_warnx("%s", err);
		return 1;
	}
	/* Where connections to Service addresses really went (pipeline.h). */
	if ((rc = conntrack_open(&r->ct)) < 0)
		log_warnx("dnat: no connection tracking socket (%s): a flow to a "
			  "Service address names no remote workload", strerror(-rc));
	if (privs_drop(u, keep_caps, EW_ARRAY_LEN(keep_caps), err, sizeof(err))) {
		log_warnx("dropping privileges: %s", err);
		return 1;
	}
	for (size_t i = 0; i < EW_ARRAY_LEN(keep_caps); i++)
		snprintf(caps + strlen(caps), sizeof(caps) - strlen(caps), "%s%s",
			 i ? "," : "", privs_cap_name(keep_caps[i]));
	log_info("running as uid %ld gid %ld with %s only, no new privileges",
		 (long)getuid(), (long)getgid(), caps);
	if (check_writable(r->cfg.db, err, sizeof(err)) ||
	    check_writable(r->cfg.status_file, err, sizeof(err))) {
		log_warnx("%s", err);
		return 1;
	}

	store_config_defaults(&scfg);
	scfg.path = r->cfg.db;
	scfg.block_when_full = 0;
	r->store_queue_rows = scfg.queue_rows;
	r->st = store_open(&scfg, err, sizeof(err));
	if (!r->st) {
		log_warnx("%s", err);
		return 1;
	}
	{
		struct cli_geo_opts go = {r->cfg.geoip_country, r->cfg.geoip2_country,
					  r->cfg.geoip_asn};
		struct policy *pol = NULL;

		if (cli_load_policy((const char *const *)r->cfg.policy,
				    (int)r->cfg.n_policy, &pol))
			return 2;
		cli_open_geo(&go, &r->geo);
		pcfg.policy = pol;
		log_info("policy: %s", r->cfg.n_policy ? "loaded from the files given" :
			 "built-in (docs/policy.md)");
	}
	{
		static struct sink_spec storage[SINK_MAX];
		struct cli_sinks cs;

		cli_sinks_init(&cs, storage);
		for (size_t i = 0; i < r->cfg.n_sinks; i++) {
			const char *t = r->cfg.sinks[i];
			int kind = t[0] == 'J' ? SINK_JSON : t[0] == 'S' ?
				   SINK_SYSLOG : SINK_WEBHOOK;
			if (cli_sinks_add(&cs, kind, t[0] == 'J' ? "alerts-json" :
					  t[0] == 'S' ? "syslog" : "webhook", t + 2))
				return 2;
		}
		if (cli_sinks_open(&cs, &r->sinks))
			return 1;
	}
	pcfg.store = r->st;
	pcfg.geo = r->geo;
	pcfg.attrib = r->attrib;
	pcfg.sinks = r->sinks;
	pcfg.db_path = r->cfg.db;
	pcfg.wall_clock = 1;
	pcfg.queue_len = PIPELINE_QUEUE;
	pcfg.max_flows = r->cfg.max_flows;
	pcfg.blocking = 0;
	/* Before the pipeline, which asks it to rescan for interfaces the
	 * registry does not know yet; stopped after the pipeline. */
	if (r->cfg.listen) {
		static struct dashboard_provider prov;
		struct dashboard_config dc;

		prov.health = run_health;
		prov.ctx = r;
		dashboard_config_defaults(&dc);
		dc.db_path = r->cfg.db;
		dc.listen = r->cfg.listen;
		dc.token_file = r->cfg.token_file;
		dc.store = r->st;
		dc.provider = &prov;
		r->dash = dashboard_start(&dc, err, sizeof(err));
		if (!r->dash) {
			log_warnx("dashboard: %s", err);
			return 1;
		}
		log_info("dashboard: %s", dashboard_url(r->dash));
	}
	r->awatch = attrib_watch_start(r->attrib, err, sizeof(err));
	if (!r->awatch)
		log_warnx("%s; attribution is refreshed only at start", err);
	pcfg.refresh = run_attrib_refresh;
	pcfg.refresh_ctx = r->awatch;
	pcfg.ct = r->ct;
	r->pl = pipeline_start(&pcfg, err, sizeof(err));
	if (!r->pl) {
		log_warnx("%s", err);
		return 1;
	}
	capture_config_defaults(&ccfg);
	ccfg.max_flows = r->cfg.max_flows;
	ccfg.first_flow_id = store_next_flow_id(r->st);
	ccfg.emit = run_emit;
	ccfg.emit_dns = run_emit_dns;
	ccfg.emit_ctx = r;
	r->cap = capture_open(&ccfg, err, sizeof(err));
	if (!r->cap) {
		log_warnx("%s", err);
		return 1;
	}
	live_config(&r->cfg, &lc);
	r->live = capture_live_open(r->cap, &lc, err, sizeof(err));
	if (!r->live) {
		log_warnx("%s", err);
		return 1;
	}
	if (capture_live_watch(r->live, r->sigfd, on_signal, r)) {
		log_warnx("cannot watch the signalfd");
		return 1;
	}
	{
		struct meta_config mc;

		meta_config_defaults(&mc);
		mc.kubeconfig = r->cfg.kubeconfig;
		mc.node_name = r->cfg.node_name;
		mc.docker_socket = r->cfg.docker_socket;
		r->meta = meta_open(&mc, r->attrib, err, sizeof(err));
		if (!r->meta) {
			log_warnx("metadata: %s", err);
			return 2;
		}
	}
	if (pthread_create(&r->status_thread, NULL, status_main, r)) {
		log_warnx("cannot start the status thread");
		return 1;
	}
	r->status_started = 1;
	return 0;
}

static void stop_status_thread(struct run *r)
{
	if (!r->status_started)
		return;
	pthread_mutex_lock(&r->mu);
	r->status_stop = 1;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->status_thread, NULL);
	r->status_started = 0;
}

int cmd_run(int argc, char **argv)
{
	struct run r;
	struct pipeline_stats ps = {0};
	struct store_stats ss = {0};
	struct sink_stats fs = {0};
	struct capture_live_stats ls = {0};
	pthread_condattr_t ca;
	char err[512];
	int status, rc;

	memset(&r, 0, sizeof(r));
	r.sigfd = -1;
	r.started_ns = ew_now_ns();
	r.started_mono = ew_mono_ns();
	ew_buf_init(&r.json, STATUS_MAX);
	ew_buf_init(&r.health, STATUS_MAX);
	pthread_mutex_init(&r.hmu, NULL);
	pthread_mutex_init(&r.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&r.cv, &ca);
	pthread_condattr_destroy(&ca);
	if (config_init(&r.over)) {
		fprintf(stderr, "egresswatch run: out of memory\n");
		return 1;
	}
	status = parse_args(&r, argc, argv);
	if (status >= 0)
		goto out;
	if (load_config(&r, &r.cfg, &r.loaded_path, err, sizeof(err))) {
		fprintf(stderr, "egresswatch run: %s\n", err);
		status = 2;
		goto out;
	}
	if (r.cfg.user) {
		if (privs_lookup_user(r.cfg.user, &r.user, err, sizeof(err))) {
			fprintf(stderr, "egresswatch run: --user: %s\n", err);
			status = 2;
			goto out;
		}
		r.has_user = 1;
	}

	status = start(&r);
	if (status)
		goto out;
	capture_live_snapshot(r.live, NULL, &ls, NULL, 0, NULL);
	log_info("capturing on %" PRIu64 " interfaces (%" PRIu64 " waiting to "
		 "come up); database %s; status %s", ls.ifaces_capturing,
		 ls.ifaces_waiting, r.cfg.db, r.cfg.status_file);

	rc = capture_live_run(r.live);
	if (rc)
		status = 1;

	stop_status_thread(&r);
	dashboard_stop(r.dash);
	r.dash = NULL;
	meta_close(r.meta);
	r.meta = NULL;
	pipeline_stop(r.pl, &ps, NULL);
	r.pl = NULL;
	sink_close(r.sinks, r.sinks ? &fs : NULL);
	if (store_sync(r.st))
		status = 1;
	store_get_stats(r.st, &ss);
	write_status(&r, "stopped", &ps, &ss, r.sinks ? &fs : NULL);
	r.sinks = NULL;
	capture_live_snapshot(r.live, NULL, &ls, NULL, 0, NULL);
	log_info("stopped: %" PRIu64 " packets received (%" PRIu64 " dropped by "
		 "the kernel), %" PRIu64 " flow events, %" PRIu64 " dropped; "
		 "%" PRIu64 " rows written, %" PRIu64 " lost", ls.received,
		 ls.kernel_drops, ps.events, ps.dropped, ss.written,
		 ss.dropped_queue_full + ss.dropped_write_error +
			 ss.dropped_invalid);
out:
	stop_status_thread(&r);
	dashboard_stop(r.dash);
	meta_close(r.meta);
	pipeline_stop(r.pl, NULL, NULL);
	attrib_watch_stop(r.awatch);	/* after the pipeline, which calls it */
	if (r.st && store_close(r.st))
		status = status ? status : 1;
	sink_close(r.sinks, NULL);
	capture_live_close(r.live);
	capture_close(r.cap);
	attrib_close(r.attrib);
	conntrack_close(r.ct);
	geo_close(r.geo);
	if (r.sigfd >= 0)
		close(r.sigfd);
	config_free(&r.cfg);
	config_free(&r.over);
	ew_buf_free(&r.json);
	ew_buf_free(&r.health);
	pthread_mutex_destroy(&r.hmu);
	free(r.ifs);
	pthread_cond_destroy(&r.cv);
	pthread_mutex_destroy(&r.mu);
	return status;
}
