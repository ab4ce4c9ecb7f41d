/*
 * attrib_dump - what attribution makes of this host: scan /proc, cgroups,
 * netlink and the pod log directories (never an inventory unless asked),
 * and print one line per host-side interface:
 *
 *   iface vethab12cd34 ifindex 190 workload prod/redis-0 kind Pod
 *     uid 6b1c... containers 3c5e...[,...] runtime containerd qos burstable
 *     netns ewlab-redis-0 ips 10.244.0.10,fd00:10:244::10 flags -
 *
 * (one line; "-" for anything unknown).  With --interactive it keeps one
 * registry alive and answers commands on stdin, each answer ending with a
 * line ".", so a test can change the host between scans and watch the
 * registry follow:
 *
 *   scan | dump | ip ADDR | iface NAME | pod UID | learn IFACE ADDR |
 *   stats | quit
 *
 * Used by tests/e2e/attrib_lab.sh; handy by hand on a node too.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "util.h"

static void join_ips(const struct attrib_workload *w, char *out, size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < w->n_ips && n < cap; i++) {
		char s[EW_IPSTR_MAX];
		int m;

		ew_ip_to_str(w->ips[i].addr, s);
		m = snprintf(out + n, cap - n, "%s%s", i ? "," : "", s);
		if (m < 0)
			break;
		n += (size_t)m;
	}
}

static void join_containers(const struct attrib_workload *w, char *out,
			    size_t cap)
{
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; i < w->n_containers && n < cap; i++) {
		int m = snprintf(out + n, cap - n, "%s%s", i ? "," : "",
				 w->containers[i]);

		if (m < 0)
			break;
		n += (size_t)m;
	}
}

static const char *or_dash(const char *s)
{
	return s && *s ? s : "-";
}

static void print_workload(const struct attrib_workload *w,
			   const struct attrib_iface *ifc)
{
	char ips[ATTRIB_MAX_IPS * (EW_IPSTR_MAX + 1) + 1];
	char ctrs[ATTRIB_MAX_CONTAINERS * (ATTRIB_CID_LEN + 1) + 1];
	char ref[ATTRIB_REF_MAX];

	join_ips(w, ips, sizeof(ips));
	join_containers(w, ctrs, sizeof(ctrs));
	if (w->namespace[0])
		snprintf(ref, sizeof(ref), "%s/%s", w->namespace, w->name);
	else
		snprintf(ref, sizeof(ref), "%s", w->name);
	if (ifc)
		printf("iface %s ifindex %d ", ifc->name, ifc->ifindex);
	printf("workload %s kind %s uid %s containers %s runtime %s qos %s "
	       "netns %s ips %s flags %s\n", ref, w->kind, or_dash(w->pod_uid),
	       or_dash(ctrs), or_dash(w->runtime), or_dash(w->qos),
	       or_dash(w->netns), or_dash(ips),
	       w->flags & ATTRIB_F_UNNAMED ? "unnamed" : "-");
}

static int dump_cb(void *ctx, const struct attrib_workload *w)
{
	if (!w->n_ifaces)
		print_workload(w, NULL);
	for (int i = 0; i < w->n_ifaces; i++)
		print_workload(w, &w->ifaces[i]);
	return 0;
}

static int scan(struct attrib *a)
{
	char err[512];
	int rc = attrib_rescan(a, err, sizeof(err));

	if (rc < 0)
		fprintf(stderr, "attrib_dump: scan: %s\n", err);
	return rc;
}

static void lookup_line(struct attrib *a, const char *what, const char *arg,
			int rc, const struct attrib_ref *r)
{
	struct attrib_workload *w;

	if (rc < 0) {
		printf("%s %s none\n", what, arg);
		return;
	}
	w = malloc(sizeof(*w));
	if (w && attrib_get(a, r->id, w) == 0) {
		printf("%s %s%s ", what, arg,
		       r->flags & ATTRIB_F_LEARNED ? " learned" : "");
		print_workload(w, NULL);
	} else {
		printf("%s %s none\n", what, arg);
	}
	free(w);
}

static int interactive(struct attrib *a)
{
	char line[512];

	while (fgets(line, sizeof(line), stdin)) {
		char cmd[32] = "", x[256] = "", y[256] = "";
		struct attrib_ref r;
		uint8_t ip[16];
		int rc;

		if (sscanf(line, "%31s %255s %255s", cmd, x, y) < 1)
			continue;
		if (strcmp(cmd, "quit") == 0) {
			printf(".\n");
			break;
		} else if (strcmp(cmd, "scan") == 0) {
			rc = scan(a);
			printf("scan %s\n", rc < 0 ? strerror(-rc) : "ok");
		} else if (strcmp(cmd, "dump") == 0) {
			attrib_foreach(a, dump_cb, NULL);
		} else if (strcmp(cmd, "ip") == 0) {
			if (ew_ip_parse(x, ip) < 0)
				printf("ip %s invalid\n", x);
			else
				lookup_line(a, "ip", x, attrib_lookup_ip(a, ip, &r), &r);
		} else if (strcmp(cmd, "iface") == 0) {
			lookup_line(a, "iface", x, attrib_lookup_iface(a, x, &r), &r);
		} else if (strcmp(cmd, "pod") == 0) {
			lookup_line(a, "pod", x, attrib_lookup_pod(a, x, &r), &r);
		} else if (strcmp(cmd, "learn") == 0) {
			if (ew_ip_parse(y, ip) < 0)
				printf("learn %s invalid\n", y);
			else
				printf("learn %d\n",
				       attrib_learn_ip(a, x, ip, ew_now_ns()));
		} else if (strcmp(cmd, "stats") == 0) {
			struct attrib_stats st;

			attrib_get_stats(a, &st);
			printf("stats workloads %" PRIu64 " ips %" PRIu64
			       " links %" PRIu64 " attributed %" PRIu64
			       " procs %" PRIu64 " netns %" PRIu64
			       " ip_moves %" PRIu64 " removed %" PRIu64
			       " scan_ms %.1f\n", st.workloads, st.ips,
			       st.scan_links, st.scan_links_attributed,
			       st.scan_procs, st.scan_netns, st.ip_moves,
			       st.removed, (double)st.scan_last_ns / 1e6);
		} else {
			printf("unknown command %s\n", cmd);
		}
		printf(".\n");
		fflush(stdout);
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: attrib_dump [--proc DIR] [--cgroup DIR] [--podlogs DIR]\n"
		"                   [--netns DIR] [--inventory FILE] [--interactive]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"proc", required_argument, NULL, 'p'},
		{"cgroup", required_argument, NULL, 'c'},
		{"podlogs", required_argument, NULL, 'l'},
		{"netns", required_argument, NULL, 'n'},
		{"inventory", required_argument, NULL, 'i'},
		{"interactive", no_argument, NULL, 'I'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct attrib_config cfg;
	const char *inventory = NULL;
	struct attrib *a;
	char err[512];
	int opt, inter = 0, rc = 0;

	attrib_config_defaults(&cfg);
	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (opt) {
		case 'p': cfg.proc_root = optarg; break;
		case 'c': cfg.cgroup_root = optarg; break;
		case 'l': cfg.podlog_root = optarg; break;
		case 'n': cfg.netns_root = optarg; break;
		case 'i': inventory = optarg; break;
		case 'I': inter = 1; break;
		default:
			usage();
			return opt == 'h' ? 0 : 2;
		}
	}
	a = attrib_open(&cfg, err, sizeof(err));
	if (!a) {
		fprintf(stderr, "attrib_dump: %s\n", err);
		return 1;
	}
	if (inventory && attrib_load_inventory(a, inventory, err, sizeof(err)) < 0) {
		fprintf(stderr, "attrib_dump: %s\n", err);
		attrib_close(a);
		return 1;
	}
	if (inter) {
		rc = interactive(a);
	} else if (scan(a) < 0) {
		rc = 1;
	} else {
		attrib_foreach(a, dump_cb, NULL);
	}
	attrib_close(a);
	return rc;
}
