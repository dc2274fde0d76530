/* sempeer: a C peer for ipcchan's semaphore tests, using glibc's sem_*.
 *
 *   sempeer create NAME VALUE       sem_open(O_CREAT|O_EXCL, 0600, VALUE)
 *   sempeer post NAME N             sem_post N times
 *   sempeer wait NAME N             sem_wait N times (up to 10 s each), print "acquired N"
 *   sempeer value NAME              print sem_getvalue
 *   sempeer echo A B N              N times: sem_wait(A), sem_post(B)
 *   sempeer pingpong A B N          fork an echo child; N round trips
 *                                   sem_post(A), sem_wait(B); print ns per round trip
 *   sempeer futexpingpong N         the same with raw futexes in shared memory
 *
 * Only glibc's sem_t (docs/FORMATS.md, "Semaphore"): no ipcchan layout.
 *
 * Build (no header needed; the tests use internal/testutil.BuildC):
 *
 *   gcc -O2 -Wall -o sempeer testdata/sempeer.c -lrt -pthread
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int die(const char *what, const char *name) {
	fprintf(stderr, "sempeer: %s %s: %s\n", what, name, strerror(errno));
	return 1;
}

static sem_t *open_sem(const char *name) {
	sem_t *s = sem_open(name, 0);
	if (s == SEM_FAILED) {
		die("sem_open", name);
		exit(1);
	}
	return s;
}

static int timed_wait(sem_t *s) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	while (sem_timedwait(s, &ts) != 0) {
		if (errno != EINTR) return -1;
	}
	return 0;
}

static long long now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void fwait(_Atomic uint32_t *w, uint32_t val) {
	while (atomic_load(w) == val)
		syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static void fwake(_Atomic uint32_t *w) { syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0); }

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "create") == 0) {
		sem_t *s = sem_open(argv[2], O_CREAT | O_EXCL, 0600, (unsigned)atol(argv[3]));
		if (s == SEM_FAILED) return die("sem_open", argv[2]);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "post") == 0) {
		sem_t *s = open_sem(argv[2]);
		for (long i = 0; i < atol(argv[3]); i++)
			if (sem_post(s) != 0) return die("sem_post", argv[2]);
		return 0;
	}
	if (argc == 4 && strcmp(argv[1], "wait") == 0) {
		sem_t *s = open_sem(argv[2]);
		long n = atol(argv[3]);
		for (long i = 0; i < n; i++)
			if (timed_wait(s) != 0) return die("sem_timedwait", argv[2]);
		printf("acquired %ld\n", n);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "value") == 0) {
		int v;
		if (sem_getvalue(open_sem(argv[2]), &v) != 0) return die("sem_getvalue", argv[2]);
		printf("%d\n", v);
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "echo") == 0) {
		sem_t *a = open_sem(argv[2]), *b = open_sem(argv[3]);
		for (long i = 0; i < atol(argv[4]); i++) {
			if (timed_wait(a) != 0) return die("sem_timedwait", argv[2]);
			sem_post(b);
		}
		return 0;
	}
	if (argc == 5 && strcmp(argv[1], "pingpong") == 0) {
		sem_t *a = open_sem(argv[2]), *b = open_sem(argv[3]);
		long n = atol(argv[4]);
		pid_t child = fork();
		if (child == 0) {
			for (long i = 0; i < n + 1; i++) {
				sem_wait(a);
				sem_post(b);
			}
			_exit(0);
		}
		sem_post(a); /* warm-up: the child is running once it answers */
		sem_wait(b);
		long long start = now_ns();
		for (long i = 0; i < n; i++) {
			sem_post(a);
			sem_wait(b);
		}
		long long ns = now_ns() - start;
		waitpid(child, NULL, 0);
		printf("%lld\n", ns / n);
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "futexpingpong") == 0) {
		long n = atol(argv[2]);
		_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		/* w[0] is the ball: even, the parent's turn; odd, the child's. */
		pid_t child = fork();
		if (child == 0) {
			for (uint32_t i = 0; i < 2 * (uint32_t)n + 2; i += 2) {
				fwait(w, i);
				atomic_store(w, i + 2);
				fwake(w);
			}
			_exit(0);
		}
		long long start = 0;
		for (uint32_t i = 0; i <= 2 * (uint32_t)n; i += 2) {
			if (i == 2) start = now_ns(); /* after one warm-up round */
			atomic_store(w, i + 1);
			fwake(w);
			fwait(w, i + 1);
		}
		long long ns = now_ns() - start;
		waitpid(child, NULL, 0);
		printf("%lld\n", ns / n);
		return 0;
	}
	fprintf(stderr, "usage: sempeer create|post|wait|value|echo|pingpong|futexpingpong ...\n");
	return 2;
}
