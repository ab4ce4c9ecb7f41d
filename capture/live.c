/*
 * live.c - live capture: one libpcap handle per container interface, all read
 * by one epoll loop on the capture thread, which also serves link events
 * (discover.c), the caller's descriptors (a signalfd) and the clocks.
 *
 * Handles.  pcap_create + pcap_activate with a TPACKET_V3 ring of
 * `buffer_bytes` (libpcap picks V3 when the kernel has it; the ring is made of
 * 256 KiB blocks, so the size is rounded up to a multiple of that), a block
 * timeout of BLOCK_TIMEOUT_MS, no promiscuous mode (the host side of a veth
 * receives every frame its container sends whatever the destination MAC), a
 * kernel BPF filter that passes IPv4 and IPv6, VLAN-tagged or not (whole for
 * DNS, headers only for the rest: see build_filter), and non-blocking reads.  Ring memory is kernel memory that stays allocated for
 * as long as the handle is open: 200 interfaces at the 2 MiB default are
 * 400 MiB, which is why the default is not larger (see bench/live.sh).
 *
 * The loop.  epoll_wait sleeps until a ring block is handed over (full, or
 * BLOCK_TIMEOUT_MS after its first packet), a link event arrives, a watched
 * descriptor is readable, or the next clock tick (every TICK_NS) is due.  A
 * tick moves the flow table's clock to the wall clock (less one block timeout,
 * so that packets still waiting in a ring are not older than the clock) and
 * finishes interfaces whose removal grace has passed; every STATS_NS the
 * per-interface counters are read and a snapshot is published for other
 * threads.  With no traffic and no link changes that is all the work done.
 * Each wakeup reads at most DISPATCH_BATCH packets from one handle, so one
 * busy interface cannot starve the others (epoll is level-triggered and comes
 * back for the rest).
 *
 * Clock steps.  Packets carry the kernel's CLOCK_REALTIME stamp, so the flow
 * table runs on the wall clock.  Each tick compares the wall clock with
 * CLOCK_BOOTTIME (monotonic, counting suspend); when their difference moves
 * by more than STEP_NS, the wall clock was stepped, and the flow table's
 * clock and timers are moved by the step (capture_rebase) instead of
 * freezing expiry for as long as a step back, or ending every flow at once
 * after a step forward.  Until the tick sees a step, and for packets stamped
 * before it, a stamp later than the wall clock as of the last tick (plus
 * the time since, by CLOCK_BOOTTIME, plus STAMP_SLACK_NS) is taken as that
 * time: no packet can drag the table's clock into the future.
 *
 * Opening and closing a packet socket each wait for an RCU grace period in
 * the kernel (synchronize_net: 10-15 ms, however idle the machine), which
 * would stall the loop, and with it every other interface's ring, for as
 * long as containers come and go.  So HANDLE_THREADS handle threads do
 * pcap_activate and pcap_close (several, because the waits overlap: a burst
 * of new containers is opened that many times faster), and the capture thread
 * only hands work over and takes results back (through a mutex-protected
 * list and the loop's eventfd).  A result for an interface that changed
 * meanwhile is recognised by its generation number and closed.  The handle
 * threads start after the privilege drop, with the same single capability
 * (CAP_NET_RAW).
 *
 * Interface life: matched and up -> OPENING -> CAPTURING; matched but down
 * -> WAITING (libpcap cannot bind to a down interface) until a link event
 * says it is up; a handle whose interface goes down stays open (the kernel
 * resumes delivery on up).  A rename keeps the handle too: the socket is
 * bound to the interface index, and libpcap (1.10) tells "went down" from
 * "went away" by the index the socket is bound to, not by the name, so a
 * handle outlives the down/rename/up a CNI plugin goes through.  Reopening it
 * instead would throw away the ring's last, partly filled block (what the
 * pod sent just before the rename) and leave no socket on the link until the
 * new one is bound.  The flows keep their index and carry the new name from
 * then on.  Removal or exclusion -> CLOSING for
 * GRACE_NS (the kernel hands over the last partly filled block when its
 * timeout fires), then the ring is read to the end, the interface's flows end
 * with FLOW_END_IFACE_GONE, and its index is given back.
 *
 * Counters per interface: pcap_stats' ps_recv and ps_drop are 32-bit and kept
 * since the handle opened; they are read every second and the differences,
 * taken modulo 2^32, are added to 64-bit totals, which therefore survive both
 * wrap-around and reopening.  Interface drops come from the kernel's
 * rx_dropped for the link (a sysfs attribute kept open and re-read): libpcap
 * fills ps_ifdrop only in promiscuous mode, and on a veth rx_dropped is where
 * frames lost before any packet socket saw them are counted.
 */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "capture.h"
#include "decode.h"
#include "internal.h"
#include "live.h"
#include "util.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define BLOCK_TIMEOUT_MS 200		/* ring block handed over at the latest */
#define TICK_NS (200 * NS_PER_MS)	/* flow-table clock and removals */
#define STEP_NS NS_PER_S		/* a wall-clock jump this large is a step */
#define STAMP_SLACK_NS NS_PER_S		/* packet stamps ahead of the clock */
#define STATS_NS NS_PER_S		/* counters and snapshot */
#define GRACE_NS ((BLOCK_TIMEOUT_MS + 100) * NS_PER_MS)
#define DISPATCH_BATCH 1024		/* packets per handle per wakeup */
#define MAX_EVENTS 64
#define MAX_WATCHES 4
#define MAX_SLOTS 4096			/* the capture context's index limit */
#define HANDLE_THREADS 4		/* opens and closes waiting on RCU at once */

