/*
 * test_decode.c - the packet decoder against hand-built frames and real
 * captures.
 *
 * Hand-built frames are assembled from the inside out (payload, transport,
 * IP, tunnel, link) so that every length field is computed, not typed.  Each
 * test pins one behaviour of decode.h: the flow key of each layer, the bytes
 * counted, and exactly which counter a malformed or truncated frame moves.
 * The real captures come from $EW_TESTDATA/pcaps; the facts asserted on them
 * were read with tshark 4.0.
 */
#include <pcap/pcap.h>
#include <stddef.h>

#include "t.h"
#include "decode.h"
#include "util.h"

#define PKT_MAX 4096
#define SEC 1000000000ULL

/* ---- frame builder ------------------------------------------------------ */

struct pkt {
	uint8_t buf[PKT_MAX];
	size_t head;			/* the frame is buf[head .. PKT_MAX) */
};

static void pkt_init(struct pkt *p)
{
	p->head = PKT_MAX;
}

static size_t pkt_len(const struct pkt *p)
{
	return PKT_MAX - p->head;
}

static const uint8_t *pkt_data(const struct pkt *p)
{
	return p->buf + p->head;
}

static uint8_t *push(struct pkt *p, size_t n)
{
	p->head -= n;
	memset(p->buf + p->head, 0, n);
	return p->buf + p->head;
}

static void put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
}

static void put32(uint8_t *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b + 2, (uint16_t)v);
}

static void push_payload(struct pkt *p, size_t n)
{
	uint8_t *b = push(p, n);

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(0xa0 + i);
}

/* TCP header of `doff` 32-bit words (options zero-filled). */
static void push_tcp_doff(struct pkt *p, uint16_t sp, uint16_t dp,
			  uint8_t flags, unsigned doff)
{
	uint8_t *h = push(p, doff >= 5 ? doff * 4 : 20);

	put16(h, sp);
	put16(h + 2, dp);
	put32(h + 4, 1000);
	h[12] = (uint8_t)(doff << 4);
	h[13] = flags;
	put16(h + 14, 65535);
}

static void push_tcp(struct pkt *p, uint16_t sp, uint16_t dp, uint8_t flags)
{
	push_tcp_doff(p, sp, dp, flags, 5);
}

static void push_udp_len(struct pkt *p, uint16_t sp, uint16_t dp,
			 uint16_t len)
{
	uint8_t *h = push(p, 8);

	put16(h, sp);
	put16(h + 2, dp);
	put16(h + 4, len);
}

static void push_udp(struct pkt *p, uint16_t sp, uint16_t dp)
{
	push_udp_len(p, sp, dp, (uint16_t)(pkt_len(p) + 8));
}

static void push_icmp(struct pkt *p, uint8_t type, uint8_t code,
		      uint16_t ident)
{
	uint8_t *h = push(p, 8);

	h[0] = type;
	h[1] = code;
	put16(h + 4, ident);
	put16(h + 6, 1);
}

static void push_sctp(struct pkt *p, uint16_t sp, uint16_t dp)
{
	uint8_t *h = push(p, 12);

	put16(h, sp);
	put16(h + 2, dp);
}

/* IPv4 with `ihl` words of header (options are NOPs), id, flags+offset. */
static void push_ipv4_x(struct pkt *p, uint8_t proto, uint32_t src,
			uint32_t dst, unsigned ihl, uint16_t id, uint16_t fo)
{
	size_t hl = (ihl >= 5 ? ihl : 5) * 4;
	uint8_t *h = push(p, hl);

	h[0] = (uint8_t)(0x40 | ihl);
	put16(h + 2, (uint16_t)pkt_len(p));
	put16(h + 4, id);
	put16(h + 6, fo);
	h[8] = 64;
	h[9] = proto;
	put32(h + 12, src);
	put32(h + 16, dst);
	for (size_t i = 20; i < hl; i++)
		h[i] = 1;
}

static void push_ipv4(struct pkt *p, uint8_t proto, uint32_t src,
		      uint32_t dst)
{
	push_ipv4_x(p, proto, src, dst, 5, 0x1234, 0x4000);
}

/* IPv6 2001:db8::`s` -> 2001:db8::`d`. */
static void push_ipv6(struct pkt *p, uint8_t nh, uint8_t s, uint8_t d)
{
	uint16_t plen = (uint16_t)pkt_len(p);
	uint8_t *h = push(p, 40);

	put32(h, 0x60000000);
	put16(h + 4, plen);
	h[6] = nh;
	h[7] = 64;
	put32(h + 8, 0x20010db8);
	h[23] = s;
	put32(h + 24, 0x20010db8);
	h[39] = d;
}

/* Generic IPv6 extension header of (units + 1) * 8 bytes, PadN filled. */
static void push_ext6(struct pkt *p, uint8_t nh, uint8_t units)
{
	uint8_t *h = push(p, ((size_t)units + 1) * 8);

	h[0] = nh;
	h[1] = units;
	h[2] = 1;			/* PadN */
	h[3] = (uint8_t)(((size_t)units + 1) * 8 - 4);
}

static void push_frag6(struct pkt *p, uint8_t nh, uint16_t off8, int more,
		       uint32_t id)
{
	uint8_t *h = push(p, 8);

	h[0] = nh;
	put16(h + 2, (uint16_t)(off8 << 3 | (more ? 1 : 0)));
	put32(h + 4, id);
}

/* Authentication Header with a 12-byte ICV: 24 bytes, payload len 4. */
static void push_ah(struct pkt *p, uint8_t nh)
{
	uint8_t *h = push(p, 24);

	h[0] = nh;
	h[1] = 4;
	put32(h + 4, 0x100);
	put32(h + 8, 1);
}

