/* ringpeer: a C peer for ipcchan's Ring tests. It joins a ring that Go
 * made (/dev/shm/ipcchan.ring.NAME) with C11-style atomics and futexes,
 * following the protocol documented in docs/FORMATS.md ("Ring"), with the
 * layout of ipcchan_format.h, the C header block of docs/FORMATS.md.
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
 *
 * Build, from the module's root (the tests do the same with
 * internal/testutil.BuildC, which writes the header into its build
 * directory and passes -I that directory):
 *
 *   awk '/^```c ipcchan_format.h$/{f=1;next} /^```$/{f=0} f' docs/FORMATS.md > /tmp/ipcchan_format.h
 *   gcc -O2 -Wall -I/tmp -o ringpeer testdata/ringpeer.c -lrt -pthread
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

#include "ipcchan_format.h"

struct tick {
	uint64_t seq;
	double price;
	int32_t side;
	uint8_t pad[4];
};

static uint8_t *ctl;                 /* the control block */
static uint64_t cap;
static uint32_t stride, maxlen;
static uint64_t *head, *tail;
static uint32_t *data_word, *room_word, *ended;

static uint64_t slot_word(uint64_t pos, uint64_t state, uint32_t pid) { return ipcchan_slot_word(pos, state, pid); }
static uint64_t pos_of(uint64_t w) { return ipcchan_slot_pos(w); }
static uint64_t state_of(uint64_t w) { return ipcchan_slot_state(w); }
static uint64_t *slot_state(uint64_t pos) { return (uint64_t *)(ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride); }
static uint32_t *slot_len(uint64_t pos) { return (uint32_t *)(ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride + IPCCHAN_SLOT_OFF_LENGTH); }
static uint8_t *slot_data(uint64_t pos) { return ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride + IPCCHAN_SLOT_OFF_DATA; }

static int die(const char *what) {
	fprintf(stderr, "ringpeer: %s: %s\n", what, strerror(errno));
	return 1;
}

/* wake wakes every sleeper of word, if one announced itself. */
static void wake(uint32_t *word) {
	for (;;) {
		uint32_t v = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		if (!(v & IPCCHAN_RING_SLEEPERS)) return;
		if (__atomic_compare_exchange_n(word, &v, (v + 1) & ~IPCCHAN_RING_SLEEPERS, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
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
	if (!(v & IPCCHAN_RING_SLEEPERS)) {
		if (!__atomic_compare_exchange_n(word, &v, v | IPCCHAN_RING_SLEEPERS, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) return;
		v |= IPCCHAN_RING_SLEEPERS;
	}
	if (__atomic_load_n(sw, __ATOMIC_SEQ_CST) != w) return;
	struct timespec ts = {0, 10 * 1000 * 1000};
	syscall(SYS_futex, word, FUTEX_WAIT, v, &ts, NULL, 0);
}

/* advance moves a counter (head or tail, a hint) from pos to pos + 1 if it
 * is still at pos; pos itself is left alone (a failed compare-and-swap
 * would overwrite it with the counter's value). */
static void advance(uint64_t *counter, uint64_t pos) {
	__atomic_compare_exchange_n(counter, &pos, pos + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static void send_tick(const struct tick *t, uint32_t pid) {
	for (;;) {
		uint64_t pos = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
		uint64_t *sw = slot_state(pos);
		uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
		if (pos_of(w) == (pos & IPCCHAN_SLOT_POS_MASK) && state_of(w) == IPCCHAN_SLOT_FREE) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos, IPCCHAN_SLOT_WRITING, pid), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				advance(tail, pos);
				memcpy(slot_data(pos), t, sizeof *t);
				__atomic_store_n(slot_len(pos), (uint32_t)sizeof *t, __ATOMIC_SEQ_CST);
				__atomic_store_n(sw, slot_word(pos, IPCCHAN_SLOT_FULL, 0), __ATOMIC_SEQ_CST);
				wake(data_word);
				return;
			}
		} else if (pos_of(w) == (pos & IPCCHAN_SLOT_POS_MASK)) {
			advance(tail, pos);
		} else if (pos_of(w) == ((pos - cap) & IPCCHAN_SLOT_POS_MASK)) {
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
		if (p == (pos & IPCCHAN_SLOT_POS_MASK) && st == IPCCHAN_SLOT_FULL) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos, IPCCHAN_SLOT_READING, pid), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
				advance(head, pos);
				memcpy(t, slot_data(pos), sizeof *t);
				__atomic_store_n(sw, slot_word(pos + cap, IPCCHAN_SLOT_FREE, 0), __ATOMIC_SEQ_CST);
				wake(room_word);
				return 0;
			}
		} else if (p == (pos & IPCCHAN_SLOT_POS_MASK) && st == IPCCHAN_SLOT_SKIPPED) {
			if (__atomic_compare_exchange_n(sw, &w, slot_word(pos + cap, IPCCHAN_SLOT_FREE, 0), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
				wake(room_word);
			advance(head, pos);
		} else if ((p == (pos & IPCCHAN_SLOT_POS_MASK) && st == IPCCHAN_SLOT_READING) || p == ((pos + cap) & IPCCHAN_SLOT_POS_MASK)) {
			advance(head, pos);
		} else {
			if (st == IPCCHAN_SLOT_FREE && p == (pos & IPCCHAN_SLOT_POS_MASK) && __atomic_load_n(ended, __ATOMIC_SEQ_CST)) return 1;
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
	memcpy(&kind, mem + IPCCHAN_OFF_KIND, 4);
	if (st.st_size < IPCCHAN_HEADER_SIZE + IPCCHAN_RING_CTL_SIZE || memcmp(mem + IPCCHAN_OFF_MAGIC, IPCCHAN_MAGIC, 8) || kind != IPCCHAN_KIND_RING) {
		fprintf(stderr, "ringpeer: %s is not an ipcchan ring\n", path);
		return 1;
	}
	ctl = mem + IPCCHAN_HEADER_SIZE;
	uint32_t c32;
	memcpy(&layout, ctl + IPCCHAN_RING_OFF_LAYOUT, 4);
	memcpy(&c32, ctl + IPCCHAN_RING_OFF_CAPACITY, 4);
	memcpy(&stride, ctl + IPCCHAN_RING_OFF_STRIDE, 4);
	memcpy(&maxlen, ctl + IPCCHAN_RING_OFF_MAXLEN, 4);
	memcpy(&flags, ctl + IPCCHAN_RING_OFF_FLAGS, 4);
	cap = c32;
	if (layout != IPCCHAN_RING_LAYOUT || maxlen != sizeof(struct tick) || !(flags & IPCCHAN_RING_FIXED)) {
		fprintf(stderr, "ringpeer: layout %u with %u-byte messages (flags %u), not layout 1 of fixed-size struct ticks\n", layout, maxlen, flags);
		return 1;
	}
	ended = (uint32_t *)(ctl + IPCCHAN_RING_OFF_ENDED);
	head = (uint64_t *)(ctl + IPCCHAN_RING_OFF_HEAD);
	tail = (uint64_t *)(ctl + IPCCHAN_RING_OFF_TAIL);
	data_word = (uint32_t *)(ctl + IPCCHAN_RING_OFF_DATA_WORD);
	room_word = (uint32_t *)(ctl + IPCCHAN_RING_OFF_ROOM_WORD);
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
