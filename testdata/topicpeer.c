/* topicpeer: a C peer for ipcchan's Topic tests. It joins a topic that Go
 * made (/dev/shm/ipcchan.topic.NAME) with C11-style atomics and futexes,
 * following the protocol documented in docs/FORMATS.md ("Topic"), with the
 * layout of ipcchan_format.h, the C header block of docs/FORMATS.md.
 *
 *   topicpeer pub NAME N [end]   publish N messages, 0 to N-1 (then, with
 *                                "end", end the stream)
 *   topicpeer sub NAME N         subscribe and print "ready"; read a line of
 *                                stdin (or its end); then receive until N
 *                                messages or the end of the stream, print
 *                                each, then "missed M"; close the subscription
 *
 * Message i, in a topic of fixed-size messages (flag FIXED), is the struct
 * tick {i, i/2, -i}, printed "SEQ PRICE SIDE"; Go's side declares it
 *
 *	type Tick struct { Seq uint64; Price float64; Side int32; _ [4]byte }
 *
 * In a topic of bytes (a Topic[[]byte]) it is the text "tick i", printed as
 * it is. A wait on another process (a publisher writing a slot, a
 * subscription that holds a publisher up) checks every 5 ms that the
 * process lives, and takes back what it held if it died. Like ringpeer, it
 * does not register in the header's users table (a long-lived peer should:
 * see "The users table" in docs/FORMATS.md).
 *
 * Build, from the module's root (the tests do the same with
 * internal/testutil.BuildC, which writes the header into its build
 * directory and passes -I that directory):
 *
 *   awk '/^```c ipcchan_format.h$/{f=1;next} /^```$/{f=0} f' docs/FORMATS.md > /tmp/ipcchan_format.h
 *   gcc -O2 -Wall -I/tmp -o topicpeer testdata/topicpeer.c -lrt -pthread
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
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

#define SEQ __ATOMIC_SEQ_CST
#define MASK IPCCHAN_SLOT_POS_MASK

struct tick {
	uint64_t seq;
	double price;
	int32_t side;
	uint8_t pad[4];
};

static uint8_t *ctl;                 /* the payload: control block, table, slots */
static uint64_t cap, history;
static uint32_t stride, maxlen, subs_max, slots_off, me;
static int fixed, drop_oldest;
static uint64_t *tail, *subs_gen, *recovered;
static uint32_t *ended, *subs_high, *data_word, *room_word;

static uint8_t *slot(uint64_t pos) { return ctl + slots_off + (pos % cap) * stride; }
static uint64_t *slot_state(uint64_t pos) { return (uint64_t *)(slot(pos) + IPCCHAN_SLOT_OFF_STATE); }
static uint32_t *slot_len(uint64_t pos) { return (uint32_t *)(slot(pos) + IPCCHAN_SLOT_OFF_LENGTH); }
static uint8_t *slot_data(uint64_t pos) { return slot(pos) + IPCCHAN_SLOT_OFF_DATA; }
static uint64_t *entry_word(uint32_t i) { return (uint64_t *)(ctl + IPCCHAN_TOPIC_CTL_SIZE + i * IPCCHAN_TOPIC_ENTRY_SIZE + IPCCHAN_TOPIC_ENTRY_OFF_WORD); }
static uint64_t *entry_cursor(uint32_t i) { return (uint64_t *)(ctl + IPCCHAN_TOPIC_CTL_SIZE + i * IPCCHAN_TOPIC_ENTRY_SIZE + IPCCHAN_TOPIC_ENTRY_OFF_CURSOR); }
static uint64_t *entry_missed(uint32_t i) { return (uint64_t *)(ctl + IPCCHAN_TOPIC_CTL_SIZE + i * IPCCHAN_TOPIC_ENTRY_SIZE + IPCCHAN_TOPIC_ENTRY_OFF_MISSED); }

/* cas64 and cas32 take the old value by value: a failed CAS leaves the
 * caller's variables alone. */
