/*
 * dash_plans - print the query plan of every dashboard query shape
 * (store_dashq_explain) on a database, and fail when one of them walks a
 * whole big table: flows, traffic_minute and dns_answers must be reached
 * through a SEARCH (an index range), never a SCAN, since they hold millions of
 * rows.  alerts and workloads are small (one row per deduplicated alert, per
 * pod) and may be walked in index order under a LIMIT.
 *
 *   dash_plans DB
 *
 * Output: "query: plan line" for each line; "BAD" marks a failing line.
 * Exit status 0, 1 when a plan is bad, 2 on an error.
 */
#include <stdio.h>
#include <string.h>

#include "store.h"

static const char *big[] = {"flows", "traffic_minute", "dns_answers"};

static int bad;

static int line(void *ctx, const char *query, const char *plan)
{
	int is_bad = 0;

	(void)ctx;
	if (strncmp(plan, "SCAN ", 5) == 0) {
		for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
			size_t n = strlen(big[i]);

			if (strncmp(plan + 5, big[i], n) == 0 &&
			    (plan[5 + n] == '\0' || plan[5 + n] == ' '))
				is_bad = 1;
		}
	}
	printf("%s%s: %s\n", is_bad ? "BAD " : "", query, plan);
	bad |= is_bad;
	return 0;
}

int main(int argc, char **argv)
{
	char err[512];
	struct store_reader *r;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: dash_plans DB\n");
		return 2;
	}
	r = store_reader_open(argv[1], err, sizeof(err));
	if (!r) {
		fprintf(stderr, "dash_plans: %s\n", err);
		return 2;
	}
	rc = store_dashq_explain(r, line, NULL, err, sizeof(err));
	store_reader_close(r);
	if (rc < 0) {
		fprintf(stderr, "dash_plans: %s\n", err);
		return 2;
	}
	return bad ? 1 : 0;
}
