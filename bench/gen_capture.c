/*
 * gen_capture.c - the replay benchmark's input: a synthetic, deterministic
 * Ethernet pcap file and the exact list of flows it contains.
 *
 *   gen_capture OUT.pcap TRUTH.tsv [--packets N] [--flows N] [--seed S]
 *
 * The same arguments give the same bytes on every run and every machine: all
 * randomness comes from one xoshiro256** generator seeded through splitmix64
 * and consumed in a fixed order, the few logarithms and exponentials are
 * computed here with plain IEEE arithmetic rather than by the host's libm,
 * and every multi-byte field is written in an explicit byte order.
 *
 * What the traffic looks like:
 *  - Flow sizes are heavy-tailed: on top of its protocol's minimum, each TCP
 *    and UDP flow gets extra packets in proportion to a Lomax (Pareto II,
 *    alpha 1.1) weight, scaled so that the file holds exactly --packets
 *    packets, and no flow exceeds FLOW_PKTS_MAX.  Most flows have a handful of
 *    packets; a few have tens of thousands.
 *  - 70% TCP: SYN (with an MSS option), SYN+ACK, ACK, a request, data both
 *    ways with most of it one way (75% of flows downloads, 25% uploads), FIN
 *    from the client, FIN+ACK from the server, last ACK.  27% UDP: a request,
 *    then mostly one bulk direction.  3% ICMP or ICMPv6 echo: one ping a
 *    second, each answered one RTT later, the last one sometimes unanswered.
 *  - 80% IPv4, 20% IPv6.  Clients are hosts in 10.64.0.0/10 and fd00:ee00::/32;
 *    servers are in the documentation ranges (192.0.2.0/24, 198.51.100.0/24,
 *    203.0.113.0/24, 2001:db8::/32), popular ones more often.  Clients whose
 *    index ends in 3 - so about 10% of flows - sit on an 802.1Q VLAN.
 *  - Frames run from 60 bytes (padded; the FCS is not captured) to 1514 bytes
 *    untagged or 1518 with a VLAN tag: IP packets are at most 1500 bytes.
 *    IP, TCP, UDP and ICMP checksums are valid.  Nothing is truncated.
 *  - Every flow has a start time, an RTT (0.1-100 ms) and a mean packet
 *    spacing (1 ms-1 s); its data packets are spread over its data phase
 *    with jitter.  A heap keyed by each flow's next packet time merges all
 *    flows into one stream in time order, so flows overlap as they would on
 *    a busy link.
 *
 * What the product's flow table must see, and how that is guaranteed:
 *  - No two flows share a key, in either direction: a flow's client address
 *    and port (or ICMP identifier) belong to it alone, and client and server
 *    addresses come from disjoint ranges.  UDP ports 53, 5353, 4789 and 6081
 *    are never used, so no payload is parsed as DNS or decapsulated.
 *  - No flow ends early: the whole capture spans less than CAPTURE_SPAN_S
 *    seconds (under the 60 s UDP idle timeout), a SYN is answered within
 *    100 ms, pings are a second apart (under the 30 s ICMP timeout), and
 *    every TCP flow closes with FIN both ways followed at once by its last
 *    ACK, inside the 5 s linger.
 *
 * TRUTH.tsv has a '#' header line, then one line per flow:
 *   proto  init_ip  init_port  resp_ip  resp_port  vlan
 *   pkts_fwd  pkts_rev  bytes_fwd  bytes_rev
 * proto is the IP protocol number (6, 17, 1, 58), fwd is initiator to
 * responder, and bytes are IP bytes (the IPv4 total length; 40 + payload
 * length for IPv6).  For ICMP echo the initiator port is the echo identifier
 * and the responder port the request's type << 8 | code (2048 for ICMP, 32768
 * for ICMPv6), as capture.h reports them.  A summary goes to stderr.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define DEFAULT_PACKETS 5000000u
#define DEFAULT_FLOWS 200000u
#define DEFAULT_SEED 20241128u

#define CAPTURE_SPAN_US 48000000u	/* every packet falls in [0, 48 s) */
#define DATA_SPAN_MAX_US 40000000u	/* data phase of one flow, at most */
#define FLOW_PKTS_MAX 50000u		/* the largest flow */
#define FLOWS_MAX 10000000u
#define PACKETS_MAX 1000000000u
#define BASE_TIME_S 1704067200u		/* 2024-01-01T00:00:00Z */
#define LOMAX_ALPHA 1.1

