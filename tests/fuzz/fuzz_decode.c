/*
 * fuzz_decode.c - libFuzzer target: the packet decoder (capture/decode.h)
 * and everything a decoded packet reaches on the capture thread - the flow
 * table and the DNS answer parser - through capture_packet(), the one
 * path replay and live capture share (capture/internal.h).
 *
 * Input: one byte choosing the link type (low 4 bits, from LINKS[]) and how
 * the wire length relates to the captured one (high 4 bits, see wire_len),
 * then frames, each [length: 2 bytes big-endian][time step: 1 byte][bytes].
 * A frame whose length runs past the input takes what is left.  The time
 * step (x 20 ms) drives the flow table's clock, so idle expiry, UPDATE
 * events and the emergency eviction of a table capped at 16 flows are all
 * reachable with a few dozen packets.
 *
 * Checked: the decoder's promises (at most DECODE_MAX_LAYERS layers,
 * family 4 or 6, payload inside the captured bytes, one `packets` count per
 * frame) and the event contracts of fuzz_events.h.
 */
#include <string.h>

#include "capture.h"
#include "decode.h"
#include "fuzz.h"
#include "fuzz_events.h"
#include "internal.h"
#include "util.h"

static const int LINKS[] = {
	EW_DLT_EN10MB, EW_DLT_RAW_LT, EW_DLT_LINUX_SLL, EW_DLT_LINUX_SLL2,
	EW_DLT_NULL, EW_DLT_LOOP, EW_DLT_RAW, EW_DLT_RAW_ALT, EW_DLT_IPV4,
	EW_DLT_IPV6, EW_DLT_NFLOG, 147 /* USER0: not decoded */,
};

#define MAX_FRAMES 512
#define MAX_FLOWS 16

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	fuzz_dump = getenv("FUZZ_DUMP") != NULL;
	return 0;
}

/* The length on the wire for a frame of `caplen` bytes. */
static uint32_t wire_len(unsigned mode, uint32_t caplen, uint32_t i)
{
	switch (mode % 4) {
	case 0: return caplen;			/* whole packet captured */
	case 1: return caplen + 1 + i * 97;	/* snapshot length cut it */
	case 2: return caplen / 2;		/* a lying record header */
	default: return 65535;
	}
}

static void check_decoded(const struct decoded *d, int n, const uint8_t *data,
			  uint32_t caplen)
{
	FUZZ_CHECK(n >= 0 && n <= DECODE_MAX_LAYERS, "%d layers", n);
	FUZZ_CHECK(n == d->n, "returned %d, out->n %u", n, d->n);
	for (int i = 0; i < n; i++) {
		const struct pkt_layer *l = &d->l[i];

		FUZZ_CHECK(l->family == 4 || l->family == 6, "family %u", l->family);
		FUZZ_CHECK(l->fragment <= 2, "fragment %u", l->fragment);
		if (l->payload_len) {
			FUZZ_CHECK(l->payload >= data && l->payload <= data + caplen &&
				   l->payload_len <= (size_t)(data + caplen - l->payload),
				   "layer %d payload [%td, +%u) outside %u captured bytes",
				   i, l->payload - data, l->payload_len, caplen);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct capture_config cfg;
	struct capture_stats st;
	static struct fuzz_events fe;
	struct decoder *dec;
	struct capture *c;
	char err[256];
	size_t off = 1;
	uint64_t ts = 1700000000ull * 1000000000ull;
	int dlt, iface;
	unsigned mode, frames = 0;

	if (size < 1)
		return 0;
	dlt = LINKS[(data[0] & 0x0f) % EW_ARRAY_LEN(LINKS)];
	mode = data[0] >> 4;

	capture_config_defaults(&cfg);
	cfg.max_flows = MAX_FLOWS;
	cfg.tcp_idle_s = 5;
	cfg.tcp_syn_idle_s = 2;
	cfg.tcp_closed_s = 1;
	cfg.udp_idle_s = 3;
	cfg.other_idle_s = 2;
	cfg.update_interval_ms = 100;
	cfg.frag_cache_size = 4;
	cfg.first_flow_id = FUZZ_FIRST_ID;
	cfg.emit = fuzz_on_flow;
	cfg.emit_dns = fuzz_on_dns;
	/* Every layer of every frame can start a flow. */
	fuzz_events_init(&fe, (size_t)MAX_FRAMES * DECODE_MAX_LAYERS);
	cfg.emit_ctx = &fe;
	c = capture_open(&cfg, err, sizeof(err));
	dec = decoder_create(4);
	FUZZ_CHECK(c && dec, "capture_open: %s", err);
	iface = capture_iface_acquire(c, "fuzz0");
	FUZZ_CHECK(iface == 0, "iface %d", iface);

	while (off + 3 <= size && frames < MAX_FRAMES) {
		uint32_t caplen = (uint32_t)data[off] << 8 | data[off + 1];
		struct pcap_pkthdr h;
		struct decoded d;
		uint64_t before = decoder_stats(dec)->packets;
		const uint8_t *frame;
		int n;

		ts += (uint64_t)data[off + 2] * 20000000ull;
		off += 3;
		if (caplen > size - off)
			caplen = (uint32_t)(size - off);
		/* A copy of exactly caplen bytes, so that ASan sees any read
		 * past the frame (the input buffer goes on beyond it). */
		uint8_t *copy = malloc(caplen ? caplen : 1);
		FUZZ_CHECK(copy, "out of memory");
		memcpy(copy, data + off, caplen);
		frame = copy;
		off += caplen;

		memset(&h, 0, sizeof(h));
		h.ts.tv_sec = (time_t)(ts / 1000000000ull);
		h.ts.tv_usec = (suseconds_t)(ts % 1000000000ull);
		h.caplen = caplen;
		h.len = wire_len(mode, caplen, frames);

		n = decode_packet(dec, dlt, frame, caplen, h.len, ts, &d);
		check_decoded(&d, n, frame, caplen);
		FUZZ_CHECK(decoder_stats(dec)->packets == before + 1,
			   "a frame counted %llu times",
			   (unsigned long long)(decoder_stats(dec)->packets - before));
		capture_packet(c, dlt, (uint32_t)iface, &h, frame, ts);
		free(copy);
		frames++;
	}
	capture_clock(c, ts + 1000000000ull);
	capture_flush(c, FLOW_END_SHUTDOWN);
	capture_get_stats(c, &st);
	FUZZ_CHECK(st.decode.packets == frames, "%llu packets counted, %u frames",
		   (unsigned long long)st.decode.packets, frames);
	fuzz_check_flow_stats(&fe, &st.flow);
	capture_close(c);
	decoder_destroy(dec);
	return 0;
}
