/*
 * gen_flood.c - a deterministic flow flood with a few long-lived connections
 * running through it, as a pcap file, and what the flow table must make of
 * the connections.
 *
 *   gen_flood OUT.pcap TRUTH.tsv [--tuples N] [--rate PPS] [--legit K]
 *             [--udp PERCENT] [--tail SECONDS] [--seed S]
 *
 * Timeline, in packet time (the replay clock), from 2024-01-01T00:00:00Z:
 *
 *   0.1 s      K connections open: 10.1.0.(10+j):(40000+j) -> 198.51.100.10:443,
 *              SYN, SYN+ACK, ACK.
 *   0.2 s on   every 100 ms, each sends 100 bytes of payload and gets 1000
 *              back 1 ms later (PSH+ACK both ways), until the end.
 *   1 s        the flood: N one-packet flows, one every 1/PPS seconds, each a
 *              distinct 5-tuple.  PERCENT of them (default 50) are a UDP spray
 *              from 10.1.0.50:50000 to 198.18.0.0/15 ports 20000+ (never 53 or
 *              a tunnel port), the rest a SYN flood from 100.64.0.0/10 (one
 *              source address per tuple, source port from the seed) to
 *              10.1.0.200:80.  Nothing answers them.
 *   flood end  + TAIL seconds (default 10) of the connections alone, so that
 *              idle flood flows expire and the table leaves emergency mode;
 *              then each connection closes: FIN+ACK, FIN+ACK, ACK.
 *
 * The same arguments give the same bytes on every machine: the only
 * randomness is splitmix64 of (seed, tuple index).  Frames are Ethernet II,
 * IPv4 with valid header checksums, TCP/UDP with valid checksums.
 *
 * TRUTH.tsv: one line "flood<TAB>N<TAB>syn<TAB>udp" giving the number of
 * flood tuples by kind, then one line per connection
 *   conn  client_ip  client_port  server_ip  server_port
 *         pkts_fwd  pkts_rev  bytes_fwd  bytes_rev
 * where fwd is client to server and bytes are IP bytes (the IPv4 total
 * length), as `egresswatch flows` reports them.  A summary goes to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASE_S 1704067200u		/* 2024-01-01T00:00:00Z */
#define NS 1000000000ull
#define MS 1000000ull
#define LEGIT_OPEN_NS (100 * MS)
#define LEGIT_DATA_NS (200 * MS)
#define LEGIT_STEP_NS (100 * MS)
#define FLOOD_START_NS (1 * NS)
#define TUPLES_MAX (1u << 22)		/* one 100.64/10 source each */
#define LEGIT_MAX 200
#define REQ_BYTES 100
#define RESP_BYTES 1000

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_PSH 0x08
#define TH_ACK 0x10

static FILE *out;
static uint64_t n_frames;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)(p[n - 1] << 8);
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void write_all(const void *p, size_t n)
{
	if (fwrite(p, 1, n, out) != n) {
		perror("gen_flood: write");
		exit(1);
	}
}

/* One Ethernet + IPv4 + TCP/UDP frame at time `t` (ns from BASE_S). */
static void frame(uint64_t t, uint32_t src, uint16_t sport, uint32_t dst,
		  uint16_t dport, uint8_t proto, uint8_t flags, uint32_t seq,
		  uint32_t ack, size_t payload)
{
	uint8_t f[14 + 20 + 20 + RESP_BYTES], rec[16], ph[12];
	size_t l4 = proto == 6 ? 20 : 8, ip_len = 20 + l4 + payload;
	size_t len = 14 + ip_len, caplen = len < 60 ? 60 : len;
	uint8_t *ip = f + 14, *tp = ip + 20;
	uint32_t sum;

	memset(f, 0, sizeof(f));
	memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)ip_len);
	put16(ip + 4, (uint16_t)n_frames);
	ip[6] = 0x40;			/* DF */
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
	put16(tp, sport);
	put16(tp + 2, dport);
	for (size_t i = 0; i < payload; i++)
		tp[l4 + i] = (uint8_t)('a' + i % 26);
	if (proto == 6) {
		put32(tp + 4, seq);
		put32(tp + 8, ack);
		tp[12] = 5 << 4;
		tp[13] = flags;
		put16(tp + 14, 65535);
	} else {
		put16(tp + 4, (uint16_t)(l4 + payload));
	}
	memcpy(ph, ip + 12, 8);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, (uint16_t)(l4 + payload));
	sum = csum_add(csum_add(0, ph, 12), tp, l4 + payload);
	put16(tp + (proto == 6 ? 16 : 6), csum_fold(sum));

	le32(rec, BASE_S + (uint32_t)(t / NS));
	le32(rec + 4, (uint32_t)(t % NS / 1000));
	le32(rec + 8, (uint32_t)caplen);
	le32(rec + 12, (uint32_t)caplen);
	write_all(rec, 16);
	write_all(f, caplen);
	n_frames++;
}