#define PORT_FIRST 32768u		/* ephemeral ports 32768..60999 */
#define PORTS_PER_CLIENT 28232u
#define PORT_STRIDE 7919u		/* prime, coprime to PORTS_PER_CLIENT */
#define CLIENTS_MIN 4096u
#define CLIENTS_MAX ((1u << 22) - 2)	/* hosts of 10.64.0.0/10 */
#define SERVERS_V4 762u			/* 3 x 254 documentation addresses */
#define SERVERS_V6 1024u

#define TCP_MIN_PKTS 7u			/* 3-way handshake, request, 3 to close */
#define ICMP_PINGS_MAX 30u

#define ETH_MIN_FRAME 60
#define FRAME_MAX 1518
#define POOL_SIZE 65536u		/* payload bytes are copied from here */

enum { P_ICMP = 1, P_TCP = 6, P_UDP = 17, P_ICMP6 = 58 };
enum { FWD = 0, REV = 1 };
enum { TH_FIN = 0x01, TH_SYN = 0x02, TH_PSH = 0x08, TH_ACK = 0x10 };

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- deterministic randomness and arithmetic --------------------------- */

static uint64_t rng_s[4];

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void rng_seed(uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		rng_s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 (Blackman and Vigna, 2018). */
static inline uint64_t rng_next(void)
{
	uint64_t r = rotl(rng_s[1] * 5, 7) * 9;
	uint64_t t = rng_s[1] << 17;

	rng_s[2] ^= rng_s[0];
	rng_s[3] ^= rng_s[1];
	rng_s[1] ^= rng_s[2];
	rng_s[0] ^= rng_s[3];
	rng_s[2] ^= t;
	rng_s[3] = rotl(rng_s[3], 45);
	return r;
}

/* Uniform in [0, 1). */
static inline double rng_unit(void)
{
	return (double)(rng_next() >> 11) * 0x1.0p-53;
}

static inline int rng_chance(double p)
{
	return rng_unit() < p;
}

/* Uniform in [lo, hi], both included; the modulo bias is negligible here. */
static inline uint32_t rng_range(uint32_t lo, uint32_t hi)
{
	return lo + (uint32_t)(rng_next() % ((uint64_t)hi - lo + 1));
}

/* Natural logarithm of x > 0: x = m * 2^e with m in [1, 2), and
 * ln m = 2 atanh((m - 1) / (m + 1)), whose series converges fast there. */
static double det_log(double x)
{
	uint64_t bits;
	memcpy(&bits, &x, sizeof(bits));
	int e = (int)((bits >> 52) & 0x7ff) - 1023;
	bits = (bits & 0x000fffffffffffffull) | 0x3ff0000000000000ull;
	double m;
	memcpy(&m, &bits, sizeof(m));

	double s = (m - 1) / (m + 1), s2 = s * s, term = s, sum = 0;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= s2;
	}
	return e * 0.69314718055994530942 + 2 * sum;
}

/* e^x for |x| < 700: x = k ln 2 + r, e^r by its Taylor series. */
static double det_exp(double x)
{
	const double ln2 = 0.69314718055994530942;
	int k = (int)(x / ln2 + (x < 0 ? -0.5 : 0.5));
	double r = x - k * ln2, term = 1, sum = 1;
	for (int i = 1; i < 24; i++) {
		term *= r / i;
		sum += term;
	}
	uint64_t bits = (uint64_t)(k + 1023) << 52;
	double scale;
	memcpy(&scale, &bits, sizeof(scale));
	return sum * scale;
}

/* Log-uniform in [lo, hi]: as many values per decade low as high. */
static uint32_t rng_logu(double lo, double hi)
{
	return (uint32_t)(lo * det_exp(rng_unit() * det_log(hi / lo)));
}

/* Lomax (Pareto type II) with scale 1: (1 - U)^(-1/alpha) - 1. */
static double rng_lomax(double alpha)
{
	return det_exp(-det_log(1.0 - rng_unit()) / alpha) - 1.0;
}

/* ---- flows ---------------------------------------------------------------- */

struct gflow {
	uint64_t t_next;	/* µs since capture start, of packet k */
	uint64_t t_data;	/* time of the first data packet */
	uint64_t pkts[2], bytes[2]; /* ground truth, [FWD] = from the initiator */
	uint32_t data_us;	/* data packets after the first spread over this */
	uint32_t rtt_us;
	uint32_t n;		/* packets in the flow */
	uint32_t k;		/* next packet to emit */
	uint32_t client, server;
	uint32_t seq[2];	/* TCP next sequence number of each side */
	uint16_t cport, sport;	/* ICMP: cport is the echo id, sport the type */
	uint16_t vlan;		/* 0: untagged */
	uint16_t icmp_seq;
	uint8_t v6, proto;
	uint8_t bulk;		/* direction that carries most of the data */
};

