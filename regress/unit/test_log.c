/*
 * Portcullis: the log's foreground output.  Every worker writes its
 * lines straight to the parent's stderr, so each write must be whole
 * lines and, where they allow, no more than a pipe takes at once.
 */
#include <sys/socket.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "unit.h"
#include "log.h"

#define OUT_MAX	65536

/*
 * The writes that reached fd: a SOCK_SEQPACKET pair keeps each write a
 * record of its own.  Returns the number of records; their lengths in
 * lens, their octets one after the other in out.
 */
static int	 pair[2] = { -1, -1 };

static void
capture_start(void)
{
	CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, pair) == 0,
	    "socketpair: %s", strerror(errno));
	log_setfd(pair[0]);
}

static int
capture_end(char *out, size_t *outlen, size_t *lens, int maxrec)
{
	ssize_t	 n;
	int	 nrec = 0;

	log_flush();
	log_setfd(STDERR_FILENO);
	close(pair[0]);
	*outlen = 0;
	while (nrec < maxrec && *outlen < OUT_MAX &&
	    (n = recv(pair[1], out + *outlen, OUT_MAX - *outlen,
	    MSG_DONTWAIT)) > 0) {
		lens[nrec++] = (size_t)n;
		*outlen += (size_t)n;
	}
	close(pair[1]);
	return nrec;
}

static void
check_records(const char *out, const size_t *lens, int nrec)
{
	size_t	 off = 0;
	int	 i;

	for (i = 0; i < nrec; off += lens[i], i++) {
		CHECK(lens[i] > 0 && out[off + lens[i] - 1] == '\n',
		    "write %d does not end a line", i);
		CHECK(lens[i] <= PIPE_BUF, "write %d is %zu octets, more "
		    "than PIPE_BUF", i, lens[i]);
	}
}

/* Held lines of a pass: one write when they fit in PIPE_BUF. */
static void
test_held_lines_go_in_one_write(void)
{
	static char	 out[OUT_MAX];
	size_t		 lens[64], outlen;
	int		 nrec;

	log_procname("queue");
	capture_start();
	log_hold(1);
	log_info("one %d", 1);
	log_info("two");
	log_warnx("three");
	nrec = capture_end(out, &outlen, lens, 64);
	log_hold(0);
	CHECK(nrec == 1, "%d writes", nrec);
	CHECK(outlen == strlen("queue: one 1\nqueue: two\nqueue: three\n") &&
	    memcmp(out, "queue: one 1\nqueue: two\nqueue: three\n",
	    outlen) == 0, "got \"%.*s\"", (int)outlen, out);
}

/* More than a pipe takes at once: split at line ends, nothing lost. */
static void
test_a_full_buffer_is_split_at_line_ends(void)
{
	static char	 out[OUT_MAX], want[OUT_MAX];
	char		 line[300];
	size_t		 lens[256], outlen, wantlen = 0;
	int		 i, nrec;

	capture_start();
	log_hold(1);
	for (i = 0; i < 60; i++) {
		/* lines of varied length, 87 to 287 octets */
		memset(line, 'a' + i % 26, sizeof(line));
		line[80 + (i * 37) % 200] = '\0';
		log_stderr_line(line, strlen(line));
		memcpy(want + wantlen, line, strlen(line));
		wantlen += strlen(line);
		want[wantlen++] = '\n';
	}
	nrec = capture_end(out, &outlen, lens, 256);
	log_hold(0);
	CHECK(wantlen > 2 * PIPE_BUF, "only %zu octets", wantlen);
	CHECK(nrec >= 3, "%d writes for %zu octets", nrec, wantlen);
	check_records(out, lens, nrec);
	CHECK(outlen == wantlen && memcmp(out, want, wantlen) == 0,
	    "%zu octets out, %zu in, or they differ", outlen, wantlen);
}

/* A line longer than PIPE_BUF cannot be kept whole in a pipe; it goes
 * in one write of its own, after the lines before it. */
static void
test_a_long_line_goes_alone(void)
{
	static char	 out[OUT_MAX], line[PIPE_BUF + 500];
	size_t		 lens[16], outlen;
	int		 nrec;

	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	capture_start();
	log_hold(1);
	log_stderr_line("short", 5);
	log_stderr_line(line, strlen(line));
	log_stderr_line("after", 5);
	nrec = capture_end(out, &outlen, lens, 16);
	log_hold(0);
	CHECK(nrec == 3, "%d writes", nrec);
	if (nrec == 3) {
		CHECK(lens[0] == 6 && memcmp(out, "short\n", 6) == 0,
		    "first write %zu octets", lens[0]);
		CHECK(lens[1] == strlen(line) + 1 &&
		    out[lens[0] + lens[1] - 1] == '\n',
		    "long line in %zu octets", lens[1]);
		CHECK(lens[2] == 6 && memcmp(out + lens[0] + lens[1],
		    "after\n", 6) == 0, "last write %zu octets", lens[2]);
	}
}

/* Not held: each line is written as it comes. */
static void
test_unheld_lines_go_at_once(void)
{
	static char	 out[OUT_MAX];
	size_t		 lens[16], outlen;
	int		 nrec;

	log_procname("smtp");
	capture_start();
	log_info("first");
	log_info("second");
	nrec = capture_end(out, &outlen, lens, 16);
	CHECK(nrec == 2, "%d writes", nrec);
	CHECK(outlen == 25 && memcmp(out, "smtp: first\nsmtp: second\n",
	    25) == 0, "got \"%.*s\"", (int)outlen, out);
}

int
main(void)
{
	log_init(1, 0);
	RUN(test_held_lines_go_in_one_write);
	RUN(test_a_full_buffer_is_split_at_line_ends);
	RUN(test_a_long_line_goes_alone);
	RUN(test_unheld_lines_go_at_once);
	return unit_done();
}
