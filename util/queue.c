/*
 * queue.c - bounded single-producer/single-consumer ring.
 *
 * The data path is lock-free: the producer owns `tail`, the consumer owns
 * `head`, each published with release and read with acquire ordering.  The
 * mutex and condition variables are only for sleeping: a side that has to
 * wait announces it in waiting_* and the other side signals only when someone
 * waits, so a busy pipeline makes no system calls per element.
 *
 * Wake-ups are batched.  Two threads of unequal speed otherwise ping-pong:
 * the fast side sleeps, the slow side wakes it for a single element, and each
 * hand-over costs a futex call and two context switches, many times the cost
 * of the element itself.  So:
 *
 *  - A producer blocked on a full ring sleeps until a quarter of it is free
 *    (`room_wake`), not until the first slot is.
 *  - A consumer that found an element already waiting for it, or woke to
 *    find several, is behind a stream; when it catches up it sleeps until
 *    `items_wake` elements are there or NAP_NS has passed, whichever comes
 *    first.  A consumer that woke to a single element waits for the next one
 *    alone, so a quiet or trickling queue still hands every element over at
 *    once, and a stream delays an element by NAP_NS at most.
 *
 * The consumer may work on an element in place (ew_queue_front, then
 * ew_queue_advance), and the producer may build one in place
 * (ew_queue_reserve, then ew_queue_commit): large elements are then copied
 * once, not twice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

#define NAP_NS 1000000ull	/* 1 ms: the longest a streaming consumer naps */
#define ITEMS_WAKE_MAX 64
#define ROOM_WAIT_NS 100000000ull	/* bounded sleeps: a safety net only */
#define ITEMS_WAIT_NS 1000000000ull

int ew_queue_init(struct ew_queue *q, size_t elem_size, size_t min_cap)
{
	size_t cap = 2;

	memset(q, 0, sizeof(*q));
	while (cap < min_cap)
		cap <<= 1;
	if (elem_size == 0 || cap > SIZE_MAX / elem_size)
		return -EINVAL;
	q->slots = malloc(cap * elem_size);
	if (!q->slots)
		return -ENOMEM;
	q->elem_size = elem_size;
	q->cap = cap;
	q->room_wake = cap / 4 ? cap / 4 : 1;
	q->items_wake = q->room_wake < ITEMS_WAKE_MAX ? q->room_wake :
							ITEMS_WAKE_MAX;
	atomic_init(&q->want_items, 1);
	pthread_mutex_init(&q->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&q->cv_items, &ca);
	pthread_cond_init(&q->cv_room, &ca);
	pthread_condattr_destroy(&ca);
	return 0;
}

void ew_queue_destroy(struct ew_queue *q)
{
	if (!q->slots)
		return;
	pthread_cond_destroy(&q->cv_items);
	pthread_cond_destroy(&q->cv_room);
	pthread_mutex_destroy(&q->mu);
	free(q->slots);
	q->slots = NULL;
}

size_t ew_queue_depth(struct ew_queue *q)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
	size_t h = atomic_load_explicit(&q->head, memory_order_acquire);

	return t - h;
}

static void broadcast(struct ew_queue *q, pthread_cond_t *cv)
{
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(&q->mu);
}

static void deadline_after_ns(struct timespec *ts, uint64_t ns)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += (time_t)(ns / 1000000000ull);
	ts->tv_nsec += (long)(ns % 1000000000ull);
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static int ts_before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

void *ew_queue_reserve(struct ew_queue *q, int block)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	for (;;) {
		if (atomic_load_explicit(&q->closed, memory_order_acquire))
			return NULL;
		if (t - atomic_load_explicit(&q->head, memory_order_acquire) <
		    q->cap)
			break;
		if (!block)
			return NULL;
		pthread_mutex_lock(&q->mu);
		/* The store of waiting_room and the load of head below pair
		 * with the consumer's store of head and load of waiting_room
		 * (both seq_cst): one of the two sides sees the other. */
		atomic_store_explicit(&q->waiting_room, 1, memory_order_seq_cst);
		if (q->cap - (t - atomic_load_explicit(&q->head,
						       memory_order_seq_cst)) <
			    q->room_wake &&
		    !atomic_load_explicit(&q->closed, memory_order_seq_cst)) {
			struct timespec ts;
			deadline_after_ns(&ts, ROOM_WAIT_NS);
			pthread_cond_timedwait(&q->cv_room, &q->mu, &ts);
		}
		atomic_store_explicit(&q->waiting_room, 0, memory_order_seq_cst);
		pthread_mutex_unlock(&q->mu);
	}
	return q->slots + (t & (q->cap - 1)) * q->elem_size;
}