static void push_eth(struct pkt *p, uint16_t type)
{
	uint8_t *h = push(p, 14);

	memcpy(h, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01", 12);
	put16(h + 12, type);
}

/* One 802.1Q tag body: TCI and the EtherType that follows it. */
static void push_tag(struct pkt *p, uint16_t tci, uint16_t type)
{
	uint8_t *h = push(p, 4);

	put16(h, tci);
	put16(h + 2, type);
}

static void push_sll(struct pkt *p, uint16_t proto)
{
	uint8_t *h = push(p, 16);

	put16(h + 2, 1);		/* ARPHRD_ETHER */
	put16(h + 4, 6);
	put16(h + 14, proto);
}

static void push_sll2(struct pkt *p, uint16_t proto)
{
	uint8_t *h = push(p, 20);

	put16(h, proto);
	put32(h + 4, 3);
	put16(h + 8, 1);
	h[11] = 6;
}

static void push_af(struct pkt *p, uint32_t af, int little_endian)
{
	uint8_t *h = push(p, 4);

	if (little_endian) {
		h[0] = (uint8_t)af;
		h[1] = (uint8_t)(af >> 8);
	} else {
		put32(h, af);
	}
}

static void push_vxlan(struct pkt *p, uint8_t flags, uint32_t vni)
{
	uint8_t *h = push(p, 8);

	h[0] = flags;
	put32(h + 4, vni << 8);
}

static void push_geneve(struct pkt *p, uint16_t ptype, uint8_t optwords)
{
	uint8_t *h = push(p, 8 + (size_t)optwords * 4);

	h[0] = optwords;
	put16(h + 2, ptype);
	put32(h + 4, 77u << 8);
}

/* GRE with the optional fields that `flags` (C, K, S bits) announce. */
static void push_gre(struct pkt *p, uint16_t flags, uint16_t ptype)
{
	size_t n = 4 + (flags & 0x8000 ? 4 : 0) + (flags & 0x2000 ? 4 : 0) +
		   (flags & 0x1000 ? 4 : 0);
	uint8_t *h = push(p, n);

	put16(h, flags);
	put16(h + 2, ptype);
}

/* ---- decoding helpers --------------------------------------------------- */

static struct decoder *D;
static struct decoded out;
static uint64_t now = 1000 * SEC;

static int dec_cut(int dlt, const struct pkt *p, size_t caplen, size_t wirelen)
{
	/* An exact-size heap copy, so that an over-read is an ASan report. */
	uint8_t *copy = malloc(caplen ? caplen : 1);
	int n;

	memcpy(copy, pkt_data(p), caplen);
	n = decode_packet(D, dlt, copy, (uint32_t)caplen, (uint32_t)wirelen,
			  now, &out);
	for (int i = 0; i < n; i++) {
		const struct pkt_layer *l = &out.l[i];
		CHECK(l->payload >= copy);
		CHECK(l->payload + l->payload_len <= copy + caplen);
		/* the pointer is rebased for the caller's view of the frame */
		out.l[i].payload = pkt_data(p) + (l->payload - copy);
	}
	free(copy);
	return n;
}

static int dec(int dlt, const struct pkt *p)
{
	return dec_cut(dlt, p, pkt_len(p), pkt_len(p));
}

static const struct capture_decode_stats *st(void)
{
	return decoder_stats(D);
}

static void fresh(uint32_t frag_cache)
{
	decoder_destroy(D);
	D = decoder_create(frag_cache);
	CHECK(D != NULL);
}

static int is_v4(const uint8_t ip[16], uint32_t v4)
{
	uint8_t b[4] = { (uint8_t)(v4 >> 24), (uint8_t)(v4 >> 16),
			 (uint8_t)(v4 >> 8), (uint8_t)v4 };
	uint8_t m[16];

	ew_ip_from_v4(m, b);
	return memcmp(m, ip, 16) == 0;
}

static int is_v6(const uint8_t ip[16], uint8_t last)
{
	static const uint8_t pre[4] = { 0x20, 0x01, 0x0d, 0xb8 };
	uint8_t zero[11] = { 0 };

	return memcmp(ip, pre, 4) == 0 && memcmp(ip + 4, zero, 11) == 0 &&
	       ip[15] == last;
}

/*
 * The counters that report a problem.  `only_moved` checks that exactly the
 * named ones rose by one and no other problem counter moved.
 */
#define F(x) offsetof(struct capture_decode_stats, x)
static const size_t problem[] = {
	F(non_ip), F(unsupported_link), F(l2_truncated), F(l2_invalid),
	F(vlan_too_deep), F(ipv4_truncated), F(ipv4_invalid),
	F(ipv6_truncated), F(ipv6_invalid), F(ipv6_ext_too_deep),
	F(tcp_truncated), F(tcp_invalid), F(udp_truncated), F(udp_invalid),
	F(icmp_truncated), F(icmp_invalid), F(sctp_truncated),
	F(sctp_invalid), F(frag_cache_full), F(tunnel_too_deep),
	F(tunnel_inner_invalid), F(tunnel_inner_non_ip),
};

static uint64_t field(const struct capture_decode_stats *s, size_t off)
{
	uint64_t v;

	memcpy(&v, (const char *)s + off, sizeof(v));
	return v;
}

static int only_moved(const struct capture_decode_stats *before, size_t a,
		      size_t b)
{
	int ok = 1;

	for (size_t i = 0; i < EW_ARRAY_LEN(problem); i++) {
		size_t o = problem[i];
		uint64_t want = field(before, o) + (o == a) + (o == b);

		if (field(st(), o) != want)
			ok = 0;
	}
	return ok;
}
#define NONE ((size_t)-1)

/* A plain Ethernet / IPv4 / TCP frame with 10 payload bytes. */
static void eth_v4_tcp(struct pkt *p, uint8_t flags)
{
	pkt_init(p);
	push_payload(p, 10);
	push_tcp(p, 40000, 6379, flags);
	push_ipv4(p, 6, 0x0a000001, 0xcb007142);
	push_eth(p, 0x0800);
}

static void check_v4_tcp_layer(const struct pkt_layer *l)
{
	CHECK_EQ_U(l->family, 4);
	CHECK_EQ_U(l->proto, 6);
	CHECK(is_v4(l->src, 0x0a000001));
	CHECK(is_v4(l->dst, 0xcb007142));
	CHECK_EQ_U(l->sport, 40000);
	CHECK_EQ_U(l->dport, 6379);
	CHECK_EQ_U(l->ip_bytes, 50);
	CHECK_EQ_U(l->payload_len, 10);
	CHECK_EQ_U(l->payload[0], 0xa0);
	CHECK_EQ_U(l->fragment, 0);
	CHECK_EQ_U(l->tunnel_depth, 0);
}

/* ---- link layers -------------------------------------------------------- */

static void test_every_link_type_yields_the_same_flow(void)
{
	struct pkt p;
	const struct { int dlt; uint32_t af; int le; } loops[] = {
		{ EW_DLT_NULL, 2, 1 }, { EW_DLT_NULL, 2, 0 },
		{ EW_DLT_LOOP, 2, 0 },
	};

	fresh(64);
	eth_v4_tcp(&p, 0x18);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	check_v4_tcp_layer(&out.l[0]);
	CHECK_EQ_U(out.vlan, 0);

	pkt_init(&p);
	push_payload(&p, 10);
	push_tcp(&p, 40000, 6379, 0x18);
	push_ipv4(&p, 6, 0x0a000001, 0xcb007142);
	struct pkt ip = p;		/* raw IPv4 */

	p = ip;
	push_sll(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_LINUX_SLL, &p), 1);
	check_v4_tcp_layer(&out.l[0]);

	p = ip;
	push_sll2(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_LINUX_SLL2, &p), 1);
	check_v4_tcp_layer(&out.l[0]);

	for (size_t i = 0; i < EW_ARRAY_LEN(loops); i++) {
		p = ip;
		push_af(&p, loops[i].af, loops[i].le);
		CHECK_EQ_U(dec(loops[i].dlt, &p), 1);
		check_v4_tcp_layer(&out.l[0]);
	}

	const int raw[] = { EW_DLT_RAW, EW_DLT_RAW_ALT, EW_DLT_RAW_LT,
			    EW_DLT_IPV4 };
	for (size_t i = 0; i < EW_ARRAY_LEN(raw); i++) {
		CHECK(decoder_link_supported(raw[i]));
		CHECK_EQ_U(dec(raw[i], &ip), 1);
		check_v4_tcp_layer(&out.l[0]);
	}
	CHECK_EQ_U(st()->ip_packets, 10);
	CHECK_EQ_U(st()->packets, 10);
}

static void test_ipv6_on_raw_and_loopback_link_types(void)
{
	struct pkt p, ip;
	const uint32_t afs[] = { 10, 24, 28, 30 };

	fresh(64);
	pkt_init(&ip);
	push_payload(&ip, 5);
	push_udp(&ip, 5353, 53);
	push_ipv6(&ip, 17, 1, 2);

	const int raw[] = { EW_DLT_RAW, EW_DLT_RAW_ALT, EW_DLT_RAW_LT,
			    EW_DLT_IPV6 };
	for (size_t i = 0; i < EW_ARRAY_LEN(raw); i++) {
		CHECK_EQ_U(dec(raw[i], &ip), 1);
		CHECK_EQ_U(out.l[0].family, 6);
		CHECK(is_v6(out.l[0].src, 1));
		CHECK(is_v6(out.l[0].dst, 2));
		CHECK_EQ_U(out.l[0].dport, 53);
		CHECK_EQ_U(out.l[0].ip_bytes, 53);
	}
	for (size_t i = 0; i < EW_ARRAY_LEN(afs); i++) {
		for (int le = 0; le < 2; le++) {
			p = ip;
			push_af(&p, afs[i], le);
			CHECK_EQ_U(dec(EW_DLT_NULL, &p), 1);
			CHECK_EQ_U(out.l[0].family, 6);
		}
		p = ip;
		push_af(&p, afs[i], 0);
		CHECK_EQ_U(dec(EW_DLT_LOOP, &p), 1);
		CHECK_EQ_U(out.l[0].sport, 5353);
	}
	p = ip;
	push_sll2(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_LINUX_SLL2, &p), 1);
	CHECK_EQ_U(out.l[0].family, 6);

	/* An IPv4 packet on the IPv6-only link type is an invalid IPv6. */
	struct capture_decode_stats before = *st();
	pkt_init(&p);
	push_udp(&p, 1, 2);
	push_ipv4(&p, 17, 1, 2);
	CHECK_EQ_U(dec(EW_DLT_IPV6, &p), 0);
	CHECK(only_moved(&before, F(ipv6_invalid), NONE));
}

static void test_non_ip_and_unsupported_links_are_counted(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	pkt_init(&p);
	push_payload(&p, 28);
	push_eth(&p, 0x0806);			/* ARP */
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(non_ip), NONE));

	pkt_init(&p);
	push_payload(&p, 38);
	push_eth(&p, 38);			/* 802.3 length: LLC */
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(non_ip), NONE));

	pkt_init(&p);
	push_payload(&p, 38);
	push_tag(&p, 7, 38);			/* LLC inside a VLAN */
	push_eth(&p, 0x8100);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(non_ip), NONE));
	CHECK_EQ_U(out.vlan, 7);

	pkt_init(&p);
	push_payload(&p, 38);
	push_eth(&p, 0x05ff);		/* neither a length nor an EtherType */
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(l2_invalid), NONE));

	pkt_init(&p);
	push_payload(&p, 20);
	push_af(&p, 7, 1);			/* AF 7: not IP */
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_NULL, &p), 0);
	CHECK(only_moved(&before, F(non_ip), NONE));

	pkt_init(&p);
	push_payload(&p, 20);
	push_sll(&p, 0x0806);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_LINUX_SLL, &p), 0);
	CHECK(only_moved(&before, F(non_ip), NONE));

	pkt_init(&p);
	push_payload(&p, 20);
	p.buf[p.head] = 0x50;			/* IP version 5 on a raw link */
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_RAW, &p), 0);
	CHECK(only_moved(&before, F(l2_invalid), NONE));

	before = *st();
	CHECK(!decoder_link_supported(105));
	CHECK_EQ_U(dec(105, &p), 0);		/* 802.11 */
	CHECK(only_moved(&before, F(unsupported_link), NONE));
	CHECK_EQ_U(st()->ip_packets, 0);
	CHECK_EQ_U(st()->packets, 8);
}

