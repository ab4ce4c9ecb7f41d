/*
 * pcapfile.h - private to capture/: the records of a classic pcap file, read
 * in large blocks and handed out in place.
 *
 * libpcap reads a savefile through stdio: a read() of one buffer at a time,
 * then a copy of every record into its own packet buffer, so each byte is
 * copied twice and a 4 GB replay spends most of its read time in those
 * copies.  This reader does one pread() per 512 KiB into a buffer and gives
 * the caller pointers into it.  It does only the record walk: libpcap still
 * opens the file, checks its header and says what the link type and snapshot
 * length are, so a file it refuses is refused with its words, and anything
 * this reader does not take (pcapng, a pipe, the modified formats, a
 * byte-swapped file whose link type carries a pseudo-header libpcap rewrites)
 * stays with libpcap.
 *
 * Every record is checked the way libpcap 1.10 checks it, with its messages:
 * a header cut short, a captured length above the 262144-byte maximum of the
 * link types we decode, or data cut short is damage; a captured length above
 * the snapshot length (but within the maximum) is cut to it and the rest
 * skipped.  Times come out as libpcap gives them with nanosecond precision,
 * in a struct pcap_pkthdr, so that both paths feed the same code.
 */
#ifndef EW_CAPTURE_PCAPFILE_H
#define EW_CAPTURE_PCAPFILE_H

#include <pcap/pcap.h>
#include <stdint.h>

/* The largest captured length accepted: libpcap's MAXIMUM_SNAPLEN, which is
 * its maximum for every link type we decode. */
#define PCAPFILE_MAX_CAPLEN 262144

struct pcapfile;

struct pcapfile_rec {
	struct pcap_pkthdr h;		/* ts: seconds and nanoseconds */
	const uint8_t *data;		/* h.caplen bytes, in the reader's buffer */
};

/*
 * Read the records of the file open on `fd` (libpcap's descriptor of a file
 * it accepted: `dlt` and `snaplen` are pcap_datalink() and pcap_snapshot()).
 * `fd` is read with pread() only, never moved or closed.  Returns 0 with
 * *out set; -ENOTSUP when this reader does not take the file (see the top:
 * read it with libpcap), -ENOMEM, or -errno of a failed read.
 */
int pcapfile_open(int fd, int dlt, int snaplen, struct pcapfile **out);
/* NULL is a no-op. */
void pcapfile_close(struct pcapfile *pf);

/*
 * The next records, at most `max`: returns how many were put in `recs`
 * (their data stay valid until the next call), 0 at the end of the file, or
 * -1 once the records before the damage have all been returned: then
 * pcapfile_error() says why in libpcap's words and pcapfile_error_offset()
 * is where libpcap's stream would stand (what ftell() says after its failed
 * read).
 */
int pcapfile_next(struct pcapfile *pf, struct pcapfile_rec *recs, int max);
const char *pcapfile_error(const struct pcapfile *pf);
uint64_t pcapfile_error_offset(const struct pcapfile *pf);

#endif