struct weighted_port { uint16_t port, weight; };

static const struct weighted_port tcp_ports[] = {
	{ 443, 550 }, { 80, 150 }, { 8080, 50 }, { 5432, 50 }, { 6379, 50 },
	{ 3306, 40 }, { 9092, 40 }, { 22, 30 }, { 25, 20 }, { 27017, 20 },
};
static const struct weighted_port udp_ports[] = {
	{ 443, 500 }, { 123, 150 }, { 514, 100 }, { 3478, 100 },
	{ 8125, 100 }, { 5060, 50 },
};

static uint16_t pick_port(const struct weighted_port *tab, size_t n)
{
	uint32_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += tab[i].weight;
	uint32_t r = rng_range(0, total - 1);
	for (size_t i = 0; i < n; i++) {
		if (r < tab[i].weight)
			return tab[i].port;
		r -= tab[i].weight;
	}
	return tab[n - 1].port;
}

static void client_addr(const struct gflow *f, uint8_t out[16])
{
	uint32_t h = f->client + 1;

	memset(out, 0, 16);
	if (!f->v6) {
		out[0] = 10;
		out[1] = (uint8_t)(64 | (h >> 16));
		out[2] = (uint8_t)(h >> 8);
		out[3] = (uint8_t)h;
		return;
	}
	out[0] = 0xfd;
	out[2] = 0xee;
	out[12] = (uint8_t)(h >> 24);
	out[13] = (uint8_t)(h >> 16);
	out[14] = (uint8_t)(h >> 8);
	out[15] = (uint8_t)h;
}

static void server_addr(const struct gflow *f, uint8_t out[16])
{
	static const uint8_t nets[3][3] = {
		{ 192, 0, 2 }, { 198, 51, 100 }, { 203, 0, 113 },
	};

	memset(out, 0, 16);
	if (!f->v6) {
		memcpy(out, nets[f->server / 254], 3);
		out[3] = (uint8_t)(f->server % 254 + 1);
		return;
	}
	out[0] = 0x20;
	out[1] = 0x01;
	out[2] = 0x0d;
	out[3] = 0xb8;
	out[6] = (uint8_t)(f->server >> 8);
	out[7] = (uint8_t)f->server;
	out[15] = 0x10;
}

/*
 * Time of packet f->k, called once packet k-1 has gone out at `prev`.  The
 * result is never earlier than `prev`: a flow's packets stay in order even
 * where its phases (handshake, data, close) would touch.
 */
static uint64_t next_time(struct gflow *f, uint64_t prev)
{
	uint32_t k = f->k;
	uint64_t t;

	if (f->proto == P_ICMP || f->proto == P_ICMP6) {
		if (k % 2)	/* the reply */
			return prev + f->rtt_us;
		/* next request: a second after the previous request */
		t = prev - f->rtt_us + 1000000u + rng_range(0, 2000);
		return t > prev ? t : prev + 1;
	}
	if (f->proto == P_TCP) {
		switch (k) {
		case 1:
			return prev + f->rtt_us;		/* SYN+ACK */
		case 2:
			return prev + rng_range(1, 50);		/* ACK */
		case 3:
			return prev + rng_range(1, 1000);	/* request */
		}
		if (k == f->n - 3)
			return prev + rng_range(1, 1000);	/* FIN */
		if (k == f->n - 2)
			return prev + f->rtt_us;		/* FIN+ACK */
		if (k == f->n - 1)
			return prev + rng_range(1, 50);		/* last ACK */
		uint32_t j = k - 3, m = f->n - 6;		/* data j of m */
		t = f->t_data + (uint64_t)(((j - 1) + rng_unit()) *
					   f->data_us / (m - 1));
		return t > prev ? t : prev;
	}
	uint32_t j = k, m = f->n;				/* UDP */
	t = f->t_data + (uint64_t)(((j - 1) + rng_unit()) * f->data_us /
				   (m - 1));
	return t > prev ? t : prev;
}

/* ---- packet building --------------------------------------------------------- */

static uint8_t pool[POOL_SIZE + FRAME_MAX];
static const uint8_t gw_mac[6] = { 0x02, 0xee, 0x00, 0x00, 0x00, 0x01 };