/*
 * The kernel filter is two programs run one after the other.  The first
 * passes DNS (port 53, UDP or TCP) with the full snaplen, because the DNS
 * parser needs whole answers (EDNS over UDP, and TCP, exceed any MTU-sized
 * snaplen).  Where it would reject, it jumps to the second, which passes the
 * rest of IPv4/IPv6 with HEADER_SNAPLEN: everything else is decoded from its
 * headers only (flow bytes come from the IP length fields, not from what was
 * captured), so bulk TCP costs the ring and the copy 256 bytes a packet, not
 * 1514 or a 64 KiB GSO segment.  Both also match inside 802.1Q tags (on
 * Linux a received tag is already in the skb's metadata; libpcap's "vlan"
 * checks there).  Non-Ethernet links (tun devices: DLT_RAW) have no VLANs
 * and reject the keyword.
 */
#define HEADER_SNAPLEN 256	/* Ethernet, 2 tags, tunnels, IPv6 ext headers */
#define MAX_BPF_INSNS 4096	/* BPF_MAXINSNS of linux/filter.h */
#define DNS_ETH "udp port 53 or tcp port 53 or (vlan and (udp port 53 or tcp port 53))"
#define DNS_IP "udp port 53 or tcp port 53"
#define IP_ETH "ip or ip6 or (vlan and (ip or ip6))"
#define IP_IP "ip or ip6"

enum ep_kind { EP_WAKE = 1, EP_NETLINK, EP_WATCH, EP_IFACE };
#define EP_DATA(kind, i) (((uint64_t)(kind) << 32) | (uint32_t)(i))

struct liface {
	int32_t ifindex;		/* kernel index; 0 marks a free slot */
	int32_t idx;			/* capture interface index */
	uint32_t flags;			/* IFF_* as last reported */
	uint8_t state;			/* enum capture_iface_state */
	uint8_t seen;			/* listed by the running full read */
	uint8_t broken;			/* a read failed: out of epoll until
					   the handle is reopened */
	uint8_t gone;			/* CLOSING because removed, not excluded */
	uint8_t logged;			/* an open failure was logged */
	char name[IF_NAMESIZE];
	pcap_t *p;
	int fd;				/* pcap selectable descriptor, or -1 */
	int dlt;
	int rxdrop_fd;			/* sysfs statistics/rx_dropped, or -1 */
	uint32_t last_recv, last_drop;	/* this handle's pcap_stats (32-bit) */
	uint64_t last_rxdrop;
	uint64_t received, kernel_drops, if_drops;
	uint64_t since_ns;		/* wall time first matched */
	uint64_t close_at;		/* CLOSING: monotonic deadline */
	uint64_t open_gen;		/* generation of the open in flight, 0 */
};

/* Work for the handle threads, and its result coming back. */
enum { JOB_OPEN = 1, JOB_CLOSE };
enum { OPEN_OK = 0, OPEN_NOT_UP, OPEN_GONE, OPEN_FAILED };
struct job {
	struct job *next;
	int kind;
	uint32_t slot;
	int32_t ifindex;
	uint64_t gen;
	char name[IF_NAMESIZE];
	uint32_t snaplen, buffer_bytes;
	pcap_t *p;			/* result of OPEN; the handle to CLOSE */
	int dlt;
	int status;			/* OPEN_* */
	char why[PCAP_ERRBUF_SIZE + 64];
};

struct jobq {
	struct job *head, *tail;
};

struct watch {
	int fd;
	void (*cb)(void *ctx);
	void *ctx;
};

struct capture_live {
	struct capture *c;		/* borrowed */
	struct discover *disc;
	int epfd, wakefd;
	_Atomic int stop;
	char **include, **exclude;	/* owned, NULL-terminated */
	uint32_t snaplen, buffer_bytes;
	struct liface *ifs;		/* slots; epoll refers to them by number */
	size_t n_ifs, cap_ifs;		/* slots used (high water), allocated */
	struct liface *cur;		/* the handle being read */
	struct watch watches[MAX_WATCHES];
	size_t n_watches;
	/* The handle threads. */
	pthread_t workers[HANDLE_THREADS];
	int n_workers;
	pthread_mutex_t job_mu;
	pthread_cond_t job_cv;
	struct jobq todo, done;		/* to the handle thread, and back */
	int worker_stop;
	uint64_t next_gen;
	struct capture_live_stats st;	/* running counters (capture thread) */
	uint64_t gone_received, gone_kdrops, gone_ifdrops; /* removed ifaces */
	int table_full_logged;
	/* The wall clock against CLOCK_BOOTTIME at the last tick. */
	uint64_t tick_wall, tick_boot;
	uint64_t stamp_max;		/* latest plausible packet stamp */
	/* The snapshot other threads read. */
	pthread_mutex_t snap_mu;
	struct capture_stats snap_cs;
	struct capture_live_stats snap_ls;
	struct capture_iface_stats *snap_ifs;
	size_t snap_n, snap_cap;
};

const char *capture_iface_state_name(enum capture_iface_state s)
{
	switch (s) {
	case CAPTURE_IFACE_CAPTURING: return "capturing";
	case CAPTURE_IFACE_WAITING: return "waiting";
	case CAPTURE_IFACE_FAILED: return "failed";
	case CAPTURE_IFACE_CLOSING: return "closing";
	case CAPTURE_IFACE_OPENING: return "opening";
	}
	return "unknown";
}

void capture_live_config_defaults(struct capture_live_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->snaplen = CAPTURE_LIVE_SNAPLEN_DEFAULT;
	cfg->buffer_bytes = CAPTURE_LIVE_BUFFER_DEFAULT;
}

/* ---- patterns ------------------------------------------------------------ */