static void test_vlan_stacks_record_the_outer_id(void)
{
	const uint16_t tpid[] = { 0x88a8, 0x8100, 0x9100, 0x8100, 0x8100 };
	struct pkt p;

	fresh(64);
	for (int tags = 1; tags <= DECODE_MAX_VLAN + 1; tags++) {
		struct capture_decode_stats before = *st();

		pkt_init(&p);
		push_payload(&p, 10);
		push_tcp(&p, 40000, 6379, 0x18);
		push_ipv4(&p, 6, 0x0a000001, 0xcb007142);
		uint16_t inner = 0x0800;
		for (int i = tags - 1; i >= 0; i--) {
			/* PCP and DEI bits must not leak into the ID */
			push_tag(&p, (uint16_t)(0xf000 | (100 + i)), inner);
			inner = tpid[i];
		}
		push_eth(&p, inner);
		int n = dec(EW_DLT_EN10MB, &p);
		if (tags <= DECODE_MAX_VLAN) {
			CHECK_EQ_U(n, 1);
			CHECK_EQ_U(out.vlan, 100);
			check_v4_tcp_layer(&out.l[0]);
			CHECK(only_moved(&before, NONE, NONE));
		} else {
			CHECK_EQ_U(n, 0);
			CHECK(only_moved(&before, F(vlan_too_deep), NONE));
		}
	}

	/* a tag on a cooked capture */
	pkt_init(&p);
	push_payload(&p, 10);
	push_tcp(&p, 40000, 6379, 0x18);
	push_ipv4(&p, 6, 0x0a000001, 0xcb007142);
	push_tag(&p, 42, 0x0800);
	push_sll(&p, 0x8100);
	CHECK_EQ_U(dec(EW_DLT_LINUX_SLL, &p), 1);
	CHECK_EQ_U(out.vlan, 42);
}

/* ---- IPv4 --------------------------------------------------------------- */

static void test_ipv4_options_are_skipped_by_ihl(void)
{
	struct pkt p;

	fresh(64);
	for (unsigned ihl = 5; ihl <= 15; ihl++) {
		pkt_init(&p);
		push_payload(&p, 3);
		push_udp(&p, 1111, 2222);
		push_ipv4_x(&p, 17, 0xc0000201, 0xc0000202, ihl, 1, 0);
		push_eth(&p, 0x0800);
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
		CHECK_EQ_U(out.l[0].sport, 1111);
		CHECK_EQ_U(out.l[0].dport, 2222);
		CHECK_EQ_U(out.l[0].ip_bytes, ihl * 4 + 11);
		CHECK_EQ_U(out.l[0].payload_len, 3);
	}
}

static void test_ipv4_bad_header_fields_are_invalid(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	for (unsigned ihl = 0; ihl < 5; ihl++) {
		pkt_init(&p);
		push_payload(&p, 20);
		push_ipv4_x(&p, 17, 1, 2, ihl, 1, 0);
		push_eth(&p, 0x0800);
		before = *st();
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
		CHECK(only_moved(&before, F(ipv4_invalid), NONE));
	}

	/* total length shorter than the header length */
	pkt_init(&p);
	push_payload(&p, 20);
	push_ipv4_x(&p, 17, 1, 2, 8, 1, 0);
	put16(p.buf + p.head + 2, 24);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv4_invalid), NONE));

	/* an IPv6 header behind EtherType IPv4 */
	pkt_init(&p);
	push_udp(&p, 1, 2);
	push_ipv6(&p, 17, 1, 2);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv4_invalid), NONE));

	/* frame complete on the wire but shorter than an IPv4 header */
	pkt_init(&p);
	push_payload(&p, 12);
	p.buf[p.head] = 0x45;
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv4_invalid), NONE));
}

static void test_counted_bytes_come_from_the_ip_header(void)
{
	struct pkt p;

	fresh(64);
	/* Snapshot length cuts the payload: header's length still counts,
	 * the payload pointer covers only what was captured. */
	pkt_init(&p);
	push_payload(&p, 1000);
	push_tcp(&p, 443, 50000, 0x10);
	push_ipv4(&p, 6, 0x0a000001, 0x0a000002);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec_cut(EW_DLT_EN10MB, &p, 96, pkt_len(&p)), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 1040);
	CHECK_EQ_U(out.l[0].payload_len, 96 - 54);
	CHECK_EQ_U(st()->bytes, 1054);
	CHECK_EQ_U(st()->tcp_truncated + st()->ipv4_truncated, 0);

	/* Ethernet padding and an FCS after the datagram are not payload. */
	pkt_init(&p);
	push_payload(&p, 10);		/* 6 padding + 4 FCS */
	push_payload(&p, 2);
	push_udp(&p, 5000, 5001);
	put16(p.buf + p.head + 4, 10);
	push_ipv4(&p, 17, 1, 2);
	put16(p.buf + p.head + 2, 30);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 30);
	CHECK_EQ_U(out.l[0].payload_len, 2);

	/* IPv4 total length 0: BIG TCP / TSO, counted from the wire */
	pkt_init(&p);
	push_payload(&p, 100);
	push_tcp(&p, 443, 50000, 0x10);
	push_ipv4(&p, 6, 1, 2);
	put16(p.buf + p.head + 2, 0);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec_cut(EW_DLT_EN10MB, &p, 80, 80014), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 80000);
	CHECK_EQ_U(out.l[0].payload_len, 80 - 54);
}

/* ---- truncation at every length ----------------------------------------- */

/*
 * Cut a valid frame at every length short of the whole.  `bounds[i]` is the
 * first length at which layer i's headers are complete; a cut below it must
 * move exactly `ctr[i]` (and `ctr2[i]`, for inner layers), and a cut at or
 * above the last bound must decode `n` layers with unchanged byte counts.
 */
struct cut_case {
	const char *name;
	int dlt;
	size_t nb;
	size_t bounds[8];
	size_t ctr[8], ctr2[8];
	int layers[8];			/* layers once bounds[i] is reached */
};

static void cut_every_length(const struct pkt *p, const struct cut_case *cc)
{
	size_t full = pkt_len(p);
	int n_full = dec(cc->dlt, p);
	uint32_t bytes_full = out.l[0].ip_bytes;

	CHECK_EQ_U(n_full, cc->layers[cc->nb - 1]);
	for (size_t cut = 0; cut < full; cut++) {
		struct capture_decode_stats before = *st();
		size_t i = 0;

		while (i < cc->nb && cut >= cc->bounds[i])
			i++;
		int n = dec_cut(cc->dlt, p, cut, full);
		int want = i ? cc->layers[i - 1] : 0;
		int ok = n == want;
		if (i < cc->nb)
			ok &= only_moved(&before, cc->ctr[i], cc->ctr2[i]);
		else
			ok &= only_moved(&before, NONE, NONE);
		if (n)
			ok &= out.l[0].ip_bytes == bytes_full;
		if (!ok)
			fprintf(stderr, "%s: cut at %zu of %zu: %d layers\n",
				cc->name, cut, full, n);
		CHECK(ok);
	}
}

