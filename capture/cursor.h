/*
 * cursor.h - private to capture/: the one reader of packet bytes.
 *
 * Every byte a decoder takes from a captured frame comes through a cursor.
 * Each read checks the bytes left before touching memory, and the check is
 * written as a subtraction (`len - off < n`) that cannot overflow because
 * `off <= len` always holds.  The first failed read sets `err`, and from then
 * on every read returns 0 (or zero-fills) and moves nothing: a decoder may
 * read a whole header field by field and test `err` once at the end, and a
 * failure can never be half-applied.
 *
 * A cursor can be narrowed (cur_clamp) to the length a header declares, so
 * that Ethernet padding, a trailing FCS or the next tunnel layer is never
 * taken for payload.  It is never widened.
 */
#ifndef EW_CAPTURE_CURSOR_H
#define EW_CAPTURE_CURSOR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct cursor {
	const uint8_t *p;	/* first byte of the frame */
	size_t len;		/* bytes that may be read: p[0] .. p[len - 1] */
	size_t off;		/* next byte to read; off <= len always */
	const char *err;	/* first failure, NULL while every read fit */
};

static inline void cur_init(struct cursor *c, const uint8_t *p, size_t len)
{
	c->p = p;
	c->len = len;
	c->off = 0;
	c->err = NULL;
}

/* Bytes left to read. */
static inline size_t cur_left(const struct cursor *c)
{
	return c->len - c->off;
}

/* The next byte's address; only meaningful together with cur_left(). */
static inline const uint8_t *cur_here(const struct cursor *c)
{
	return c->p + c->off;
}

/* 1 if `n` more bytes can be read; otherwise sets `err` and returns 0. */
static inline int cur_need(struct cursor *c, size_t n)
{
	if (c->err || c->len - c->off < n) {
		c->err = "truncated";
		return 0;
	}
	return 1;
}

static inline uint8_t cur_u8(struct cursor *c)
{
	if (!cur_need(c, 1))
		return 0;
	return c->p[c->off++];
}

static inline uint16_t cur_be16(struct cursor *c)
{
	if (!cur_need(c, 2))
		return 0;
	uint16_t v = (uint16_t)(c->p[c->off] << 8 | c->p[c->off + 1]);
	c->off += 2;
	return v;
}

static inline uint32_t cur_be32(struct cursor *c)
{
	if (!cur_need(c, 4))
		return 0;
	const uint8_t *b = c->p + c->off;
	uint32_t v = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
		     (uint32_t)b[2] << 8 | (uint32_t)b[3];
	c->off += 4;
	return v;
}

/* Copy `n` bytes out; on failure `dst` is zero-filled. */
static inline void cur_copy(struct cursor *c, void *dst, size_t n)
{
	if (!cur_need(c, n)) {
		memset(dst, 0, n);
		return;
	}
	memcpy(dst, c->p + c->off, n);
	c->off += n;
}

static inline void cur_skip(struct cursor *c, size_t n)
{
	if (cur_need(c, n))
		c->off += n;
}

/*
 * Skip `n` bytes or as many as are left, without failing: for bytes a decoder
 * does not need (TCP options, say) that a short snapshot length may have cut.
 */
static inline void cur_skip_avail(struct cursor *c, size_t n)
{
	size_t left = c->len - c->off;

	c->off += n < left ? n : left;
}

/* The next byte without moving; -1 (and `err` set) when there is none. */
static inline int cur_peek_u8(struct cursor *c)
{
	if (!cur_need(c, 1))
		return -1;
	return c->p[c->off];
}

/*
 * Narrow the cursor to at most the next `n` bytes, as a length field declares
 * them.  Returns the bytes now left, which is less than `n` when the capture
 * (or an outer layer) holds fewer.
 */
static inline size_t cur_clamp(struct cursor *c, size_t n)
{
	if (n < c->len - c->off)
		c->len = c->off + n;
	return c->len - c->off;
}

#endif