static inline void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void put32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/*
 * RFC 1071 sum in the host's byte order: folding it and storing the result
 * in host order gives the right bytes on the wire whatever the host.  Each
 * piece must start at an even offset of the checksummed data.
 */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t a, b;
		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		sum += (uint64_t)a + b;
		p += 8;
		len -= 8;
	}
	while (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		sum += w;
		p += 2;
		len -= 2;
	}
	if (len) {
		uint16_t w = 0;
		memcpy(&w, p, 1);
		sum += w;
	}
	return sum;
}

static void csum_store(uint8_t *at, uint64_t sum, int zero_is_ffff)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	uint16_t c = (uint16_t)~sum;
	if (c == 0 && zero_is_ffff)	/* UDP: 0 means "no checksum" */
		c = 0xffff;
	memcpy(at, &c, 2);
}

/* Pseudo-header sum for TCP, UDP and ICMPv6 (RFC 793, 768, 8200 8.1). */
static uint64_t pseudo_sum(int v6, const uint8_t *src, const uint8_t *dst,
			   uint8_t proto, uint32_t l4len)
{
	uint8_t ph[40];
	size_t n;

	if (!v6) {
		memcpy(ph, src, 4);
		memcpy(ph + 4, dst, 4);
		ph[8] = 0;
		ph[9] = proto;
		put16(ph + 10, l4len);
		n = 12;
	} else {
		memcpy(ph, src, 16);
		memcpy(ph + 16, dst, 16);
		put32(ph + 32, l4len);
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = proto;
		n = 40;
	}
	return csum_add(0, ph, n);
}

struct pkt {
	int dir;		/* FWD or REV */
	uint8_t tcp_flags;
	uint32_t payload;	/* transport payload bytes */
};

/*
 * Build packet `p` of flow `f` into `frame` (at least FRAME_MAX bytes).
 * Returns the frame length and sets *ip_bytes.
 */
static uint32_t build_frame(struct gflow *f, const struct pkt *p,
			    uint8_t *frame, uint32_t *ip_bytes)
{
	uint8_t cip[16], sip[16], cmac[6];
	const uint8_t *src, *dst;
	uint8_t *q = frame;

	client_addr(f, cip);
	server_addr(f, sip);
	cmac[0] = 0x02;
	cmac[1] = 0x00;
	put32(cmac + 2, f->client + 1);
	memcpy(q, p->dir == FWD ? gw_mac : cmac, 6);
	memcpy(q + 6, p->dir == FWD ? cmac : gw_mac, 6);
	q += 12;
	if (f->vlan) {
		put16(q, 0x8100);
		put16(q + 2, f->vlan);
		q += 4;
	}
	put16(q, f->v6 ? 0x86dd : 0x0800);
	q += 2;
	src = p->dir == FWD ? cip : sip;
	dst = p->dir == FWD ? sip : cip;

	uint32_t l4hdr;
	switch (f->proto) {
	case P_TCP:
		l4hdr = (p->tcp_flags & TH_SYN) ? 24 : 20;
		break;
	case P_UDP:
	case P_ICMP:
	case P_ICMP6:
	default:
		l4hdr = 8;
		break;
	}
	uint32_t l4len = l4hdr + p->payload;
	uint32_t iphdr = f->v6 ? 40 : 20;
	uint8_t *ip = q, *l4 = q + iphdr;
	uint8_t ttl = p->dir == FWD ? 64 : 52;
	uint64_t npkt = f->pkts[FWD] + f->pkts[REV];

	if (!f->v6) {
		ip[0] = 0x45;
		ip[1] = 0;
		put16(ip + 2, iphdr + l4len);
		put16(ip + 4, (uint32_t)(f->cport * 31u + npkt));
		put16(ip + 6, 0x4000);	/* DF */
		ip[8] = ttl;
		ip[9] = f->proto;
		ip[10] = ip[11] = 0;
		memcpy(ip + 12, src + 0, 4);
		memcpy(ip + 16, dst + 0, 4);
		csum_store(ip + 10, csum_add(0, ip, 20), 0);
	} else {
		put32(ip, 0x60000000u | ((f->cport * 2654435761u) & 0xfffff));
		put16(ip + 4, l4len);
		ip[6] = f->proto;
		ip[7] = ttl;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
	}
	*ip_bytes = iphdr + l4len;

	memcpy(l4 + l4hdr, pool + rng_range(0, POOL_SIZE - 1), p->payload);
	uint64_t sum = 0;
	switch (f->proto) {
	case P_TCP: {
		int s = p->dir;
		put16(l4, s == FWD ? f->cport : f->sport);
		put16(l4 + 2, s == FWD ? f->sport : f->cport);
		put32(l4 + 4, f->seq[s]);
		put32(l4 + 8, (p->tcp_flags & TH_ACK) ? f->seq[!s] : 0);
		l4[12] = (uint8_t)((l4hdr / 4) << 4);
		l4[13] = p->tcp_flags;
		put16(l4 + 14, s == FWD ? 64240 : 65160);
		l4[16] = l4[17] = 0;
		put16(l4 + 18, 0);
		if (l4hdr == 24) {	/* MSS option */
			l4[20] = 2;
			l4[21] = 4;
			put16(l4 + 22, f->v6 ? 1440 : 1460);
		}
		f->seq[s] += p->payload +
			     ((p->tcp_flags & (TH_SYN | TH_FIN)) ? 1 : 0);
		sum = pseudo_sum(f->v6, src, dst, P_TCP, l4len);
		csum_store(l4 + 16, csum_add(sum, l4, l4len), 0);
		break;
	}
	case P_UDP:
		put16(l4, p->dir == FWD ? f->cport : f->sport);
		put16(l4 + 2, p->dir == FWD ? f->sport : f->cport);
		put16(l4 + 4, l4len);
		l4[6] = l4[7] = 0;
		sum = pseudo_sum(f->v6, src, dst, P_UDP, l4len);
		csum_store(l4 + 6, csum_add(sum, l4, l4len), 1);
		break;
	case P_ICMP:
	case P_ICMP6:
	default:
		if (f->proto == P_ICMP)
			l4[0] = p->dir == FWD ? 8 : 0;
		else
			l4[0] = p->dir == FWD ? 128 : 129;
		l4[1] = 0;
		l4[2] = l4[3] = 0;
		put16(l4 + 4, f->cport);
		put16(l4 + 6, f->icmp_seq);
		if (p->dir == REV)
			f->icmp_seq++;
		if (f->proto == P_ICMP6)
			sum = pseudo_sum(1, src, dst, P_ICMP6, l4len);
		csum_store(l4 + 2, csum_add(sum, l4, l4len), 0);
		break;
	}

	uint32_t len = (uint32_t)(l4 + l4len - frame);
	if (len < ETH_MIN_FRAME) {
		memset(frame + len, 0, ETH_MIN_FRAME - len);
		len = ETH_MIN_FRAME;
	}
	return len;
}

