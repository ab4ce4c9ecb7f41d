/*
 * pcapfile.c - the record walk of classic pcap files (contract in
 * pcapfile.h; format in pcap-savefile(5) and draft-ietf-opsawg-pcap).
 *
 * The file is read into one buffer of BUF_SIZE bytes with pread(), which
 * leaves libpcap's own stream where it was.  Records are handed out in place
 * as long as they lie whole in the buffer; when the next one does not, the
 * unread tail is moved to the front and the buffer filled again, which is
 * why a call's records are valid only until the next call.  The buffer holds
 * the largest record there can be (a 16-byte header and
 * PCAPFILE_MAX_CAPLEN bytes), so a record either fits after a fill or the
 * file ends inside it.
 *
 * The checks follow libpcap's sf-pcap.c (pcap_next_packet), in its order:
 * byte order of the header fields, then the caplen/len interchange of files
 * older than version 2.4, then the captured length against the maximum and
 * the snapshot length, then the data.  Damage is sticky: once found, every
 * later call returns -1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "decode.h"
#include "pcapfile.h"

#define BUF_SIZE (1u << 19)	/* one pread per 512 KiB: the cost of the
				   call is lost in the copy, and the buffer
				   counts against replay's memory */
#define FILE_HDR_LEN 24
#define REC_HDR_LEN 16

#define MAGIC_USEC 0xa1b2c3d4u	/* microsecond timestamps */
#define MAGIC_NSEC 0xa1b23c4du	/* nanosecond timestamps */

_Static_assert(BUF_SIZE >= REC_HDR_LEN + PCAPFILE_MAX_CAPLEN,
	       "the buffer must hold the largest record");

/* How caplen and len are stored: version 2.4 as everybody writes them;
 * before 2.3, and in DG/UX's 543.0, interchanged; in 2.3 either way. */
enum lengths { LEN_AS_IS, LEN_SWAPPED, LEN_MAYBE_SWAPPED };

struct pcapfile {
	int fd;
	int swapped;		/* header fields in the other byte order */
	int nsec;		/* timestamps in nanoseconds, not microseconds */
	enum lengths lengths;
	uint32_t snaplen;
	uint8_t *buf;		/* BUF_SIZE bytes */
	size_t pos;		/* the next record starts at buf[pos] */
	size_t have;		/* bytes read into buf */
	uint64_t buf_off;	/* file offset of buf[0] */
	int eof;		/* a read found the end of the file */
	int damaged;		/* err and err_off say why and where */
	uint64_t err_off;
	char err[160];
};

static uint32_t swap32(uint32_t v)
{
	return __builtin_bswap32(v);
}

static uint32_t get32(const struct pcapfile *pf, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return pf->swapped ? swap32(v) : v;
}

static uint16_t get16(const struct pcapfile *pf, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return pf->swapped ? __builtin_bswap16(v) : v;
}

/* Read `len` bytes at `off`, retrying short reads; bytes read or -errno. */
static ssize_t pread_full(int fd, uint8_t *p, size_t len, uint64_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, p + got, len - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

int pcapfile_open(int fd, int dlt, int snaplen, struct pcapfile **out)
{
	struct pcapfile *pf;
	uint8_t hdr[FILE_HDR_LEN];
	uint32_t magic;
	uint16_t major, minor;
	struct stat st;
	ssize_t n;

	*out = NULL;
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    snaplen <= 0)
		return -ENOTSUP;
	n = pread_full(fd, hdr, sizeof(hdr), 0);
	if (n < 0)
		return (int)n;
	if (n != sizeof(hdr))
		return -ENOTSUP;
	pf = calloc(1, sizeof(*pf));
	if (!pf)
		return -ENOMEM;
	memcpy(&magic, hdr, 4);
	if (magic != MAGIC_USEC && magic != MAGIC_NSEC) {
		magic = swap32(magic);
		pf->swapped = 1;
	}
	/* pcapng, the modified formats (other record header sizes): libpcap */
	if (magic != MAGIC_USEC && magic != MAGIC_NSEC)
		goto notsup;
	pf->nsec = magic == MAGIC_NSEC;
	major = get16(pf, hdr + 4);
	minor = get16(pf, hdr + 6);
	if (major == 2 && minor < 3)
		pf->lengths = LEN_SWAPPED;
	else if (major == 2 && minor == 3)
		pf->lengths = LEN_MAYBE_SWAPPED;
	else if (major == 2)
		pf->lengths = LEN_AS_IS;
	else if (major == 543 && minor == 0)
		pf->lengths = LEN_SWAPPED;
	else
		goto notsup;
	/* libpcap rewrites the pseudo-header of these in a byte-swapped file
	 * (swap_pseudo_headers); we hand out the bytes as they are. */
	if (pf->swapped && (dlt == EW_DLT_LINUX_SLL || dlt == EW_DLT_LINUX_SLL2 ||
			    dlt == EW_DLT_NFLOG))
		goto notsup;
	pf->buf = malloc(BUF_SIZE);
	if (!pf->buf) {
		free(pf);
		return -ENOMEM;
	}
	pf->fd = fd;
	pf->snaplen = (uint32_t)snaplen;
	pf->buf_off = FILE_HDR_LEN;
	/* Twice the read-ahead for a file that is not in the page cache. */
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*out = pf;
	return 0;
notsup:
	free(pf);
	return -ENOTSUP;
}

