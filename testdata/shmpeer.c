/* shmpeer: a C peer for ipcchan's shared memory tests.
 *
 *   shmpeer read NAME OFFSET i64|i32     print the integer at OFFSET
 *   shmpeer write NAME OFFSET i64|i32 V  store V at OFFSET
 *   shmpeer create NAME SIZE             shm_open(O_CREAT|O_EXCL) + ftruncate:
 *                                        a plain object, without ipcchan's header
 *
 * It uses no ipcchan offset of its own: the tests give it file offsets
 * (192, the object header of docs/FORMATS.md, plus a field's offset).
 *
 * Build (no header needed; the tests use internal/testutil.BuildC):
 *
 *   gcc -O2 -Wall -o shmpeer testdata/shmpeer.c -lrt -pthread
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static int die(const char *what, const char *name) {
	fprintf(stderr, "shmpeer: %s %s: %s\n", what, name, strerror(errno));
	return 1;
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		int fd = shm_open(argv[2], O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0) return die("shm_open", argv[2]);
		if (ftruncate(fd, atol(argv[3])) != 0) return die("ftruncate", argv[2]);
		return 0;
	}
	if (argc < 5) {
		fprintf(stderr, "usage: shmpeer read|write NAME OFFSET i64|i32 [V] | create NAME SIZE\n");
		return 2;
	}
	int fd = shm_open(argv[2], O_RDWR, 0);
	if (fd < 0) return die("shm_open", argv[2]);
	struct stat st;
	if (fstat(fd, &st) != 0) return die("fstat", argv[2]);
	char *p = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) return die("mmap", argv[2]);
	long off = atol(argv[3]);
	int wide = strcmp(argv[4], "i64") == 0;
	if (strcmp(argv[1], "read") == 0) {
		if (wide) printf("%lld\n", (long long)*(int64_t *)(p + off));
		else printf("%d\n", *(int32_t *)(p + off));
		return 0;
	}
	if (strcmp(argv[1], "write") == 0 && argc == 6) {
		if (wide) *(int64_t *)(p + off) = atoll(argv[5]);
		else *(int32_t *)(p + off) = atoi(argv[5]);
		return 0;
	}
	fprintf(stderr, "shmpeer: bad arguments\n");
	return 2;
}
