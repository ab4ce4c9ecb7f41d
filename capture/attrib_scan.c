/*
 * attrib_scan.c - from this host's links to the workloads behind them.
 *
 * For a host-side veth the kernel tells us where its peer lives only as a
 * netns id relative to our own namespace (IFLA_LINK_NETNSID).  Network
 * namespaces have no names the kernel knows, so we meet them through the
 * processes inside them: every /proc/PID/ns/net is a handle on one, its link
 * text "net:[INODE]" tells distinct ones apart cheaply (one readlink per
 * process), and for each distinct one we open the handle and ask the kernel
 * which id *our* namespace gave it (RTM_GETNSID with NETNSA_FD).  Matching
 * ids gives the processes behind each link; their /proc/PID/cgroup gives the
 * pod and containers (attrib_cgroup.c), and an address dump aimed at the
 * peer namespace (RTM_GETADDR with IFA_TARGET_NETNSID, Linux 4.20+) its
 * addresses, without entering it.
 *
 * Why not other ways: entering each namespace (setns) to list addresses
 * needs a thread per namespace switch and CAP_SYS_ADMIN; matching the peer
 * ifindex (IFLA_LINK) against /proc/PID/net/dev of every process reads far
 * more; and the ids are the kernel's own answer, so there is no guessing.
 * Namespace inodes and ids are both reused after a namespace dies, which is
 * why nothing is cached from one scan to the next.
 *
 * Bounds: max_procs /proc entries per scan, max_procs_per_netns cgroup files
 * per namespace (lowest pids first: a pod's first processes are its
 * containers' main processes), ATTRIB_SCAN_MAX_LINKS links, and fixed-size
 * reads of every /proc file.  A process that vanishes mid-scan or refuses us
 * is counted and skipped.
 *
 * The pause (sandbox) container holds a pod's namespaces but is no workload
 * container: a process whose comm is "pause" contributes its pod uid but not
 * its container id.  Runtime monitors (conmon) are never containers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/net_namespace.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrib.h"
#include "util.h"

#define DUMP_TRIES 5		/* dumps interrupted by concurrent changes */
#define PIDSTR 16		/* "4194304" and more */

struct attrib_scanner {
	struct nl_sock *sk;
};

/* libnl error -> negative errno. */
static int nl_errno(int nlerr)
{
	switch (-nlerr) {
	case NLE_NOMEM: return -ENOMEM;
	case NLE_AGAIN: return -EAGAIN;
	case NLE_PERM: return -EPERM;
	case NLE_NOACCESS: return -EACCES;
	case NLE_DUMP_INTR: return -EINTR;
	case NLE_MSG_TRUNC: return -EMSGSIZE;
	case NLE_OPNOTSUPP: return -EOPNOTSUPP;
	case NLE_INVAL: return -EINVAL;
	case NLE_OBJ_NOTFOUND: return -ENOENT;
	default: return -EIO;
	}
}

struct attrib_scanner *attrib_scanner_open(char *err, size_t errlen)
{
	struct attrib_scanner *s = calloc(1, sizeof(*s));
	int rc, one = 1;

	if (!s || !(s->sk = nl_socket_alloc())) {
		snprintf(err, errlen, "out of memory");
		free(s);
		return NULL;
	}
	if ((rc = nl_connect(s->sk, NETLINK_ROUTE)) < 0) {
		snprintf(err, errlen, "netlink: %s", nl_geterror(rc));
		attrib_scanner_close(s);
		return NULL;
	}
	/* Requests are answered by their reply (or an error); an ACK on top,
	 * which libnl asks for by default, would be left in the socket and
	 * read as the answer to the next request. */
	nl_socket_disable_auto_ack(s->sk);
	/* Strict checking makes the kernel honour IFA_TARGET_NETNSID in
	 * address dumps (and validate our requests instead of ignoring
	 * what it does not understand). */
	if (setsockopt(nl_socket_get_fd(s->sk), SOL_NETLINK,
		       NETLINK_GET_STRICT_CHK, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "netlink strict checking: %s",
			 strerror(errno));
		attrib_scanner_close(s);
		return NULL;
	}
	return s;
}