void pcapfile_close(struct pcapfile *pf)
{
	if (!pf)
		return;
	free(pf->buf);
	free(pf);
}

const char *pcapfile_error(const struct pcapfile *pf)
{
	return pf->damaged ? pf->err : "";
}

uint64_t pcapfile_error_offset(const struct pcapfile *pf)
{
	return pf->err_off;
}

static void damage(struct pcapfile *pf, uint64_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void damage(struct pcapfile *pf, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pf->err, sizeof(pf->err), fmt, ap);
	va_end(ap);
	pf->err_off = off;
	pf->damaged = 1;
}

/* Move the unread bytes to the front and read up to a full buffer. */
static void fill(struct pcapfile *pf)
{
	size_t left = pf->have - pf->pos;
	ssize_t n;

	memmove(pf->buf, pf->buf + pf->pos, left);
	pf->buf_off += pf->pos;
	pf->pos = 0;
	pf->have = left;
	n = pread_full(pf->fd, pf->buf + left, BUF_SIZE - left,
		       pf->buf_off + left);
	if (n < 0) {
		damage(pf, pf->buf_off + left, "error reading dump file: %s",
		       strerror((int)-n));
		return;
	}
	pf->have += (size_t)n;
	if (pf->have < BUF_SIZE)
		pf->eof = 1;
}

/*
 * The record at buf[pos]: 1 with `r` filled and pos moved past it, 0 at the
 * end of the file, -1 on damage, 2 when it is not wholly in the buffer yet.
 */
static int record(struct pcapfile *pf, struct pcapfile_rec *r)
{
	size_t left = pf->have - pf->pos;
	const uint8_t *p = pf->buf + pf->pos;
	uint64_t rec_off = pf->buf_off + pf->pos;
	uint32_t caplen, len, t, avail;

	if (left < REC_HDR_LEN) {
		if (!pf->eof)
			return 2;
		if (left == 0)
			return 0;
		damage(pf, rec_off + left, "truncated dump file; tried to read "
		       "%d header bytes, only got %zu", REC_HDR_LEN, left);
		return -1;
	}
	caplen = get32(pf, p + 8);
	len = get32(pf, p + 12);
	if (pf->lengths == LEN_SWAPPED ||
	    (pf->lengths == LEN_MAYBE_SWAPPED && caplen > len)) {
		t = caplen;
		caplen = len;
		len = t;
	}
	if (caplen > PCAPFILE_MAX_CAPLEN) {
		if (caplen > pf->snaplen)
			damage(pf, rec_off + REC_HDR_LEN, "invalid packet capture "
			       "length %u, bigger than snaplen of %d", caplen,
			       (int)pf->snaplen);
		else
			damage(pf, rec_off + REC_HDR_LEN, "invalid packet capture "
			       "length %u, bigger than maximum of %u", caplen,
			       PCAPFILE_MAX_CAPLEN);
		return -1;
	}
	if (left - REC_HDR_LEN < caplen) {
		if (!pf->eof)
			return 2;
		/* libpcap reads the first snaplen bytes, then skips the rest;
		 * its message names the read that came up short. */
		avail = (uint32_t)(left - REC_HDR_LEN);
		if (caplen > pf->snaplen && avail < pf->snaplen)
			damage(pf, rec_off + left, "truncated dump file; tried "
			       "to read %d captured bytes, only got %u",
			       (int)pf->snaplen, avail);
		else
			damage(pf, rec_off + left, "truncated dump file; tried "
			       "to read %u captured bytes, only got %u", caplen,
			       avail);
		return -1;
	}
	/* Exactly as libpcap 1.10 widens them: the file's fields are signed
	 * 32-bit (struct pcap_timeval), and sign-extended when read in the
	 * host's order, but its byte-swapping macro yields an unsigned value,
	 * so a swapped file's are zero-extended. */
	if (pf->swapped) {
		r->h.ts.tv_sec = get32(pf, p);
		r->h.ts.tv_usec = get32(pf, p + 4);
	} else {
		r->h.ts.tv_sec = (int32_t)get32(pf, p);
		r->h.ts.tv_usec = (int32_t)get32(pf, p + 4);
	}
	if (!pf->nsec)
		r->h.ts.tv_usec *= 1000;
	r->h.caplen = caplen > pf->snaplen ? pf->snaplen : caplen;
	r->h.len = len;
	r->data = p + REC_HDR_LEN;
	pf->pos += REC_HDR_LEN + caplen;
	return 1;
}

int pcapfile_next(struct pcapfile *pf, struct pcapfile_rec *recs, int max)
{
	int n = 0, rc;

	while (n < max && !pf->damaged) {
		rc = record(pf, &recs[n]);
		if (rc == 2) {
			/* Refilling moves the buffer under the records
			 * already handed out: hand those over first.  After
			 * a fill the record is whole or the file has ended
			 * (the buffer holds the largest record), so the
			 * second look never answers 2. */
			if (n > 0)
				break;
			fill(pf);
			if (pf->damaged)
				break;
			rc = record(pf, &recs[n]);
		}
		if (rc == 1) {
			n++;
			continue;
		}
		break;	/* 0: end of file; -1: damaged */
	}
	if (n > 0)
		return n;
	return pf->damaged ? -1 : 0;
}