static void free_patterns(char **v)
{
	for (char **p = v; p && *p; p++)
		free(*p);
	free(v);
}

/* Owned copy of a NULL-terminated array (NULL gives an empty array). */
static char **copy_patterns(const char *const *v)
{
	size_t n = 0;
	char **out;

	while (v && v[n])
		n++;
	out = calloc(n + 1, sizeof(*out));
	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			free_patterns(out);
			return NULL;
		}
	return out;
}

static int match_any(char *const *pats, const char *name)
{
	for (; pats && *pats; pats++)
		if (fnmatch(*pats, name, 0) == 0)
			return 1;
	return 0;
}

/* The selection rule of capture.h. */
static int wanted(const struct capture_live *l, const struct discover_link *k)
{
	if ((k->flags & IFF_LOOPBACK) || k->uplink ||
	    match_any(l->exclude, k->name))
		return 0;
	if (k->peer_other_netns && strcmp(k->kind, "veth") == 0)
		return 1;
	return match_any(l->include, k->name);
}

/* ---- counters -------------------------------------------------------------- */

static int read_u64_fd(int fd, uint64_t *out)
{
	char buf[32], *end;
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return -1;
	buf[n] = '\0';
	errno = 0;
	*out = strtoull(buf, &end, 10);
	return end == buf || errno ? -1 : 0;
}

static void refresh_stats(struct liface *f)
{
	struct pcap_stat ps;
	uint64_t v;

	if (f->p && pcap_stats(f->p, &ps) == 0) {
		/* Unsigned 32-bit differences are right across a wrap. */
		f->received += (uint32_t)(ps.ps_recv - f->last_recv);
		f->kernel_drops += (uint32_t)(ps.ps_drop - f->last_drop);
		f->last_recv = ps.ps_recv;
		f->last_drop = ps.ps_drop;
	}
	if (f->rxdrop_fd >= 0 && read_u64_fd(f->rxdrop_fd, &v) == 0) {
		if (v >= f->last_rxdrop)
			f->if_drops += v - f->last_rxdrop;
		f->last_rxdrop = v;
	}
}

/* ---- reading ---------------------------------------------------------------- */

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
		      const u_char *data)
{
	struct capture_live *l = (struct capture_live *)user;
	const struct liface *f = l->cur;
	/* Nanosecond precision was asked for: tv_usec holds nanoseconds. */
	uint64_t ts = (uint64_t)h->ts.tv_sec * NS_PER_S + (uint64_t)h->ts.tv_usec;

	if (ts > l->stamp_max) {	/* see "Clock steps" at the top */
		ts = l->stamp_max;
		l->st.stamps_clamped++;
	}
	capture_packet(l->c, f->dlt, (uint32_t)f->idx, h, data, ts);
}

/*
 * Read up to `max` packets (-1: all that are there) from f's ring.  A failed
 * read takes the handle out of epoll (a level-triggered error would wake us
 * for ever) and marks it broken.  Most failures mean the link was removed or
 * renamed (libpcap looks the device up by name), which netlink is about to
 * say; the stats tick deals with the others, and only then is it an error
 * worth a log line.
 */
static void read_iface(struct capture_live *l, struct liface *f, int max)
{
	int n;

	if (!f->p || f->broken)
		return;
	l->stamp_max = l->tick_wall + (ew_boot_ns() - l->tick_boot) +
		       STAMP_SLACK_NS;
	l->cur = f;
	n = pcap_dispatch(f->p, max, on_packet, (u_char *)l);
	l->cur = NULL;
	if (n >= 0 || n == PCAP_ERROR_BREAK)
		return;
	f->broken = 1;
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
}

/* ---- the handle thread ---------------------------------------------------------- */

static void jobq_push(struct jobq *q, struct job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct job *jobq_pop(struct jobq *q)
{
	struct job *j = q->head;

	if (j && !(q->head = j->next))
		q->tail = NULL;
	return j;
}

static void submit(struct capture_live *l, struct job *j)
{
	pthread_mutex_lock(&l->job_mu);
	jobq_push(&l->todo, j);
	pthread_cond_signal(&l->job_cv);
	pthread_mutex_unlock(&l->job_mu);
}

/* Give `p` to the handle thread to close (it is out of epoll already).  If
 * the job cannot be allocated, close it here: slower, never leaked. */
static void close_later(struct capture_live *l, pcap_t *p)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		pcap_close(p);
		return;
	}
	j->kind = JOB_CLOSE;
	j->p = p;
	submit(l, j);
}

/* Read what is left, take the last counters, let the handle go. */
static void close_handle(struct capture_live *l, struct liface *f)
{
	f->open_gen = 0; /* an open in flight is stale from now on */
	if (!f->p)
		return;
	read_iface(l, f, -1);
	refresh_stats(f);
	if (!f->broken)
		(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, f->fd, NULL);
	close_later(l, f->p);
	f->p = NULL;
	f->fd = -1;
	f->broken = 0;
}

/* ---- opening ---------------------------------------------------------------- */

/*
 * The filter described at the top: DNS program, then IP program, in one
 * array of BPF_MAXINSNS at most.  In the DNS part every "ret #0" becomes a
 * forward jump to the IP part (classic BPF jumps only forward, which is the
 * direction we need); in the IP part every non-zero return becomes the header
 * snaplen.  Both are compiled on the activated handle so that libpcap knows
 * how this kernel presents VLAN tags.  0, or -1 with the reason in `why`.
 * On success `out->bf_insns` is malloc'ed: free() it.
 */
