/*
 * queue.c - bounded single-producer/single-consumer ring.
 *
 * The data path is lock-free: the producer owns `tail`, the consumer owns
 * `head`, each published with release and read with acquire ordering.  The
 * mutex and condition variables are only for sleeping: a side that has to
 * wait announces it in waiting_* and the other side signals only when someone
 * waits, so a busy pipeline makes no system calls per element.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util.h"

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

static void wake(struct ew_queue *q, _Atomic int *waiting, pthread_cond_t *cv)
{
	/* Pairs with the waiter's store of waiting_* then load of the index:
	 * without a full fence our index store and this load could pass each
	 * other and both sides would miss the wake-up (then only the bounded
	 * timed wait would save us). */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(waiting, memory_order_seq_cst)) {
		pthread_mutex_lock(&q->mu);
		pthread_cond_broadcast(cv);
		pthread_mutex_unlock(&q->mu);
	}
}

static void deadline_after(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

int ew_queue_push(struct ew_queue *q, const void *elem, int block)
{
	size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);

	if (atomic_load_explicit(&q->closed, memory_order_acquire))
		return -EPIPE;
	while (t - atomic_load_explicit(&q->head, memory_order_acquire) >= q->cap) {
		if (!block)
			return -EAGAIN;
		pthread_mutex_lock(&q->mu);
		atomic_store_explicit(&q->waiting_room, 1, memory_order_seq_cst);
		if (t - atomic_load_explicit(&q->head, memory_order_seq_cst) >= q->cap) {
			struct timespec ts;
			deadline_after(&ts, 100);
			pthread_cond_timedwait(&q->cv_room, &q->mu, &ts);
		}
		atomic_store_explicit(&q->waiting_room, 0, memory_order_seq_cst);
		pthread_mutex_unlock(&q->mu);
	}
	memcpy(q->slots + (t & (q->cap - 1)) * q->elem_size, elem, q->elem_size);
	atomic_store_explicit(&q->tail, t + 1, memory_order_release);
	size_t depth = t + 1 - atomic_load_explicit(&q->head, memory_order_relaxed);
	if (depth > atomic_load_explicit(&q->high_water, memory_order_relaxed))
		atomic_store_explicit(&q->high_water, depth, memory_order_relaxed);
	wake(q, &q->waiting_items, &q->cv_items);
	return 0;
}

int ew_queue_pop(struct ew_queue *q, void *out, int timeout_ms)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	struct timespec deadline;
	int have_deadline = 0;

	while (atomic_load_explicit(&q->tail, memory_order_acquire) == h) {
		if (atomic_load_explicit(&q->closed, memory_order_acquire)) {
			/* Re-check: the producer may have pushed then closed. */
			if (atomic_load_explicit(&q->tail, memory_order_acquire) != h)
				break;
			return -EPIPE;
		}
		if (timeout_ms == 0)
			return -EAGAIN;
		if (timeout_ms > 0 && !have_deadline) {
			deadline_after(&deadline, timeout_ms);
			have_deadline = 1;
		}
		pthread_mutex_lock(&q->mu);
		atomic_store_explicit(&q->waiting_items, 1, memory_order_seq_cst);
		int rc = 0;
		if (atomic_load_explicit(&q->tail, memory_order_seq_cst) == h &&
		    !atomic_load_explicit(&q->closed, memory_order_seq_cst)) {
			if (have_deadline) {
				rc = pthread_cond_timedwait(&q->cv_items, &q->mu,
							    &deadline);
			} else {
				struct timespec ts;
				deadline_after(&ts, 1000);
				pthread_cond_timedwait(&q->cv_items, &q->mu, &ts);
			}
		}
		atomic_store_explicit(&q->waiting_items, 0, memory_order_seq_cst);
		pthread_mutex_unlock(&q->mu);
		if (rc == ETIMEDOUT &&
		    atomic_load_explicit(&q->tail, memory_order_acquire) == h)
			return -EAGAIN;
	}
	memcpy(out, q->slots + (h & (q->cap - 1)) * q->elem_size, q->elem_size);
	atomic_store_explicit(&q->head, h + 1, memory_order_release);
	wake(q, &q->waiting_room, &q->cv_room);
	return 0;
}

int ew_queue_peek(struct ew_queue *q, void *out)
{
	size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (atomic_load_explicit(&q->tail, memory_order_acquire) == h)
		return -EAGAIN;
	memcpy(out, q->slots + (h & (q->cap - 1)) * q->elem_size, q->elem_size);
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