static void test_truncation_at_every_length_is_counted_by_layer(void)
{
	struct pkt p;

	fresh(64);
	{
		struct cut_case cc = {
			"eth/vlan/ipv4+opts/tcp", EW_DLT_EN10MB, 5,
			{ 14, 18, 42, 62, 0 },
			{ F(l2_truncated), F(l2_truncated), F(ipv4_truncated),
			  F(tcp_truncated), NONE },
			{ NONE, NONE, NONE, NONE, NONE },
			{ 0, 0, 0, 1, 1 },
		};
		pkt_init(&p);
		push_payload(&p, 30);
		push_tcp_doff(&p, 1, 2, 0x02, 8);  /* options may be cut */
		push_ipv4_x(&p, 6, 1, 2, 6, 9, 0);
		push_tag(&p, 5, 0x0800);
		push_eth(&p, 0x8100);
		/* TCP needs its 20 fixed bytes; options and payload may be
		 * cut by the snapshot */
		cc.bounds[4] = pkt_len(&p);
		cut_every_length(&p, &cc);
	}
	{
		struct cut_case cc = {
			"eth/ipv6/hbh/dstopts/udp", EW_DLT_EN10MB, 5,
			{ 14, 54, 62, 78, 86 },
			{ F(l2_truncated), F(ipv6_truncated), F(ipv6_truncated),
			  F(ipv6_truncated), F(udp_truncated) },
			{ NONE, NONE, NONE, NONE, NONE },
			{ 0, 0, 0, 0, 1 },
		};
		pkt_init(&p);
		push_payload(&p, 12);
		push_udp(&p, 53, 5353);
		push_ext6(&p, 17, 1);
		push_ext6(&p, 60, 0);
		push_ipv6(&p, 0, 1, 2);
		push_eth(&p, 0x86dd);
		cut_every_length(&p, &cc);
	}
	{
		struct cut_case cc = {
			"sll2/ipv4/icmp", EW_DLT_LINUX_SLL2, 3,
			{ 20, 40, 48 },
			{ F(l2_truncated), F(ipv4_truncated),
			  F(icmp_truncated) },
			{ NONE, NONE, NONE },
			{ 0, 0, 1 },
		};
		pkt_init(&p);
		push_payload(&p, 8);
		push_icmp(&p, 8, 0, 77);
		push_ipv4(&p, 1, 1, 2);
		push_sll2(&p, 0x0800);
		cut_every_length(&p, &cc);
	}
	{
		/* outer Ethernet/IPv4/UDP, VXLAN, inner Ethernet/IPv4/TCP */
		struct cut_case cc = {
			"vxlan", EW_DLT_EN10MB, 7,
			{ 14, 34, 42, 50, 64, 84, 104 },
			{ F(l2_truncated), F(ipv4_truncated), F(udp_truncated),
			  F(l2_truncated), F(l2_truncated), F(ipv4_truncated),
			  F(tcp_truncated) },
			{ NONE, NONE, NONE, F(tunnel_inner_invalid),
			  F(tunnel_inner_invalid), F(tunnel_inner_invalid),
			  F(tunnel_inner_invalid) },
			{ 0, 0, 1, 1, 1, 1, 2 },
		};
		pkt_init(&p);
		push_payload(&p, 6);
		push_tcp(&p, 40000, 80, 0x02);
		push_ipv4(&p, 6, 0x0a000001, 0x0a000002);
		push_eth(&p, 0x0800);
		push_vxlan(&p, 0x08, 42);
		push_udp(&p, 33333, 4789);
		push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
		push_eth(&p, 0x0800);
		cut_every_length(&p, &cc);
	}
	{
		/* 4-in-6 on a loopback capture */
		struct cut_case cc = {
			"null/ipv6/ipv4/udp", EW_DLT_NULL, 4,
			{ 4, 44, 64, 72 },
			{ F(l2_truncated), F(ipv6_truncated), F(ipv4_truncated),
			  F(udp_truncated) },
			{ NONE, NONE, F(tunnel_inner_invalid),
			  F(tunnel_inner_invalid) },
			{ 0, 1, 1, 2 },
		};
		pkt_init(&p);
		push_payload(&p, 4);
		push_udp(&p, 9, 10);
		push_ipv4(&p, 17, 3, 4);
		push_ipv6(&p, 4, 1, 2);
		push_af(&p, 30, 1);
		cut_every_length(&p, &cc);
	}
}

/* ---- fragments ---------------------------------------------------------- */

static void frag_v4(struct pkt *p, uint16_t id, uint16_t fo, size_t data,
		    int with_udp, uint32_t src)
{
	pkt_init(p);
	push_payload(p, data);
	if (with_udp)
		push_udp_len(p, 5353, 53, 2000);
	push_ipv4_x(p, 17, src, 0x08080808, 5, id, fo);
	push_eth(p, 0x0800);
}

static void test_ipv4_fragments_borrow_the_first_fragments_ports(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	frag_v4(&p, 7, 0x2000, 64, 1, 0x0a000001);	/* first: MF, off 0 */
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 1);
	CHECK_EQ_U(out.l[0].sport, 5353);
	CHECK_EQ_U(out.l[0].dport, 53);
	CHECK_EQ_U(out.l[0].ip_bytes, 20 + 8 + 64);
	CHECK_EQ_U(out.l[0].payload_len, 64);
	CHECK_EQ_U(st()->frag_first, 1);

	now += SEC;
	frag_v4(&p, 7, 0x2000 | 9, 72, 0, 0x0a000001);	/* middle */
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 2);
	CHECK_EQ_U(out.l[0].proto, 17);
	CHECK_EQ_U(out.l[0].sport, 5353);
	CHECK_EQ_U(out.l[0].dport, 53);
	CHECK_EQ_U(out.l[0].ip_bytes, 92);
	CHECK_EQ_U(out.l[0].payload_len, 0);

	frag_v4(&p, 7, 18, 30, 0, 0x0a000001);		/* last: no MF */
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 2);
	CHECK_EQ_U(out.l[0].dport, 53);
	CHECK_EQ_U(st()->frag_later, 2);
	CHECK_EQ_U(st()->frag_matched, 2);

	/* a later fragment of a datagram whose first fragment we never saw */
	before = *st();
	frag_v4(&p, 8, 18, 30, 0, 0x0a000001);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 2);
	CHECK_EQ_U(out.l[0].sport, 0);
	CHECK_EQ_U(out.l[0].dport, 0);
	CHECK_EQ_U(out.l[0].proto, 17);
	CHECK_EQ_U(st()->frag_orphan, 1);
	CHECK(only_moved(&before, NONE, NONE));

	/* the same id from another source is another datagram */
	frag_v4(&p, 7, 18, 30, 0, 0x0a000009);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0);
	CHECK_EQ_U(st()->frag_orphan, 2);

	/* entries age out after 30 s of packet time */
	now += 31 * SEC;
	frag_v4(&p, 7, 18, 30, 0, 0x0a000001);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0);
	CHECK_EQ_U(st()->frag_orphan, 3);
	CHECK_EQ_U(st()->frag_matched, 2);
}

static void test_first_fragment_needs_only_the_fixed_tcp_header(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	/* a SYN whose 20 bytes of options continue in the next fragment,
	 * as in zeek/ipv4/fragmented-syn.pcap */
	pkt_init(&p);
	push_payload(&p, 4);
	push_tcp_doff(&p, 12345, 80, 0x02, 5);
	p.buf[p.head + 12] = 0xa0;
	push_ipv4_x(&p, 6, 0xc0a80164, 0x0a000005, 5, 1, 0x2000);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 1);
	CHECK_EQ_U(out.l[0].tcp_flags, 0x02);
	CHECK_EQ_U(out.l[0].dport, 80);
	CHECK_EQ_U(out.l[0].payload_len, 0);
	CHECK(only_moved(&before, NONE, NONE));

	/* RFC 1858 tiny fragment: the flags would be in the next fragment */
	pkt_init(&p);
	push_payload(&p, 8);
	push_ipv4_x(&p, 6, 0xc0a80164, 0x0a000005, 5, 2, 0x2000);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(tcp_invalid), NONE));
}

static void test_fragment_cache_overwrites_the_oldest_when_full(void)
{
	struct pkt p;

	fresh(2);
	for (uint16_t id = 1; id <= 3; id++) {
		frag_v4(&p, id, 0x2000, 16, 1, 0x0a000001);
		dec(EW_DLT_EN10MB, &p);
		now += 1000;
	}
	CHECK_EQ_U(st()->frag_cache_full, 1);
	frag_v4(&p, 1, 10, 16, 0, 0x0a000001);
	dec(EW_DLT_EN10MB, &p);
	CHECK_EQ_U(out.l[0].dport, 0);		/* id 1 was overwritten */
	for (uint16_t id = 2; id <= 3; id++) {
		frag_v4(&p, id, 10, 16, 0, 0x0a000001);
		dec(EW_DLT_EN10MB, &p);
		CHECK_EQ_U(out.l[0].dport, 53);
	}
	CHECK_EQ_U(st()->frag_matched, 2);
	CHECK_EQ_U(st()->frag_orphan, 1);

	/* expired entries are reused without counting the cache as full */
	now += 60 * SEC;
	for (uint16_t id = 4; id <= 5; id++) {
		frag_v4(&p, id, 0x2000, 16, 1, 0x0a000001);
		dec(EW_DLT_EN10MB, &p);
	}
	CHECK_EQ_U(st()->frag_cache_full, 1);

	/* no cache at all: every later fragment is an orphan */
	fresh(0);
	frag_v4(&p, 1, 0x2000, 16, 1, 0x0a000001);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].dport, 53);
	frag_v4(&p, 1, 10, 16, 0, 0x0a000001);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].dport, 0);
	CHECK_EQ_U(st()->frag_orphan, 1);
}

