/*
 * fuzz.h - what the libFuzzer targets of tests/fuzz share: a check that
 * aborts with a message (so a broken invariant is a crash the fuzzer keeps,
 * like a sanitizer report), a memfd holding the input for readers that take a
 * path, and a splitter for inputs made of several parts.
 *
 * Each target is one fuzz_<parser>.c with LLVMFuzzerTestOneInput; nothing
 * a run creates outlives the call (no state carries from one input to the
 * next, so every crash replays from its input alone).
 */
#ifndef EW_FUZZ_H
#define EW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A property the code under test promises; false is a finding. */
#define FUZZ_CHECK(cond, ...)                                              \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "%s:%d: check failed: %s: ",       \
				__FILE__, __LINE__, #cond);                \
			fprintf(stderr, __VA_ARGS__);                      \
			fputc('\n', stderr);                               \
			abort();                                           \
		}                                                          \
	} while (0)

/*
 * A memfd holding `size` bytes of `data`, and its path ("/proc/self/fd/N")
 * in path[64]: a regular file that lives in memory, for readers that open a
 * path.  Returns the descriptor (close it when done) or -1.
 */
static inline int fuzz_memfd(const uint8_t *data, size_t size, char path[64])
{
	int fd = memfd_create("fuzz-input", MFD_CLOEXEC);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	snprintf(path, 64, "/proc/self/fd/%d", fd);
	return fd;
}

/*
 * The next part of an input split on `sep` (sep_len bytes): sets *part and
 * *part_len and returns 1, or returns 0 when nothing is left.  *off walks
 * the input.
 */
static inline int fuzz_next_part(const uint8_t *data, size_t size,
				 const char *sep, size_t sep_len, size_t *off,
				 const uint8_t **part, size_t *part_len)
{
	size_t i;

	if (*off > size)
		return 0;
	for (i = *off; i + sep_len <= size; i++)
		if (__builtin_memcmp(data + i, sep, sep_len) == 0)
			break;
	if (i + sep_len > size)
		i = size;
	*part = data + *off;
	*part_len = i - *off;
	*off = i + sep_len;
	return 1;
}

#endif