static int build_filter(pcap_t *p, int ethernet, uint32_t snaplen,
			struct bpf_program *out, char *why, size_t whylen)
{
	struct bpf_program dns, ip;
	uint32_t hdr = snaplen < HEADER_SNAPLEN ? snaplen : HEADER_SNAPLEN;
	int rc = -1;

	snprintf(why, whylen, "filter: cannot build the two-part program");
	if (pcap_compile(p, &dns, ethernet ? DNS_ETH : DNS_IP, 1,
			 PCAP_NETMASK_UNKNOWN)) {
		snprintf(why, whylen, "filter: %s", pcap_geterr(p));
		return -1;
	}
	if (pcap_compile(p, &ip, ethernet ? IP_ETH : IP_IP, 1,
			 PCAP_NETMASK_UNKNOWN)) {
		snprintf(why, whylen, "filter: %s", pcap_geterr(p));
		pcap_freecode(&dns);
		return -1;
	}
	out->bf_len = dns.bf_len + ip.bf_len;
	out->bf_insns = out->bf_len <= MAX_BPF_INSNS ?
				calloc(out->bf_len, sizeof(*out->bf_insns)) : NULL;
	if (!out->bf_insns)
		goto done;
	memcpy(out->bf_insns, dns.bf_insns, dns.bf_len * sizeof(*dns.bf_insns));
	memcpy(out->bf_insns + dns.bf_len, ip.bf_insns,
	       ip.bf_len * sizeof(*ip.bf_insns));
	for (u_int i = 0; i < out->bf_len; i++) {
		struct bpf_insn *in = &out->bf_insns[i];

		if (BPF_CLASS(in->code) != BPF_RET)
			continue;
		if (BPF_RVAL(in->code) != BPF_K) {
			/* Not what libpcap emits for these expressions;
			 * refuse rather than guess. */
			free(out->bf_insns);
			out->bf_insns = NULL;
			goto done;
		}
		if (i < dns.bf_len && in->k == 0)
			*in = (struct bpf_insn)BPF_STMT(BPF_JMP | BPF_JA,
							dns.bf_len - i - 1);
		else if (i >= dns.bf_len && in->k != 0)
			in->k = hdr;
	}
	rc = 0;
done:
	pcap_freecode(&dns);
	pcap_freecode(&ip);
	return rc;
}

static void open_failed(struct capture_live *l, struct liface *f,
			const char *why)
{
	l->st.open_errors++;
	f->state = CAPTURE_IFACE_FAILED;
	if (!f->logged)
		log_warnx("live: cannot capture on %s: %s", f->name, why);
	f->logged = 1;
}

static void open_rxdrop(struct liface *f)
{
	char path[64 + IF_NAMESIZE];

	if (f->rxdrop_fd >= 0)
		return;
	/* Opened once per interface: the open file follows a rename. */
	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/rx_dropped",
		 f->name);
	f->rxdrop_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (f->rxdrop_fd >= 0 && read_u64_fd(f->rxdrop_fd, &f->last_rxdrop))
		f->last_rxdrop = 0;
}

/* Handle thread: activate a handle as described at the top of the file. */
static void do_open(struct job *j)
{
	char ebuf[PCAP_ERRBUF_SIZE] = "";
	struct bpf_program prog;
	pcap_t *p;
	int rc;

	j->status = OPEN_FAILED;
	p = pcap_create(j->name, ebuf);
	if (!p) {
		snprintf(j->why, sizeof(j->why), "%s", ebuf);
		return;
	}
	if (pcap_set_snaplen(p, (int)j->snaplen) ||
	    pcap_set_promisc(p, 0) ||
	    pcap_set_timeout(p, BLOCK_TIMEOUT_MS) ||
	    pcap_set_buffer_size(p, (int)j->buffer_bytes) ||
	    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO)) {
		snprintf(j->why, sizeof(j->why), "cannot set handle options");
		goto err;
	}
	rc = pcap_activate(p);
	if (rc == PCAP_ERROR_IFACE_NOT_UP) {
		j->status = OPEN_NOT_UP; /* down after all: wait for up */
		goto err;
	}
	if (rc == PCAP_ERROR_NO_SUCH_DEVICE) {
		j->status = OPEN_GONE; /* its link event follows */
		goto err;
	}
	if (rc < 0) {
		snprintf(j->why, sizeof(j->why), "%s%s%s", pcap_statustostr(rc),
			 pcap_geterr(p)[0] ? ": " : "", pcap_geterr(p));
		goto err;
	}
	/* The kernel looked the name up; make sure it still means this link
	 * and not one that took the name a moment ago. */
	if (if_nametoindex(j->name) != (unsigned)j->ifindex) {
		j->status = OPEN_GONE;
		goto err;
	}
	j->dlt = pcap_datalink(p) & 0x03FFFFFF;
	if (!decoder_link_supported(j->dlt)) {
		snprintf(j->why, sizeof(j->why), "link type %s is not supported",
			 pcap_datalink_val_to_name(j->dlt) ?
				 pcap_datalink_val_to_name(j->dlt) : "unknown");
		goto err;
	}
	if (build_filter(p, j->dlt == DLT_EN10MB, j->snaplen, &prog, j->why,
			 sizeof(j->why)))
		goto err;
	rc = pcap_setfilter(p, &prog);
	free(prog.bf_insns);
	if (rc) {
		snprintf(j->why, sizeof(j->why), "filter: %s", pcap_geterr(p));
		goto err;
	}
	if (pcap_setnonblock(p, 1, ebuf)) {
		snprintf(j->why, sizeof(j->why), "%s", ebuf);
		goto err;
	}
	j->p = p;
	j->status = OPEN_OK;
	return;
err:
	pcap_close(p);
}

