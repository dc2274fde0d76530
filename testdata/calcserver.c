/* calcserver: a C server for ipcchan's Service tests. It serves a service
 * that Go made (/dev/shm/ipcchan.service.NAME) with C11 atomics and
 * futexes, following the protocol of docs/FORMATS.md ("Service"): it checks
 * the header and the control block, registers in the users table and the
 * servers table, prints "ready", then takes calls from the posted bitmap and
 * answers them in their records, asleep on postedWord while there are none.
 *
 *   calcserver NAME     NAME as Go names it: "/calc"
 *
 * Go's side declares the types (ipcchan/service_test.go) as
 *
 *	type CalcReq struct { Client, Seq uint32; A, B int64; Op uint32; _ uint32 }
 *	type CalcResp struct { Sum int64; Client, Seq uint32 }
 *
 * which a service carries as their bytes (flags FIXED_REQ | FIXED_RESP).
 * Op 0 answers {A + B, Client, Seq}; Op 1 fails as Go's
 * fmt.Errorf("no account %d: %w", A, ipcchan.ErrNotExist) does (the text
 * and code 1); Op 2 prints "handling" and waits until its caller gives the
 * call up, then answers (late: the record is freed, late + 1); Op 3
 * answers as Op 0, leaves the servers and users tables, prints "served N
 * calls, the highest record R" and exits 0. It exits too when its parent
 * does.
 *
 * The layout's constants (IPCCHAN_SERVICE_*, IPCCHAN_CALL_*, IPCCHAN_CODE_*)
 * come from ipcchan_format.h, the C header block of docs/FORMATS.md, whose
 * constants the tests check against the code. Build, from the module's
 * root (the tests do the same with internal/testutil.BuildC, which writes
 * the header into its build directory and passes -I that directory):
 *
 *   awk '/^```c ipcchan_format.h$/{f=1;next} /^```$/{f=0} f' docs/FORMATS.md > /tmp/ipcchan_format.h
 *   gcc -O2 -Wall -I/tmp -o calcserver testdata/calcserver.c -lrt -pthread
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ipcchan_format.h"

/* What the Go side's header says: the two Go types. */
#define CALC_TYPE "func(ipcchan_test.CalcReq) ipcchan_test.CalcResp"

struct calc_req {
	uint32_t client, seq;
	int64_t a, b;
	uint32_t op, pad;
};
struct calc_resp {
	int64_t sum;
	uint32_t client, seq;
};
_Static_assert(sizeof(struct calc_req) == 32, "CalcReq is 32 bytes");
_Static_assert(sizeof(struct calc_resp) == 16, "CalcResp is 16 bytes");

static uint8_t *mem, *ctl; /* the file, the payload */
static uint32_t cap, req_max, resp_max, stride, words;
static uint64_t rec_off, resp_off;
static uint32_t me;
static uint32_t highest; /* the highest record served */
static uint64_t served;
static pid_t parent;

#define A64(p) ((_Atomic uint64_t *)(void *)(p))
#define A32(p) ((_Atomic uint32_t *)(void *)(p))

static uint8_t *rec(uint32_t i) { return ctl + rec_off + (uint64_t)i * stride; }
static _Atomic uint64_t *rec_word(uint32_t i) { return A64(rec(i) + IPCCHAN_CALL_OFF_WORD); }
static _Atomic uint32_t *rec_u32(uint32_t i, uint32_t off) { return A32(rec(i) + off); }
static _Atomic uint64_t *bitmap(uint32_t k) { return A64(ctl + IPCCHAN_SERVICE_OFF_POSTED + 8 * (uint64_t)k); }
static _Atomic uint32_t *ctl_u32(uint32_t off) { return A32(ctl + off); }
static _Atomic uint64_t *ctl_u64(uint32_t off) { return A64(ctl + off); }

static int fail(const char *what) {
	fprintf(stderr, "calcserver: %s: %s\n", what, strerror(errno));
	return 1;
}

/* alive: pidfd_open fails with ESRCH, or the pidfd polls readable: dead. */
static int alive(uint32_t pid) {
	int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
	if (fd < 0) return errno != ESRCH;
	struct pollfd p = {fd, POLLIN, 0};
	int dead = poll(&p, 1, 0) == 1;
	close(fd);
	return !dead;
}

