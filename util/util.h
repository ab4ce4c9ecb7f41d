/*
 * util.h - small pieces every module shares: logging, clocks and time
 * formatting, IP address text, a bounded growable buffer with JSON escaping,
 * a keyed hash, and a bounded single-producer/single-consumer queue.
 *
 * Nothing here knows about packets, SQLite or HTTP.  Every function that can
 * fail returns 0 on success and a negative errno value on failure.
 */
#ifndef EW_UTIL_H
#define EW_UTIL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>

#define EW_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging ------------------------------------------------------------
 * One line per call on stderr, prefixed with a UTC timestamp and level.
 * log_warn appends strerror(errno); log_warnx does not.  Nothing on the
 * packet path logs: it counts. */
enum ew_log_level { EW_LOG_DEBUG, EW_LOG_INFO, EW_LOG_WARN, EW_LOG_ERROR };
void ew_log_set_level(enum ew_log_level lvl);
void ew_log(enum ew_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- clocks and time text ---------------------------------------------- */
uint64_t ew_now_ns(void);	/* CLOCK_REALTIME, ns since the epoch */
uint64_t ew_mono_ns(void);	/* CLOCK_MONOTONIC */
uint64_t ew_boot_ns(void);	/* CLOCK_BOOTTIME: monotonic, counts suspend */

#define EW_TIME_STRLEN 40
/* RFC 3339 UTC with microseconds, e.g. "2026-11-28T15:36:20.123456Z". */
void ew_fmt_time(uint64_t ns, char out[EW_TIME_STRLEN]);
/*
 * Parse a point in time: RFC 3339 ("2026-11-28T15:00:00Z", fractional
 * seconds and "+hh:mm" offsets accepted, "2026-11-28" alone means midnight
 * UTC), plain Unix seconds ("1764342000"), or a duration before `now_ns`
 * ("-90s", "-15m", "-2h", "-7d").  Returns 0 or -EINVAL.
 */
int ew_parse_time(const char *s, uint64_t now_ns, uint64_t *out_ns);
/* Parse a duration "30", "30s", "5m", "2h", "7d" into seconds; -EINVAL. */
int ew_parse_duration(const char *s, uint64_t *out_s);
/* Parse a size "1073741824", "512k", "64M", "1G" (powers of 1024). */
int ew_parse_size(const char *s, uint64_t *out_bytes);

/* ---- addresses -----------------------------------------------------------
 * Every address is kept as 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped
 * IPv6 address ::ffff:a.b.c.d, so one comparison and one index serve both. */
#define EW_IPSTR_MAX 46
void ew_ip_from_v4(uint8_t out[16], const uint8_t v4[4]);
int ew_ip_is_v4(const uint8_t ip[16]);
/* Text form: dotted quad for mapped IPv4, RFC 5952 for IPv6. */
void ew_ip_to_str(const uint8_t ip[16], char out[EW_IPSTR_MAX]);
/* Copy the string `src` into `dst` of `size` bytes (> 0), cut to fit, always
 * terminated: snprintf(dst, size, "%s", src) without the format parsing. */
void ew_strcpy_cut(char *dst, size_t size, const char *src);
/* Parse "192.0.2.1" or "2001:db8::1"; 0 or -EINVAL. */
int ew_ip_parse(const char *s, uint8_t out[16]);

struct ew_cidr {
	uint8_t lo[16];	/* first address of the block (mapped form) */
	uint8_t hi[16];	/* last address of the block */
	uint8_t prefix;	/* prefix length in the 128-bit mapped space */
};
/* Parse "198.51.100.0/24", "2001:db8::/32" or a single address. */
int ew_cidr_parse(const char *s, struct ew_cidr *out);
int ew_cidr_contains(const struct ew_cidr *c, const uint8_t ip[16]);

/* Lower-case IANA keyword of an IP protocol ("tcp", "udp", "icmp",
 * "ipv6-icmp", ...) or NULL when we have no name for it. */
const char *ew_proto_name(uint8_t proto);
/* Inverse of ew_proto_name, also accepting a decimal number; -EINVAL. */
int ew_proto_parse(const char *s, uint8_t *out);

/* ---- bounded buffer ------------------------------------------------------
 * A growable byte buffer with a hard maximum: appending past `max` sets
 * `toobig` and drops the append, so outside input can never make it grow
 * without bound.  The content is always NUL-terminated. */
struct ew_buf {
	char *data;
	size_t len, cap, max;
	int toobig;
};
void ew_buf_init(struct ew_buf *b, size_t max);
void ew_buf_free(struct ew_buf *b);
void ew_buf_reset(struct ew_buf *b);
int ew_buf_append(struct ew_buf *b, const void *p, size_t n);
int ew_buf_puts(struct ew_buf *b, const char *s);
int ew_buf_printf(struct ew_buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Append `s` as a JSON string literal, quotes included.  Control characters,
 * quotes, backslash, '<', '>', '&', U+2028 and U+2029 are escaped as \uXXXX,
 * and every byte that is not part of valid UTF-8 becomes U+FFFD, so the output
 * is valid JSON, valid UTF-8, and inert when embedded anywhere in HTML.
 * A NULL `s` appends `null`.
 */
int ew_buf_json_str(struct ew_buf *b, const char *s);

/* ---- keyed hash ---------------------------------------------------------
 * SipHash-1-3 with a 128-bit key.  Used for every table whose keys an
 * attacker chooses, with a key drawn from getrandom() at start. */
uint64_t ew_siphash(const uint8_t key[16], const void *data, size_t len);
/* Fill `out` from getrandom(); falls back to /dev/urandom.  0 or -errno. */
int ew_random_bytes(void *out, size_t len);

/* ---- bounded SPSC queue -------------------------------------------------
 * A fixed-size ring of fixed-size elements between exactly one producer
 * thread and one consumer thread.  Push and pop never allocate.  When the
 * ring is full, ew_queue_push either fails at once (and the caller counts a
 * drop) or, with `block`, waits for room: replay uses blocking so that no
 * record is ever lost offline; live capture never blocks.  Sleeping sides are
 * woken in batches (util/queue.c): a blocked producer when a quarter of the
 * ring is free, a consumer that is streaming at up to 64 elements or 1 ms. */
struct ew_queue {
	uint8_t *slots;
	size_t elem_size;
	size_t cap;			/* power of two */
	size_t room_wake;		/* free slots that wake a producer */
	size_t items_wake;		/* elements that wake a streaming consumer */
	_Atomic size_t head;		/* next slot to read (consumer) */
	_Atomic size_t tail;		/* next slot to write (producer) */
	_Atomic int closed;
	pthread_mutex_t mu;		/* only for sleeping, not for the data */
	pthread_cond_t cv_items, cv_room;
	_Atomic int waiting_items, waiting_room;
	_Atomic size_t want_items;	/* elements the waiting consumer wants */
	int streaming;			/* consumer only: found elements waiting */
	_Atomic uint64_t high_water;	/* deepest the ring has been */
};
int ew_queue_init(struct ew_queue *q, size_t elem_size, size_t min_cap);
void ew_queue_destroy(struct ew_queue *q);
/* 0 on success; -EAGAIN when full and !block; -EPIPE after close. */
int ew_queue_push(struct ew_queue *q, const void *elem, int block);
/*
 * Pop one element into `out`.  With timeout_ms < 0 waits for ever, 0 does not
 * wait.  Returns 0, -EAGAIN (empty after the wait) or -EPIPE (closed and
 * drained).
 */
int ew_queue_pop(struct ew_queue *q, void *out, int timeout_ms);
/* Consumer side: copy the oldest element into `out` without removing it.
 * 0, or -EAGAIN when empty.  Never waits. */
int ew_queue_peek(struct ew_queue *q, void *out);
/*
 * In place, for large elements.  Producer: ew_queue_reserve returns the next
 * free slot (waiting for room with `block`), or NULL when full and !block or
 * after close; fill it, then ew_queue_commit publishes it.  Consumer:
 * ew_queue_wait waits like ew_queue_pop (0, -EAGAIN, -EPIPE) without taking
 * anything; ew_queue_front returns the oldest element (NULL when empty),
 * valid until ew_queue_advance removes it.
 */
void *ew_queue_reserve(struct ew_queue *q, int block);
void ew_queue_commit(struct ew_queue *q);
int ew_queue_wait(struct ew_queue *q, int timeout_ms);
const void *ew_queue_front(struct ew_queue *q);
void ew_queue_advance(struct ew_queue *q);
/* Producer side: no more pushes; the consumer drains what is left. */
void ew_queue_close(struct ew_queue *q);
size_t ew_queue_depth(struct ew_queue *q);

#endif