static void test_ipv6_fragments_borrow_the_first_fragments_ports(void)
{
	struct pkt p;

	fresh(64);
	/* first fragment: frag header, then a destination options header,
	 * then UDP (RFC 8200 section 4.5 lets the fragmentable part start
	 * with extension headers) */
	pkt_init(&p);
	push_payload(&p, 40);
	push_udp_len(&p, 5353, 53, 3000);
	push_ext6(&p, 17, 0);
	push_frag6(&p, 60, 0, 1, 0xdeadbeef);
	push_ipv6(&p, 44, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 1);
	CHECK_EQ_U(out.l[0].proto, 17);
	CHECK_EQ_U(out.l[0].dport, 53);
	CHECK_EQ_U(out.l[0].ip_bytes, 40 + 8 + 8 + 8 + 40);

	pkt_init(&p);
	push_payload(&p, 64);
	push_frag6(&p, 60, 7, 0, 0xdeadbeef);
	push_ipv6(&p, 44, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 2);
	CHECK_EQ_U(out.l[0].proto, 17);		/* from the first fragment */
	CHECK_EQ_U(out.l[0].sport, 5353);
	CHECK_EQ_U(out.l[0].ip_bytes, 40 + 8 + 64);
	CHECK_EQ_U(st()->frag_matched, 1);

	/* orphan: the protocol is the fragment header's next header */
	pkt_init(&p);
	push_payload(&p, 64);
	push_frag6(&p, 60, 7, 0, 0xfeedface);
	push_ipv6(&p, 44, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].proto, 60);
	CHECK_EQ_U(out.l[0].dport, 0);
	CHECK_EQ_U(st()->frag_orphan, 1);

	/* an atomic fragment (offset 0, no M, RFC 6946) is a whole packet */
	pkt_init(&p);
	push_payload(&p, 4);
	push_tcp(&p, 80, 1025, 0x11);
	push_frag6(&p, 6, 0, 0, 5);
	push_ipv6(&p, 44, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].fragment, 0);
	CHECK_EQ_U(out.l[0].proto, 6);
	CHECK_EQ_U(out.l[0].tcp_flags, 0x11);
	CHECK_EQ_U(st()->frag_first, 1);
	CHECK_EQ_U(st()->frag_later, 2);

	/* two fragment headers in one chain */
	struct capture_decode_stats before = *st();
	pkt_init(&p);
	push_payload(&p, 8);
	push_frag6(&p, 17, 0, 1, 6);
	push_frag6(&p, 44, 0, 1, 6);
	push_ipv6(&p, 44, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv6_invalid), NONE));
}

/* ---- IPv6 extension headers --------------------------------------------- */

static void test_ipv6_each_extension_header_is_walked(void)
{
	const uint8_t generic[] = { 0, 43, 60, 135 };
	struct pkt p;

	fresh(64);
	for (size_t i = 0; i < EW_ARRAY_LEN(generic); i++) {
		pkt_init(&p);
		push_payload(&p, 3);
		push_tcp(&p, 22, 50022, 0x18);
		push_ext6(&p, 6, (uint8_t)i);
		push_ipv6(&p, generic[i], 1, 2);
		push_eth(&p, 0x86dd);
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
		CHECK_EQ_U(out.l[0].proto, 6);
		CHECK_EQ_U(out.l[0].sport, 22);
		CHECK_EQ_U(out.l[0].payload_len, 3);
		CHECK_EQ_U(out.l[0].ip_bytes, 40 + (i + 1) * 8 + 23);
	}

	/* AH is skipped by its own length unit (RFC 4302), in IPv6 ... */
	pkt_init(&p);
	push_udp(&p, 500, 500);
	push_ah(&p, 17);
	push_ipv6(&p, 51, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].proto, 17);
	CHECK_EQ_U(out.l[0].dport, 500);

	/* ... and in IPv4 */
	pkt_init(&p);
	push_udp(&p, 500, 4500);
	push_ah(&p, 17);
	push_ipv4(&p, 51, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].proto, 17);
	CHECK_EQ_U(out.l[0].dport, 4500);

	/* ESP and No Next Header end the chain with ports 0 */
	const uint8_t enders[] = { 50, 59 };
	for (size_t i = 0; i < 2; i++) {
		pkt_init(&p);
		push_payload(&p, 16);
		push_ext6(&p, enders[i], 0);
		push_ipv6(&p, 0, 1, 2);
		push_eth(&p, 0x86dd);
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
		CHECK_EQ_U(out.l[0].proto, enders[i]);
		CHECK_EQ_U(out.l[0].sport, 0);
		CHECK_EQ_U(out.l[0].dport, 0);
	}
	pkt_init(&p);
	push_payload(&p, 16);
	push_ipv4(&p, 50, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].proto, 50);
	CHECK_EQ_U(out.l[0].dport, 0);

	/* No Next Header with payload length 0 is exactly 40 bytes */
	pkt_init(&p);
	push_ipv6(&p, 59, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec_cut(EW_DLT_EN10MB, &p, pkt_len(&p), 60), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 40);
}

static void test_ipv6_extension_chain_is_bounded(void)
{
	struct pkt p;

	fresh(64);
	for (int n = DECODE_MAX_IPV6_EXT; n <= DECODE_MAX_IPV6_EXT + 1; n++) {
		struct capture_decode_stats before = *st();

		pkt_init(&p);
		push_udp(&p, 1, 2);
		uint8_t nh = 17;
		for (int i = 0; i < n; i++) {
			push_ext6(&p, nh, 0);
			nh = 60;
		}
		push_ipv6(&p, nh, 1, 2);
		push_eth(&p, 0x86dd);
		int got = dec(EW_DLT_EN10MB, &p);
		if (n == DECODE_MAX_IPV6_EXT) {
			CHECK_EQ_U(got, 1);
			CHECK_EQ_U(out.l[0].dport, 2);
			CHECK(only_moved(&before, NONE, NONE));
		} else {
			CHECK_EQ_U(got, 0);
			CHECK(only_moved(&before, F(ipv6_ext_too_deep), NONE));
		}
	}

	/* an extension header longer than the payload length declares */
	struct capture_decode_stats before = *st();
	pkt_init(&p);
	push_payload(&p, 8);
	push_ext6(&p, 17, 0);
	push_ipv6(&p, 60, 1, 2);
	p.buf[p.head + 40 + 1] = 3;		/* claims 32 bytes */
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv6_invalid), NONE));

	/* version 4 behind EtherType IPv6 */
	before = *st();
	pkt_init(&p);
	push_payload(&p, 20);
	push_ipv6(&p, 59, 1, 2);
	p.buf[p.head] = 0x40;
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(ipv6_invalid), NONE));
}

static void test_ipv6_jumbogram_counts_the_wire_length(void)
{
	struct pkt p;

	fresh(64);
	/* payload length 0 with a hop-by-hop header (RFC 2675 / BIG TCP):
	 * the capture holds 200 bytes of a 80094-byte frame */
	pkt_init(&p);
	push_payload(&p, 100);
	push_tcp(&p, 41851, 43913, 0x18);
	push_ext6(&p, 6, 0);
	push_ipv6(&p, 0, 1, 2);
	put16(p.buf + p.head + 4, 0);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec_cut(EW_DLT_EN10MB, &p, pkt_len(&p), 80094), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 80080);
	CHECK_EQ_U(out.l[0].sport, 41851);
	CHECK_EQ_U(out.l[0].payload_len, 100);

	/* UDP length 0 inside a jumbogram means "the rest" */
	pkt_init(&p);
	push_payload(&p, 100);
	push_udp_len(&p, 7, 4242, 0);
	push_ipv6(&p, 17, 1, 2);
	put16(p.buf + p.head + 4, 0);
	CHECK_EQ_U(dec_cut(EW_DLT_RAW, &p, pkt_len(&p), 70000), 1);
	CHECK_EQ_U(out.l[0].ip_bytes, 70000);
	CHECK_EQ_U(out.l[0].dport, 4242);
	CHECK_EQ_U(out.l[0].payload_len, 100);
}

/* ---- transport ---------------------------------------------------------- */

static void test_tcp_data_offset_and_flags(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	for (unsigned doff = 0; doff < 5; doff++) {
		pkt_init(&p);
		push_payload(&p, 20);
		push_tcp_doff(&p, 1, 2, 0x02, doff);
		push_ipv4(&p, 6, 1, 2);
		push_eth(&p, 0x0800);
		before = *st();
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
		CHECK(only_moved(&before, F(tcp_invalid), NONE));
	}

	/* data offset beyond the segment the IP header declares */
	pkt_init(&p);
	push_payload(&p, 8);
	push_tcp_doff(&p, 1, 2, 0x02, 5);
	p.buf[p.head + 12] = 0x80;		/* 32 bytes > 28 */
	push_ipv4(&p, 6, 1, 2);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(tcp_invalid), NONE));

	/* data offset 15 with all options present: payload starts after */
	pkt_init(&p);
	push_payload(&p, 7);
	push_tcp_doff(&p, 1, 2, 0x18, 15);
	push_ipv4(&p, 6, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].payload_len, 7);
	CHECK_EQ_U(out.l[0].payload[0], 0xa0);

	/* SYN, SYN+ACK, ACK: only SYN+ACK hints a reply */
	const uint8_t flags[] = { 0x02, 0x12, 0x10, 0x04 };
	const uint8_t hint[] = { 0, 1, 0, 0 };
	for (size_t i = 0; i < EW_ARRAY_LEN(flags); i++) {
		eth_v4_tcp(&p, flags[i]);
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
		CHECK_EQ_U(out.l[0].tcp_flags, flags[i]);
		CHECK_EQ_U(out.l[0].reply_hint, hint[i]);
	}
}