/* wake wakes every sleeper of word, if one announced itself: clear the
 * sleepers bit and add one in one CAS, then FUTEX_WAKE them all. */
static void wake(_Atomic uint32_t *word) {
	uint32_t v = atomic_load(word);
	while (v & IPCCHAN_SERVICE_SLEEPERS) {
		if (atomic_compare_exchange_strong(word, &v, (v + 1) & ~IPCCHAN_SERVICE_SLEEPERS)) {
			syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
			return;
		}
	}
}

/* sleep_on sleeps on word while still() holds: the bit, a last look, then
 * FUTEX_WAIT on the value with the bit, for at most 100 ms (then the
 * caller looks again, and at its parent). */
static void sleep_on(_Atomic uint32_t *word, int (*still)(uint32_t, uint64_t), uint32_t i, uint64_t seq) {
	for (;;) {
		uint32_t v = atomic_load(word);
		if (!still(i, seq)) return;
		if (!(v & IPCCHAN_SERVICE_SLEEPERS)) {
			if (!atomic_compare_exchange_strong(word, &v, v | IPCCHAN_SERVICE_SLEEPERS)) continue;
			v |= IPCCHAN_SERVICE_SLEEPERS;
		}
		if (!still(i, seq)) return;
		struct timespec ts = {0, 100 * 1000 * 1000};
		syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT, v, &ts, NULL, 0);
		return;
	}
}

/* nothing_posted: every word of the posted bitmap is 0. */
static int nothing_posted(uint32_t i, uint64_t seq) {
	(void)i;
	(void)seq;
	for (uint32_t k = 0; k < words; k++)
		if (atomic_load(bitmap(k))) return 0;
	return 1;
}

/* still_taken: call (i, seq) is still this server's, its caller waiting. */
static int still_taken(uint32_t i, uint64_t seq) {
	return atomic_load(rec_word(i)) == ipcchan_call_word(IPCCHAN_CALL_TAKEN, seq, me);
}

/* take takes a posted call: clear its bit, then Posted -> Taken, then wake
 * its bell (its client now watches this server's life). */
static int take(uint32_t *idx, uint64_t *seq) {
	for (uint32_t k = 0; k < words; k++) {
		uint64_t v = atomic_load(bitmap(k));
		while (v) {
			uint32_t b = (uint32_t)__builtin_ctzll(v);
			uint64_t bit = UINT64_C(1) << b;
			v &= ~bit;
			if (!(atomic_fetch_and(bitmap(k), ~bit) & bit)) continue; /* another server's */
			uint32_t i = 64 * k + b;
			if (i >= cap) continue;
			for (;;) {
				uint64_t w = atomic_load(rec_word(i));
				if (ipcchan_call_state(w) != IPCCHAN_CALL_POSTED) break; /* a stale bit: passed over */
				if (atomic_compare_exchange_strong(rec_word(i), &w, ipcchan_call_word(IPCCHAN_CALL_TAKEN, ipcchan_call_seq(w), me))) {
					wake(rec_u32(i, IPCCHAN_CALL_OFF_BELL));
					*idx = i;
					*seq = ipcchan_call_seq(w);
					return 1;
				}
			}
		}
	}
	return 0;
}

/* answer answers call (i, seq), whose n bytes of response (or error text)
 * are written: Taken -> Answered, calls + 1, wake the bell; or, if its
 * caller gave it up, Cancelled -> Free, late + 1, wake freeWord. It
 * reports whether the caller got the answer. */
static int answer(uint32_t i, uint64_t seq, uint32_t n, uint32_t status, uint32_t code) {
	atomic_store(rec_u32(i, IPCCHAN_CALL_OFF_RESP_LEN), n);
	atomic_store(rec_u32(i, IPCCHAN_CALL_OFF_STATUS), status);
	atomic_store(rec_u32(i, IPCCHAN_CALL_OFF_CODE), code);
	uint64_t w = ipcchan_call_word(IPCCHAN_CALL_TAKEN, seq, me);
	if (atomic_compare_exchange_strong(rec_word(i), &w, ipcchan_call_word(IPCCHAN_CALL_ANSWERED, seq, me))) {
		atomic_fetch_add(ctl_u64(IPCCHAN_SERVICE_OFF_CALLS), 1);
		wake(rec_u32(i, IPCCHAN_CALL_OFF_BELL));
		return 1;
	}
	/* w now holds the word found */
	if (ipcchan_call_state(w) == IPCCHAN_CALL_CANCELLED && ipcchan_call_seq(w) == seq &&
	    atomic_compare_exchange_strong(rec_word(i), &w, ipcchan_call_word(IPCCHAN_CALL_FREE, seq, 0))) {
		atomic_fetch_add(ctl_u64(IPCCHAN_SERVICE_OFF_LATE), 1);
		wake(ctl_u32(IPCCHAN_SERVICE_OFF_FREE_WORD));
	}
	return 0;
}

