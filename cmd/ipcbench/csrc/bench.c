/* bench.c: the C baselines of ipcbench. Each mode measures itself, with
 * two processes (fork) where the scenario is cross-process, and prints one
 * number: nanoseconds per operation. Names carry the pid, and everything is
 * removed before exit.
 *
 *   bench mq-pingpong N SIZE     one-way latency over two queues (round trip / 2)
 *   bench mq-stream N SIZE       one-way streaming: ns per message received
 *   bench sem-pingpong N         round trip through two named semaphores
 *   bench futex-pingpong N       round trip through a futex word in shared memory
 *   bench ring-busy N            SPSC ring of 64-byte slots in shared memory, both
 *                                sides busy-polling: ns per message received
 *   bench ring-futex N           the same ring, a side that finds it empty (full)
 *                                spins 64 times, then sleeps on a futex; the other
 *                                wakes it only then
 *   bench ring-relacq N          the busy-polling ring with release stores and
 *                                acquire loads of its indices (cached by each side):
 *                                the machine's ceiling for one index store a message
 *   bench mutex-uncontended N    lock+unlock of a robust process-shared pthread mutex
 *   bench mutex-contended N      two processes, N lock+unlock each: ns per lock+unlock
 *   bench open-close queue|sem|shm N   create, close and unlink
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <pthread.h>
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

static long long now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what) {
	fprintf(stderr, "bench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void name(char *buf, const char *what) { sprintf(buf, "/ipcbench-c-%d-%s", getpid(), what); }

static mqd_t mq(const char *n, long size) {
	struct mq_attr a = {0};
	a.mq_maxmsg = 10;
	a.mq_msgsize = size;
	mqd_t q = mq_open(n, O_RDWR | O_CREAT | O_EXCL, 0600, &a);
	if (q == (mqd_t)-1) die("mq_open");
	return q;
}

static int mq_pingpong(long n, long size) {
	char na[64], nb[64];
	name(na, "a");
	name(nb, "b");
	mqd_t a = mq(na, size), b = mq(nb, size);
	char *buf = calloc(1, size);
	pid_t child = fork();
	if (child == 0) {
		for (;;) {
			ssize_t m = mq_receive(a, buf, size, NULL);
			if (m <= 0) _exit(0);
			mq_send(b, buf, m, 0);
		}
	}
	mq_send(a, buf, 64, 0); /* warm-up: the child runs once it answers */
	mq_receive(b, buf, size, NULL);
	long long start = now();
	for (long i = 0; i < n; i++) {
		mq_send(a, buf, 64, 0);
		mq_receive(b, buf, size, NULL);
	}
	long long ns = now() - start;
	mq_send(a, buf, 0, 0);
	waitpid(child, NULL, 0);
	mq_unlink(na);
	mq_unlink(nb);
	printf("%lld\n", ns / n / 2);
	return 0;
}

static int mq_stream(long n, long size) {
	char na[64];
	name(na, "s");
	mqd_t q = mq(na, size > 8192 ? size : 8192);
	char *buf = calloc(1, 8192);
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < n + 1; i++) mq_send(q, buf, size, 0);
		mq_send(q, buf, 0, 0);
		_exit(0);
	}
	mq_receive(q, buf, 8192, NULL); /* the clock starts at the first message */
	long long start = now();
	long got = 0;
	while (mq_receive(q, buf, 8192, NULL) > 0) got++;
	long long ns = now() - start;
	waitpid(child, NULL, 0);
	mq_unlink(na);
	printf("%lld\n", ns / got);
	return 0;
}

static int sem_pingpong(long n) {
	char na[64], nb[64];
	name(na, "a");
	name(nb, "b");
	sem_t *a = sem_open(na, O_CREAT | O_EXCL, 0600, 0), *b = sem_open(nb, O_CREAT | O_EXCL, 0600, 0);
	if (a == SEM_FAILED || b == SEM_FAILED) die("sem_open");
	pid_t child = fork();
	if (child == 0) {
		for (long i = 0; i < n + 1; i++) {
			sem_wait(a);
			sem_post(b);
		}
		_exit(0);
	}
	sem_post(a);
	sem_wait(b);
	long long start = now();
	for (long i = 0; i < n; i++) {
		sem_post(a);
		sem_wait(b);
	}
	long long ns = now() - start;
	waitpid(child, NULL, 0);
	sem_unlink(na);
	sem_unlink(nb);
	printf("%lld\n", ns / n);
	return 0;
}