static void test_udp_length_checks(void)
{
	struct pkt p;
	struct capture_decode_stats before;
	const uint16_t bad[] = { 0, 7, 19 };	/* segment is 18 bytes */

	fresh(64);
	for (size_t i = 0; i < EW_ARRAY_LEN(bad); i++) {
		pkt_init(&p);
		push_payload(&p, 10);
		push_udp_len(&p, 1, 2, bad[i]);
		push_ipv4(&p, 17, 1, 2);
		push_eth(&p, 0x0800);
		before = *st();
		CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
		CHECK(only_moved(&before, F(udp_invalid), NONE));
	}

	/* a UDP length shorter than the IP payload bounds the payload */
	pkt_init(&p);
	push_payload(&p, 10);
	push_udp_len(&p, 1, 2, 12);
	push_ipv4(&p, 17, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].payload_len, 4);
	CHECK_EQ_U(out.l[0].ip_bytes, 38);

	/* SCTP carries ports too */
	pkt_init(&p);
	push_payload(&p, 16);
	push_sctp(&p, 3868, 3869);
	push_ipv4(&p, 132, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 3868);
	CHECK_EQ_U(out.l[0].dport, 3869);
	CHECK_EQ_U(out.l[0].payload_len, 16);
}

static void test_icmp_echo_request_and_reply_share_a_key(void)
{
	struct pkt p;

	fresh(64);
	pkt_init(&p);
	push_payload(&p, 56);
	push_icmp(&p, 8, 0, 0x1234);
	push_ipv4(&p, 1, 0x0a000001, 0x08080808);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0x1234);
	CHECK_EQ_U(out.l[0].dport, 0x0800);
	CHECK_EQ_U(out.l[0].reply_hint, 0);
	CHECK_EQ_U(out.l[0].payload_len, 56);

	pkt_init(&p);
	push_payload(&p, 56);
	push_icmp(&p, 0, 0, 0x1234);
	push_ipv4(&p, 1, 0x08080808, 0x0a000001);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0x0800);
	CHECK_EQ_U(out.l[0].dport, 0x1234);
	CHECK_EQ_U(out.l[0].reply_hint, 1);

	pkt_init(&p);
	push_icmp(&p, 128, 0, 0x99);
	push_ipv6(&p, 58, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0x99);
	CHECK_EQ_U(out.l[0].dport, 0x8000);

	pkt_init(&p);
	push_icmp(&p, 129, 0, 0x99);
	push_ipv6(&p, 58, 2, 1);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0x8000);
	CHECK_EQ_U(out.l[0].dport, 0x99);
	CHECK_EQ_U(out.l[0].reply_hint, 1);

	/* other messages: type << 8 | code */
	pkt_init(&p);
	push_payload(&p, 28);
	push_icmp(&p, 3, 1, 0);
	push_ipv4(&p, 1, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].sport, 0);
	CHECK_EQ_U(out.l[0].dport, 0x0301);

	/* an ICMP message shorter than its 8-byte header */
	struct capture_decode_stats before = *st();
	pkt_init(&p);
	push_payload(&p, 4);
	push_ipv4(&p, 1, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 0);
	CHECK(only_moved(&before, F(icmp_invalid), NONE));
}

/* ---- tunnels ------------------------------------------------------------ */

/* Inner Ethernet / IPv4 / TCP 10.1.0.1:40000 -> 10.1.0.2:80 (no payload). */
static void inner_eth_v4_tcp(struct pkt *p)
{
	pkt_init(p);
	push_tcp(p, 40000, 80, 0x02);
	push_ipv4(p, 6, 0x0a010001, 0x0a010002);
	push_eth(p, 0x0800);
}

static void check_inner(int n)
{
	CHECK_EQ_U(n, 2);
	CHECK_EQ_U(out.l[1].tunnel_depth, 1);
	CHECK_EQ_U(out.l[1].family, 4);
	CHECK(is_v4(out.l[1].src, 0x0a010001));
	CHECK_EQ_U(out.l[1].sport, 40000);
	CHECK_EQ_U(out.l[1].dport, 80);
	CHECK_EQ_U(out.l[1].ip_bytes, 40);
}

static void test_vxlan_and_geneve_emit_outer_and_inner(void)
{
	struct pkt p;

	fresh(64);
	const uint16_t ports[] = { 4789, 8472 };
	for (size_t i = 0; i < 2; i++) {
		inner_eth_v4_tcp(&p);
		push_vxlan(&p, 0x08, 1);
		push_udp(&p, 33000, ports[i]);
		push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
		push_tag(&p, 300, 0x0800);
		push_eth(&p, 0x8100);
		check_inner(dec(EW_DLT_EN10MB, &p));
		CHECK_EQ_U(out.vlan, 300);
		CHECK_EQ_U(out.l[0].tunnel_depth, 0);
		CHECK_EQ_U(out.l[0].dport, ports[i]);
		CHECK_EQ_U(out.l[0].payload_len, 8 + 14 + 40);
	}
	CHECK_EQ_U(st()->tunnel_vxlan, 2);

	/* inner VLAN tags do not replace the outer VLAN ID */
	pkt_init(&p);
	push_tcp(&p, 40000, 80, 0x02);
	push_ipv4(&p, 6, 0x0a010001, 0x0a010002);
	push_tag(&p, 9, 0x0800);
	push_eth(&p, 0x8100);
	push_vxlan(&p, 0x08, 1);
	push_udp(&p, 33000, 4789);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	check_inner(dec(EW_DLT_EN10MB, &p));
	CHECK_EQ_U(out.vlan, 0);

	/* Geneve with options, carrying Ethernet and carrying IPv6 */
	inner_eth_v4_tcp(&p);
	push_geneve(&p, 0x6558, 3);
	push_udp(&p, 33000, 6081);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	check_inner(dec(EW_DLT_EN10MB, &p));

	pkt_init(&p);
	push_udp(&p, 53, 53);
	push_ipv6(&p, 17, 7, 8);
	push_geneve(&p, 0x86dd, 0);
	push_udp(&p, 33000, 6081);
	push_ipv6(&p, 17, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 2);
	CHECK_EQ_U(out.l[1].family, 6);
	CHECK(is_v6(out.l[1].src, 7));
	CHECK_EQ_U(st()->tunnel_geneve, 2);
}

static void test_gre_and_ip_in_ip_emit_outer_and_inner(void)
{
	struct pkt p;
	const uint16_t flag_sets[] = { 0x0000, 0x8000, 0x2000, 0x1000, 0xb000 };

	fresh(64);
	for (size_t i = 0; i < EW_ARRAY_LEN(flag_sets); i++) {
		pkt_init(&p);
		push_tcp(&p, 40000, 80, 0x02);
		push_ipv4(&p, 6, 0x0a010001, 0x0a010002);
		push_gre(&p, flag_sets[i], 0x0800);
		push_ipv4(&p, 47, 0xc0a80001, 0xc0a80002);
		push_eth(&p, 0x0800);
		check_inner(dec(EW_DLT_EN10MB, &p));
		CHECK_EQ_U(out.l[0].proto, 47);
		CHECK_EQ_U(out.l[0].sport, 0);
	}
	inner_eth_v4_tcp(&p);			/* transparent Ethernet */
	push_gre(&p, 0x2000, 0x6558);
	push_ipv4(&p, 47, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	check_inner(dec(EW_DLT_EN10MB, &p));

	pkt_init(&p);				/* IPv6 over GRE over IPv6 */
	push_udp(&p, 1, 2);
	push_ipv6(&p, 17, 5, 6);
	push_gre(&p, 0, 0x86dd);
	push_ipv6(&p, 47, 1, 2);
	push_eth(&p, 0x86dd);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 2);
	CHECK(is_v6(out.l[1].dst, 6));
	CHECK_EQ_U(st()->tunnel_gre, 7);

	/* PPTP's GRE version 1 is left closed */
	struct capture_decode_stats before = *st();
	pkt_init(&p);
	push_payload(&p, 20);
	push_gre(&p, 0x3001, 0x880b);
	push_ipv4(&p, 47, 1, 2);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK(only_moved(&before, F(tunnel_inner_non_ip), NONE));

	/* IPv4 in IPv4, IPv6 in IPv4, IPv4 in IPv6, IPv6 in IPv6 */
	const uint8_t outer6[] = { 0, 0, 1, 1 }, inner6[] = { 0, 1, 0, 1 };
	for (size_t i = 0; i < 4; i++) {
		pkt_init(&p);
		push_udp(&p, 1000, 2000);
		if (inner6[i])
			push_ipv6(&p, 17, 5, 6);
		else
			push_ipv4(&p, 17, 5, 6);
		uint8_t proto = inner6[i] ? 41 : 4;
		if (outer6[i])
			push_ipv6(&p, proto, 1, 2);
		else
			push_ipv4(&p, proto, 1, 2);
		CHECK_EQ_U(dec(EW_DLT_RAW, &p), 2);
		CHECK_EQ_U(out.l[0].proto, proto);
		CHECK_EQ_U(out.l[0].family, outer6[i] ? 6 : 4);
		CHECK_EQ_U(out.l[1].family, inner6[i] ? 6 : 4);
		CHECK_EQ_U(out.l[1].dport, 2000);
		CHECK_EQ_U(out.l[1].tunnel_depth, 1);
	}
	CHECK_EQ_U(st()->tunnel_ipip, 4);
}

