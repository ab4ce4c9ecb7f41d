/*
 * fuzz_pcap.c - libFuzzer target: capture files (pcap and pcapng headers,
 * blocks and records), read the two ways replay reads them, then decoded
 * and accounted as replay does.
 *
 *   A. capture_replay_file() on the input as a file (a memfd): libpcap
 *      checks the header; classic pcap records then go through pcapfile.c
 *      and the batched flow-table path, pcapng through libpcap's reader and
 *      the one-packet path.
 *   B. libpcap reading the same bytes from memory (fmemopen +
 *      pcap_fopen_offline_with_tstamp_precision), every record through
 *      capture_packet(): the one-record path of capture.c's replay loop,
 *      which live capture takes too.
 *
 * Besides the sanitizers and the event contracts of fuzz_events.h, the two
 * runs must agree exactly: same records accounted, same flow and DNS events
 * in the same order, same counters, and for a damaged file the same
 * "damaged at byte offset N after M packets: <libpcap's words>" message
 * (pcapfile.h promises libpcap's checks, messages and offsets).
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "capture.h"
#include "decode.h"
#include "fuzz.h"
#include "fuzz_events.h"
#include "internal.h"
#include "util.h"

#define IFNAME "fuzz0"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	fuzz_dump = getenv("FUZZ_DUMP") != NULL;
	return 0;
}

static struct capture *open_capture(struct fuzz_events *fe)
{
	struct capture_config cfg;
	struct capture *c;
	char err[256];

	capture_config_defaults(&cfg);
	cfg.max_flows = 64;
	cfg.tcp_idle_s = 20;
	cfg.tcp_syn_idle_s = 5;
	cfg.tcp_closed_s = 2;
	cfg.udp_idle_s = 10;
	cfg.other_idle_s = 5;
	cfg.update_interval_ms = 200;
	cfg.frag_cache_size = 16;
	cfg.first_flow_id = FUZZ_FIRST_ID;
	cfg.emit = fuzz_on_flow;
	cfg.emit_dns = fuzz_on_dns;
	cfg.emit_ctx = fe;
	c = capture_open(&cfg, err, sizeof(err));
	FUZZ_CHECK(c, "capture_open: %s", err);
	return c;
}

/* B: capture.c's replay loop over libpcap's records, from memory.  Returns
 * 0, -EINVAL (refused at open or unsupported link type) or -EIO (damaged),
 * with the message in `err` as capture_replay_file words it. */
static int replay_libpcap(struct capture *c, const uint8_t *data, size_t size,
			  const char *path, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	struct pcap_pkthdr *h;
	const u_char *pkt;
	uint64_t records = 0;
	FILE *f = fmemopen((void *)data, size, "rb");
	pcap_t *p;
	int dlt, rc, idx;

	FUZZ_CHECK(f, "fmemopen");
	p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO,
						     perr);
	if (!p) {
		fclose(f);
		snprintf(err, errlen, "refused");
		return -EINVAL;
	}
	dlt = pcap_datalink(p) & 0x03FFFFFF;
	if (!decoder_link_supported(dlt)) {
		pcap_close(p);
		snprintf(err, errlen, "refused");
		return -EINVAL;
	}
	idx = capture_iface_acquire(c, IFNAME);
	FUZZ_CHECK(idx == 0, "iface %d", idx);
	while ((rc = pcap_next_ex(p, &h, &pkt)) == 1) {
		records++;
		capture_packet(c, dlt, (uint32_t)idx, h, pkt,
			       (uint64_t)h->ts.tv_sec * 1000000000ull +
			       (uint64_t)h->ts.tv_usec);
	}
	if (rc == PCAP_ERROR) {
		long off = ftell(pcap_file(p));

		snprintf(err, errlen, "%s: damaged at byte offset %ld after %llu "
			 "packets: %s", path, off, (unsigned long long)records,
			 pcap_geterr(p));
		pcap_close(p);
		return -EIO;
	}
	pcap_close(p);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_events fa, fb;
	struct capture *ca, *cb;
	struct capture_stats sa, sb;
	char path[64], erra[512] = "", errb[512] = "";
	int fd, ra, rb;

	fd = fuzz_memfd(data, size, path);
	FUZZ_CHECK(fd >= 0, "memfd");
	/* A record takes at least 16 bytes and holds at most
	 * DECODE_MAX_LAYERS flows. */
	fuzz_events_init(&fa, size / 16 * DECODE_MAX_LAYERS + 16);
	fuzz_events_init(&fb, size / 16 * DECODE_MAX_LAYERS + 16);
	ca = open_capture(&fa);
	cb = open_capture(&fb);

	ra = capture_replay_file(ca, path, IFNAME, erra, sizeof(erra));
	rb = replay_libpcap(cb, data, size, path, errb, sizeof(errb));
	close(fd);
	capture_flush(ca, FLOW_END_SHUTDOWN);
	capture_flush(cb, FLOW_END_SHUTDOWN);
	capture_get_stats(ca, &sa);
	capture_get_stats(cb, &sb);
	fuzz_check_flow_stats(&fa, &sa.flow);
	fuzz_check_flow_stats(&fb, &sb.flow);

	/* A's -EINVAL is "refused by libpcap or link type": B refused too. */
	FUZZ_CHECK((ra == -EINVAL) == (rb == -EINVAL),
		   "file path %d (%s), memory path %d (%s)", ra, erra, rb, errb);
	FUZZ_CHECK(ra == rb, "file path %d (%s), memory path %d (%s)", ra, erra,
		   rb, errb);
	if (ra == -EIO)
		FUZZ_CHECK(strcmp(erra, errb) == 0,
			   "damage reported differently:\n  pcapfile: %s\n  libpcap:  %s",
			   erra, errb);
	FUZZ_CHECK(sa.decode.packets == sb.decode.packets,
		   "%llu records accounted from the file, %llu by libpcap",
		   (unsigned long long)sa.decode.packets,
		   (unsigned long long)sb.decode.packets);
	FUZZ_CHECK(memcmp(&sa.decode, &sb.decode, sizeof(sa.decode)) == 0,
		   "decoder counters differ");
	FUZZ_CHECK(memcmp(&sa.dns, &sb.dns, sizeof(sa.dns)) == 0,
		   "DNS counters differ");
	FUZZ_CHECK(fa.news == fb.news && fa.updates == fb.updates &&
		   fa.ends == fb.ends && fa.dns == fb.dns && fa.hash == fb.hash,
		   "events differ: %llu/%llu/%llu/%llu vs %llu/%llu/%llu/%llu",
		   (unsigned long long)fa.news, (unsigned long long)fa.updates,
		   (unsigned long long)fa.ends, (unsigned long long)fa.dns,
		   (unsigned long long)fb.news, (unsigned long long)fb.updates,
		   (unsigned long long)fb.ends, (unsigned long long)fb.dns);

	capture_close(ca);
	capture_close(cb);
	return 0;
}