static int answer_error(uint32_t i, uint64_t seq, uint32_t code, const char *text) {
	size_t n = strlen(text);
	if (n > resp_max) n = resp_max;
	memcpy(rec(i) + resp_off, text, n);
	return answer(i, seq, (uint32_t)n, IPCCHAN_CALL_ERROR, code);
}

static int answer_sum(uint32_t i, uint64_t seq, const struct calc_req *r) {
	struct calc_resp resp = {(int64_t)((uint64_t)r->a + (uint64_t)r->b), r->client, r->seq}; /* Go's wrapping sum */
	memcpy(rec(i) + resp_off, &resp, sizeof resp);
	return answer(i, seq, sizeof resp, IPCCHAN_CALL_OK, 0);
}

/* handle handles call (i, seq); it returns 1 when the server is to stop. */
static int handle(uint32_t i, uint64_t seq) {
	uint32_t n = atomic_load(rec_u32(i, IPCCHAN_CALL_OFF_REQ_LEN));
	char text[IPCCHAN_SERVICE_ERR_MIN];
	if (n != sizeof(struct calc_req)) {
		snprintf(text, sizeof text, "calcserver: a request of %u bytes, not a %zu-byte CalcReq: corrupt message", n, sizeof(struct calc_req));
		answer_error(i, seq, IPCCHAN_CODE_CORRUPT, text);
		return 0;
	}
	struct calc_req r;
	memcpy(&r, rec(i) + IPCCHAN_CALL_OFF_REQUEST, sizeof r);
	switch (r.op) {
	case 0:
		answer_sum(i, seq, &r);
		return 0;
	case 1:
		snprintf(text, sizeof text, "no account %" PRId64 ": does not exist", r.a);
		answer_error(i, seq, IPCCHAN_CODE_NOT_EXIST, text);
		return 0;
	case 2: /* until the caller gives up (its client wakes cancelWord) */
		printf("handling\n");
		fflush(stdout);
		while (still_taken(i, seq)) {
			if (getppid() != parent) exit(1);
			sleep_on(ctl_u32(IPCCHAN_SERVICE_OFF_CANCEL_WORD), still_taken, i, seq);
		}
		answer_sum(i, seq, &r); /* late: dropped, the record freed */
		return 0;
	case 3:
		answer_sum(i, seq, &r);
		return 1;
	}
	snprintf(text, sizeof text, "calcserver: no op %u: invalid argument", r.op);
	answer_error(i, seq, IPCCHAN_CODE_INVALID, text);
	return 0;
}

/* join registers pid in the table of n entries: a free entry, or else one
 * of a dead process (users), or one free or dead (servers). */
static int join(_Atomic uint32_t *table, int n, int free_first) {
	if (free_first) {
		for (int i = 0; i < n; i++) {
			uint32_t zero = 0;
			if (atomic_compare_exchange_strong(&table[i], &zero, me)) return i;
		}
	}
	for (int i = 0; i < n; i++) {
		uint32_t v = atomic_load(&table[i]);
		if ((v == 0 || (v != me && !alive(v))) && atomic_compare_exchange_strong(&table[i], &v, me)) return i;
	}
	return -1;
}

static void leave(_Atomic uint32_t *table, int slot) {
	uint32_t v = me;
	if (slot >= 0) atomic_compare_exchange_strong(&table[slot], &v, 0);
}