static int cas64(uint64_t *p, uint64_t old, uint64_t new) { return __atomic_compare_exchange_n(p, &old, new, 0, SEQ, SEQ); }
static int cas32(uint32_t *p, uint32_t old, uint32_t new) { return __atomic_compare_exchange_n(p, &old, new, 0, SEQ, SEQ); }
static uint64_t load64(uint64_t *p) { return __atomic_load_n(p, SEQ); }
static uint32_t load32(uint32_t *p) { return __atomic_load_n(p, SEQ); }

static int die(const char *what) {
	fprintf(stderr, "topicpeer: %s: %s\n", what, strerror(errno));
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

/* wake wakes every sleeper of word, if one announced itself. */
static void wake(uint32_t *word) {
	for (;;) {
		uint32_t v = load32(word);
		if (!(v & IPCCHAN_RING_SLEEPERS)) return;
		if (cas32(word, v, (v + 1) & ~IPCCHAN_RING_SLEEPERS)) {
			syscall(SYS_futex, word, FUTEX_WAKE, 0x7fffffff, NULL, NULL, 0);
			return;
		}
	}
}

/* sleep_on sleeps on word while still(arg): the bit, a last look, then a
 * futex wait, of at most the owner check when holder is another process.
 * It returns 1 when holder turned out dead, else 0: look again. */
static int sleep_on(uint32_t *word, int (*still)(const void *), const void *arg, uint32_t holder) {
	for (;;) {
		uint32_t v = load32(word);
		if (!still(arg)) return 0;
		if (!(v & IPCCHAN_RING_SLEEPERS)) {
			if (!cas32(word, v, v | IPCCHAN_RING_SLEEPERS)) continue;
			v |= IPCCHAN_RING_SLEEPERS;
		}
		if (!still(arg)) return 0;
		struct timespec ts = {0, IPCCHAN_RING_OWNER_CHECK_MS * 1000000L};
		int check = holder != 0 && holder != me;
		if (syscall(SYS_futex, word, FUTEX_WAIT, v, check ? &ts : NULL, NULL, 0) < 0 && errno == ETIMEDOUT) {
			if (!alive(holder)) return 1;
			continue;
		}
		return 0;
	}
}

/* take_back makes the slot that a dead publisher was writing (as w) Skipped. */
static void take_back(uint64_t *sw, uint64_t w) {
	if (ipcchan_slot_state(w) != IPCCHAN_SLOT_WRITING) return;
	if (cas64(sw, w, ipcchan_slot_word(ipcchan_slot_pos(w), IPCCHAN_SLOT_SKIPPED, 0))) {
		__atomic_fetch_add(recovered, 1, SEQ);
		wake(data_word);
		wake(room_word);
	}
}

/* release frees the entries of dead processes other than this one: those
 * that hold pos up (cursor + cap <= pos), or every one if all. */
static void release(uint64_t pos, int all) {
	uint32_t high = load32(subs_high);
	for (uint32_t i = 0; i < high && i < subs_max; i++) {
		uint64_t w = load64(entry_word(i));
		uint32_t pid = ipcchan_entry_pid(w);
		if (!pid || pid == me || (!all && load64(entry_cursor(i)) + cap > pos) || alive(pid)) continue;
		if (cas64(entry_word(i), w, ipcchan_entry_word(0, 0, ipcchan_entry_gen(w)))) {
			__atomic_fetch_add(recovered, 1, SEQ);
			wake(room_word);
		}
	}
}

/* --- Publishing. --------------------------------------------------------- */

/* limit is the least cursor + cap of the active entries (the first position
 * that may not be claimed under Block), and *blocker the pid of one that
 * holds pos up, another process's if any. */
static uint64_t limit(uint64_t pos, uint32_t *blocker) {
	uint64_t lim = UINT64_MAX;
	uint32_t high = load32(subs_high);
	*blocker = 0;
	for (uint32_t i = 0; i < high && i < subs_max; i++) {
		uint64_t w = load64(entry_word(i));
		if (!ipcchan_entry_pid(w) || !ipcchan_entry_active(w)) continue;
		uint64_t end = load64(entry_cursor(i)) + cap;
		if (end < lim) lim = end;
		if (end <= pos && (*blocker == 0 || *blocker == me)) *blocker = ipcchan_entry_pid(w);
	}
	return lim;
}

static int no_room(const void *arg) {
	uint64_t pos = *(const uint64_t *)arg;
	uint32_t blocker;
	return pos >= limit(pos, &blocker) && !load32(ended) && load64(tail) == pos;
}

struct look { uint64_t *sw, w, c; int writing; uint32_t entry; };

static int slot_unchanged(const void *arg) {
	const struct look *l = arg;
	return load64(l->sw) == l->w && !load32(ended);
}

/* publish publishes the n bytes of msg: 0, or -1 once the stream ended. */
static int publish(const void *msg, uint32_t n) {
	for (;;) {
		if (load32(ended)) return -1;
		uint64_t pos = load64(tail);
		uint64_t *sw = slot_state(pos);
		uint64_t w = load64(sw);
		uint64_t p = ipcchan_slot_pos(w), st = ipcchan_slot_state(w), prev = (pos - cap) & MASK;
		if ((p == (pos & MASK) && st == IPCCHAN_SLOT_FREE) || (p == prev && (st == IPCCHAN_SLOT_FULL || st == IPCCHAN_SLOT_SKIPPED))) {
			uint32_t blocker;
			if (!drop_oldest && pos >= limit(pos, &blocker)) { /* Block, and a subscription has not read p - cap */
				if (sleep_on(room_word, no_room, &pos, blocker)) release(pos, 0);
				continue;
			}
			if (cas64(sw, w, ipcchan_slot_word(pos, IPCCHAN_SLOT_WRITING, me))) {
				cas64(tail, pos, pos + 1);
				memcpy(slot_data(pos), msg, n);
				if (!fixed) __atomic_store_n(slot_len(pos), n, SEQ);
				__atomic_store_n(sw, ipcchan_slot_word(pos, IPCCHAN_SLOT_FULL, 0), SEQ);
				wake(data_word);
				return 0;
			}
		} else if (p == (pos & MASK)) {
			cas64(tail, pos, pos + 1); /* another publisher has pos: help it on */
		} else if (p == prev && st == IPCCHAN_SLOT_WRITING) {
			struct look l = {sw, w, 0, 1, 0}; /* the previous lap is still being written */
			if (sleep_on(data_word, slot_unchanged, &l, ipcchan_slot_pid(w))) take_back(sw, w);
		}
		/* else the tail moved meanwhile: look again */
	}
}

/* --- Subscribing. -------------------------------------------------------- */

static uint32_t my_entry;
static uint64_t my_word, count_from, missed;

static int subscribe(void) {
	for (int attempt = 0; attempt < 2; attempt++) {
		for (uint32_t i = 0; i < subs_max; i++) {
			uint64_t w = load64(entry_word(i)), gen = ipcchan_entry_gen(w) + 1;
			if (ipcchan_entry_pid(w) || !cas64(entry_word(i), w, ipcchan_entry_word(me, 0, gen))) continue;
			for (;;) { /* subsHigh above the entry, before it is active */
				uint32_t h = load32(subs_high);
				if (h > i || cas32(subs_high, h, i + 1)) break;
			}
			uint64_t t = load64(tail), start = t - (history < t ? history : t);
			__atomic_store_n(entry_cursor(i), start, SEQ);
			__atomic_store_n(entry_missed(i), 0, SEQ);
			my_entry = i;
			my_word = ipcchan_entry_word(me, 1, gen);
			__atomic_store_n(entry_word(i), my_word, SEQ);
			__atomic_fetch_add(subs_gen, 1, SEQ);
			count_from = drop_oldest ? start : load64(tail);
			return 0;
		}
		release(0, 1); /* the table is full: free the entries of the dead */
	}
	return -1;
}

/* lose moves the cursor from c to next over overwritten positions, and
 * counts them. */
static void lose(uint64_t c, uint64_t next) {
	if (!cas64(entry_cursor(my_entry), c, next)) return;
	uint64_t from = c > count_from ? c : count_from;
	if (next > from) {
		missed += next - from;
		__atomic_fetch_add(entry_missed(my_entry), next - from, SEQ);
	}
	if (!drop_oldest) wake(room_word);
}

static int nothing_yet(const void *arg) {
	const struct look *l = arg;
	return load64(l->sw) == l->w && load64(entry_cursor(l->entry)) == l->c && (l->writing || !load32(ended));
}

/* take copies the next message into buf (maxlen bytes), its length into
 * *n: 0, or 1 at the end of the stream, -1 if the entry was taken back. */
static int take(uint8_t *buf, uint32_t *n) {
	for (;;) {
		uint64_t c = load64(entry_cursor(my_entry));
		uint64_t *sw = slot_state(c);
		uint64_t w = load64(sw);
		uint64_t st = ipcchan_slot_state(w);
		uint64_t d = (ipcchan_slot_pos(w) - c) & MASK; /* 0: at c; below 2^38: a later lap; else an earlier one */
		if (d == 0 && st == IPCCHAN_SLOT_FULL) {
			uint32_t len = maxlen;
			if (!fixed && (len = __atomic_load_n(slot_len(c), SEQ)) > maxlen) len = maxlen;
			memcpy(buf, slot_data(c), len);
			if (load64(sw) != w) { /* overwritten meanwhile: the copy may be torn */
				if (drop_oldest) lose(c, c + 1);
				continue;
			}
			if (cas64(entry_cursor(my_entry), c, c + 1)) {
				if (!drop_oldest) wake(room_word);
				*n = len;
				return 0;
			}
		} else if (d == 0 && st == IPCCHAN_SLOT_SKIPPED) { /* its publisher died writing it */
			if (cas64(entry_cursor(my_entry), c, c + 1) && !drop_oldest) wake(room_word);
		} else if ((d == 0 && (st == IPCCHAN_SLOT_WRITING || st == IPCCHAN_SLOT_FREE)) || d >= UINT64_C(1) << (IPCCHAN_SLOT_POS_BITS - 1)) {
			struct look l = {sw, w, c, d == 0 && st == IPCCHAN_SLOT_WRITING, my_entry};
			if (!l.writing && load32(ended)) return 1;
			if (load64(entry_word(my_entry)) != my_word) return -1;
			if (sleep_on(data_word, nothing_yet, &l, l.writing ? ipcchan_slot_pid(w) : 0)) take_back(sw, w);
		} else if (d != 0) { /* lapped: c and everything before tail - cap are gone */
			uint64_t next = c + 1, t = load64(tail);
			if (t > cap && t - cap > next) next = t - cap;
			lose(c, next);
		} else {
			fprintf(stderr, "topicpeer: slot %llu in state %llu, which a topic never has\n", (unsigned long long)c, (unsigned long long)st);
			return -1;
		}
	}
}

static void unsubscribe(void) {
	if (cas64(entry_word(my_entry), my_word, ipcchan_entry_word(0, 0, ipcchan_entry_gen(my_word)))) wake(room_word);
}

int main(int argc, char **argv) {
	if (argc < 4 || argc > 5 || (strcmp(argv[1], "pub") && strcmp(argv[1], "sub"))) {
		fprintf(stderr, "usage: topicpeer pub NAME N [end] | topicpeer sub NAME N\n");
		return 2;
	}
	char path[512];
	snprintf(path, sizeof path, IPCCHAN_SHM_DIR IPCCHAN_PREFIX_TOPIC "%s", argv[2] + 1);
	int fd = open(path, O_RDWR);
	if (fd < 0) return die(path);
	struct stat sb;
	if (fstat(fd, &sb) < 0) return die("fstat");
	uint8_t *mem = mmap(NULL, sb.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) return die("mmap");
	uint32_t kind, layout, flags, c32, h32;
	memcpy(&kind, mem + IPCCHAN_OFF_KIND, 4);
	if (sb.st_size < IPCCHAN_HEADER_SIZE + IPCCHAN_TOPIC_CTL_SIZE || memcmp(mem + IPCCHAN_OFF_MAGIC, IPCCHAN_MAGIC, 8) || kind != IPCCHAN_KIND_TOPIC) {
		fprintf(stderr, "topicpeer: %s is not an ipcchan topic\n", path);
		return 1;
	}
	ctl = mem + IPCCHAN_HEADER_SIZE;
	memcpy(&layout, ctl + IPCCHAN_TOPIC_OFF_LAYOUT, 4);
	memcpy(&c32, ctl + IPCCHAN_TOPIC_OFF_CAPACITY, 4);
	memcpy(&stride, ctl + IPCCHAN_TOPIC_OFF_STRIDE, 4);
	memcpy(&maxlen, ctl + IPCCHAN_TOPIC_OFF_MAXLEN, 4);
	memcpy(&flags, ctl + IPCCHAN_TOPIC_OFF_FLAGS, 4);
	memcpy(&h32, ctl + IPCCHAN_TOPIC_OFF_HISTORY, 4);
	memcpy(&subs_max, ctl + IPCCHAN_TOPIC_OFF_SUBS_MAX, 4);
	cap = c32, history = h32;
	fixed = (flags & IPCCHAN_TOPIC_FIXED) != 0;
	drop_oldest = (flags & IPCCHAN_TOPIC_DROP_OLDEST) != 0;
	slots_off = IPCCHAN_TOPIC_CTL_SIZE + subs_max * IPCCHAN_TOPIC_ENTRY_SIZE;
	if (layout != IPCCHAN_TOPIC_LAYOUT || cap == 0 || subs_max == 0 || stride < ipcchan_ring_stride(maxlen) || stride % 64 ||
	    (uint64_t)sb.st_size < IPCCHAN_HEADER_SIZE + slots_off + cap * stride || (fixed ? maxlen != sizeof(struct tick) : maxlen < 32)) {
		fprintf(stderr, "topicpeer: layout %u, %llu slots of %u bytes for %u-byte messages (flags %u): not a topic of struct ticks or bytes\n",
			layout, (unsigned long long)cap, stride, maxlen, flags);
		return 1;
	}
	ended = (uint32_t *)(ctl + IPCCHAN_TOPIC_OFF_ENDED);
	recovered = (uint64_t *)(ctl + IPCCHAN_TOPIC_OFF_RECOVERED);
	subs_gen = (uint64_t *)(ctl + IPCCHAN_TOPIC_OFF_SUBS_GEN);
	subs_high = (uint32_t *)(ctl + IPCCHAN_TOPIC_OFF_SUBS_HIGH);
	tail = (uint64_t *)(ctl + IPCCHAN_TOPIC_OFF_TAIL);
	data_word = (uint32_t *)(ctl + IPCCHAN_TOPIC_OFF_DATA_WORD);
	room_word = (uint32_t *)(ctl + IPCCHAN_TOPIC_OFF_ROOM_WORD);
	me = (uint32_t)getpid();
	long n = atol(argv[3]);
	uint8_t *buf = malloc(maxlen);
	if (!buf) return die("malloc");

	if (argv[1][0] == 'p') {
		for (long i = 0; i < n; i++) {
			uint32_t len = sizeof(struct tick);
			if (fixed) {
				struct tick t = {(uint64_t)i, i / 2.0, (int32_t)-i, {0}};
				memcpy(buf, &t, sizeof t);
			} else {
				len = (uint32_t)snprintf((char *)buf, maxlen, "tick %ld", i);
			}
			if (publish(buf, len) < 0) {
				fprintf(stderr, "topicpeer: the stream ended after %ld messages\n", i);
				return 1;
			}
		}
		if (argc == 5 && !strcmp(argv[4], "end")) {
			__atomic_store_n(ended, 1, SEQ);
			wake(data_word);
			wake(room_word);
		}
		return 0;
	}

	if (subscribe() < 0) {
		fprintf(stderr, "topicpeer: every subscription entry is taken\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (int ch; (ch = getchar()) != EOF && ch != '\n';)
		;
	int r = 0;
	for (long i = 0; i < n; i++) {
		uint32_t len;
		if ((r = take(buf, &len)) != 0) break;
		if (fixed) {
			struct tick t;
			memcpy(&t, buf, sizeof t);
			printf("%llu %.17g %d\n", (unsigned long long)t.seq, t.price, t.side);
		} else {
			printf("%.*s\n", (int)len, (const char *)buf);
		}
	}
	printf("missed %llu\n", (unsigned long long)missed);
	unsubscribe();
	fflush(stdout);
	if (r < 0) fprintf(stderr, "topicpeer: the subscription's entry was taken back\n");
	return r < 0;
}
