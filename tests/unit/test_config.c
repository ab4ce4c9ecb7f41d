/*
 * test_config.c - the agent's configuration: the file format, its errors
 * (file:line: message), and flags overriding the file.
 *
 * config.c is private to cli/, which is a program rather than a library, so
 * the file under test is compiled into this test directly.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "../../cli/config.c"

static char tmpdir[64];

static const char *write_conf(const char *name, const char *text)
{
	static char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (!f)
		return NULL;
	fputs(text, f);
	fclose(f);
	return path;
}

/* Load `text` as a file; return rc, with the error in `err`. */
static int load(struct config *c, const char *text, char *err, size_t errlen)
{
	const char *path = write_conf("t.conf", text);

	CHECK(path != NULL);
	CHECK(config_init(c) == 0);
	err[0] = '\0';
	return config_load_file(c, path, err, errlen);
}

static void defaults_are_documented_ones(void)
{
	struct config c;

	CHECK(config_init(&c) == 0);
	CHECK_STR(c.db, "/var/lib/egresswatch/flows.db");
	CHECK_STR(c.status_file, "/run/egresswatch/status.json");
	CHECK(c.user == NULL);
	CHECK_EQ_U(c.n_include, 4);
	CHECK_STR(c.include[0], "cali*");
	CHECK_STR(c.include[3], "tap*");
	CHECK(c.include[4] == NULL);
	CHECK_EQ_U(c.n_exclude, 0);
	CHECK(c.exclude[0] == NULL);
	CHECK_EQ_U(c.buffer_size, 2u << 20);
	CHECK_EQ_U(c.snaplen, 65535);
	CHECK_EQ_U(c.max_flows, 262144);
	CHECK_EQ_U(c.set, 0);
	config_free(&c);
}

static void file_with_every_key_and_comments(void)
{
	struct config c;
	char err[512];
	int rc = load(&c,
		      "# egresswatch\n"
		      "\n"
		      "   # indented comment\n"
		      "db = /tmp/x/flows.db\n"
		      "include=eni*\n"
		      "\tinclude   =   gke#*  \n"
		      "exclude = veth-debug*\r\n"
		      "buffer-size = 4M\n"
		      "snaplen = 9216\n"
		      "max-flows = 1000\n"
		      "user = nobody\n"
		      "status-file = /tmp/x/status.json",
		      err, sizeof(err));

	CHECK_EQ_U(rc, 0);
	CHECK_STR(err, "");
	CHECK_STR(c.db, "/tmp/x/flows.db");
	/* The file's includes replace the defaults; '#' inside a value is
	 * part of it; blanks and CR around values go. */
	CHECK_EQ_U(c.n_include, 2);
	CHECK_STR(c.include[0], "eni*");
	CHECK_STR(c.include[1], "gke#*");
	CHECK_EQ_U(c.n_exclude, 1);
	CHECK_STR(c.exclude[0], "veth-debug*");
	CHECK_EQ_U(c.buffer_size, 4u << 20);
	CHECK_EQ_U(c.snaplen, 9216);
	CHECK_EQ_U(c.max_flows, 1000);
	CHECK_STR(c.user, "nobody");
	CHECK_STR(c.status_file, "/tmp/x/status.json");
	config_free(&c);
}

/* Each broken line gives "path:line: message" naming the problem. */
static void errors_name_file_line_and_problem(void)
{
	static const struct {
		const char *text;
		int line;
		const char *needle;
	} cases[] = {
		{"db = a\nfoo = 1\n", 2, "unknown key 'foo'"},
		{"# c\n\nsnaplen 9000\n", 3, "expected 'key = value'"},
		{"snaplen = 12x\n", 1, "snaplen: expected a number from 128 to 262144, got '12x'"},
		{"snaplen = 100\n", 1, "expected a number from 128"},
		{"snaplen = -5\n", 1, "got '-5'"},
		{"buffer-size = 1k\n", 1, "buffer-size: expected a size"},
		{"buffer-size = 2X\n", 1, "got '2X'"},
		{"max-flows = 99999999999999999999\n", 1, "max-flows: expected a number"},
		{"db = a\ndb = b\n", 2, "db: given more than once"},
		{"user =\n", 1, "user: missing value"},
		{"include = \n", 1, "include: missing value"},
	};
	char err[512], want[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config c;
		int rc = load(&c, cases[i].text, err, sizeof(err));

		CHECK(rc == -EINVAL);
		snprintf(want, sizeof(want), "%s/t.conf:%d: ", tmpdir,
			 cases[i].line);
		if (strncmp(err, want, strlen(want)) != 0 ||
		    !strstr(err, cases[i].needle)) {
			fprintf(stderr, "case %zu: got \"%s\", want \"%s...%s\"\n",
				i, err, want, cases[i].needle);
			CHECK(0);
		}
		config_free(&c);
	}
}