/* Decide what packet f->k is: its direction, TCP flags and payload size. */
static void plan_packet(const struct gflow *f, struct pkt *p)
{
	uint32_t k = f->k, mss = f->v6 ? 1440 : 1460;
	uint32_t udp_max = f->v6 ? 1452 : 1472;
	int bulk = f->bulk;

	p->tcp_flags = 0;
	p->payload = 0;
	if (f->proto == P_ICMP || f->proto == P_ICMP6) {
		p->dir = (k % 2) ? REV : FWD;
		p->payload = 56;
		return;
	}
	if (f->proto == P_UDP) {
		if (k == 0) {
			p->dir = FWD;
			p->payload = rng_range(20, 300);
			return;
		}
		p->dir = rng_chance(0.75) ? bulk : !bulk;
		p->payload = p->dir == bulk ? rng_range(1000, udp_max)
					     : rng_range(20, 200);
		return;
	}
	if (k == 0) {
		p->dir = FWD;
		p->tcp_flags = TH_SYN;
	} else if (k == 1) {
		p->dir = REV;
		p->tcp_flags = TH_SYN | TH_ACK;
	} else if (k == 2) {
		p->dir = FWD;
		p->tcp_flags = TH_ACK;
	} else if (k == 3) {
		p->dir = FWD;
		p->tcp_flags = TH_PSH | TH_ACK;
		p->payload = rng_range(40, 600);
	} else if (k == f->n - 3) {
		p->dir = FWD;
		p->tcp_flags = TH_FIN | TH_ACK;
	} else if (k == f->n - 2) {
		p->dir = REV;
		p->tcp_flags = TH_FIN | TH_ACK;
	} else if (k == f->n - 1) {
		p->dir = FWD;
		p->tcp_flags = TH_ACK;
	} else {
		p->dir = rng_chance(0.75) ? bulk : !bulk;
		if (p->dir == bulk)
			p->payload = rng_chance(0.8) ? mss : rng_range(1, mss);
		else
			p->payload = rng_chance(0.6) ? 0 : rng_range(1, 300);
		p->tcp_flags = p->payload ? (TH_PSH | TH_ACK) : TH_ACK;
	}
}

