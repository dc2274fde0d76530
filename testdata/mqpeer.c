/* mqpeer: a C peer for ipcchan's queue tests, using glibc's mq_* calls.
 *
 *   mqpeer send NAME PRIO:HEX...    send each message (HEX may be empty: a
 *                                   zero-byte message) to an existing queue
 *   mqpeer recv NAME COUNT          receive COUNT messages (waiting up to 10 s
 *                                   for each), print "PRIO HEX" per line
 *   mqpeer create NAME MAXMSG SIZE  create the queue (mode 0600)
 *   mqpeer attr NAME                print "MAXMSG MSGSIZE CURMSGS"
 *   mqpeer sendorder NAME PRIO:ID:PRICE:QTY:SIDE:T0,T1,T2,T3...
 *                                   send each struct order, sizeof(struct order)
 *                                   bytes, as mq_send(q, &o, sizeof o, prio)
 *   mqpeer recvorder NAME COUNT     receive COUNT struct orders, print
 *                                   "PRIO ID PRICE QTY SIDE T0,T1,T2,T3" per line
 *
 * Only POSIX queues: no ipcchan layout.
 *
 * Build (no header needed; the tests use internal/testutil.BuildC):
 *
 *   gcc -O2 -Wall -o mqpeer testdata/mqpeer.c -lrt -pthread
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mqueue.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The struct of the codec.Layout tests; Go declares it as
 *
 *	type Order struct {
 *		ID    int64
 *		Price float64
 *		Qty   int32
 *		Side  uint8
 *		_     [3]byte
 *		Tags  [4]uint16
 *	}
 */
struct order {
	int64_t id;
	double price;
	int32_t qty;
	uint8_t side;
	uint8_t pad[3];
	uint16_t tags[4];
};
_Static_assert(sizeof(struct order) == 32, "struct order is 32 bytes, as Go's Order");

static int die(const char *what, const char *name) {
	fprintf(stderr, "mqpeer: %s %s: %s\n", what, name, strerror(errno));
	return 1;
}

static int hexval(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	return -1;
}

static int do_send(const char *name, int argc, char **argv) {
	mqd_t q = mq_open(name, O_WRONLY);
	if (q == (mqd_t)-1) return die("mq_open", name);
	for (int i = 0; i < argc; i++) {
		char *colon = strchr(argv[i], ':');
		if (!colon) { fprintf(stderr, "mqpeer: want PRIO:HEX, got %s\n", argv[i]); return 2; }
		unsigned prio = (unsigned)strtoul(argv[i], NULL, 10);
		const char *hex = colon + 1;
		size_t n = strlen(hex) / 2;
		char *buf = malloc(n + 1);
		for (size_t j = 0; j < n; j++) {
			int hi = hexval(hex[2 * j]), lo = hexval(hex[2 * j + 1]);
			if (hi < 0 || lo < 0) { fprintf(stderr, "mqpeer: bad hex %s\n", hex); return 2; }
			buf[j] = (char)(hi << 4 | lo);
		}
		if (mq_send(q, buf, n, prio) != 0) return die("mq_send", name);
		free(buf);
	}
	return mq_close(q) == 0 ? 0 : die("mq_close", name);
}

/* recv_each receives count messages, waiting up to 10 s for each, and
 * hands each to print, which returns nonzero to stop with that status. */
static int recv_each(const char *name, long count, int (*print)(unsigned prio, const char *buf, ssize_t n)) {
	mqd_t q = mq_open(name, O_RDONLY);
	if (q == (mqd_t)-1) return die("mq_open", name);
	struct mq_attr a;
	if (mq_getattr(q, &a) != 0) return die("mq_getattr", name);
	char *buf = malloc(a.mq_msgsize);
	for (long i = 0; i < count; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		unsigned prio;
		ssize_t n = mq_timedreceive(q, buf, a.mq_msgsize, &prio, &ts);
		if (n < 0) return die("mq_timedreceive", name);
		int status = print(prio, buf, n);
		fflush(stdout);
		if (status) return status;
	}
	free(buf);
	return mq_close(q) == 0 ? 0 : die("mq_close", name);
}