static void include_and_exclude_add_up(void)
{
	struct config c;
	char err[512];
	int rc = load(&c, "exclude = a*\nexclude = b*\nexclude = c*\n", err,
		      sizeof(err));

	CHECK_EQ_U(rc, 0);
	CHECK_EQ_U(c.n_exclude, 3);
	CHECK_STR(c.exclude[2], "c*");
	CHECK(c.exclude[3] == NULL);
	CHECK_EQ_U(c.n_include, 4); /* untouched defaults */
	config_free(&c);
}

static void missing_file_is_an_error(void)
{
	struct config c;
	char err[512], path[128];

	snprintf(path, sizeof(path), "%s/none.conf", tmpdir);
	CHECK(config_init(&c) == 0);
	CHECK(config_load_file(&c, path, err, sizeof(err)) == -ENOENT);
	CHECK(strstr(err, "none.conf: No such file") != NULL);
	config_free(&c);
}

static void long_line_nul_byte_and_too_many_patterns_are_refused(void)
{
	struct config c;
	char err[512], *big = malloc(CONFIG_MAX_LINE + 64);
	const char *path;
	FILE *f;

	memset(big, 'x', CONFIG_MAX_LINE + 32);
	memcpy(big, "db = ", 5);
	big[CONFIG_MAX_LINE + 32] = '\0';
	CHECK(load(&c, big, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, ":1: line longer than") != NULL);
	config_free(&c);
	free(big);

	path = write_conf("nul.conf", "");
	f = fopen(path, "w");
	fwrite("db = a\0b\n", 1, 9, f);
	fclose(f);
	CHECK(config_init(&c) == 0);
	CHECK(config_load_file(&c, path, err, sizeof(err)) == -EINVAL);
	CHECK(strstr(err, ":1: NUL byte") != NULL);
	config_free(&c);

	CHECK(config_init(&c) == 0);
	int rc = 0;
	for (int i = 0; i <= CONFIG_MAX_PATTERNS && rc == 0; i++)
		rc = config_set(&c, CONFIG_INCLUDE, "x*", "--include", err,
				sizeof(err));
	CHECK(rc == -EINVAL);
	CHECK_EQ_U(c.n_include, CONFIG_MAX_PATTERNS);
	CHECK(strstr(err, "--include: more than") != NULL);
	config_free(&c);
}

/* What `egresswatch run` does: defaults <- file <- flags. */
static void flags_override_the_file(void)
{
	struct config file, flags;
	char err[512];

	CHECK(load(&file, "db = /file.db\nsnaplen = 9216\ninclude = eni*\n"
		   "include = gke*\nexclude = x*\n", err, sizeof(err)) == 0);
	CHECK(config_init(&flags) == 0);
	CHECK(config_set(&flags, config_key_parse("db"), "/flag.db", "--db", err,
			 sizeof(err)) == 0);
	CHECK(config_set(&flags, config_key_parse("include"), "only*",
			 "--include", err, sizeof(err)) == 0);
	CHECK(config_set(&flags, config_key_parse("db"), "/again.db", "--db",
			 err, sizeof(err)) == -EINVAL);
	CHECK_STR(err, "--db: given more than once");
	CHECK(config_merge(&file, &flags) == 0);
	CHECK_STR(file.db, "/flag.db");
	CHECK_EQ_U(file.snaplen, 9216);		/* file value, no flag */
	CHECK_EQ_U(file.n_include, 1);		/* the flag's list replaces */
	CHECK_STR(file.include[0], "only*");
	CHECK(file.include[1] == NULL);
	CHECK_EQ_U(file.n_exclude, 1);
	CHECK_STR(file.exclude[0], "x*");
	config_free(&file);
	config_free(&flags);
}

static void key_names_round_trip(void)
{
	for (int k = 0; k < CONFIG__COUNT; k++)
		CHECK_EQ_U(config_key_parse(config_key_name((enum config_key)k)), k);
	CHECK(config_key_parse("listen") == CONFIG_LISTEN);
	CHECK(config_key_parse("lisen") == -1);	/* typos are not keys */
	CHECK(config_key_parse("") == -1);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/ew-test-config.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(defaults_are_documented_ones);
	RUN(file_with_every_key_and_comments);
	RUN(errors_name_file_line_and_problem);
	RUN(include_and_exclude_add_up);
	RUN(missing_file_is_an_error);
	RUN(long_line_nul_byte_and_too_many_patterns_are_refused);
	RUN(flags_override_the_file);
	RUN(key_names_round_trip);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return T_DONE();
}
