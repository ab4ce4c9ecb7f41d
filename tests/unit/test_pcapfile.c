/*
 * test_pcapfile.c - capture/pcapfile.c, the record walk of classic pcap
 * files, against libpcap itself: for every file, written here (both byte
 * orders, both timestamp precisions, old versions, every kind of damage) or
 * found in the test captures, both readers must give the same records (time,
 * lengths, bytes) and end the same way (end of file, or the same message at
 * the same byte offset).  Files the reader must leave to libpcap (pcapng,
 * pipes, byte-swapped files with pseudo-headers libpcap rewrites) are checked
 * to be left.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"
#include "decode.h"
#include "pcapfile.h"
#include "util.h"

static char tmpdir[256];
static int serial;

/* ---- writing capture files ----------------------------------------------- */

struct w {
	FILE *f;
	int swap;
};

static void put32(struct w *w, uint32_t v)
{
	if (w->swap)
		v = __builtin_bswap32(v);
	fwrite(&v, 4, 1, w->f);
}

static void put16(struct w *w, uint16_t v)
{
	if (w->swap)
		v = __builtin_bswap16(v);
	fwrite(&v, 2, 1, w->f);
}

static const char *new_path(char *buf, size_t len)
{
	snprintf(buf, len, "%s/f%d.pcap", tmpdir, ++serial);
	return buf;
}

static struct w start_file(const char *path, int swap, int nsec,
			   uint16_t major, uint16_t minor, uint32_t snaplen,
			   uint32_t linktype)
{
	struct w w = {fopen(path, "wb"), swap};

	CHECK(w.f != NULL);
	put32(&w, nsec ? 0xa1b23c4du : 0xa1b2c3d4u);
	put16(&w, major);
	put16(&w, minor);
	put32(&w, 0);
	put32(&w, 0);
	put32(&w, snaplen);
	put32(&w, linktype);
	return w;
}

/* A record header as given (caplen/len in file order) and `ndata` bytes. */
static void put_record(struct w *w, uint32_t sec, uint32_t frac,
		       uint32_t caplen, uint32_t len, size_t ndata,
		       uint32_t seed)
{
	put32(w, sec);
	put32(w, frac);
	put32(w, caplen);
	put32(w, len);
	for (size_t i = 0; i < ndata; i++)
		fputc((int)((seed * 131u + i * 7u) & 0xff), w->f);
}

/* ---- reading with both ------------------------------------------------------ */

struct rec {
	int64_t sec, frac;
	uint32_t caplen, len;
	uint64_t hash;
};

struct run {
	struct rec *r;
	size_t n, cap;
	int damaged;
	char err[PCAP_ERRBUF_SIZE + 64];
	long long off;
	int taken;		/* pcapfile took the file */
};

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

static void add(struct run *run, const struct pcap_pkthdr *h,
		const uint8_t *data)
{
	if (run->n == run->cap) {
		run->cap = run->cap ? 2 * run->cap : 64;
		run->r = realloc(run->r, run->cap * sizeof(*run->r));
	}
	run->r[run->n++] = (struct rec){h->ts.tv_sec, h->ts.tv_usec,
					h->caplen, h->len,
					hash_bytes(data, h->caplen)};
}

static pcap_t *open_nano(const char *path)
{
	char e[PCAP_ERRBUF_SIZE];

	return pcap_open_offline_with_tstamp_precision(
		path, PCAP_TSTAMP_PRECISION_NANO, e);
}

static void read_libpcap(const char *path, struct run *run)
{
	pcap_t *p = open_nano(path);
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc;

	memset(run, 0, sizeof(*run));
	if (!p)
		return;
	while ((rc = pcap_next_ex(p, &h, &data)) == 1)
		add(run, h, data);
	if (rc == PCAP_ERROR) {
		run->damaged = 1;
		snprintf(run->err, sizeof(run->err), "%s", pcap_geterr(p));
		run->off = ftell(pcap_file(p));
	}
	pcap_close(p);
}