/* ---- time-ordered merge ------------------------------------------------------ */

static struct gflow *flows;

static inline int heap_less(uint32_t a, uint32_t b)
{
	if (flows[a].t_next != flows[b].t_next)
		return flows[a].t_next < flows[b].t_next;
	return a < b;
}

static void heap_down(uint32_t *h, uint32_t n, uint32_t i)
{
	uint32_t v = h[i];

	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && heap_less(h[c + 1], h[c]))
			c++;
		if (!heap_less(h[c], v))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = v;
}

/* ---- main -------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: gen_capture OUT.pcap TRUTH.tsv [--packets N] [--flows N] [--seed S]\n"
		"  defaults: %u packets, %u flows, seed %u\n",
		DEFAULT_PACKETS, DEFAULT_FLOWS, DEFAULT_SEED);
	exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t max)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || v > max || s[0] == '-') {
		fprintf(stderr, "gen_capture: bad value for %s: %s\n", opt, s);
		exit(2);
	}
	return v;
}

/*
 * Give the flows their sizes: minimum per protocol plus Lomax-weighted extra
 * packets, scaled so the total is exactly `packets`.  Flows that hit the cap
 * hand their share back to the others, proportionally, then one by one.
 */
static int size_flows(uint32_t nflows, uint64_t packets, double *w)
{
	uint64_t base = 0;
	for (uint32_t i = 0; i < nflows; i++)
		base += flows[i].n;
	if (base > packets) {
		fprintf(stderr, "gen_capture: %" PRIu64 " packets are too few "
			"for %u flows (need at least %" PRIu64 ")\n",
			packets, nflows, base);
		return -1;
	}
	uint64_t left = packets - base;
	for (int round = 0; round < 8 && left > nflows; round++) {
		double wsum = 0;
		for (uint32_t i = 0; i < nflows; i++)
			if (flows[i].n < FLOW_PKTS_MAX)
				wsum += w[i];
		if (wsum <= 0)
			break;
		uint64_t given = 0;
		for (uint32_t i = 0; i < nflows; i++) {
			if (flows[i].n >= FLOW_PKTS_MAX || w[i] <= 0)
				continue;
			uint64_t add = (uint64_t)(w[i] / wsum * (double)left);
			if (add > FLOW_PKTS_MAX - flows[i].n)
				add = FLOW_PKTS_MAX - flows[i].n;
			if (add > left - given)	/* rounding */
				add = left - given;
			flows[i].n += (uint32_t)add;
			given += add;
		}
		left -= given;
	}
	while (left > 0) {
		uint64_t given = 0;
		for (uint32_t i = 0; i < nflows && left > 0; i++) {
			if (flows[i].n >= FLOW_PKTS_MAX || w[i] <= 0)
				continue;
			flows[i].n++;
			left--;
			given++;
		}
		if (!given) {
			fprintf(stderr, "gen_capture: %" PRIu64 " packets are "
				"too many for %u flows of at most %u packets\n",
				packets, nflows, FLOW_PKTS_MAX);
			return -1;
		}
	}
	return 0;
}

/* Timing of one flow, once its size is known. */
static void time_flow(struct gflow *f)
{
	uint32_t gap = rng_logu(1000, 1000000), span;
	uint64_t data_us;

	f->rtt_us = rng_logu(100, 100000);
	if (f->proto == P_ICMP || f->proto == P_ICMP6) {
		span = (f->n / 2 + 1) * 1002000u + f->rtt_us;
	} else {
		uint32_t m = f->proto == P_TCP ? f->n - 6 : f->n;
		data_us = (uint64_t)(m > 1 ? m - 1 : 0) * gap;
		if (data_us > DATA_SPAN_MAX_US)
			data_us = DATA_SPAN_MAX_US;
		f->data_us = (uint32_t)data_us;
		span = f->data_us + 3 * f->rtt_us + 5000;
	}
	f->t_next = rng_range(0, CAPTURE_SPAN_US - span);
	f->t_data = f->proto == P_TCP ? 0 : f->t_next;
}