static void *handle_main(void *arg)
{
	struct capture_live *l = arg;
	uint64_t one = 1;
	struct job *j;

	pthread_mutex_lock(&l->job_mu);
	for (;;) {
		while (!l->todo.head && !l->worker_stop)
			pthread_cond_wait(&l->job_cv, &l->job_mu);
		if (!(j = jobq_pop(&l->todo)))
			break; /* stopping, and nothing left to close */
		pthread_mutex_unlock(&l->job_mu);
		if (j->kind == JOB_CLOSE) {
			pcap_close(j->p);
			free(j);
		} else if (l->worker_stop) {
			free(j); /* no one will take the result */
		} else {
			do_open(j);
			pthread_mutex_lock(&l->job_mu);
			jobq_push(&l->done, j);
			pthread_mutex_unlock(&l->job_mu);
			(void)!write(l->wakefd, &one, sizeof(one));
		}
		pthread_mutex_lock(&l->job_mu);
	}
	pthread_mutex_unlock(&l->job_mu);
	return NULL;
}

/* Capture thread: ask for a handle on `f`. */
static void request_open(struct capture_live *l, struct liface *f)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		open_failed(l, f, "out of memory");
		return;
	}
	j->kind = JOB_OPEN;
	j->slot = (uint32_t)(f - l->ifs);
	j->ifindex = f->ifindex;
	j->gen = f->open_gen = ++l->next_gen;
	snprintf(j->name, sizeof(j->name), "%s", f->name);
	j->snaplen = l->snaplen;
	j->buffer_bytes = l->buffer_bytes;
	f->state = CAPTURE_IFACE_OPENING;
	submit(l, j);
}

/* Capture thread: one finished open. */
static void open_done(struct capture_live *l, struct job *j)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct liface *f = j->slot < l->n_ifs ? &l->ifs[j->slot] : NULL;
	int fd;

	if (!f || f->ifindex != j->ifindex || f->open_gen != j->gen ||
	    !f->open_gen) {
		/* Removed, renamed or closed meanwhile. */
		if (j->p)
			close_later(l, j->p);
		return;
	}
	f->open_gen = 0;
	switch (j->status) {
	case OPEN_NOT_UP:
		f->state = CAPTURE_IFACE_WAITING;
		return;
	case OPEN_GONE:
		f->state = CAPTURE_IFACE_FAILED;
		return;
	case OPEN_FAILED:
		open_failed(l, f, j->why);
		return;
	}
	fd = pcap_get_selectable_fd(j->p);
	ev.data.u64 = EP_DATA(EP_IFACE, j->slot);
	if (fd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		close_later(l, j->p);
		open_failed(l, f, "epoll: cannot watch the handle");
		return;
	}
	open_rxdrop(f);
	f->p = j->p;
	f->fd = fd;
	f->dlt = j->dlt;
	f->last_recv = f->last_drop = 0;
	f->broken = 0;
	f->logged = 0;
	f->state = CAPTURE_IFACE_CAPTURING;
	l->st.attached++;
	log_info("live: capturing on %s (ifindex %d)", f->name, f->ifindex);
}

static void take_results(struct capture_live *l)
{
	struct job *j;

	for (;;) {
		pthread_mutex_lock(&l->job_mu);
		j = jobq_pop(&l->done);
		pthread_mutex_unlock(&l->job_mu);
		if (!j)
			return;
		open_done(l, j);
		free(j);
	}
}

/* ---- interface slots ------------------------------------------------------------ */

static struct liface *slot_find(struct capture_live *l, int32_t ifindex)
{
	for (size_t i = 0; i < l->n_ifs; i++)
		if (l->ifs[i].ifindex == ifindex)
			return &l->ifs[i];
	return NULL;
}

static struct liface *slot_new(struct capture_live *l,
			       const struct discover_link *k)
{
	struct liface *f = NULL;
	size_t i;
	int idx;

	for (i = 0; i < l->n_ifs; i++)
		if (l->ifs[i].ifindex == 0)
			break;
	if (i == l->n_ifs) {
		if (l->n_ifs == l->cap_ifs) {
			size_t cap = l->cap_ifs ? l->cap_ifs * 2 : 64;
			struct liface *n;

			if (cap > MAX_SLOTS)
				cap = MAX_SLOTS;
			if (l->n_ifs >= cap ||
			    !(n = realloc(l->ifs, cap * sizeof(*n))))
				goto full;
			l->ifs = n;
			l->cap_ifs = cap;
		}
		l->n_ifs++;
	}
	idx = capture_iface_acquire(l->c, k->name);
	if (idx < 0) {
		if (i == l->n_ifs - 1)
			l->n_ifs--;
		goto full;
	}
	f = &l->ifs[i];
	memset(f, 0, sizeof(*f));
	f->ifindex = k->ifindex;
	f->idx = idx;
	f->flags = k->flags;
	f->fd = -1;
	f->rxdrop_fd = -1;
	f->seen = 1;
	f->since_ns = ew_now_ns();
	f->state = CAPTURE_IFACE_WAITING;
	snprintf(f->name, sizeof(f->name), "%s", k->name);
	return f;
full:
	l->st.table_full++;
	if (!l->table_full_logged)
		log_warnx("live: cannot capture on %s: %d interfaces already "
			  "captured", k->name, MAX_SLOTS);
	l->table_full_logged = 1;
	return NULL;
}