void attrib_scanner_close(struct attrib_scanner *s)
{
	if (!s)
		return;
	nl_socket_free(s->sk);
	free(s);
}

void attrib_scan_free(struct attrib_scan *sc)
{
	free(sc->links);
	free(sc->podlogs);
	memset(sc, 0, sizeof(*sc));
}

/*
 * The end of a dump.  A dump the kernel refused (no CAP_NET_ADMIN for a
 * target netnsid, say) ends with NLMSG_DONE carrying the error, which libnl
 * does not look at: without this the refusal would read as "no addresses".
 */
static int on_done(struct nl_msg *msg, void *arg)
{
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	int *err = arg, e;

	if (nlmsg_datalen(nlh) >= (int)sizeof(e)) {
		memcpy(&e, nlmsg_data(nlh), sizeof(e));
		if (e < 0)
			*err = e;
	}
	return NL_STOP;
}

/* Receive a dump's answer; 0 or -errno, the kernel's own included. */
static int recv_dump(struct attrib_scanner *s)
{
	int done_err = 0, rc;

	nl_socket_modify_cb(s->sk, NL_CB_FINISH, NL_CB_CUSTOM, on_done, &done_err);
	rc = nl_recvmsgs_default(s->sk);
	nl_socket_modify_cb(s->sk, NL_CB_FINISH, NL_CB_DEFAULT, NULL, NULL);
	if (rc < 0)
		return nl_errno(rc);
	return done_err;
}

/* ---- links ------------------------------------------------------------------- */

struct link_ctx {
	struct attrib_scan *sc;
	int err;
};

static int on_link(struct nl_msg *msg, void *arg)
{
	struct link_ctx *lc = arg;
	struct attrib_scan *sc = lc->sc;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[IFLA_MAX + 1];
	const struct ifinfomsg *ifi;
	struct attrib_scan_link *l;

	if (nlh->nlmsg_type != RTM_NEWLINK ||
	    nlmsg_parse(nlh, sizeof(*ifi), tb, IFLA_MAX, NULL) < 0 ||
	    !tb[IFLA_IFNAME] || !tb[IFLA_LINK_NETNSID] ||
	    nla_len(tb[IFLA_LINK_NETNSID]) < 4)
		return NL_OK;
	ifi = nlmsg_data(nlh);
	if (sc->n_links == sc->cap_links) {
		size_t cap = sc->cap_links ? sc->cap_links * 2 : 64;
		void *p;

		if (sc->n_links >= ATTRIB_SCAN_MAX_LINKS)
			return NL_OK;
		if (cap > ATTRIB_SCAN_MAX_LINKS)
			cap = ATTRIB_SCAN_MAX_LINKS;
		p = realloc(sc->links, cap * sizeof(*sc->links));
		if (!p) {
			lc->err = -ENOMEM;
			return NL_STOP;
		}
		sc->links = p;
		sc->cap_links = cap;
	}
	l = &sc->links[sc->n_links++];
	memset(l, 0, sizeof(*l));
	nla_strlcpy(l->iface.name, tb[IFLA_IFNAME], sizeof(l->iface.name));
	l->iface.ifindex = ifi->ifi_index;
	l->nsid = (int32_t)nla_get_u32(tb[IFLA_LINK_NETNSID]);
	return NL_OK;
}

static int read_links(struct attrib_scanner *s, struct attrib_scan *sc)
{
	struct ifinfomsg ifi;
	struct link_ctx lc;
	int rc = -EINTR;

	for (int i = 0; i < DUMP_TRIES && rc == -EINTR; i++) {
		sc->n_links = 0;
		lc.sc = sc;
		lc.err = 0;
		memset(&ifi, 0, sizeof(ifi));
		ifi.ifi_family = AF_UNSPEC;
		nl_socket_modify_cb(s->sk, NL_CB_VALID, NL_CB_CUSTOM, on_link, &lc);
		rc = nl_send_simple(s->sk, RTM_GETLINK, NLM_F_DUMP, &ifi,
				    sizeof(ifi));
		if (rc < 0)
			return nl_errno(rc);
		rc = recv_dump(s);
		if (rc == 0)
			rc = lc.err;
	}
	return rc;
}