static int print_hex(unsigned prio, const char *buf, ssize_t n) {
	printf("%u ", prio);
	for (ssize_t j = 0; j < n; j++) printf("%02x", (unsigned char)buf[j]);
	printf("\n");
	return 0;
}

static int print_order(unsigned prio, const char *buf, ssize_t n) {
	if (n != sizeof(struct order)) {
		fprintf(stderr, "mqpeer: a message of %zd bytes, not a struct order of %zu\n", n, sizeof(struct order));
		return 1;
	}
	struct order o;
	memcpy(&o, buf, sizeof o);
	printf("%u %" PRId64 " %.17g %" PRId32 " %u %u,%u,%u,%u\n", prio, o.id, o.price, o.qty, o.side,
	       o.tags[0], o.tags[1], o.tags[2], o.tags[3]);
	return 0;
}

static int do_sendorder(const char *name, int argc, char **argv) {
	mqd_t q = mq_open(name, O_WRONLY);
	if (q == (mqd_t)-1) return die("mq_open", name);
	for (int i = 0; i < argc; i++) {
		struct order o;
		memset(&o, 0, sizeof o);
		unsigned prio, side, t[4];
		if (sscanf(argv[i], "%u:%" SCNd64 ":%lf:%" SCNd32 ":%u:%u,%u,%u,%u", &prio, &o.id, &o.price, &o.qty, &side,
			   &t[0], &t[1], &t[2], &t[3]) != 9) {
			fprintf(stderr, "mqpeer: want PRIO:ID:PRICE:QTY:SIDE:T0,T1,T2,T3, got %s\n", argv[i]);
			return 2;
		}
		o.side = (uint8_t)side;
		for (int j = 0; j < 4; j++) o.tags[j] = (uint16_t)t[j];
		if (mq_send(q, (const char *)&o, sizeof o, prio) != 0) return die("mq_send", name);
	}
	return mq_close(q) == 0 ? 0 : die("mq_close", name);
}

int main(int argc, char **argv) {
	if (argc >= 3 && strcmp(argv[1], "send") == 0)
		return do_send(argv[2], argc - 3, argv + 3);
	if (argc == 4 && strcmp(argv[1], "recv") == 0)
		return recv_each(argv[2], atol(argv[3]), print_hex);
	if (argc >= 3 && strcmp(argv[1], "sendorder") == 0)
		return do_sendorder(argv[2], argc - 3, argv + 3);
	if (argc == 4 && strcmp(argv[1], "recvorder") == 0)
		return recv_each(argv[2], atol(argv[3]), print_order);
	if (argc == 5 && strcmp(argv[1], "create") == 0) {
		struct mq_attr a = {0};
		a.mq_maxmsg = atol(argv[3]);
		a.mq_msgsize = atol(argv[4]);
		mqd_t q = mq_open(argv[2], O_RDWR | O_CREAT | O_EXCL, 0600, &a);
		if (q == (mqd_t)-1) return die("mq_open", argv[2]);
		return mq_close(q) == 0 ? 0 : die("mq_close", argv[2]);
	}
	if (argc == 3 && strcmp(argv[1], "attr") == 0) {
		mqd_t q = mq_open(argv[2], O_RDONLY);
		if (q == (mqd_t)-1) return die("mq_open", argv[2]);
		struct mq_attr a;
		if (mq_getattr(q, &a) != 0) return die("mq_getattr", argv[2]);
		printf("%ld %ld %ld\n", a.mq_maxmsg, a.mq_msgsize, a.mq_curmsgs);
		return mq_close(q) == 0 ? 0 : die("mq_close", argv[2]);
	}
	fprintf(stderr, "usage: mqpeer send NAME PRIO:HEX... | recv NAME COUNT | create NAME MAXMSG SIZE | attr NAME"
			" | sendorder NAME PRIO:ID:PRICE:QTY:SIDE:T0,T1,T2,T3... | recvorder NAME COUNT\n");
	return 2;
}