/* End the interface's flows and free its slot. */
static void finish_close(struct capture_live *l, struct liface *f)
{
	/* A removed link's packet socket reports ENETDOWN at once, which
	 * marks the handle broken before the kernel hands over the ring's
	 * last, partly filled block (at its timeout, within the grace): read
	 * that one too, or a pod's last packets before its deletion are lost. */
	f->broken = 0;
	close_handle(l, f);
	refresh_stats(f);
	capture_flush_iface(l->c, (uint32_t)f->idx, FLOW_END_IFACE_GONE);
	capture_iface_release(l->c, (uint32_t)f->idx);
	l->gone_received += f->received;
	l->gone_kdrops += f->kernel_drops;
	l->gone_ifdrops += f->if_drops;
	l->st.detached++;
	if (f->rxdrop_fd >= 0)
		close(f->rxdrop_fd);
	log_info("live: stopped capturing on %s: %s (%llu packets, %llu "
		 "dropped by the kernel)", f->name,
		 f->gone ? "removed" : "no longer selected",
		 (unsigned long long)f->received,
		 (unsigned long long)f->kernel_drops);
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	f->rxdrop_fd = -1;
}

static void begin_close(struct capture_live *l, struct liface *f, int gone)
{
	if (f->state == CAPTURE_IFACE_CLOSING) {
		/* Deleting a veth first reports the host side without its
		 * peer (no longer selected), then the deletion itself. */
		f->gone |= (uint8_t)gone;
		return;
	}
	f->gone = (uint8_t)gone;
	if (!f->p) {
		finish_close(l, f);
		return;
	}
	f->state = CAPTURE_IFACE_CLOSING;
	f->close_at = ew_mono_ns() + GRACE_NS;
}

static void rename_iface(struct capture_live *l, struct liface *f,
			 const char *name)
{
	log_info("live: %s is now called %s", f->name, name);
	l->st.renames++;
	snprintf(f->name, sizeof(f->name), "%s", name);
	capture_iface_rename(l->c, (uint32_t)f->idx, name);
	/* An open in flight asked for the old name: its result is stale
	 * (open_done closes it), and on_link asks again under the new one. */
	if (f->open_gen) {
		f->open_gen = 0;
		f->state = CAPTURE_IFACE_WAITING;
	}
}

/* discover_fn: keep the slots in line with the links. */
static void on_link(void *ctx, enum discover_event ev,
		    const struct discover_link *k)
{
	struct capture_live *l = ctx;
	struct liface *f;
	int want;

	switch (ev) {
	case DISCOVER_SYNC_BEGIN:
		l->st.resyncs++;
		for (size_t i = 0; i < l->n_ifs; i++)
			l->ifs[i].seen = 0;
		return;
	case DISCOVER_SYNC_END:
		for (size_t i = 0; i < l->n_ifs; i++)
			if (l->ifs[i].ifindex && !l->ifs[i].seen)
				begin_close(l, &l->ifs[i], 1);
		return;
	case DISCOVER_GONE:
		l->st.link_events++;
		if ((f = slot_find(l, k->ifindex)))
			begin_close(l, f, 1);
		return;
	case DISCOVER_LINK:
		break;
	}
	l->st.link_events++;
	want = wanted(l, k);
	f = slot_find(l, k->ifindex);
	if (f && f->state == CAPTURE_IFACE_CLOSING) {
		if (!f->gone && want && strcmp(f->name, k->name) == 0) {
			/* Excluded and selected again before it closed (a
			 * broken handle is reopened by the stats tick). */
			f->state = CAPTURE_IFACE_CAPTURING;
		} else {
			/* Back with the same index (moved out and in
			 * again): the old handle is dead, start over. */
			finish_close(l, f);
			f = NULL;
		}
	}
	if (f) {
		f->seen = 1;
		f->flags = k->flags;
		if (!want) {
			begin_close(l, f, 0);
			return;
		}
		if (strcmp(f->name, k->name) != 0)
			rename_iface(l, f, k->name);
		if (!f->p && !f->open_gen && (k->flags & IFF_UP))
			request_open(l, f);
		return;
	}
	if (!want || !(f = slot_new(l, k)))
		return;
	if (k->flags & IFF_UP)
		request_open(l, f);
}

/* ---- snapshot ---------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct capture_iface_stats *)a)->name,
		      ((const struct capture_iface_stats *)b)->name);
}

static void publish(struct capture_live *l)
{
	struct capture_live_stats ls = l->st;
	struct capture_stats cs;
	size_t n = 0;

	capture_get_stats(l->c, &cs);
	ls.received = l->gone_received;
	ls.kernel_drops = l->gone_kdrops;
	ls.if_drops = l->gone_ifdrops;
	for (size_t i = 0; i < l->n_ifs; i++) {
		const struct liface *f = &l->ifs[i];

		if (!f->ifindex)
			continue;
		n++;
		ls.received += f->received;
		ls.kernel_drops += f->kernel_drops;
		ls.if_drops += f->if_drops;
		ls.ifaces_capturing += f->state == CAPTURE_IFACE_CAPTURING;
		ls.ifaces_waiting += f->state == CAPTURE_IFACE_WAITING ||
				     f->state == CAPTURE_IFACE_OPENING;
		ls.ifaces_failed += f->state == CAPTURE_IFACE_FAILED;
	}
	ls.snapshot_ns = ew_now_ns();

	pthread_mutex_lock(&l->snap_mu);
	if (n > l->snap_cap) {
		struct capture_iface_stats *m =
			realloc(l->snap_ifs, n * sizeof(*m));
		if (m) {
			l->snap_ifs = m;
			l->snap_cap = n;
		}
	}
	l->snap_n = 0;
	for (size_t i = 0; i < l->n_ifs && l->snap_n < l->snap_cap; i++) {
		const struct liface *f = &l->ifs[i];
		struct capture_iface_stats *o = &l->snap_ifs[l->snap_n];

		if (!f->ifindex)
			continue;
		memset(o, 0, sizeof(*o));
		o->iface = (uint32_t)f->idx;
		o->ifindex = f->ifindex;
		memcpy(o->name, f->name, sizeof(o->name));
		o->state = f->state;
		o->since_ns = f->since_ns;
		o->received = f->received;
		o->kernel_drops = f->kernel_drops;
		o->if_drops = f->if_drops;
		l->snap_n++;
	}
	if (l->snap_n) /* snap_ifs is NULL until the first interface */
		qsort(l->snap_ifs, l->snap_n, sizeof(*l->snap_ifs), by_name);
	l->snap_cs = cs;
	l->snap_ls = ls;
	pthread_mutex_unlock(&l->snap_mu);
}

