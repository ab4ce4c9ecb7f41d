/*
 * pktgen.c - send UDP frames as fast as one core can, for the live capture
 * benchmark (bench/live.sh PKTGEN=1): more packets per second than iperf3's
 * UDP mode reaches through a veth.
 *
 *   pktgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP SECONDS [PAYLOAD [FLOWS]]
 *
 * Builds FLOWS (default 64) Ethernet + IPv4 + UDP frames with PAYLOAD bytes
 * (default 18: 64-byte frames) from SRC_IP to DST_IP, source ports 10000 +
 * i, destination port 9, and sends them round-robin on IFACE through an
 * AF_PACKET socket, 64 per sendmmsg() call, bypassing the qdisc, for SECONDS.
 * Prints the frames sent and the rate.  Run it inside the network namespace
 * that owns IFACE; it never chooses an address itself, so where the frames
 * go is exactly what the caller gave (bench/live.sh: its own namespaces).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BURST 64
#define MAX_FLOWS 4096

static int parse_mac(const char *s, uint8_t out[6])
{
	unsigned v[6];

	if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4],
		   &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -1;
		out[i] = (uint8_t)v[i];
	}
	return 0;
}

static uint16_t csum(const uint8_t *p, size_t n)
{
	uint32_t s = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		s += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		s += (uint32_t)(p[n - 1] << 8);
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	uint8_t smac[6], dmac[6];
	struct in_addr sip, dip;
	struct sockaddr_ll sll;
	static uint8_t frames[MAX_FLOWS][1514];
	struct mmsghdr msgs[BURST];
	struct iovec iov[BURST];
	unsigned payload = 18, nflows = 64, idx = 0;
	double secs, t0, t1;
	uint64_t sent = 0, fails = 0;
	size_t len;
	int fd, one = 1;

	if (argc < 7 || argc > 9) {
		fprintf(stderr, "usage: pktgen IFACE SRC_MAC DST_MAC SRC_IP DST_IP "
			"SECONDS [PAYLOAD [FLOWS]]\n");
		return 2;
	}
	if (parse_mac(argv[2], smac) || parse_mac(argv[3], dmac) ||
	    inet_pton(AF_INET, argv[4], &sip) != 1 ||
	    inet_pton(AF_INET, argv[5], &dip) != 1) {
		fprintf(stderr, "pktgen: bad MAC or IPv4 address\n");
		return 2;
	}
	secs = atof(argv[6]);
	if (argc > 7)
		payload = (unsigned)atoi(argv[7]);
	if (argc > 8)
		nflows = (unsigned)atoi(argv[8]);
	if (secs <= 0 || payload > 1472 || nflows == 0 || nflows > MAX_FLOWS) {
		fprintf(stderr, "pktgen: SECONDS > 0, PAYLOAD <= 1472, FLOWS 1..%d\n",
			MAX_FLOWS);
		return 2;
	}
	len = 14 + 20 + 8 + payload;
	for (unsigned f = 0; f < nflows; f++) {
		uint8_t *p = frames[f], *ip = p + 14, *udp = ip + 20;
		uint16_t v;

		memcpy(p, dmac, 6);
		memcpy(p + 6, smac, 6);
		p[12] = 0x08;
		p[13] = 0x00;
		ip[0] = 0x45;
		v = htons((uint16_t)(20 + 8 + payload));
		memcpy(ip + 2, &v, 2);
		ip[6] = 0x40;	/* DF */
		ip[8] = 64;
		ip[9] = 17;
		memcpy(ip + 12, &sip, 4);
		memcpy(ip + 16, &dip, 4);
		v = htons(csum(ip, 20));
		memcpy(ip + 10, &v, 2);
		v = htons((uint16_t)(10000 + f));
		memcpy(udp, &v, 2);
		v = htons(9);
		memcpy(udp + 2, &v, 2);
		v = htons((uint16_t)(8 + payload));
		memcpy(udp + 4, &v, 2);	/* checksum 0: none */
		memset(udp + 8, 'x', payload);
	}
	fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("pktgen: socket");
		return 1;
	}
	memset(&sll, 0, sizeof(sll));
	sll.sll_family = AF_PACKET;
	sll.sll_ifindex = (int)if_nametoindex(argv[1]);
	if (!sll.sll_ifindex) {
		fprintf(stderr, "pktgen: no interface %s\n", argv[1]);
		return 1;
	}
	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		perror("pktgen: bind");
		return 1;
	}
	/* Straight to the driver: the veth, not a qdisc that would drop. */
	(void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one));
	memset(msgs, 0, sizeof(msgs));
	t0 = now();
	t1 = t0;
	while (t1 - t0 < secs) {
		int n;

		for (int i = 0; i < BURST; i++) {
			iov[i].iov_base = frames[idx];
			iov[i].iov_len = len;
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			idx = idx + 1 == nflows ? 0 : idx + 1;
		}
		n = sendmmsg(fd, msgs, BURST, 0);
		if (n < 0) {
			if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
				perror("pktgen: sendmmsg");
				return 1;
			}
			fails++;
		} else {
			sent += (uint64_t)n;
		}
		t1 = now();
	}
	t1 = now();
	printf("pktgen: %llu frames of %zu bytes in %.2f s = %.0f frames/s "
	       "(%llu refused bursts)\n", (unsigned long long)sent, len, t1 - t0,
	       (double)sent / (t1 - t0), (unsigned long long)fails);
	close(fd);
	return 0;
}
