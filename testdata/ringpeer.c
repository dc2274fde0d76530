/* ringpeer: a C peer for ipcchan's Ring tests. It joins a ring that Go
 * made (/dev/shm/ipcchan.ring.NAME) with C11-style atomics and futexes,
 * following the protocol documented in docs/FORMATS.md ("Ring"), with the
 * layout of ipcchan_format.h, the C header block of docs/FORMATS.md.
 *
 *   ringpeer send NAME N    send N struct ticks: seq i, price i/2, side -i
 *   ringpeer recv NAME N    receive N struct ticks, print "SEQ PRICE SIDE" each
 *   ringpeer views NAME N   receive N messages of a ring of bytes with a pool
 *                           (docs/FORMATS.md, "Pool"): a large one read in
 *                           place in the pool, its run then freed; print
 *                           "pool|slot LEN FNV1A64" each
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

#define MASK IPCCHAN_RING_POS_MASK
static uint64_t ring_word(uint64_t pos, uint64_t state, uint32_t n, uint32_t pid) { return ipcchan_ring_word(pos, state, n, pid); }
static uint64_t free_word(uint64_t pos) { return ipcchan_ring_word(pos, IPCCHAN_SLOT_FREE, 1, 0); }
static uint64_t pos_of(uint64_t w) { return ipcchan_ring_pos(w); }
static uint64_t state_of(uint64_t w) { return ipcchan_slot_state(w); }
static uint32_t run_of(uint64_t w) { return ipcchan_ring_run(w); }
static uint64_t *slot_state(uint64_t pos) { return (uint64_t *)(ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride); }
static uint32_t *slot_len(uint64_t pos) { return (uint32_t *)(ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride + IPCCHAN_SLOT_OFF_LENGTH); }
static uint8_t *slot_data(uint64_t pos) { return ctl + IPCCHAN_RING_CTL_SIZE + (pos % cap) * stride + IPCCHAN_SLOT_OFF_DATA; }

/* The ring's pool (views), mapped whole. */
static uint8_t *pool, *pool_ctl;
static uint32_t pool_block_size, pool_blocks, pool_data_off;
static uint64_t *pool_word(uint32_t block) { return (uint64_t *)(pool_ctl + IPCCHAN_POOL_CTL_SIZE + (uint64_t)block * IPCCHAN_POOL_ENTRY_SIZE + IPCCHAN_POOL_ENTRY_OFF_WORD); }
static uint64_t *pool_aux(uint32_t block) { return (uint64_t *)(pool_ctl + IPCCHAN_POOL_CTL_SIZE + (uint64_t)block * IPCCHAN_POOL_ENTRY_SIZE + IPCCHAN_POOL_ENTRY_OFF_AUX); }