/* `batch` records per call at most. */
static int read_pcapfile(const char *path, struct run *run, int batch)
{
	pcap_t *p = open_nano(path);
	struct pcapfile *pf;
	struct pcapfile_rec recs[64];
	int rc;

	memset(run, 0, sizeof(*run));
	if (!p)
		return -EINVAL;
	rc = pcapfile_open(fileno(pcap_file(p)), pcap_datalink(p) & 0x03FFFFFF,
			   pcap_snapshot(p), &pf);
	if (rc < 0) {
		pcap_close(p);
		return rc;
	}
	run->taken = 1;
	while ((rc = pcapfile_next(pf, recs, batch)) > 0)
		for (int i = 0; i < rc; i++)
			add(run, &recs[i].h, recs[i].data);
	if (rc < 0) {
		run->damaged = 1;
		snprintf(run->err, sizeof(run->err), "%s", pcapfile_error(pf));
		run->off = (long long)pcapfile_error_offset(pf);
	}
	pcapfile_close(pf);
	pcap_close(p);
	return 0;
}

/* Both readers agree on `path`; returns the number of records (-1 when
 * pcapfile did not take the file). */
static long check_same(const char *path)
{
	struct run a, b, c;
	long n;
	int rc;

	read_libpcap(path, &a);
	rc = read_pcapfile(path, &b, 64);
	if (rc == -ENOTSUP) {
		free(a.r);
		return -1;
	}
	CHECK(rc == 0);
	CHECK(read_pcapfile(path, &c, 1) == 0);
	CHECK_EQ_U(b.n, a.n);
	CHECK_EQ_U(c.n, a.n);
	for (size_t i = 0; i < a.n && i < b.n && i < c.n; i++) {
		int same = memcmp(&a.r[i], &b.r[i], sizeof(a.r[i])) == 0 &&
			   memcmp(&a.r[i], &c.r[i], sizeof(a.r[i])) == 0;
		CHECK(same);
		if (!same) {
			fprintf(stderr, "  %s: record %zu differs\n", path, i);
			break;
		}
	}
	CHECK_EQ_U(b.damaged, a.damaged);
	CHECK_STR(b.err, a.err);
	CHECK_EQ_U(b.off, a.off);
	CHECK_STR(c.err, a.err);
	CHECK_EQ_U(c.off, a.off);
	n = (long)a.n;
	free(a.r);
	free(b.r);
	free(c.r);
	return n;
}

static struct run last;	/* the pcapfile run of the last check_damage */

/* check_same, and the end is damage with `msg` at `off`. */
static void check_damage(const char *path, long records, const char *msg,
			 long long off)
{
	CHECK_EQ_U(check_same(path), records);
	free(last.r);
	CHECK(read_pcapfile(path, &last, 64) == 0);
	CHECK(last.damaged);
	CHECK_STR(last.err, msg);
	CHECK_EQ_U(last.off, off);
}

/* ---- well-formed files ------------------------------------------------------ */

static void both_byte_orders_and_precisions_read_alike(void)
{
	char p[512];

	for (int swap = 0; swap < 2; swap++)
		for (int nsec = 0; nsec < 2; nsec++) {
			struct w w = start_file(new_path(p, sizeof(p)), swap,
						nsec, 2, 4, 65535, 1);
			put_record(&w, 1700000000, 999999, 60, 60, 60, 1);
			put_record(&w, 1700000001, nsec ? 999999999 : 1, 1514,
				   1514, 1514, 2);
			/* negative times are signed 32-bit in the file */
			put_record(&w, 0x80000000u, 0xffffffffu, 14, 1500, 14, 3);
			fclose(w.f);
			CHECK_EQ_U(check_same(p), 3);
		}
}

static void empty_file_ends_at_once(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 262144, 1);

	fclose(w.f);
	CHECK_EQ_U(check_same(p), 0);
}

/* Records of every size up to the largest, so that many straddle the
 * reader's buffer and several fill half of it. */