static void test_tunnel_nesting_is_bounded(void)
{
	struct pkt p;

	fresh(64);
	/* five IPv4 headers nested in one another */
	pkt_init(&p);
	push_udp(&p, 1, 2);
	push_ipv4(&p, 17, 5, 5);
	for (uint32_t i = 4; i >= 1; i--)
		push_ipv4(&p, 4, i, i);
	struct capture_decode_stats before = *st();
	CHECK_EQ_U(dec(EW_DLT_RAW, &p), DECODE_MAX_LAYERS);
	for (int i = 0; i < DECODE_MAX_LAYERS; i++) {
		CHECK_EQ_U(out.l[i].tunnel_depth, i);
		CHECK(is_v4(out.l[i].src, (uint32_t)i + 1));
	}
	CHECK(only_moved(&before, F(tunnel_too_deep), NONE));
}

static void test_broken_inner_packets_keep_the_outer_layer(void)
{
	struct pkt p;
	struct capture_decode_stats before;

	fresh(64);
	/* inner IPv4 with IHL 3 */
	pkt_init(&p);
	push_tcp(&p, 40000, 80, 0x02);
	push_ipv4_x(&p, 6, 1, 2, 3, 1, 0);
	push_eth(&p, 0x0800);
	push_vxlan(&p, 0x08, 1);
	push_udp(&p, 33000, 4789);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK_EQ_U(out.l[0].dport, 4789);
	CHECK(only_moved(&before, F(ipv4_invalid), F(tunnel_inner_invalid)));

	/* VXLAN without the I flag */
	inner_eth_v4_tcp(&p);
	push_vxlan(&p, 0x00, 1);
	push_udp(&p, 33000, 4789);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK(only_moved(&before, F(l2_invalid), F(tunnel_inner_invalid)));

	/* Geneve version 1 */
	inner_eth_v4_tcp(&p);
	push_geneve(&p, 0x6558, 0);
	p.buf[p.head] = 0x40;
	push_udp(&p, 33000, 6081);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK(only_moved(&before, F(l2_invalid), F(tunnel_inner_invalid)));

	/* GRE with the RFC 1701 routing bit */
	pkt_init(&p);
	push_payload(&p, 40);
	push_gre(&p, 0x4000, 0x0800);
	push_ipv4(&p, 47, 1, 2);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK(only_moved(&before, F(l2_invalid), F(tunnel_inner_invalid)));

	/* ARP inside VXLAN is not an error */
	pkt_init(&p);
	push_payload(&p, 28);
	push_eth(&p, 0x0806);
	push_vxlan(&p, 0x08, 1);
	push_udp(&p, 33000, 4789);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	before = *st();
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 1);
	CHECK(only_moved(&before, F(tunnel_inner_non_ip), NONE));

	/* an inner IPv4 header claiming more than the VXLAN payload holds */
	pkt_init(&p);
	push_tcp(&p, 40000, 80, 0x02);
	push_ipv4(&p, 6, 0x0a010001, 0x0a010002);
	put16(p.buf + p.head + 2, 1400);
	push_eth(&p, 0x0800);
	push_vxlan(&p, 0x08, 1);
	push_udp(&p, 33000, 4789);
	push_ipv4(&p, 17, 0xc0a80001, 0xc0a80002);
	push_eth(&p, 0x0800);
	CHECK_EQ_U(dec(EW_DLT_EN10MB, &p), 2);
	CHECK_EQ_U(out.l[1].ip_bytes, 1400);
	CHECK_EQ_U(out.l[1].sport, 40000);
}

static void test_stats_count_frames_and_wire_bytes(void)
{
	struct pkt p;

	fresh(64);
	eth_v4_tcp(&p, 0x10);
	dec_cut(EW_DLT_EN10MB, &p, 40, 1514);
	dec(EW_DLT_EN10MB, &p);
	CHECK_EQ_U(st()->packets, 2);
	CHECK_EQ_U(st()->bytes, 1514 + 64);
	CHECK_EQ_U(st()->ip_packets, 1);
	CHECK_EQ_U(st()->tcp_truncated, 1);
}

/* ---- real captures ------------------------------------------------------ */

struct capture_run {
	struct decoder *d;
	unsigned frames;
	unsigned frame_layers[64];	/* layers of frame i + 1 */
	struct decoded first[64];	/* decoded frames, payload not kept */
	uint16_t vlan[64];
};

