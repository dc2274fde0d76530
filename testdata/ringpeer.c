/* ringpeer: a C peer for ipcchan's Ring tests. It joins a ring that Go
 * made (/dev/shm/ipcchan.ring.NAME) with C11-style atomics and futexes,
 * following the protocol documented in internal/objfmt/ring.go.
 *
 *   ringpeer send NAME N    send N struct ticks: seq i, price i/2, side -i
 *   ringpeer recv NAME N    receive N struct ticks, print "SEQ PRICE SIDE" each
 *
 * Go's side declares the struct as
 *
 *	type Tick struct { Seq uint64; Price float64; Side int32; _ [4]byte }
 *
 * which a ring carries as fixed-size messages (flag 1: every message is
 * maxLen bytes, and the slot's length field is unused).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct tick {
	uint64_t seq;
	double price;
	int32_t side;
	uint8_t pad[4];
};

/* The ipcchan object header, then the ring's control block (offsets from
 * the end of the header). */
enum {
	HEADER = 192,
	KIND_RING = 4,
	CTL = 320,
	SLOT_HEADER = 16,
	POS_BITS = 39,
	FREE = 0, WRITING = 1, FULL = 2, READING = 3, SKIPPED = 4,
};
#define SLEEPERS 0x80000000u
#define POS_MASK ((1ull << POS_BITS) - 1)

static uint8_t *ctl;                 /* the control block */
static uint64_t cap;
static uint32_t stride, maxlen;
static uint64_t *head, *tail;
static uint32_t *data_word, *room_word, *ended;

static uint64_t slot_word(uint64_t pos, uint64_t state, uint32_t pid) {
	return (pos & POS_MASK) | state << POS_BITS | (uint64_t)pid << (POS_BITS + 3);
}
static uint64_t pos_of(uint64_t w) { return w & POS_MASK; }
static uint64_t state_of(uint64_t w) { return w >> POS_BITS & 7; }
static uint64_t *slot_state(uint64_t pos) { return (uint64_t *)(ctl + CTL + (pos % cap) * stride); }
static uint32_t *slot_len(uint64_t pos) { return (uint32_t *)(ctl + CTL + (pos % cap) * stride + 8); }
static uint8_t *slot_data(uint64_t pos) { return ctl + CTL + (pos % cap) * stride + SLOT_HEADER; }

static int die(const char *what) {
	fprintf(stderr, "ringpeer: %s: %s\n", what, strerror(errno));
	return 1;
}

