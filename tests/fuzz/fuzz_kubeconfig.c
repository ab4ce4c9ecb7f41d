/*
 * fuzz_kubeconfig.c - libFuzzer target: the kubeconfig reader
 * (meta_kubeconfig_load, capture/meta_k8s.c), which takes a path: the input
 * is written to a memfd and read through /proc/self/fd/N.  Files the
 * kubeconfig names (certificate-authority, ...) are looked for relative to
 * /proc/self/fd and so are not found; the *-data forms are decoded.
 *
 * meta_read_file() allocates its whole cap (4 MiB) before reading, and
 * under ASan that allocation costs ten times the parse; the target is linked
 * with --wrap=meta_read_file (CMakeLists.txt) and calls the real function
 * with a cap fitted to the file when the file is below the real cap, which
 * reads the same bytes with the same result.
 *
 * Checked, beyond the sanitizers: a kubeconfig that loads names a server
 * (NUL-terminated, non-empty); one that does not says "path: ..." in `err`,
 * with an error the contract names.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "meta.h"
#include "util.h"

int __real_meta_read_file(const char *path, size_t max, char **out, size_t *len);
int __wrap_meta_read_file(const char *path, size_t max, char **out, size_t *len);

int __wrap_meta_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat sb;

	if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
	    (uint64_t)sb.st_size + 2 < max)
		max = (size_t)sb.st_size + 2;
	return __real_meta_read_file(path, max, out, len);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	ew_log_set_level(EW_LOG_ERROR);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct meta_k8s_conn conn;
	char path[64], err[512] = "";
	int fd = fuzz_memfd(data, size, path);
	int rc;

	FUZZ_CHECK(fd >= 0, "memfd");
	rc = meta_kubeconfig_load(path, &conn, err, sizeof(err));
	if (rc == 0) {
		FUZZ_CHECK(memchr(conn.server, 0, sizeof(conn.server)) &&
			   conn.server[0], "loaded without a server");
		meta_k8s_conn_free(&conn);
	} else {
		FUZZ_CHECK(rc == -EINVAL || rc == -ENOTSUP || rc == -ENOENT ||
			   rc == -EACCES || rc == -ENOMEM || rc == -EFBIG ||
			   rc == -ENOTDIR || rc == -ENAMETOOLONG || rc == -ELOOP,
			   "meta_kubeconfig_load returned %d (%s)", rc, err);
		FUZZ_CHECK(strncmp(err, path, strlen(path)) == 0,
			   "error without the file name: \"%s\"", err);
	}
	close(fd);
	return 0;
}