static void records_across_buffer_refills(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 1, 2, 4, 0, 1);
	uint32_t x = 12345;
	long n = 0;

	for (int i = 0; i < 6000; i++) {
		uint32_t len;

		x = x * 1103515245u + 12345u;
		len = (i % 997 == 0) ? PCAPFILE_MAX_CAPLEN : (x >> 16) % 1600;
		put_record(&w, 1700000000u + (uint32_t)i, x % 1000000000u, len,
			   len + (x & 7), len, x);
		n++;
	}
	fclose(w.f);
	CHECK_EQ_U(check_same(p), n);
}

/* Versions before 2.3 store len before caplen; 2.3 files were written both
 * ways, and libpcap interchanges them when caplen > len. */
static void old_versions_interchange_lengths(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 2, 65535, 1);

	put_record(&w, 1, 2, 1500, 100, 100, 1);	/* len, caplen */
	fclose(w.f);
	CHECK_EQ_U(check_same(p), 1);

	w = start_file(new_path(p, sizeof(p)), 1, 0, 2, 3, 65535, 1);
	put_record(&w, 1, 2, 100, 1500, 100, 1);	/* as is */
	put_record(&w, 1, 3, 1500, 100, 100, 2);	/* interchanged */
	fclose(w.f);
	CHECK_EQ_U(check_same(p), 2);
}

/* A record longer than the snapshot length (but within the maximum) is cut
 * to it, and the next record is found after its full length. */
static void record_over_snaplen_is_cut_and_skipped(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 100, 1);
	struct run r;

	put_record(&w, 1, 1, 150, 150, 150, 1);
	put_record(&w, 1, 2, 60, 60, 60, 2);
	fclose(w.f);
	CHECK_EQ_U(check_same(p), 2);
	CHECK(read_pcapfile(p, &r, 64) == 0);
	CHECK_EQ_U(r.n, 2);
	CHECK_EQ_U(r.r[0].caplen, 100);
	CHECK_EQ_U(r.r[1].caplen, 60);
	free(r.r);
}

/* ---- damage ------------------------------------------------------------------ */

static void truncated_record_header_is_damage(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 65535, 1);

	put_record(&w, 1, 1, 60, 60, 60, 1);
	fwrite("\1\2\3\4\5\6\7", 7, 1, w.f);
	fclose(w.f);
	check_damage(p, 1, "truncated dump file; tried to read 16 header "
		     "bytes, only got 7", 24 + 16 + 60 + 7);
}

static void truncated_record_data_is_damage(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 1, 1, 2, 4, 65535, 1);

	put_record(&w, 1, 1, 60, 60, 60, 1);
	put_record(&w, 1, 2, 100, 100, 40, 2);
	fclose(w.f);
	check_damage(p, 1, "truncated dump file; tried to read 100 captured "
		     "bytes, only got 40", 24 + 16 + 60 + 16 + 40);
}

static void truncated_record_over_snaplen_is_damage(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 100, 1);

	/* shorter than the snapshot length */
	put_record(&w, 1, 1, 150, 150, 70, 1);
	fclose(w.f);
	check_damage(p, 0, "truncated dump file; tried to read 100 captured "
		     "bytes, only got 70", 24 + 16 + 70);

	/* the snapshot length is there, the rest is not */
	w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 100, 1);
	put_record(&w, 1, 1, 150, 150, 120, 1);
	fclose(w.f);
	check_damage(p, 0, "truncated dump file; tried to read 150 captured "
		     "bytes, only got 120", 24 + 16 + 120);
}

static void oversized_capture_length_is_damage(void)
{
	char p[512];
	struct w w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 65535, 1);

	put_record(&w, 1, 1, 60, 60, 60, 1);
	put_record(&w, 1, 2, 0x7fffffffu, 60, 60, 2);
	fclose(w.f);
	check_damage(p, 1, "invalid packet capture length 2147483647, bigger "
		     "than snaplen of 65535", 24 + 16 + 60 + 16);

	/* snaplen 0 means the maximum */
	w = start_file(new_path(p, sizeof(p)), 1, 0, 2, 4, 0, 1);
	put_record(&w, 1, 2, PCAPFILE_MAX_CAPLEN + 1, 60, 60, 2);
	fclose(w.f);
	check_damage(p, 0, "invalid packet capture length 262145, bigger "
		     "than snaplen of 262144", 24 + 16);
}

