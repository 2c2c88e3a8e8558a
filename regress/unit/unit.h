/*
 * Portcullis: a small table-driven unit test harness.
 *
 *	static void test_foo(void) { CHECK(x == 1, "got %d want 1", x); }
 *	int main(void) { RUN(test_foo); return unit_done(); }
 *
 * Each RUN is one test; a test fails when any CHECK in it fails.  The
 * last line printed is "N passed, N failed" and the exit code is 1 when
 * anything failed.
 */
#ifndef PORTCULLIS_UNIT_H
#define PORTCULLIS_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed, unit_cur_failed;
static const char *unit_cur;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		unit_cur_failed = 1;					\
		printf("FAIL %s (%s:%d): ", unit_cur, __FILE__, __LINE__); \
		printf(__VA_ARGS__);					\
		printf("\n");						\
	}								\
} while (0)

#define CHECK_STR(got, want) do {					\
	const char *g_ = (got), *w_ = (want);				\
	CHECK((g_ == NULL && w_ == NULL) ||				\
	    (g_ != NULL && w_ != NULL && strcmp(g_, w_) == 0),		\
	    "got \"%s\" want \"%s\"", g_ ? g_ : "(null)",		\
	    w_ ? w_ : "(null)");					\
} while (0)

#define RUN(fn) do {							\
	unit_cur = #fn;							\
	unit_cur_failed = 0;						\
	fn();								\
	if (unit_cur_failed)						\
		unit_failed++;						\
	else {								\
		unit_passed++;						\
		printf("ok   %s\n", #fn);				\
	}								\
	fflush(stdout);							\
} while (0)

/* RUN(), under the name of a table row: "fn: label". */
#define RUN_NAMED(fn, label) do {					\
	char	name_[200];						\
									\
	(void)snprintf(name_, sizeof(name_), "%s: %s", #fn, (label));	\
	unit_cur = name_;						\
	unit_cur_failed = 0;						\
	fn();								\
	if (unit_cur_failed)						\
		unit_failed++;						\
	else {								\
		unit_passed++;						\
		printf("ok   %s\n", name_);				\
	}								\
	fflush(stdout);							\
} while (0)

static inline int
unit_done(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#endif