static int run_capture(const char *rel, struct capture_run *r)
{
	const char *base = t_testdata();
	char path[1024], err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	pcap_t *pc;

	memset(r, 0, sizeof(*r));
	if (!base) {
		printf("     (EW_TESTDATA unset: %s skipped)\n", rel);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/pcaps/%s", base, rel);
	pc = pcap_open_offline(path, err);
	CHECK(pc != NULL);
	if (!pc) {
		fprintf(stderr, "%s: %s\n", path, err);
		return -1;
	}
	r->d = decoder_create(1024);
	while (pcap_next_ex(pc, &h, &data) == 1) {
		struct decoded o;
		uint64_t ts = (uint64_t)h->ts.tv_sec * SEC +
			      (uint64_t)h->ts.tv_usec * 1000;
		int n = decode_packet(r->d, pcap_datalink(pc), data,
				      h->caplen, h->len, ts, &o);
		if (r->frames < 64) {
			r->frame_layers[r->frames] = (unsigned)n;
			r->first[r->frames] = o;
			r->vlan[r->frames] = o.vlan;
		}
		r->frames++;
	}
	pcap_close(pc);
	return 0;
}

static const struct pkt_layer *L(struct capture_run *r, unsigned frame,
				 unsigned layer)
{
	return &r->first[frame - 1].l[layer];
}

static void test_real_captures_match_tshark(void)
{
	struct capture_run r;
	const struct capture_decode_stats *s;

	/* Linux cooked v2, any-interface: 2 ICMP, 2 ICMPv6 echoes, 2 ARP */
	if (run_capture("zeek/linux_dlt_sll2.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->packets, 6);
		CHECK_EQ_U(s->ip_packets, 4);
		CHECK_EQ_U(s->non_ip, 2);
		CHECK_EQ_U(L(&r, 1, 0)->proto, 1);
		CHECK_EQ_U(L(&r, 1, 0)->dport, 0x0800);
		CHECK_EQ_U(L(&r, 2, 0)->sport, 0x0800);
		CHECK_EQ_U(L(&r, 1, 0)->sport, L(&r, 2, 0)->dport);
		CHECK_EQ_U(L(&r, 3, 0)->proto, 58);
		CHECK_EQ_U(L(&r, 3, 0)->dport, 0x8000);
		CHECK_EQ_U(L(&r, 4, 0)->reply_hint, 1);
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 84);
		CHECK_EQ_U(L(&r, 3, 0)->ip_bytes, 104);
		decoder_destroy(r.d);
	}

	/* Linux cooked v1: IRC session 203.143.168.47:55123 ->
	 * 185.18.76.170:6667, 20 TCP frames, one SYN+ACK */
	if (run_capture("zeek/tls/irc-starttls.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 20);
		CHECK(is_v4(L(&r, 1, 0)->src, 0xcb8fa82f));
		CHECK_EQ_U(L(&r, 1, 0)->sport, 55123);
		CHECK_EQ_U(L(&r, 1, 0)->dport, 6667);
		CHECK_EQ_U(L(&r, 1, 0)->tcp_flags, 0x02);
		CHECK_EQ_U(L(&r, 2, 0)->tcp_flags, 0x12);
		CHECK_EQ_U(L(&r, 2, 0)->reply_hint, 1);
		decoder_destroy(r.d);
	}

	/* QinQ: outer VLAN 13 (inner 10), 4 UDP frames and one ARP */
	if (run_capture("zeek/q-in-q.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 4);
		CHECK_EQ_U(s->non_ip, 1);
		CHECK_EQ_U(r.vlan[0], 13);
		CHECK_EQ_U(L(&r, 1, 0)->sport, 47808);
		CHECK_EQ_U(L(&r, 3, 0)->dport, 9875);
		decoder_destroy(r.d);
	}

	/* three tags 30, 20, 10 on an HTTP session */
	if (run_capture("zeek/vlan-qinqinq.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 14);
		CHECK_EQ_U(r.vlan[0], 30);
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 64);
		CHECK_EQ_U(L(&r, 2, 0)->tcp_flags, 0x12);
		CHECK_EQ_U(L(&r, 1, 0)->dport, 80);
		decoder_destroy(r.d);
	}

	/* VXLAN 192.168.56.11 <-> .12, inner ICMP 10.0.0.1 <-> 10.0.0.2 in
	 * 8 frames, inner ARP in 2 */
	if (run_capture("zeek/tunnels/vxlan.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 10);
		CHECK_EQ_U(s->tunnel_vxlan, 10);
		CHECK_EQ_U(s->tunnel_inner_non_ip, 2);
		unsigned inner = 0;
		for (unsigned i = 0; i < r.frames && i < 64; i++)
			inner += r.frame_layers[i] == 2;
		CHECK_EQ_U(inner, 8);
		CHECK(is_v4(L(&r, 3, 0)->src, 0xc0a8380b));
		CHECK(is_v4(L(&r, 3, 1)->src, 0x0a000001));
		CHECK_EQ_U(L(&r, 3, 1)->proto, 1);
		CHECK_EQ_U(L(&r, 3, 1)->ip_bytes, 84);
		CHECK_EQ_U(L(&r, 3, 1)->sport, L(&r, 4, 1)->dport);
		decoder_destroy(r.d);
	}

	/* flannel's port 8472 */
	if (run_capture("tcpdump/vxlan_port_8472.pcap", &r) == 0) {
		CHECK_EQ_U(r.frame_layers[0], 2);
		CHECK(is_v4(L(&r, 1, 1)->src, 0xc0a8cb03));
		CHECK(is_v4(L(&r, 1, 1)->dst, 0xc0a8cb05));
		CHECK_EQ_U(L(&r, 1, 1)->sport, 1292);
		decoder_destroy(r.d);
	}

	/* Geneve 20.0.0.1 -> 20.0.0.2 with 8 bytes of options, inner ICMP
	 * 30.0.0.1 -> 30.0.0.2 */
	if (run_capture("tcpdump/geneve.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->tunnel_geneve, 39);
		CHECK_EQ_U(r.frame_layers[0], 2);
		CHECK(is_v4(L(&r, 1, 1)->src, 0x1e000001));
		CHECK(is_v4(L(&r, 1, 1)->dst, 0x1e000002));
		CHECK_EQ_U(L(&r, 3, 1)->proto, 6);
		decoder_destroy(r.d);
	}

	/* fragmented TCP: first fragment (frame 2) then offsets 6, 9, 3 */
	if (run_capture("zeek/ipv4/fragmented-4.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->frag_first, 1);
		CHECK_EQ_U(s->frag_later, 3);
		CHECK_EQ_U(s->frag_matched, 3);
		for (unsigned f = 2; f <= 5; f++) {
			CHECK_EQ_U(L(&r, f, 0)->sport, 7790);
			CHECK_EQ_U(L(&r, f, 0)->dport, 80);
		}
		CHECK_EQ_U(L(&r, 2, 0)->fragment, 1);
		CHECK_EQ_U(L(&r, 4, 0)->fragment, 2);
		CHECK_EQ_U(L(&r, 4, 0)->ip_bytes, 37);
		CHECK_EQ_U(L(&r, 5, 0)->ip_bytes, 68);
		decoder_destroy(r.d);
	}

	/* a SYN in two fragments; the options continue in the second */
	if (run_capture("zeek/ipv4/fragmented-syn.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 2);
		CHECK_EQ_U(s->frag_matched, 1);
		CHECK_EQ_U(L(&r, 1, 0)->tcp_flags, 0x02);
		CHECK_EQ_U(L(&r, 1, 0)->sport, 12345);
		CHECK_EQ_U(L(&r, 2, 0)->sport, 12345);
		CHECK_EQ_U(L(&r, 2, 0)->ip_bytes, 36);
		decoder_destroy(r.d);
	}

	/* IPv6 DNS answer in fragments: frame 4's first fragment was never
	 * captured (id 1); frames 6-8 are one datagram (id 2) */
	if (run_capture("zeek/ipv6-fragmented-dns.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->frag_first, 1);
		CHECK_EQ_U(s->frag_matched, 2);
		CHECK_EQ_U(s->frag_orphan, 1);
		CHECK_EQ_U(L(&r, 4, 0)->sport, 0);
		CHECK_EQ_U(L(&r, 4, 0)->ip_bytes, 390);
		CHECK_EQ_U(L(&r, 6, 0)->sport, 53);
		CHECK_EQ_U(L(&r, 8, 0)->dport, 51851);
		CHECK_EQ_U(L(&r, 8, 0)->ip_bytes, 422);
		CHECK_EQ_U(L(&r, 7, 0)->ip_bytes, 1480);
		decoder_destroy(r.d);
	}

	/* LINKTYPE_RAW IPv6 DNS query 2001:db8::1:12345 -> 2620:fe::9:53 */
	if (run_capture("tcpdump/LINKTYPE_RAW_ipv6.pcap", &r) == 0) {
		CHECK_EQ_U(r.frame_layers[0], 1);
		CHECK_EQ_U(L(&r, 1, 0)->sport, 12345);
		CHECK_EQ_U(L(&r, 1, 0)->dport, 53);
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 77);
		decoder_destroy(r.d);
	}

	/* BSD loopback, Darwin's AF_INET6 30: QUIC ::1:50606 -> ::1:443 */
	if (run_capture("tcpdump/quic_handshake.pcap", &r) == 0) {
		s = decoder_stats(r.d);
		CHECK_EQ_U(s->ip_packets, 18);
		CHECK_EQ_U(L(&r, 1, 0)->family, 6);
		CHECK_EQ_U(L(&r, 1, 0)->sport, 50606);
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 1248);
		decoder_destroy(r.d);
	}

	/* BIG TCP: IPv6 payload length 0 with a jumbo option, 80094-byte
	 * frame; and IPv4 total length 0 inside VXLAN */
	if (run_capture("tcpdump/bigtcp-ipv6-hbh.pcap", &r) == 0) {
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 80080);
		CHECK_EQ_U(L(&r, 1, 0)->sport, 41851);
		decoder_destroy(r.d);
	}
	if (run_capture("tcpdump/bigtcp-ipv4-vxlan-ipv4.pcap", &r) == 0) {
		CHECK_EQ_U(r.frame_layers[0], 2);
		CHECK_EQ_U(L(&r, 1, 0)->ip_bytes, 80102);
		CHECK_EQ_U(L(&r, 1, 1)->ip_bytes, 80052);
		decoder_destroy(r.d);
	}
}

int main(void)
{
	RUN(test_every_link_type_yields_the_same_flow);
	RUN(test_ipv6_on_raw_and_loopback_link_types);
	RUN(test_non_ip_and_unsupported_links_are_counted);
	RUN(test_vlan_stacks_record_the_outer_id);
	RUN(test_ipv4_options_are_skipped_by_ihl);
	RUN(test_ipv4_bad_header_fields_are_invalid);
	RUN(test_counted_bytes_come_from_the_ip_header);
	RUN(test_truncation_at_every_length_is_counted_by_layer);
	RUN(test_ipv4_fragments_borrow_the_first_fragments_ports);
	RUN(test_first_fragment_needs_only_the_fixed_tcp_header);
	RUN(test_fragment_cache_overwrites_the_oldest_when_full);
	RUN(test_ipv6_fragments_borrow_the_first_fragments_ports);
	RUN(test_ipv6_each_extension_header_is_walked);
	RUN(test_ipv6_extension_chain_is_bounded);
	RUN(test_ipv6_jumbogram_counts_the_wire_length);
	RUN(test_tcp_data_offset_and_flags);
	RUN(test_udp_length_checks);
	RUN(test_icmp_echo_request_and_reply_share_a_key);
	RUN(test_vxlan_and_geneve_emit_outer_and_inner);
	RUN(test_gre_and_ip_in_ip_emit_outer_and_inner);
	RUN(test_tunnel_nesting_is_bounded);
	RUN(test_broken_inner_packets_keep_the_outer_layer);
	RUN(test_stats_count_frames_and_wire_bytes);
	RUN(test_real_captures_match_tshark);
	decoder_destroy(D);
	return T_DONE();
}