static int write_truth(const char *path, uint32_t nflows)
{
	FILE *fp = fopen(path, "w");
	if (!fp) {
		fprintf(stderr, "gen_capture: %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(fp, "#proto\tinit_ip\tinit_port\tresp_ip\tresp_port\tvlan\t"
		"pkts_fwd\tpkts_rev\tbytes_fwd\tbytes_rev\n");
	for (uint32_t i = 0; i < nflows; i++) {
		const struct gflow *f = &flows[i];
		uint8_t a[16], b[16];
		char as[INET6_ADDRSTRLEN], bs[INET6_ADDRSTRLEN];
		int af = f->v6 ? AF_INET6 : AF_INET;

		client_addr(f, a);
		server_addr(f, b);
		inet_ntop(af, a, as, sizeof(as));
		inet_ntop(af, b, bs, sizeof(bs));
		fprintf(fp, "%u\t%s\t%u\t%s\t%u\t%u\t%" PRIu64 "\t%" PRIu64
			"\t%" PRIu64 "\t%" PRIu64 "\n", f->proto, as, f->cport,
			bs, f->sport, f->vlan, f->pkts[FWD], f->pkts[REV],
			f->bytes[FWD], f->bytes[REV]);
	}
	if (ferror(fp) | fclose(fp)) {
		fprintf(stderr, "gen_capture: writing %s failed\n", path);
		return -1;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	uint64_t packets = DEFAULT_PACKETS, seed = DEFAULT_SEED;
	uint32_t nflows = DEFAULT_FLOWS;
	const char *pcap_path = NULL, *truth_path = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--packets") && i + 1 < argc)
			packets = parse_u64("--packets", argv[++i], PACKETS_MAX);
		else if (!strcmp(argv[i], "--flows") && i + 1 < argc)
			nflows = (uint32_t)parse_u64("--flows", argv[++i],
						     FLOWS_MAX);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = parse_u64("--seed", argv[++i], UINT64_MAX);
		else if (argv[i][0] == '-' && argv[i][1])
			usage();
		else if (!pcap_path)
			pcap_path = argv[i];
		else if (!truth_path)
			truth_path = argv[i];
		else
			usage();
	}
	if (!truth_path || nflows == 0)
		usage();

	rng_seed(seed);
	for (size_t i = 0; i < POOL_SIZE + FRAME_MAX; i++)
		pool[i] = (uint8_t)(rng_next() >> 56);

	uint32_t nclients = (nflows + PORTS_PER_CLIENT - 1) / PORTS_PER_CLIENT;
	if (nclients < CLIENTS_MIN)
		nclients = CLIENTS_MIN;
	if (nclients > CLIENTS_MAX) {
		fprintf(stderr, "gen_capture: too many flows\n");
		return 2;
	}

	flows = calloc(nflows, sizeof(*flows));
	double *w = calloc(nflows, sizeof(*w));
	uint32_t *heap = calloc(nflows, sizeof(*heap));
	if (!flows || !w || !heap) {
		fprintf(stderr, "gen_capture: out of memory\n");
		return 1;
	}

	/* Who talks to whom, over what, and how big a share each gets. */
	for (uint32_t i = 0; i < nflows; i++) {
		struct gflow *f = &flows[i];
		uint32_t slot = i / nclients;

		f->client = i % nclients;
		f->cport = (uint16_t)(PORT_FIRST + (slot * PORT_STRIDE +
					f->client * 131u) % PORTS_PER_CLIENT);
		f->vlan = f->client % 10 == 3 ?
			  (uint16_t)(100 + (f->client / 10) % 16) : 0;
		f->v6 = rng_chance(0.2);
		double u = rng_unit(), pop = rng_unit();
		f->server = (uint32_t)((f->v6 ? SERVERS_V6 : SERVERS_V4) *
				       pop * pop * pop);
		if (u < 0.70) {
			f->proto = P_TCP;
			f->sport = pick_port(tcp_ports, LEN(tcp_ports));
			f->bulk = rng_chance(0.75) ? REV : FWD;
			f->n = TCP_MIN_PKTS;
			w[i] = rng_lomax(LOMAX_ALPHA);
		} else if (u < 0.97) {
			f->proto = P_UDP;
			f->sport = pick_port(udp_ports, LEN(udp_ports));
			f->bulk = rng_chance(0.5) ? REV : FWD;
			f->n = 1;
			w[i] = rng_lomax(LOMAX_ALPHA);
		} else {
			f->proto = f->v6 ? P_ICMP6 : P_ICMP;
			f->sport = f->v6 ? 0x8000 : 0x0800;
			f->n = 2 * rng_range(1, ICMP_PINGS_MAX);
			if (rng_chance(0.1))
				f->n--;
			w[i] = 0;
		}
		f->seq[FWD] = (uint32_t)rng_next();
		f->seq[REV] = (uint32_t)rng_next();
	}
	if (size_flows(nflows, packets, w) < 0)
		return 2;
	free(w);
	for (uint32_t i = 0; i < nflows; i++)
		time_flow(&flows[i]);

	FILE *out = fopen(pcap_path, "wb");
	if (!out) {
		fprintf(stderr, "gen_capture: %s: %s\n", pcap_path,
			strerror(errno));
		return 1;
	}
	static char obuf[1 << 22];
	setvbuf(out, obuf, _IOFBF, sizeof(obuf));

	uint8_t gh[24];
	put32le(gh, 0xa1b2c3d4);	/* microsecond timestamps */
	gh[4] = 2; gh[5] = 0;		/* version 2.4 */
	gh[6] = 4; gh[7] = 0;
	put32le(gh + 8, 0);		/* thiszone */
	put32le(gh + 12, 0);		/* sigfigs */
	put32le(gh + 16, 65535);	/* snaplen */
	put32le(gh + 20, 1);		/* LINKTYPE_ETHERNET */
	fwrite(gh, 1, sizeof(gh), out);

	for (uint32_t i = 0; i < nflows; i++)
		heap[i] = i;
	for (uint32_t i = nflows / 2; i-- > 0;)
		heap_down(heap, nflows, i);

	uint8_t rec[16 + FRAME_MAX];
	uint32_t live = nflows, open_now = 0, open_max = 0;
	uint64_t emitted = 0, wire_bytes = 0, t_last = 0;
	while (live > 0) {
		struct gflow *f = &flows[heap[0]];
		uint64_t t = f->t_next;
		struct pkt p;
		uint32_t ipb;

		plan_packet(f, &p);
		uint32_t len = build_frame(f, &p, rec + 16, &ipb);
		put32le(rec, (uint32_t)(BASE_TIME_S + t / 1000000u));
		put32le(rec + 4, (uint32_t)(t % 1000000u));
		put32le(rec + 8, len);
		put32le(rec + 12, len);
		fwrite(rec, 1, 16 + len, out);
		emitted++;
		wire_bytes += 16 + len;
		t_last = t;

		f->pkts[p.dir]++;
		f->bytes[p.dir] += ipb;
		if (f->k == 0 && ++open_now > open_max)
			open_max = open_now;
		if (p.dir == FWD && f->proto == P_TCP && f->k == 3)
			f->t_data = t;
		f->k++;
		if (f->k == f->n) {
			open_now--;
			heap[0] = heap[--live];
		} else {
			f->t_next = next_time(f, t);
		}
		if (live)
			heap_down(heap, live, 0);
	}
	if (ferror(out) | fclose(out)) {
		fprintf(stderr, "gen_capture: writing %s failed\n", pcap_path);
		return 1;
	}
	if (write_truth(truth_path, nflows) < 0)
		return 1;

	/* Summary: enough to see the shape without opening the files. */
	uint32_t nv6 = 0, nvlan = 0, ntcp = 0, nudp = 0, nicmp = 0, big = 0;
	uint32_t *sizes = heap;
	for (uint32_t i = 0; i < nflows; i++) {
		const struct gflow *f = &flows[i];
		nv6 += f->v6;
		nvlan += f->vlan != 0;
		ntcp += f->proto == P_TCP;
		nudp += f->proto == P_UDP;
		nicmp += f->proto == P_ICMP || f->proto == P_ICMP6;
		big += f->n >= 10000;
		sizes[i] = f->n;
	}
	qsort(sizes, nflows, sizeof(*sizes), cmp_u32);
	fprintf(stderr,
		"gen_capture: %" PRIu64 " packets, %" PRIu64 " bytes, %u flows "
		"(tcp %u, udp %u, icmp %u; ipv6 %u; vlan %u), %.3f s of "
		"packet time\n"
		"gen_capture: packets per flow: median %u, p90 %u, p99 %u, "
		"max %u; %u flows of 10000+; at most %u flows open at once "
		"(first to last packet)\n",
		emitted, wire_bytes + sizeof(gh), nflows, ntcp, nudp, nicmp,
		nv6, nvlan, (double)t_last / 1e6, sizes[nflows / 2],
		sizes[(uint64_t)nflows * 9 / 10],
		sizes[(uint64_t)nflows * 99 / 100], sizes[nflows - 1], big,
		open_max);
	free(heap);
	free(flows);
	return 0;
}