void capture_live_snapshot(struct capture_live *l, struct capture_stats *cs,
			   struct capture_live_stats *ls,
			   struct capture_iface_stats *ifs, size_t max,
			   size_t *n_ifs)
{
	pthread_mutex_lock(&l->snap_mu);
	if (cs)
		*cs = l->snap_cs;
	if (ls)
		*ls = l->snap_ls;
	if (ifs && max && l->snap_n)
		memcpy(ifs, l->snap_ifs,
		       (max < l->snap_n ? max : l->snap_n) * sizeof(*ifs));
	if (n_ifs)
		*n_ifs = l->snap_n;
	pthread_mutex_unlock(&l->snap_mu);
}

/* ---- the loop ------------------------------------------------------------------ */

/* Note the wall clock against CLOCK_BOOTTIME; a step since the last call
 * moves the flow table with it ("Clock steps" at the top). */
static void clock_check(struct capture_live *l)
{
	uint64_t wall = ew_now_ns(), boot = ew_boot_ns();
	int64_t step = (int64_t)((wall - l->tick_wall) - (boot - l->tick_boot));

	if (l->tick_wall && (step > (int64_t)STEP_NS || step < -(int64_t)STEP_NS)) {
		capture_rebase(l->c, step);
		l->st.clock_steps++;
		log_warnx("live: the wall clock was stepped by %+.3f s; flow "
			  "timers moved with it (flows that span the step keep "
			  "their start time)", (double)step / 1e9);
	}
	l->tick_wall = wall;
	l->tick_boot = boot;
}

/* Flow clock, and removals whose grace has passed. */
static void tick(struct capture_live *l, uint64_t now_mono)
{
	clock_check(l);
	capture_clock(l->c, l->tick_wall - BLOCK_TIMEOUT_MS * NS_PER_MS);
	for (size_t i = 0; i < l->n_ifs; i++) {
		struct liface *f = &l->ifs[i];

		if (f->ifindex && f->state == CAPTURE_IFACE_CLOSING &&
		    now_mono >= f->close_at)
			finish_close(l, f);
	}
}

/* Counters; handles whose reads failed are reopened (or, if their link is
 * down, closed until it is up). */
static void stats_tick(struct capture_live *l)
{
	for (size_t i = 0; i < l->n_ifs; i++) {
		struct liface *f = &l->ifs[i];

		if (!f->ifindex)
			continue;
		refresh_stats(f);
		if (f->broken && f->state == CAPTURE_IFACE_CAPTURING) {
			/* Still there a second later: a real read error. */
			l->st.read_errors++;
			log_warnx("live: %s: read failed: %s; reopening", f->name,
				  pcap_geterr(f->p));
			close_handle(l, f);
			f->state = CAPTURE_IFACE_WAITING;
			if (f->flags & IFF_UP)
				request_open(l, f);
		}
	}
	publish(l);
}

static void handle_event(struct capture_live *l, uint64_t data)
{
	uint32_t kind = (uint32_t)(data >> 32), i = (uint32_t)data;
	uint64_t v;
	int rc;

	switch (kind) {
	case EP_IFACE:
		if (i < l->n_ifs && l->ifs[i].ifindex)
			read_iface(l, &l->ifs[i], DISPATCH_BATCH);
		break;
	case EP_NETLINK:
		rc = discover_read(l->disc);
		if (rc < 0)
			log_warnx("live: link events: %s", strerror(-rc));
		break;
	case EP_WATCH:
		if (i < l->n_watches)
			l->watches[i].cb(l->watches[i].ctx);
		break;
	case EP_WAKE: /* a stop request, or opens done */
		(void)!read(l->wakefd, &v, sizeof(v));
		take_results(l);
		break;
	}
}

int capture_live_run(struct capture_live *l)
{
	struct epoll_event ev[MAX_EVENTS];
	uint64_t now = ew_mono_ns(), stop_at = 0, next_tick, next_stats, wake;
	int n, timeout, rc = 0;

	next_tick = now + TICK_NS;
	next_stats = now + STATS_NS;
	for (;;) {
		now = ew_mono_ns();
		if (!stop_at && atomic_load(&l->stop))
			stop_at = now + GRACE_NS; /* let the rings hand over */
		if (stop_at && now >= stop_at)
			break;
		wake = stop_at && stop_at < next_tick ? stop_at : next_tick;
		timeout = wake > now ? (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
		n = epoll_wait(l->epfd, ev, MAX_EVENTS, timeout);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			log_warn("live: epoll_wait");
			break;
		}
		for (int i = 0; i < n; i++)
			handle_event(l, ev[i].data.u64);
		now = ew_mono_ns();
		if (now >= next_tick) {
			tick(l, now);
			next_tick = now + TICK_NS;
		}
		if (now >= next_stats) {
			stats_tick(l);
			next_stats = now + STATS_NS;
		}
	}
	/* The end: everything still in the rings, then every flow. */
	for (size_t i = 0; i < l->n_ifs; i++) {
		struct liface *f = &l->ifs[i];

		if (!f->ifindex)
			continue;
		if (f->state == CAPTURE_IFACE_CLOSING) {
			finish_close(l, f);
			continue;
		}
		read_iface(l, f, -1);
		refresh_stats(f);
	}
	clock_check(l);
	capture_clock(l->c, l->tick_wall - BLOCK_TIMEOUT_MS * NS_PER_MS);
	capture_flush(l->c, FLOW_END_SHUTDOWN);
	publish(l);
	return rc;
}

