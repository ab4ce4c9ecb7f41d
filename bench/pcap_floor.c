/*
 * pcap_floor.c - the replay benchmark's floor: how fast libpcap alone can
 * hand the packets of a capture file to a program that looks at them.
 *
 *   pcap_floor [--next-ex] FILE
 *
 * Reads FILE with pcap_dispatch (or, with --next-ex, pcap_next_ex) and a
 * callback that reads the first byte of each packet, so every record is
 * really delivered and its data touched, and nothing more is done.  No tool
 * that decodes packets from the same file through libpcap can beat this, so
 * the benchmark reports everything as a multiple of it.
 *
 * Prints one line to stdout:
 *   packets=N bytes=B wall_s=S pps=P checksum=C
 * where bytes are captured bytes and checksum is the sum of the first bytes
 * (it keeps the compiler from dropping the reads).  Exit status 1 on error.
 */
#include <pcap/pcap.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

struct floor_count {
	uint64_t packets, bytes, checksum;
};

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
		      const u_char *data)
{
	struct floor_count *c = (struct floor_count *)user;

	c->packets++;
	c->bytes += h->caplen;
	if (h->caplen)
		c->checksum += data[0];
}

static double mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct floor_count c = { 0, 0, 0 };
	int next_ex = 0;
	const char *path = NULL;

	int bad = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--next-ex"))
			next_ex = 1;
		else if (!path)
			path = argv[i];
		else
			bad = 1;
	}
	if (!path || bad) {
		fprintf(stderr, "usage: pcap_floor [--next-ex] FILE\n");
		return 2;
	}

	double t0 = mono_s();
	pcap_t *p = pcap_open_offline(path, errbuf);
	if (!p) {
		fprintf(stderr, "pcap_floor: %s\n", errbuf);
		return 1;
	}
	int rc;
	if (next_ex) {
		struct pcap_pkthdr *h;
		const u_char *data;
		while ((rc = pcap_next_ex(p, &h, &data)) == 1)
			on_packet((u_char *)&c, h, data);
		if (rc == PCAP_ERROR_BREAK)	/* end of file */
			rc = 0;
	} else {
		rc = pcap_dispatch(p, -1, on_packet, (u_char *)&c);
		if (rc > 0)
			rc = 0;
	}
	if (rc < 0) {
		fprintf(stderr, "pcap_floor: %s: %s\n", path, pcap_geterr(p));
		pcap_close(p);
		return 1;
	}
	pcap_close(p);
	double wall = mono_s() - t0;

	printf("packets=%" PRIu64 " bytes=%" PRIu64 " wall_s=%.3f pps=%.0f "
	       "checksum=%" PRIu64 "\n", c.packets, c.bytes, wall,
	       wall > 0 ? (double)c.packets / wall : 0.0, c.checksum);
	return 0;
}