/* ---- netns ids ------------------------------------------------------------------ */

static int on_nsid(struct nl_msg *msg, void *arg)
{
	int32_t *nsid = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[NETNSA_MAX + 1];

	if (nlh->nlmsg_type == RTM_NEWNSID &&
	    nlmsg_parse(nlh, sizeof(struct rtgenmsg), tb, NETNSA_MAX, NULL) == 0 &&
	    tb[NETNSA_NSID] && nla_len(tb[NETNSA_NSID]) >= 4)
		*nsid = (int32_t)nla_get_u32(tb[NETNSA_NSID]);
	return NL_OK;
}

/* The id our namespace has for the namespace `fd` refers to, into *nsid
 * (NETNSA_NSID_NOT_ASSIGNED when it has none).  0 or -errno. */
static int query_nsid(struct attrib_scanner *s, int fd, int32_t *nsid)
{
	struct rtgenmsg g = {.rtgen_family = AF_UNSPEC};
	struct nl_msg *msg = nlmsg_alloc_simple(RTM_GETNSID, NLM_F_REQUEST);
	int rc;

	*nsid = NETNSA_NSID_NOT_ASSIGNED;
	if (!msg)
		return -ENOMEM;
	if (nlmsg_append(msg, &g, sizeof(g), NLMSG_ALIGNTO) < 0 ||
	    nla_put_u32(msg, NETNSA_FD, (uint32_t)fd) < 0) {
		nlmsg_free(msg);
		return -ENOMEM;
	}
	nl_socket_modify_cb(s->sk, NL_CB_VALID, NL_CB_CUSTOM, on_nsid, nsid);
	rc = nl_send_auto(s->sk, msg);
	nlmsg_free(msg);
	if (rc < 0)
		return nl_errno(rc);
	rc = nl_recvmsgs_default(s->sk);
	return rc < 0 ? nl_errno(rc) : 0;
}

/* ---- addresses ------------------------------------------------------------------- */

struct addr_ctx {
	struct attrib_scan_link *l;
	uint64_t dropped;
};

static void add_ip(struct attrib_scan_link *l, const uint8_t ip[16],
		   uint64_t *dropped)
{
	for (unsigned i = 0; i < l->n_ips; i++)
		if (memcmp(l->ips[i], ip, 16) == 0)
			return;
	if (l->n_ips == ATTRIB_MAX_IPS) {
		(*dropped)++;
		return;
	}
	memcpy(l->ips[l->n_ips++], ip, 16);
}

static int on_addr(struct nl_msg *msg, void *arg)
{
	struct addr_ctx *ac = arg;
	struct nlmsghdr *nlh = nlmsg_hdr(msg);
	struct nlattr *tb[IFA_MAX + 1], *a;
	const struct ifaddrmsg *ifa;
	uint32_t flags;
	uint8_t ip[16];

	if (nlh->nlmsg_type != RTM_NEWADDR ||
	    nlmsg_parse(nlh, sizeof(*ifa), tb, IFA_MAX, NULL) < 0)
		return NL_OK;
	ifa = nlmsg_data(nlh);
	flags = tb[IFA_FLAGS] && nla_len(tb[IFA_FLAGS]) >= 4 ?
			nla_get_u32(tb[IFA_FLAGS]) : ifa->ifa_flags;
	if (ifa->ifa_scope == RT_SCOPE_HOST || ifa->ifa_scope == RT_SCOPE_LINK ||
	    (flags & IFA_F_DADFAILED))
		return NL_OK;
	if (ifa->ifa_family == AF_INET) {
		a = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
		if (!a || nla_len(a) < 4)
			return NL_OK;
		ew_ip_from_v4(ip, nla_data(a));
	} else if (ifa->ifa_family == AF_INET6) {
		a = tb[IFA_ADDRESS] ? tb[IFA_ADDRESS] : tb[IFA_LOCAL];
		if (!a || nla_len(a) < 16)
			return NL_OK;
		memcpy(ip, nla_data(a), 16);
	} else {
		return NL_OK;
	}
	if (!attrib_ip_ignored(ip))
		add_ip(ac->l, ip, &ac->dropped);
	return NL_OK;
}