static uint64_t fnv1a(const uint8_t *b, uint64_t n) {
	uint64_t h = 14695981039346656037ull;
	for (uint64_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
	return h;
}

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

/* advance moves a counter (head or tail, a hint) from pos to pos + n if it
 * is still at pos; pos itself is left alone (a failed compare-and-swap
 * would overwrite it with the counter's value). */
static void advance(uint64_t *counter, uint64_t pos, uint64_t n) {
	__atomic_compare_exchange_n(counter, &pos, pos + n, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

static int cas(uint64_t *p, uint64_t old, uint64_t new) {
	return __atomic_compare_exchange_n(p, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* send_tick sends one message: a run of one slot. */
static void send_tick(const struct tick *t, uint32_t pid) {
	for (;;) {
		uint64_t pos = __atomic_load_n(tail, __ATOMIC_SEQ_CST);
		uint64_t *sw = slot_state(pos);
		uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
		if (pos_of(w) == (pos & MASK) && state_of(w) == IPCCHAN_SLOT_FREE) {
			if (cas(sw, w, ring_word(pos, IPCCHAN_SLOT_WRITING, 1, pid))) {
				advance(tail, pos, 1);
				memcpy(slot_data(pos), t, sizeof *t);
				__atomic_store_n(slot_len(pos), (uint32_t)sizeof *t, __ATOMIC_SEQ_CST);
				__atomic_store_n(sw, ring_word(pos, IPCCHAN_SLOT_FULL, 1, 0), __ATOMIC_SEQ_CST);
				wake(data_word);
				return;
			}
		} else if (pos_of(w) == (pos & MASK)) {
			advance(tail, pos, run_of(w)); /* another's run: help move tail past it */
		} else if (pos_of(w) == ((pos - cap) & MASK)) {
			sleep_on(room_word, sw, w); /* full */
		} else if (pos_of(w) == ((pos + cap) & MASK)) {
			advance(tail, pos, 1); /* read out before tail moved past it */
		}
	}
}

/* mark makes the slots from pos on, the last n of a run of which this
 * receiver takes the first part, a run of their own; 0 if the slot has
 * moved on (the run was read meanwhile). */
static int mark(uint64_t pos, uint32_t n) {
	uint64_t want = ring_word(pos, IPCCHAN_SLOT_FULL, n, 0);
	uint64_t *sw = slot_state(pos);
	uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
	if (w == want) return 1;
	return w == free_word(pos) && (cas(sw, w, want) || __atomic_load_n(sw, __ATOMIC_SEQ_CST) == want);
}

/* claim_read claims the next message, the first of the run at head (the
 * rest of the run marked a run of its own): the slot of *pos moves to
 * Reading(*pos, 1, pid), and returns 0; or returns 1 at the end of the
 * stream. The caller frees the slot with free_read. */
static int claim_read(uint64_t *pos_out, uint32_t pid) {
	for (;;) {
		uint64_t pos = __atomic_load_n(head, __ATOMIC_SEQ_CST);
		uint64_t *sw = slot_state(pos);
		uint64_t w = __atomic_load_n(sw, __ATOMIC_SEQ_CST);
		uint64_t p = pos_of(w), st = state_of(w);
		uint32_t n = run_of(w);
		if (p == (pos & MASK) && st == IPCCHAN_SLOT_FULL) {
			if (n > 1 && !mark(pos + 1, n - 1)) continue;
			if (cas(sw, w, ring_word(pos, IPCCHAN_SLOT_READING, 1, pid))) {
				advance(head, pos, 1);
				*pos_out = pos;
				return 0;
			}
		} else if (p == (pos & MASK) && st == IPCCHAN_SLOT_SKIPPED) {
			/* a sender died writing the run: free it, its first slot last */
			for (uint32_t i = n - 1; i >= 1; i--) cas(slot_state(pos + i), free_word(pos + i), free_word(pos + i + cap));
			if (cas(sw, w, free_word(pos + cap))) wake(room_word);
			advance(head, pos, n);
		} else if (p == (pos & MASK) && st == IPCCHAN_SLOT_READING) {
			advance(head, pos, n);
		} else if (p == ((pos + cap) & MASK)) {
			advance(head, pos, 1);
		} else {
			if (st == IPCCHAN_SLOT_FREE && p == (pos & MASK) && __atomic_load_n(ended, __ATOMIC_SEQ_CST)) return 1;
			sleep_on(data_word, sw, w); /* empty */
		}
	}
}

/* free_read frees the slot of pos, claimed by claim_read. */
static void free_read(uint64_t pos) {
	__atomic_store_n(slot_state(pos), free_word(pos + cap), __ATOMIC_SEQ_CST);
	wake(room_word);
}

static int recv_tick(struct tick *t, uint32_t pid) {
	uint64_t pos;
	if (claim_read(&pos, pid)) return 1;
	memcpy(t, slot_data(pos), sizeof *t);
	free_read(pos);
	return 0;
}

/* view_run takes the run that the reference in the slot of pos (claimed,
 * Reading) names, Queued at pos, for this process: Queued -> Viewed(me),
 * aux checked. It returns 0 if the message is not such a reference (then
 * it is a message of its own). */
static int view_run(uint64_t pos, uint32_t pid, uint64_t *size, uint32_t *block, uint32_t *blocks) {
	const uint8_t *d = slot_data(pos);
	if (!pool || __atomic_load_n(slot_len(pos), __ATOMIC_SEQ_CST) != IPCCHAN_POOL_REF_SIZE || memcmp(d, IPCCHAN_POOL_REF_MAGIC, 4)) return 0;
	memcpy(size, d + IPCCHAN_POOL_REF_OFF_SIZE, 8);
	memcpy(block, d + IPCCHAN_POOL_REF_OFF_BLOCK, 4);
	memcpy(blocks, d + IPCCHAN_POOL_REF_OFF_BLOCKS, 4);
	if (*blocks == 0 || *block >= pool_blocks || (uint64_t)*block + *blocks > pool_blocks || *size > (uint64_t)*blocks * pool_block_size) return 0;
	if (__atomic_load_n(pool_aux(*block), __ATOMIC_SEQ_CST) != pos) return 0;
	uint64_t queued = ipcchan_pool_word(IPCCHAN_POOL_QUEUED, *blocks, 0);
	return __atomic_compare_exchange_n(pool_word(*block), &queued, ipcchan_pool_word(IPCCHAN_POOL_VIEWED, *blocks, pid), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* recv_view receives one message of a ring of bytes and prints it: a
 * message in the pool is hashed where it lies, after its slot is freed,
 * and its run then goes back to the pool. */
static int recv_view(uint32_t pid) {
	uint64_t pos, size;
	uint32_t block, blocks;
	if (claim_read(&pos, pid)) return 1;
	if (view_run(pos, pid, &size, &block, &blocks)) {
		free_read(pos); /* the slot goes on to other messages while the run is read */
		printf("pool %llu %016llx\n", (unsigned long long)size,
		       (unsigned long long)fnv1a(pool + pool_data_off + (uint64_t)block * pool_block_size, size));
		__atomic_store_n(pool_word(block), 0, __ATOMIC_SEQ_CST);
		wake((uint32_t *)(pool_ctl + IPCCHAN_POOL_OFF_ROOM));
		return 0;
	}
	uint32_t n = __atomic_load_n(slot_len(pos), __ATOMIC_SEQ_CST);
	printf("slot %u %016llx\n", n, (unsigned long long)fnv1a(slot_data(pos), n));
	free_read(pos);
	return 0;
}

/* open_pool maps the pool of the ring NAME, whose file has inode ino,
 * and checks it as Go does. */
static int open_pool(const char *name, ino_t ino) {
	char path[512];
	snprintf(path, sizeof path, "%s%s%s", IPCCHAN_SHM_DIR, IPCCHAN_PREFIX_POOL_RING, name + 1);
	int fd = open(path, O_RDWR | O_NOFOLLOW);
	if (fd < 0) return die(path);
	struct stat st;
	if (fstat(fd, &st) < 0) return die("fstat");
	if (st.st_size < IPCCHAN_HEADER_SIZE + IPCCHAN_POOL_CTL_SIZE) {
		fprintf(stderr, "ringpeer: %s is too short for a pool\n", path);
		return 1;
	}
	pool = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (pool == MAP_FAILED) return die("mmap pool");
	close(fd);
	pool_ctl = pool + IPCCHAN_HEADER_SIZE;
	uint32_t kind, layout;
	uint64_t owner;
	memcpy(&kind, pool + IPCCHAN_OFF_KIND, 4);
	memcpy(&layout, pool_ctl + IPCCHAN_POOL_OFF_LAYOUT, 4);
	memcpy(&pool_block_size, pool_ctl + IPCCHAN_POOL_OFF_BLOCK_SIZE, 4);
	memcpy(&pool_blocks, pool_ctl + IPCCHAN_POOL_OFF_BLOCKS, 4);
	memcpy(&pool_data_off, pool_ctl + IPCCHAN_POOL_OFF_DATA_OFF, 4);
	memcpy(&owner, pool_ctl + IPCCHAN_POOL_OFF_OWNER, 8);
	uint64_t table_end = IPCCHAN_HEADER_SIZE + IPCCHAN_POOL_CTL_SIZE + (uint64_t)pool_blocks * IPCCHAN_POOL_ENTRY_SIZE;
	if (memcmp(pool + IPCCHAN_OFF_MAGIC, IPCCHAN_MAGIC, 8) || kind != IPCCHAN_KIND_POOL || layout != IPCCHAN_POOL_LAYOUT || pool_block_size == 0 ||
	    pool_block_size % 4096 || pool_blocks == 0 || pool_data_off != ((table_end + 4095) & ~4095ull) ||
	    (uint64_t)st.st_size != pool_data_off + (uint64_t)pool_blocks * pool_block_size || owner != (uint64_t)ino) {
		fprintf(stderr, "ringpeer: %s is not the pool of this ring\n", path);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv) {
	if (argc != 4 || (strcmp(argv[1], "send") && strcmp(argv[1], "recv") && strcmp(argv[1], "views"))) {
		fprintf(stderr, "usage: ringpeer send|recv|views NAME N\n");
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
	ended = (uint32_t *)(ctl + IPCCHAN_RING_OFF_ENDED);
	head = (uint64_t *)(ctl + IPCCHAN_RING_OFF_HEAD);
	tail = (uint64_t *)(ctl + IPCCHAN_RING_OFF_TAIL);
	data_word = (uint32_t *)(ctl + IPCCHAN_RING_OFF_DATA_WORD);
	room_word = (uint32_t *)(ctl + IPCCHAN_RING_OFF_ROOM_WORD);
	uint32_t pid = (uint32_t)getpid();
	long n = atol(argv[3]);
	if (argv[1][0] == 'v') {
		if (layout != IPCCHAN_RING_LAYOUT || (flags & IPCCHAN_RING_FIXED) || !(flags & IPCCHAN_RING_POOLED)) {
			fprintf(stderr, "ringpeer: layout %u, flags %u: not a ring of bytes with a pool\n", layout, flags);
			return 1;
		}
		if (open_pool(argv[2], st.st_ino)) return 1;
		for (long i = 0; i < n && recv_view(pid) == 0; i++) {
		}
		fflush(stdout);
		return 0;
	}
	if (layout != IPCCHAN_RING_LAYOUT || maxlen != sizeof(struct tick) || !(flags & IPCCHAN_RING_FIXED)) {
		fprintf(stderr, "ringpeer: layout %u with %u-byte messages (flags %u), not layout %u of fixed-size struct ticks\n", layout, maxlen, flags, IPCCHAN_RING_LAYOUT);
		return 1;
	}
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