void ew_queue_commit(struct ew_queue *q)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed) + 1;
	size_t depth;

	atomic_store_explicit(&q->tail, t, memory_order_seq_cst);
	depth = t - atomic_load_explicit(&q->head, memory_order_relaxed);
	if (depth > atomic_load_explicit(&q->high_water, memory_order_relaxed))
		atomic_store_explicit(&q->high_water, depth, memory_order_relaxed);
	if (atomic_load_explicit(&q->waiting_items, memory_order_seq_cst) &&
	    depth >= atomic_load_explicit(&q->want_items, memory_order_relaxed))
		broadcast(q, &q->cv_items);
}

int ew_queue_push(struct ew_queue *q, const void *elem, int block)
{
	void *slot = ew_queue_reserve(q, block);

	if (!slot)
		return atomic_load_explicit(&q->closed, memory_order_acquire) ?
			       -EPIPE : -EAGAIN;
	memcpy(slot, elem, q->elem_size);
	ew_queue_commit(q);
	return 0;
}

/* Sleep until the ring (empty at `h`) holds `want` elements, is closed, or
 * `until` has passed. */
static void wait_items(struct ew_queue *q, size_t h, size_t want,
		       const struct timespec *until)
{
	pthread_mutex_lock(&q->mu);
	atomic_store_explicit(&q->want_items, want, memory_order_relaxed);
	/* Pairs with the producer's store of tail and load of waiting_items,
	 * as in ew_queue_reserve. */
	atomic_store_explicit(&q->waiting_items, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&q->tail, memory_order_seq_cst) - h < want &&
	    !atomic_load_explicit(&q->closed, memory_order_seq_cst))
		pthread_cond_timedwait(&q->cv_items, &q->mu, until);
	atomic_store_explicit(&q->waiting_items, 0, memory_order_seq_cst);
	pthread_mutex_unlock(&q->mu);
}

int ew_queue_wait(struct ew_queue *q, int timeout_ms)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct timespec deadline, until, now;
	int streaming = q->streaming;
	size_t t;

	if (atomic_load_explicit(&q->tail, memory_order_acquire) != h) {
		q->streaming = 1;
		return 0;
	}
	if (timeout_ms > 0)
		deadline_after_ns(&deadline, (uint64_t)timeout_ms * 1000000ull);
	for (;;) {
		t = atomic_load_explicit(&q->tail, memory_order_acquire);
		if (t != h) {
			/* Woken with more than one: a stream (a consumer that
			 * drains the ring finds it empty every time). */
			q->streaming = t - h > 1;
			return 0;
		}
		if (atomic_load_explicit(&q->closed, memory_order_acquire)) {
			/* Re-check: the producer may have pushed then closed. */
			if (atomic_load_explicit(&q->tail, memory_order_acquire) != h)
				return 0;
			return -EPIPE;
		}
		if (timeout_ms == 0)
			return -EAGAIN;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (timeout_ms > 0 && !ts_before(&now, &deadline)) {
			q->streaming = 0;	/* the stream has dried up */
			return -EAGAIN;
		}
		if (streaming) {
			/* Behind a stream: one short nap for a batch. */
			deadline_after_ns(&until, NAP_NS);
			if (timeout_ms > 0 && ts_before(&deadline, &until))
				until = deadline;
			wait_items(q, h, q->items_wake, &until);
			streaming = 0;
			continue;
		}
		if (timeout_ms > 0)
			until = deadline;
		else
			deadline_after_ns(&until, ITEMS_WAIT_NS);
		wait_items(q, h, 1, &until);
	}
}

const void *ew_queue_front(struct ew_queue *q)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (atomic_load_explicit(&q->tail, memory_order_acquire) == h)
		return NULL;
	return q->slots + (h & (q->cap - 1)) * q->elem_size;
}

void ew_queue_advance(struct ew_queue *q)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed) + 1;

	atomic_store_explicit(&q->head, h, memory_order_seq_cst);
	if (atomic_load_explicit(&q->waiting_room, memory_order_seq_cst) &&
	    q->cap - (atomic_load_explicit(&q->tail, memory_order_acquire) - h) >=
		    q->room_wake)
		broadcast(q, &q->cv_room);
}

int ew_queue_pop(struct ew_queue *q, void *out, int timeout_ms)
{
	int rc = ew_queue_wait(q, timeout_ms);

	if (rc < 0)
		return rc;
	memcpy(out, ew_queue_front(q), q->elem_size);
	ew_queue_advance(q);
	return 0;
}

int ew_queue_peek(struct ew_queue *q, void *out)
{
	const void *front = ew_queue_front(q);

	if (!front)
		return -EAGAIN;
	memcpy(out, front, q->elem_size);
	return 0;
}

void ew_queue_close(struct ew_queue *q)
{
	atomic_store_explicit(&q->closed, 1, memory_order_seq_cst);
	pthread_mutex_lock(&q->mu);
	pthread_cond_broadcast(&q->cv_items);
	pthread_cond_broadcast(&q->cv_room);
	pthread_mutex_unlock(&q->mu);
}