/* Every address of the namespace `l->nsid` names, into `l`. */
static int read_addrs(struct attrib_scanner *s, struct attrib_scan_link *l)
{
	struct ifaddrmsg ifa;
	struct addr_ctx ac;
	struct nl_msg *msg;
	int rc = -EINTR;

	for (int i = 0; i < DUMP_TRIES && rc == -EINTR; i++) {
		l->n_ips = 0;
		ac.l = l;
		ac.dropped = 0;
		msg = nlmsg_alloc_simple(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP);
		if (!msg)
			return -ENOMEM;
		memset(&ifa, 0, sizeof(ifa));
		ifa.ifa_family = AF_UNSPEC;
		if (nlmsg_append(msg, &ifa, sizeof(ifa), NLMSG_ALIGNTO) < 0 ||
		    nla_put_s32(msg, IFA_TARGET_NETNSID, l->nsid) < 0) {
			nlmsg_free(msg);
			return -ENOMEM;
		}
		nl_socket_modify_cb(s->sk, NL_CB_VALID, NL_CB_CUSTOM, on_addr, &ac);
		rc = nl_send_auto(s->sk, msg);
		nlmsg_free(msg);
		if (rc < 0)
			return nl_errno(rc);
		rc = recv_dump(s);
	}
	return rc;
}

/* ---- /proc ---------------------------------------------------------------------- */

static int parse_pid(const char *s)
{
	long v = 0;

	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 99999999)
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v > 0 ? (int)v : -1;
}