/* wake wakes every sleeper of word, if one announced itself. */
static void wake(uint32_t *word) {
	for (;;) {
		uint32_t v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (!(v & SLEEPERS)) return;
		if (__atomic_compare_exchange_n(word, &v, (v + 1) & ~SLEEPERS, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
			syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
			return;
		}
	}
}

/* sleep_on sleeps on word while *sw still holds w: the bit, a last look,
 * then a futex wait of at most 10 ms. */
static void sleep_on(uint32_t *word, uint64_t *sw, uint64_t w) {
	uint32_t v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(sw, __ATOMIC_SEQ_CST) != w) return;
	if (!(v & SLEEPERS)) {
		if (!__atomic_compare_exchange_n(word, &v, v | SLEEPERS, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
		v |= SLEEPERS;
	}
	if (__atomic_load_n(sw, __ATOMIC_SEQ_CST) != w) return;
	struct timespec ts = {0, 10 * 1000 * 1000};
	syscall(SYS_futex, word, FUTEX_WAIT, v, &ts, NULL, 0);
}

static void send_tick(const struct tick *t, uint32_t pid) {
	for (;;) {
		uint64_t pos = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
		uint64_t *sw = slot_state(pos);
		uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
		if (pos_of(w) == (pos & POS_MASK) && state_of(w) == FREE) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos, WRITING, pid), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				__atomic_compare_exchange_n(tail, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
				memcpy(slot_data(pos), t, sizeof *t);
				__atomic_store_n(slot_len(pos), (uint32_t)sizeof *t, __ATOMIC_SEQ_CST);
				__atomic_store_n(sw, slot_word(pos, FULL, 0), __ATOMIC_SEQ_CST);
				wake(data_word);
				return;
			}
		} else if (pos_of(w) == (pos & POS_MASK)) {
			__atomic_compare_exchange_n(tail, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		} else if (pos_of(w) == ((pos - cap) & POS_MASK)) {
			sleep_on(room_word, sw, w); /* full */
		}
	}
}

static int recv_tick(struct tick *t, uint32_t pid) {
	for (;;) {
		uint64_t pos = __atomic_load_n(head, __ATOMIC_SEQ_CST);
		uint64_t *sw = slot_state(pos);
		uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
		uint64_t p = pos_of(w), st = state_of(w);
		if (p == (pos & POS_MASK) && st == FULL) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos, READING, pid), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				__atomic_compare_exchange_n(head, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
				memcpy(t, slot_data(pos), sizeof *t);
				__atomic_store_n(sw, slot_word(pos + cap, FREE, 0), __ATOMIC_SEQ_CST);
				wake(room_word);
				return 0;
			}
		} else if (p == (pos & POS_MASK) && st == SKIPPED) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos + cap, FREE, 0), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				wake(room_word);
			__atomic_compare_exchange_n(head, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		} else if ((p == (pos & POS_MASK) && st == READING) || p == ((pos + cap) & POS_MASK)) {
			__atomic_compare_exchange_n(head, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		} else {
			if (st == FREE && p == (pos & POS_MASK) && __atomic_load_n(ended, __ATOMIC_SEQ_CST)) return 1;
			sleep_on(data_word, sw, w); /* empty */
		}
	}
}

int main(int argc, char **argv) {
	if (argc != 4 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv"))) {
		fprintf(stderr, "usage: ringpeer send|recv NAME N\n");
		return 2;
	}
	char path[512];
	snprintf(path, sizeof path, "/dev/shm/ipcchan.ring.%s", argv[2] + 1);
	int fd = open(path, O_RDWR);
	if (fd < 0) return die(path);
	struct stat st;
	if (fstat(fd, &st) < 0) return die("fstat");
	uint8_t *mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) return die("mmap");
	uint32_t kind, layout, flags;
	memcpy(&kind, mem + 12, 4);
	if (memcmp(mem, "ipcchan", 8) || kind != KIND_RING) {
		fprintf(stderr, "ringpeer: %s is not an ipcchan ring\n", path);
		return 1;
	}
	ctl = mem + HEADER;
	uint32_t c32;
	memcpy(&layout, ctl, 4);
	memcpy(&c32, ctl + 4, 4);
	memcpy(&stride, ctl + 8, 4);
	memcpy(&maxlen, ctl + 12, 4);
	memcpy(&flags, ctl + 16, 4);
	cap = c32;
	if (layout != 1 || maxlen != sizeof(struct tick) || !(flags & 1)) {
		fprintf(stderr, "ringpeer: layout %u with %u-byte messages (flags %u), not layout 1 of fixed-size struct ticks\n", layout, maxlen, flags);
		return 1;
	}
	ended = (uint32_t *)(ctl + 20);
	head = (uint64_t *)(ctl + 64);
	tail = (uint64_t *)(ctl + 128);
	data_word = (uint32_t *)(ctl + 192);
	room_word = (uint32_t *)(ctl + 256);
	uint32_t pid = (uint32_t)getpid();
	long n = atol(argv[3]);
	for (long i = 0; i < n; i++) {
		struct tick t;
		if (argv[1][0] == 's') {
			memset(&t, 0, sizeof t);
			t.seq = (uint64_t)i;
			t.price = i / 2.0;
			t.side = (int32_t)-i;
			send_tick(&t, pid);
		} else {
			int r = recv_tick(&t, pid);
			if (r < 0) return 1;
			if (r > 0) break; /* the end of the stream */
			printf("%llu %.17g %d\n", (unsigned long long)t.seq, t.price, t.side);
		}
	}
	fflush(stdout);
	return 0;
}