/* A long-lived connection and what it has sent so far. */
struct conn {
	uint32_t cip, sip;
	uint16_t cport, sport;
	uint32_t cseq, sseq;
	uint64_t pkts[2], bytes[2];	/* 0: client to server */
};

static void conn_send(struct conn *c, int rev, uint64_t t, uint8_t flags,
		      size_t payload)
{
	if (!rev)
		frame(t, c->cip, c->cport, c->sip, c->sport, 6, flags, c->cseq,
		      flags & TH_ACK ? c->sseq : 0, payload);
	else
		frame(t, c->sip, c->sport, c->cip, c->cport, 6, flags, c->sseq,
		      c->cseq, payload);
	*(rev ? &c->sseq : &c->cseq) += (uint32_t)payload +
					 ((flags & (TH_SYN | TH_FIN)) ? 1 : 0);
	c->pkts[rev]++;
	c->bytes[rev] += 40 + payload;
}

static uint32_t ipv4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return (uint32_t)(a << 24 | b << 16 | c << 8 | d);
}

static uint64_t arg_u64(const char *opt, const char *s, uint64_t min,
			uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "gen_flood: %s: expected %" PRIu64 "..%" PRIu64
			", got '%s'\n", opt, min, max, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	uint64_t tuples = 1000000, rate = 100000, legit = 4, udp_pct = 50;
	uint64_t tail_s = 10, seed = 20241128, n_syn = 0, n_udp = 0;
	static struct conn conns[LEGIT_MAX];
	uint8_t hdr[24];
	FILE *truth;
	int i;

	if (argc < 3) {
		fprintf(stderr, "usage: gen_flood OUT.pcap TRUTH.tsv [--tuples N] "
			"[--rate PPS] [--legit K] [--udp PERCENT] [--tail S] "
			"[--seed S]\n");
		return 2;
	}
	for (i = 3; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--tuples"))
			tuples = arg_u64("--tuples", argv[i + 1], 1, TUPLES_MAX);
		else if (!strcmp(argv[i], "--rate"))
			rate = arg_u64("--rate", argv[i + 1], 1, 100000000);
		else if (!strcmp(argv[i], "--legit"))
			legit = arg_u64("--legit", argv[i + 1], 0, LEGIT_MAX);
		else if (!strcmp(argv[i], "--udp"))
			udp_pct = arg_u64("--udp", argv[i + 1], 0, 100);
		else if (!strcmp(argv[i], "--tail"))
			tail_s = arg_u64("--tail", argv[i + 1], 1, 3600);
		else if (!strcmp(argv[i], "--seed"))
			seed = arg_u64("--seed", argv[i + 1], 0, UINT64_MAX);
		else
			break;
	}
	if (i != argc) {
		fprintf(stderr, "gen_flood: unexpected argument '%s'\n", argv[i]);
		return 2;
	}
	if (!(out = fopen(argv[1], "wb")) || !(truth = fopen(argv[2], "w"))) {
		perror("gen_flood");
		return 1;
	}
	memset(hdr, 0, sizeof(hdr));
	le32(hdr, 0xa1b2c3d4);
	hdr[4] = 2;
	hdr[6] = 4;
	le32(hdr + 16, 65535);
	le32(hdr + 20, 1);		/* LINKTYPE_ETHERNET */
	write_all(hdr, sizeof(hdr));

	for (uint64_t j = 0; j < legit; j++) {
		struct conn *c = &conns[j];
		uint64_t t = LEGIT_OPEN_NS + j * MS;

		c->cip = ipv4(10, 1, 0, 10 + (unsigned)j);
		c->sip = ipv4(198, 51, 100, 10);
		c->cport = (uint16_t)(40000 + j);
		c->sport = 443;
		c->cseq = (uint32_t)splitmix64(seed ^ (j << 1));
		c->sseq = (uint32_t)splitmix64(seed ^ (j << 1 | 1));
		conn_send(c, 0, t, TH_SYN, 0);
		conn_send(c, 1, t + 200000, TH_SYN | TH_ACK, 0);
		conn_send(c, 0, t + 400000, TH_ACK, 0);
	}

	uint64_t flood_end = FLOOD_START_NS + tuples * NS / rate;
	uint64_t close_at = flood_end + tail_s * NS;
	/* The connections' packets, one at a time in time order: round r
	 * (LEGIT_DATA_NS + r * LEGIT_STEP_NS), phase 0 the requests, phase 1
	 * the answers 1 ms later, connection cj 1 us after connection cj - 1. */
	uint64_t round_at = LEGIT_DATA_NS, k = 0, cj = 0;
	int phase = 0;

	for (;;) {
		uint64_t tf = k < tuples ? FLOOD_START_NS + k * NS / rate : UINT64_MAX;
		uint64_t tl = legit && round_at < close_at ?
			      round_at + (uint64_t)phase * MS + cj * 1000 : UINT64_MAX;

		if (tl <= tf && tl != UINT64_MAX) {
			conn_send(&conns[cj], phase, tl, TH_PSH | TH_ACK,
				  phase ? RESP_BYTES : REQ_BYTES);
			if (++cj == legit) {
				cj = 0;
				if (++phase == 2) {
					phase = 0;
					round_at += LEGIT_STEP_NS;
				}
			}
			continue;
		}
		if (k >= tuples)
			break;
		uint64_t h = splitmix64(seed ^ (k * 0x9e3779b97f4a7c15ull));

		if (h % 100 < udp_pct) {
			frame(tf, ipv4(10, 1, 0, 50), 50000,
			      ipv4(198, 18, 0, 0) + (uint32_t)(n_udp & 0x1ffff),
			      (uint16_t)(20000 + (n_udp >> 17)), 17, 0, 0, 0, 16);
			n_udp++;
		} else {
			frame(tf, ipv4(100, 64, 0, 0) + (uint32_t)n_syn,
			      (uint16_t)(1024 + (h >> 32) % 60000),
			      ipv4(10, 1, 0, 200), 80, 6, TH_SYN,
			      (uint32_t)(h >> 8), 0, 0);
			n_syn++;
		}
		k++;
	}
	for (uint64_t j = 0; j < legit; j++) {
		struct conn *c = &conns[j];
		uint64_t t = close_at + j * MS;

		conn_send(c, 0, t, TH_FIN | TH_ACK, 0);
		conn_send(c, 1, t + 200000, TH_FIN | TH_ACK, 0);
		conn_send(c, 0, t + 400000, TH_ACK, 0);
	}
	if (fclose(out) != 0) {
		perror("gen_flood: close");
		return 1;
	}

	fprintf(truth, "flood\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n", tuples,
		n_syn, n_udp);
	for (uint64_t j = 0; j < legit; j++) {
		const struct conn *c = &conns[j];

		fprintf(truth, "conn\t10.1.0.%u\t%u\t198.51.100.10\t443\t%" PRIu64
			"\t%" PRIu64 "\t%" PRIu64 "\t%" PRIu64 "\n",
			(unsigned)(10 + j), c->cport, c->pkts[0], c->pkts[1],
			c->bytes[0], c->bytes[1]);
	}
	if (fclose(truth) != 0) {
		perror("gen_flood: truth");
		return 1;
	}
	fprintf(stderr, "gen_flood: %" PRIu64 " frames: %" PRIu64 " flood tuples "
		"(%" PRIu64 " SYN, %" PRIu64 " UDP) over %.3f s at %" PRIu64
		" pps, %" PRIu64 " connections, capture ends at %.3f s\n",
		n_frames, tuples, n_syn, n_udp, (double)(flood_end - FLOOD_START_NS) / NS,
		rate, legit, (double)(close_at + legit * MS) / NS);
	return 0;
}