/* "net:[4026531992]" -> 4026531992; 0 when it is not that. */
static uint64_t ns_inode(const char *s, size_t len)
{
	uint64_t v = 0;
	size_t i;

	if (len < 7 || memcmp(s, "net:[", 5) != 0 || s[len - 1] != ']')
		return 0;
	for (i = 5; i < len - 1; i++) {
		if (s[i] < '0' || s[i] > '9' || v > UINT64_MAX / 10 - 9)
			return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	return i > 5 ? v : 0;
}

long attrib_proc_walk(int procfd, uint32_t max, int *capped, uint64_t *errors,
		      uint64_t *denied, attrib_proc_fn fn, void *ctx)
{
	char path[PIDSTR + 16], link[64];
	struct dirent *de;
	long n = 0;
	DIR *d;
	/* A fresh open, not dup(): a dup shares the directory offset, so a
	 * second walk over the same descriptor would see nothing. */
	int fd = openat(procfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*capped = 0;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		int pid = parse_pid(de->d_name);
		ssize_t ll;
		uint64_t ino;

		if (pid < 0)
			continue;
		if ((uint32_t)n >= max) {
			*capped = 1;
			break;
		}
		n++;
		snprintf(path, sizeof(path), "%d/ns/net", pid);
		ll = readlinkat(procfd, path, link, sizeof(link));
		if (ll <= 0 || (size_t)ll >= sizeof(link) ||
		    !(ino = ns_inode(link, (size_t)ll))) {
			(*errors)++;	/* gone, a kernel thread, or refused */
			if (ll < 0 && (errno == EACCES || errno == EPERM))
				(*denied)++;
			continue;
		}
		fn(ctx, pid, ino);
	}
	closedir(d);
	return n;
}

/* Read at most `cap` - 1 bytes of a small /proc file; its length or -errno. */
static ssize_t read_small(int dirfd, const char *path, char *buf, size_t cap)
{
	size_t got = 0;
	int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return -errno;
	while (got < cap - 1) {
		ssize_t r = read(fd, buf + got, cap - 1 - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			return -e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

struct proc_ent {
	uint64_t ino;
	int pid;
};

struct walk_ctx {
	struct proc_ent *p;
	size_t n, cap;
	int oom;
};

static void on_proc(void *arg, int pid, uint64_t ino)
{
	struct walk_ctx *w = arg;

	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 1024;
		void *p = realloc(w->p, cap * sizeof(*w->p));

		if (!p) {
			w->oom = 1;
			return;
		}
		w->p = p;
		w->cap = cap;
	}
	w->p[w->n].ino = ino;
	w->p[w->n].pid = pid;
	w->n++;
}

static int cmp_proc(const void *a, const void *b)
{
	const struct proc_ent *x = a, *y = b;

	if (x->ino != y->ino)
		return x->ino < y->ino ? -1 : 1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* One distinct namespace among the processes: p[first .. first+n). */
struct netns_ent {
	uint64_t ino;
	size_t first, n;
	int32_t nsid;
	char name[ATTRIB_NETNS_MAX];
};

static int cmp_nsid(const void *a, const void *b)
{
	const struct netns_ent *x = a, *y = b;

	return (x->nsid > y->nsid) - (x->nsid < y->nsid);
}

/* Names of bind-mounted namespaces (ip netns, CNI): inode -> file name. */
static void read_netns_names(const char *root, struct netns_ent *ns, size_t n)
{
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (!root || !*root || !(d = opendir(root)))
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) >= ATTRIB_NETNS_MAX ||
		    fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		for (size_t i = 0; i < n; i++)
			if (ns[i].ino == (uint64_t)st.st_ino && !ns[i].name[0])
				memcpy(ns[i].name, de->d_name,
				       strlen(de->d_name) + 1);
	}
	closedir(d);
}

static void add_container(struct attrib_scan_link *l, const char *id)
{
	for (unsigned i = 0; i < l->n_containers; i++)
		if (strcmp(l->containers[i], id) == 0)
			return;
	if (l->n_containers < ATTRIB_MAX_CONTAINERS)
		memcpy(l->containers[l->n_containers++], id, ATTRIB_CID_LEN + 1);
}

/* What the processes of one namespace say: pod, containers, runtime. */
static void read_cgroups(int procfd, const struct proc_ent *p, size_t n,
			 uint32_t cap, struct attrib_scan_link *l,
			 uint64_t *errors)
{
	char path[PIDSTR + 16], comm[32];
	char *buf = malloc(ATTRIB_CGROUP_FILE_MAX);

	if (!buf) {
		(*errors)++;
		return;
	}
	for (size_t i = 0; i < n && l->procs < cap; i++) {
		struct attrib_cgroup cg;
		ssize_t len;
		int pause;

		l->procs++;
		snprintf(path, sizeof(path), "%d/cgroup", p[i].pid);
		len = read_small(procfd, path, buf, ATTRIB_CGROUP_FILE_MAX);
		if (len < 0) {
			(*errors)++;
			continue;
		}
		attrib_cgroup_parse_proc(buf, (size_t)len, &cg);
		if (cg.kind != ATTRIB_CG_CONTAINER && cg.kind != ATTRIB_CG_POD)
			continue;	/* not ours, or a runtime monitor */
		if (cg.pod_uid[0]) {
			if (!l->pod_uid[0])
				memcpy(l->pod_uid, cg.pod_uid, sizeof(l->pod_uid));
			else if (strcmp(l->pod_uid, cg.pod_uid) != 0) {
				/* Another pod's process in this netns (a
				 * debug nsenter, a misbehaving runtime): the
				 * first pod found keeps the namespace. */
				l->uid_conflicts++;
				continue;
			}
			if (!l->qos)
				l->qos = cg.qos;
		}
		if (cg.kind != ATTRIB_CG_CONTAINER)
			continue;
		if (!l->runtime)
			l->runtime = cg.runtime;
		snprintf(path, sizeof(path), "%d/comm", p[i].pid);
		pause = read_small(procfd, path, comm, sizeof(comm)) > 0 &&
			strcmp(comm, "pause\n") == 0;
		if (!pause)
			add_container(l, cg.id);
	}
	free(buf);
}

/* ---- pod log directories ---------------------------------------------------------- */

int attrib_podlog_parse(const char *dirname, struct attrib_podlog *out)
{
	const char *u1 = strchr(dirname, '_'), *u2;
	size_t nsl, nl, ul;

	memset(out, 0, sizeof(*out));
	if (!u1 || !(u2 = strchr(u1 + 1, '_')) || strchr(u2 + 1, '_'))
		return -EINVAL;
	nsl = (size_t)(u1 - dirname);
	nl = (size_t)(u2 - u1 - 1);
	ul = strlen(u2 + 1);
	if (nsl >= ATTRIB_NS_MAX || nl >= ATTRIB_NAME_MAX ||
	    !attrib_uid_valid(u2 + 1, ul))
		return -EINVAL;
	memcpy(out->namespace, dirname, nsl);
	memcpy(out->name, u1 + 1, nl);
	memcpy(out->uid, u2 + 1, ul);
	if (!attrib_namespace_valid(out->namespace) ||
	    !attrib_name_valid(out->name)) {
		memset(out, 0, sizeof(*out));
		return -EINVAL;
	}
	return 0;
}

int attrib_podlogs_read(const char *root, uint32_t max, struct attrib_scan *sc)
{
	struct dirent *de;
	DIR *d;

	sc->n_podlogs = 0;
	if (!root || !*root) {
		sc->podlog_state = 0;
		return 0;
	}
	if (!(d = opendir(root))) {
		sc->podlog_state = -errno;
		return sc->podlog_state;
	}
	while ((de = readdir(d))) {
		struct attrib_podlog pl;

		if (de->d_name[0] == '.')
			continue;
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if (attrib_podlog_parse(de->d_name, &pl) < 0) {
			sc->podlogs_bad++;
			continue;
		}
		if (sc->n_podlogs >= max) {
			sc->podlogs_capped = 1;
			break;
		}
		if (sc->n_podlogs == sc->cap_podlogs) {
			size_t cap = sc->cap_podlogs ? sc->cap_podlogs * 2 : 64;
			void *p = realloc(sc->podlogs, cap * sizeof(*sc->podlogs));

			if (!p) {
				closedir(d);
				sc->podlog_state = -ENOMEM;
				return -ENOMEM;
			}
			sc->podlogs = p;
			sc->cap_podlogs = cap;
		}
		sc->podlogs[sc->n_podlogs++] = pl;
	}
	closedir(d);
	sc->podlog_state = 1;
	return 0;
}

/* ---- the scan --------------------------------------------------------------------- */

/* Group the walk's processes by namespace and ask each namespace's id. */
static int index_netns(struct attrib_scanner *s, int procfd,
		       struct walk_ctx *w, uint64_t self_ino,
		       struct netns_ent **out, size_t *n_out,
		       struct attrib_scan *sc)
{
	struct netns_ent *ns = NULL;
	size_t n = 0, cap = 0;
	char path[PIDSTR + 16];

	*out = NULL;
	*n_out = 0;
	if (w->n == 0)
		return 0;
	qsort(w->p, w->n, sizeof(*w->p), cmp_proc);
	for (size_t i = 0; i < w->n;) {
		size_t j = i;

		while (j < w->n && w->p[j].ino == w->p[i].ino)
			j++;
		sc->netns_seen++;
		if (w->p[i].ino != self_ino && n < ATTRIB_SCAN_MAX_NETNS) {
			int fd = -1;
			int32_t id = NETNSA_NSID_NOT_ASSIGNED;

			/* Any process of the namespace will do; the first
			 * may have exited since the walk, so try a few. */
			for (size_t k = i; k < j && k < i + 4 && fd < 0; k++) {
				snprintf(path, sizeof(path), "%d/ns/net", w->p[k].pid);
				fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
			}
			if (fd >= 0) {
				struct stat st;

				/* Still the namespace the walk saw? */
				if (fstat(fd, &st) == 0 &&
				    (uint64_t)st.st_ino == w->p[i].ino) {
					if (query_nsid(s, fd, &id) < 0)
						sc->proc_errors++;
					sc->netns_queried++;
				}
				close(fd);
			} else {
				sc->proc_errors++;
			}
			if (id >= 0) {
				if (n == cap) {
					size_t nc = cap ? cap * 2 : 64;
					void *p = realloc(ns, nc * sizeof(*ns));

					if (!p) {
						free(ns);
						return -ENOMEM;
					}
					ns = p;
					cap = nc;
				}
				memset(&ns[n], 0, sizeof(ns[n]));
				ns[n].ino = w->p[i].ino;
				ns[n].first = i;
				ns[n].n = j - i;
				ns[n].nsid = id;
				n++;
			}
		}
		i = j;
	}
	if (n > 1)
		qsort(ns, n, sizeof(*ns), cmp_nsid);
	*out = ns;
	*n_out = n;
	return 0;
}

int attrib_scan_run(struct attrib_scanner *s, const struct attrib_scan_config *cfg,
		    struct attrib_scan *out, char *err, size_t errlen)
{
	struct walk_ctx w = {0};
	struct netns_ent *ns = NULL;
	size_t n_ns = 0;
	uint64_t t0 = ew_mono_ns(), self_ino = 0;
	char link[64];
	ssize_t ll;
	int procfd = -1, capped = 0, rc;
	long walked;

	out->n_links = out->n_podlogs = 0;
	out->procs = out->procs_capped = out->proc_errors = 0;
	out->proc_denied = 0;
	out->netns_seen = out->netns_queried = 0;
	out->podlogs_bad = out->podlogs_capped = 0;
	out->addr_state = 1;

	rc = read_links(s, out);
	if (rc < 0) {
		snprintf(err, errlen, "reading the link list: %s", strerror(-rc));
		goto done;
	}
	attrib_podlogs_read(cfg->podlog_root, cfg->max_podlogs, out);
	if (out->n_links == 0)
		goto done;	/* nothing lives behind our links: no /proc walk */

	procfd = open(cfg->proc_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (procfd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", cfg->proc_root, strerror(errno));
		goto done;
	}
	ll = readlinkat(procfd, "self/ns/net", link, sizeof(link));
	if (ll > 0 && (size_t)ll < sizeof(link))
		self_ino = ns_inode(link, (size_t)ll);
	walked = attrib_proc_walk(procfd, cfg->max_procs, &capped,
				 &out->proc_errors, &out->proc_denied, on_proc, &w);
	if (walked < 0) {
		rc = (int)walked;
		snprintf(err, errlen, "%s: %s", cfg->proc_root, strerror(-rc));
		goto done;
	}
	out->procs = (uint64_t)walked;
	out->procs_capped = (uint64_t)capped;
	if (w.oom) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	rc = index_netns(s, procfd, &w, self_ino, &ns, &n_ns, out);
	if (rc < 0) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	read_netns_names(cfg->netns_root, ns, n_ns);

	for (size_t i = 0; i < out->n_links; i++) {
		struct attrib_scan_link *l = &out->links[i];
		struct netns_ent key = {.nsid = l->nsid};
		const struct netns_ent *e;

		e = n_ns ? bsearch(&key, ns, n_ns, sizeof(*ns), cmp_nsid) : NULL;
		if (!e)
			continue;	/* no process in it: nobody to name */
		l->found = 1;
		memcpy(l->netns, e->name, sizeof(l->netns));
		read_cgroups(procfd, w.p + e->first, e->n,
			     cfg->max_procs_per_netns, l, &out->proc_errors);
		if (!l->pod_uid[0] && !l->n_containers)
			continue;
		if (out->addr_state == 1) {
			int ar = read_addrs(s, l);

			/* EPERM/EOPNOTSUPP/EINVAL: no CAP_NET_ADMIN, or a
			 * kernel without target netnsid; the same for every
			 * namespace, so stop asking. */
			if (ar < 0 && ar != -EINTR)
				out->addr_state = ar;
		}
	}
	rc = 0;
done:
	if (procfd >= 0)
		close(procfd);
	free(ns);
	free(w.p);
	out->duration_ns = ew_mono_ns() - t0;
	return rc;
}
