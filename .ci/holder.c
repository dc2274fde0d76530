/* holder: a C program that uses an object, as CI's sentinel of a foreign
 * peer: it maps the object's file in /dev/shm, says "holding", and keeps it
 * mapped until it is killed. It does not register in the object's users
 * table (a foreign peer need not): ipcchan rm --stale must see it through
 * /proc/PID/maps alone.
 *
 *   gcc -O2 -Wall -o holder .ci/holder.c
 *   holder /dev/shm/ipcchan.ring.NAME
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: holder FILE\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		perror(argv[1]);
		return 1;
	}
	void *mem = mmap(NULL, st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	close(fd);
	printf("holding\n");
	fflush(stdout);
	for (;;)
		pause();
}
