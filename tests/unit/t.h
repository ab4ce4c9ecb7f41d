/*
 * t.h - the unit-test harness: a test is a function; CHECK records a failure
 * with file and line and goes on; RUN prints one line per test; main returns
 * non-zero if anything failed.  Each test program is one ctest.
 */
#ifndef EW_T_H
#define EW_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

static int t_failed, t_checks, t_tests_failed, t_tests;

#define CHECK(cond)                                                         \
	do {                                                                \
		t_checks++;                                                 \
		if (!(cond)) {                                              \
			t_failed++;                                         \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n",        \
				__FILE__, __LINE__, #cond);                 \
		}                                                           \
	} while (0)

#define CHECK_EQ_U(a, b)                                                    \
	do {                                                                \
		unsigned long long t_a = (unsigned long long)(a),           \
				   t_b = (unsigned long long)(b);           \
		t_checks++;                                                 \
		if (t_a != t_b) {                                           \
			t_failed++;                                         \
			fprintf(stderr, "%s:%d: %s == %s failed: %llu != %llu\n", \
				__FILE__, __LINE__, #a, #b, t_a, t_b);      \
		}                                                           \
	} while (0)

#define CHECK_STR(a, b)                                                     \
	do {                                                                \
		const char *t_a = (a), *t_b = (b);                          \
		t_checks++;                                                 \
		if (!t_a || !t_b || strcmp(t_a, t_b) != 0) {                \
			t_failed++;                                         \
			fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" != \"%s\"\n", \
				__FILE__, __LINE__, #a, #b, t_a ? t_a : "(null)", \
				t_b ? t_b : "(null)");                      \
		}                                                           \
	} while (0)

#define RUN(fn)                                                             \
	do {                                                                \
		int t_before = t_failed;                                    \
		t_tests++;                                                  \
		fn();                                                       \
		if (t_failed != t_before) {                                 \
			t_tests_failed++;                                   \
			printf("FAIL %s\n", #fn);                           \
		} else {                                                    \
			printf("ok   %s\n", #fn);                           \
		}                                                           \
	} while (0)

#define T_DONE()                                                            \
	(printf("%d passed, %d failed\n", t_tests - t_tests_failed,         \
		t_tests_failed),                                            \
	 t_tests_failed ? 1 : 0)

/* Directory of ../shared/testdata (set by ctest), or NULL. */
static inline const char *t_testdata(void)
{
	return getenv("EW_TESTDATA");
}

#endif