static void fwait(_Atomic uint32_t *w, uint32_t val) {
	while (atomic_load(w) == val) syscall(SYS_futex, w, FUTEX_WAIT, val, NULL, NULL, 0);
}

static int futex_pingpong(long n) {
	_Atomic uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t child = fork();
	if (child == 0) {
		for (uint32_t i = 0; i < 2 * (uint32_t)n + 2; i += 2) {
			fwait(w, i);
			atomic_store(w, i + 2);
			syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
		}
		_exit(0);
	}
	long long start = 0;
	for (uint32_t i = 0; i <= 2 * (uint32_t)n; i += 2) {
		if (i == 2) start = now();
		atomic_store(w, i + 1);
		syscall(SYS_futex, w, FUTEX_WAKE, 1, NULL, NULL, 0);
		fwait(w, i + 1);
	}
	long long ns = now() - start;
	waitpid(child, NULL, 0);
	printf("%lld\n", ns / n);
	return 0;
}

/* The SPSC rings: 4096 slots of 64 bytes, head and tail on lines of their
 * own, and a sleeper flag and futex word per side. */
enum { RING_CAP = 4096, RING_SPIN = 64 };
struct spsc {
	_Alignas(64) _Atomic uint64_t head;
	_Alignas(64) _Atomic uint64_t tail;
	_Alignas(64) _Atomic uint32_t data_word; /* consumer sleeps; bit 31: someone does */
	_Alignas(64) _Atomic uint32_t room_word;
	_Alignas(64) uint8_t slots[RING_CAP][64];
};

static void ring_wake(_Atomic uint32_t *word) {
	uint32_t v = atomic_load(word);
	while (v & 0x80000000u) {
		if (atomic_compare_exchange_weak(word, &v, (v + 1) & 0x7fffffffu)) {
			syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
			return;
		}
	}
}

/* ring_wait waits until *counter != seen: spins, then (futex) sleeps. */
static uint64_t ring_wait(_Atomic uint64_t *counter, uint64_t seen, _Atomic uint32_t *word, int futex) {
	uint64_t c;
	for (int i = 0; !futex || i < RING_SPIN; i++)
		if ((c = atomic_load(counter)) != seen) return c;
	for (;;) {
		uint32_t v = atomic_fetch_or(word, 0x80000000u) | 0x80000000u;
		if ((c = atomic_load(counter)) != seen) return c;
		syscall(SYS_futex, word, FUTEX_WAIT, v, NULL, NULL, 0);
		if ((c = atomic_load(counter)) != seen) return c;
	}
}

static int ring_stream(long n, int futex, int relacq) {
	struct spsc *r = mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) die("mmap");
	pid_t child = fork();
	if (child == 0) { /* the producer */
		uint64_t head = 0;
		uint8_t msg[64] = {1};
		for (uint64_t t = 0; t <= (uint64_t)n; t++) {
			while (t - head >= RING_CAP) head = ring_wait(&r->head, head, &r->room_word, futex);
			msg[0] = (uint8_t)t;
			memcpy(r->slots[t % RING_CAP], msg, 64);
			if (relacq)
				atomic_store_explicit(&r->tail, t + 1, memory_order_release);
			else
				atomic_store(&r->tail, t + 1);
			if (futex) ring_wake(&r->data_word);
		}
		_exit(0);
	}
	uint64_t tail = 0;
	uint8_t buf[64];
	long long start = 0;
	for (uint64_t h = 0; h <= (uint64_t)n; h++) {
		while (h == tail) tail = ring_wait(&r->tail, tail, &r->data_word, futex);
		memcpy(buf, r->slots[h % RING_CAP], 64);
		if (buf[0] != (uint8_t)h) { fprintf(stderr, "bench: ring out of order\n"); exit(1); }
		if (relacq)
			atomic_store_explicit(&r->head, h + 1, memory_order_release);
		else
			atomic_store(&r->head, h + 1);
		if (futex) ring_wake(&r->room_word);
		if (h == 0) start = now(); /* the clock starts at the first message */
	}
	long long ns = now() - start;
	waitpid(child, NULL, 0);
	printf("%lld\n", ns / n);
	return 0;
}