void capture_live_stop(struct capture_live *l)
{
	uint64_t one = 1;

	atomic_store(&l->stop, 1);
	(void)!write(l->wakefd, &one, sizeof(one));
}

int capture_live_watch(struct capture_live *l, int fd, void (*cb)(void *ctx),
		       void *ctx)
{
	struct epoll_event ev = {.events = EPOLLIN};

	if (l->n_watches >= MAX_WATCHES)
		return -ENOSPC;
	ev.data.u64 = EP_DATA(EP_WATCH, l->n_watches);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	l->watches[l->n_watches++] = (struct watch){fd, cb, ctx};
	return 0;
}

/* ---- configuration ------------------------------------------------------------------ */

static int apply_config(struct capture_live *l,
			const struct capture_live_config *cfg)
{
	char **inc = copy_patterns(cfg->include);
	char **exc = copy_patterns(cfg->exclude);

	if (!inc || !exc) {
		free_patterns(inc);
		free_patterns(exc);
		return -ENOMEM;
	}
	free_patterns(l->include);
	free_patterns(l->exclude);
	l->include = inc;
	l->exclude = exc;
	l->snaplen = cfg->snaplen;
	l->buffer_bytes = cfg->buffer_bytes;
	return 0;
}

int capture_live_reconfigure(struct capture_live *l,
			     const struct capture_live_config *cfg)
{
	int rc = apply_config(l, cfg);

	if (rc)
		return rc;
	/* Links that were not wanted are not remembered: read them all. */
	rc = discover_sync(l->disc);
	if (rc)
		log_warnx("live: re-reading the link list: %s", strerror(-rc));
	publish(l);
	return 0;
}

struct capture_live *capture_live_open(struct capture *c,
				       const struct capture_live_config *cfg,
				       char *err, size_t errlen)
{
	struct capture_live *l = calloc(1, sizeof(*l));
	struct epoll_event ev = {.events = EPOLLIN};
	int rc;

	if (!l) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	l->c = c;
	l->epfd = l->wakefd = -1;
	clock_check(l);
	pthread_mutex_init(&l->snap_mu, NULL);
	pthread_mutex_init(&l->job_mu, NULL);
	pthread_cond_init(&l->job_cv, NULL);
	if (cfg->snaplen < CAPTURE_LIVE_SNAPLEN_MIN ||
	    cfg->snaplen > CAPTURE_LIVE_SNAPLEN_MAX ||
	    cfg->buffer_bytes < CAPTURE_LIVE_BUFFER_MIN ||
	    cfg->buffer_bytes > CAPTURE_LIVE_BUFFER_MAX) {
		snprintf(err, errlen, "live capture: snaplen or buffer size out "
			 "of range");
		goto err;
	}
	if (apply_config(l, cfg)) {
		snprintf(err, errlen, "out of memory");
		goto err;
	}
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->epfd < 0 || l->wakefd < 0) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto err;
	}
	ev.data.u64 = EP_DATA(EP_WAKE, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &ev)) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto err;
	}
	for (int i = 0; i < HANDLE_THREADS; i++) {
		if ((rc = pthread_create(&l->workers[i], NULL, handle_main, l))) {
			snprintf(err, errlen, "handle thread: %s", strerror(rc));
			goto err;
		}
		l->n_workers++;
	}
	l->disc = discover_open(on_link, l, err, errlen);
	if (!l->disc)
		goto err;
	ev.data.u64 = EP_DATA(EP_NETLINK, 0);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, discover_fd(l->disc), &ev)) {
		snprintf(err, errlen, "epoll: %s", strerror(errno));
		goto err;
	}
	rc = discover_sync(l->disc);
	if (rc) {
		snprintf(err, errlen, "reading the link list: %s", strerror(-rc));
		goto err;
	}
	publish(l);
	return l;
err:
	capture_live_close(l);
	return NULL;
}

void capture_live_close(struct capture_live *l)
{
	struct job *j;

	if (!l)
		return;
	/* They close what they were given and skip pending opens. */
	pthread_mutex_lock(&l->job_mu);
	l->worker_stop = 1;
	pthread_cond_broadcast(&l->job_cv);
	pthread_mutex_unlock(&l->job_mu);
	for (int i = 0; i < l->n_workers; i++)
		pthread_join(l->workers[i], NULL);
	while ((j = jobq_pop(&l->done))) {
		if (j->p)
			pcap_close(j->p);
		free(j);
	}
	for (size_t i = 0; i < l->n_ifs; i++) {
		struct liface *f = &l->ifs[i];

		if (!f->ifindex)
			continue;
		if (f->p)
			pcap_close(f->p);
		if (f->rxdrop_fd >= 0)
			close(f->rxdrop_fd);
	}
	free(l->ifs);
	discover_close(l->disc);
	if (l->wakefd >= 0)
		close(l->wakefd);
	if (l->epfd >= 0)
		close(l->epfd);
	free_patterns(l->include);
	free_patterns(l->exclude);
	free(l->snap_ifs);
	pthread_mutex_destroy(&l->snap_mu);
	pthread_cond_destroy(&l->job_cv);
	pthread_mutex_destroy(&l->job_mu);
	free(l);
}