int main(int argc, char **argv) {
	if (argc != 2 || argv[1][0] != '/') {
		fprintf(stderr, "usage: calcserver /NAME\n");
		return 2;
	}
	me = (uint32_t)getpid();
	parent = getppid();
	char path[512];
	snprintf(path, sizeof path, "%s%s%s", IPCCHAN_SHM_DIR, IPCCHAN_PREFIX_SERVICE, argv[1] + 1);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) return fail(path);
	struct stat st;
	if (fstat(fd, &st) < 0) return fail("fstat");
	if (st.st_size < IPCCHAN_HEADER_SIZE + IPCCHAN_SERVICE_OFF_POSTED) {
		fprintf(stderr, "calcserver: %s is too short for a service\n", path);
		return 1;
	}
	mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) return fail("mmap");
	close(fd);
	ctl = mem + IPCCHAN_HEADER_SIZE;

	/* The header: an ipcchan service of CalcReq -> CalcResp. */
	const struct ipcchan_header *h = (const struct ipcchan_header *)mem;
	char type[IPCCHAN_TYPE_LEN + 1] = {0};
	memcpy(type, h->type, IPCCHAN_TYPE_LEN);
	if (memcmp(h->magic, IPCCHAN_MAGIC, 8) || h->version != IPCCHAN_VERSION || h->kind != IPCCHAN_KIND_SERVICE) {
		fprintf(stderr, "calcserver: %s is not an ipcchan service (version %u, kind %u)\n", path, h->version, h->kind);
		return 1;
	}
	if (strcmp(type, CALC_TYPE)) {
		fprintf(stderr, "calcserver: %s is a service of %s, not %s\n", path, type, CALC_TYPE);
		return 1;
	}

	/* The control block, checked as Go does, and against these types. */
	uint32_t layout = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_LAYOUT)), flags = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_FLAGS));
	cap = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_CAPACITY));
	req_max = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_REQ_MAX));
	resp_max = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_RESP_MAX));
	stride = atomic_load(ctl_u32(IPCCHAN_SERVICE_OFF_STRIDE));
	words = ipcchan_service_words(cap);
	rec_off = ipcchan_service_records(cap);
	resp_off = ipcchan_service_resp_off(req_max);
	uint64_t want_stride = ipcchan_service_stride(req_max, resp_max);
	uint64_t size = rec_off + (uint64_t)cap * stride;
	if (layout != IPCCHAN_SERVICE_LAYOUT || cap == 0 || cap > IPCCHAN_SERVICE_CAP_MAX || resp_max < IPCCHAN_SERVICE_ERR_MIN || stride % 64 || stride < want_stride ||
	    size > (uint64_t)st.st_size - IPCCHAN_HEADER_SIZE || h->size < size) {
		fprintf(stderr, "calcserver: %s: layout %u, %u records of %u bytes (reqMax %u, respMax %u) in %lld bytes: not a service this server reads\n",
			path, layout, cap, stride, req_max, resp_max, (long long)st.st_size);
		return 1;
	}
	if (req_max != sizeof(struct calc_req) || flags != (IPCCHAN_SERVICE_FIXED_REQ | IPCCHAN_SERVICE_FIXED_RESP) || resp_max < sizeof(struct calc_resp)) {
		fprintf(stderr, "calcserver: %s: reqMax %u, respMax %u, flags %u: not fixed-size CalcReq and CalcResp\n", path, req_max, resp_max, flags);
		return 1;
	}

	/* Register: the handle in the users table, the server in the servers table. */
	_Atomic uint32_t *users = A32(mem + IPCCHAN_OFF_USERS);
	_Atomic uint32_t *servers = ctl_u32(IPCCHAN_SERVICE_OFF_SERVERS);
	int user = join(users, IPCCHAN_USER_SLOTS, 1);
	if (user < 0) atomic_store(A32(mem + IPCCHAN_OFF_OVERFLOW), 1);
	int slot = join(servers, IPCCHAN_SERVICE_SERVERS, 0);
	if (slot < 0) {
		fprintf(stderr, "calcserver: %s: the servers table is full\n", path);
		leave(users, user);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);

	for (;;) {
		uint32_t i;
		uint64_t seq;
		if (take(&i, &seq)) {
			served++;
			if (i > highest) highest = i;
			if (handle(i, seq)) break;
			continue;
		}
		if (getppid() != parent) break; /* nobody to serve for: the test is gone */
		sleep_on(ctl_u32(IPCCHAN_SERVICE_OFF_POSTED_WORD), nothing_posted, 0, 0);
	}
	leave(servers, slot);
	leave(users, user);
	printf("served %" PRIu64 " calls, the highest record %u\n", served, highest);
	fflush(stdout);
	return 0;
}