static pthread_mutex_t *robust_mutex(void) {
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t at;
	pthread_mutexattr_init(&at);
	pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
	pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
	pthread_mutex_init(m, &at);
	return m;
}

static int mutex_uncontended(long n) {
	pthread_mutex_t *m = robust_mutex();
	long long start = now();
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(m);
		pthread_mutex_unlock(m);
	}
	printf("%lld\n", (now() - start) / n);
	return 0;
}

static int mutex_contended(long n) {
	pthread_mutex_t *m = robust_mutex();
	volatile long *counter = (volatile long *)(m + 1);
	_Atomic int *go = (_Atomic int *)(counter + 1);
	pid_t child = fork();
	if (child == 0) {
		while (!atomic_load(go)) {
		}
		for (long i = 0; i < n; i++) {
			pthread_mutex_lock(m);
			(*counter)++;
			pthread_mutex_unlock(m);
		}
		_exit(0);
	}
	long long start = now();
	atomic_store(go, 1);
	for (long i = 0; i < n; i++) {
		pthread_mutex_lock(m);
		(*counter)++;
		pthread_mutex_unlock(m);
	}
	waitpid(child, NULL, 0);
	long long ns = now() - start;
	if (*counter != 2 * n) {
		fprintf(stderr, "bench: counter %ld, want %ld\n", *counter, 2 * n);
		return 1;
	}
	printf("%lld\n", ns / (2 * n));
	return 0;
}

static int open_close(const char *kind, long n) {
	char nm[64];
	name(nm, "oc");
	long long start = now();
	for (long i = 0; i < n; i++) {
		if (strcmp(kind, "queue") == 0) {
			mqd_t q = mq(nm, 8192);
			mq_close(q);
			mq_unlink(nm);
		} else if (strcmp(kind, "sem") == 0) {
			sem_t *s = sem_open(nm, O_CREAT | O_EXCL, 0600, 0);
			if (s == SEM_FAILED) die("sem_open");
			sem_close(s);
			sem_unlink(nm);
		} else {
			int fd = shm_open(nm, O_RDWR | O_CREAT | O_EXCL, 0600);
			if (fd < 0 || ftruncate(fd, 4096) != 0) die("shm_open");
			void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			((volatile char *)p)[0] = 1;
			munmap(p, 4096);
			close(fd);
			shm_unlink(nm);
		}
	}
	printf("%lld\n", (now() - start) / n);
	return 0;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: bench MODE N [ARG]\n");
		return 2;
	}
	long n = atol(argv[argc - 1 - (strcmp(argv[1], "mq-pingpong") == 0 || strcmp(argv[1], "mq-stream") == 0)]);
	if (strcmp(argv[1], "mq-pingpong") == 0) return mq_pingpong(atol(argv[2]), atol(argv[3]));
	if (strcmp(argv[1], "mq-stream") == 0) return mq_stream(atol(argv[2]), atol(argv[3]));
	if (strcmp(argv[1], "sem-pingpong") == 0) return sem_pingpong(n);
	if (strcmp(argv[1], "futex-pingpong") == 0) return futex_pingpong(n);
	if (strcmp(argv[1], "ring-busy") == 0) return ring_stream(n, 0, 0);
	if (strcmp(argv[1], "ring-futex") == 0) return ring_stream(n, 1, 0);
	if (strcmp(argv[1], "ring-relacq") == 0) return ring_stream(n, 0, 1);
	if (strcmp(argv[1], "mutex-uncontended") == 0) return mutex_uncontended(n);
	if (strcmp(argv[1], "mutex-contended") == 0) return mutex_contended(n);
	if (strcmp(argv[1], "open-close") == 0 && argc == 4) return open_close(argv[2], atol(argv[3]));
	fprintf(stderr, "bench: unknown mode %s\n", argv[1]);
	return 2;
}