/* ---- files left to libpcap -------------------------------------------------- */

static void swapped_pseudo_header_links_are_left_to_libpcap(void)
{
	static const uint32_t links[] = {EW_DLT_LINUX_SLL, EW_DLT_NFLOG,
					 EW_DLT_LINUX_SLL2};
	char p[512];

	for (size_t i = 0; i < EW_ARRAY_LEN(links); i++) {
		struct w w = start_file(new_path(p, sizeof(p)), 1, 0, 2, 4,
					65535, links[i]);
		put_record(&w, 1, 1, 60, 60, 60, 1);
		fclose(w.f);
		CHECK(check_same(p) == -1);
		/* in the host's order they are taken */
		w = start_file(new_path(p, sizeof(p)), 0, 0, 2, 4, 65535,
			       links[i]);
		put_record(&w, 1, 1, 60, 60, 60, 1);
		fclose(w.f);
		CHECK_EQ_U(check_same(p), 1);
	}
}

static void pcapng_and_pipes_are_left_to_libpcap(void)
{
	/* A minimal pcapng: section header and interface description. */
	static const uint8_t ng[] = {
		0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a,
		1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		28, 0, 0, 0,
		1, 0, 0, 0, 20, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff, 0, 0,
		20, 0, 0, 0,
	};
	char p[512];
	struct pcapfile *pf = NULL;
	FILE *f;
	int fds[2];

	snprintf(p, sizeof(p), "%s/ng.pcapng", tmpdir);
	f = fopen(p, "wb");
	fwrite(ng, sizeof(ng), 1, f);
	fclose(f);
	CHECK(check_same(p) == -1);

	CHECK(pipe(fds) == 0);
	CHECK(pcapfile_open(fds[0], 1, 65535, &pf) == -ENOTSUP);
	CHECK(pf == NULL);
	close(fds[0]);
	close(fds[1]);
}

/* ---- every test capture ----------------------------------------------------- */

static void walk(const char *dir, long *files, long *taken)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char p[1024];

	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		struct stat st;
		size_t n = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		if (stat(p, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			walk(p, files, taken);
		} else if ((n > 5 && strcmp(e->d_name + n - 5, ".pcap") == 0) ||
			   (n > 7 && strcmp(e->d_name + n - 7, ".pcapng") == 0)) {
			pcap_t *pc = open_nano(p);

			if (!pc)
				continue;	/* libpcap refuses it: so do we */
			pcap_close(pc);
			(*files)++;
			if (check_same(p) >= 0)
				(*taken)++;
		}
	}
	closedir(d);
}

static void every_test_capture_reads_as_libpcap_reads_it(void)
{
	const char *root = getenv("EW_TESTDATA");
	char dir[512];
	long files = 0, taken = 0;

	if (!root) {
		printf("     (EW_TESTDATA not set: test captures skipped)\n");
		return;
	}
	snprintf(dir, sizeof(dir), "%s/pcaps", root);
	walk(dir, &files, &taken);
	printf("     %ld captures: %ld read by pcapfile, the rest by libpcap\n",
	       files, taken);
	CHECK(taken > 100);
}

static int rm_all(void)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_pcapfile.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(both_byte_orders_and_precisions_read_alike);
	RUN(empty_file_ends_at_once);
	RUN(records_across_buffer_refills);
	RUN(old_versions_interchange_lengths);
	RUN(record_over_snaplen_is_cut_and_skipped);
	RUN(truncated_record_header_is_damage);
	RUN(truncated_record_data_is_damage);
	RUN(truncated_record_over_snaplen_is_damage);
	RUN(oversized_capture_length_is_damage);
	RUN(swapped_pseudo_header_links_are_left_to_libpcap);
	RUN(pcapng_and_pipes_are_left_to_libpcap);
	RUN(every_test_capture_reads_as_libpcap_reads_it);
	free(last.r);
	if (rm_all() != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return T_DONE();
}
