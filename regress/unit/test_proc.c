/*
 * Portcullis: the process table and the message name tables.
 */
#include <stdint.h>
#include <string.h>

#include "unit.h"
#include "ipc.h"
#include "proc.h"
#include "imsg_names.h"

/* Every boundary's every message type has a name, and only one. */
static void
test_every_type_has_a_name(void)
{
	const struct imsg_range	*r;
	uint32_t		 i, j;
	int			 k;

	for (k = 0; k < imsg_nranges; k++) {
		r = &imsg_ranges[k];
		CHECK(r->count > 0, "%s: no messages", r->boundary);
		for (i = 0; i < r->count; i++) {
			CHECK(r->names[i] != NULL && strncmp(r->names[i],
			    "IMSG_", 5) == 0, "%s: type 0x%x has no name",
			    r->boundary, r->first + i);
			for (j = 0; j < i; j++)
				CHECK(r->names[i] == NULL || r->names[j] == NULL ||
				    strcmp(r->names[i], r->names[j]) != 0,
				    "%s: %s named twice", r->boundary,
				    r->names[i]);
		}
	}
}

static void
test_ranges_are_disjoint(void)
{
	const struct imsg_range	*a, *b;
	int			 i, j;

	for (i = 0; i < imsg_nranges; i++)
		for (j = i + 1; j < imsg_nranges; j++) {
			a = &imsg_ranges[i];
			b = &imsg_ranges[j];
			CHECK(a->first + a->count <= b->first ||
			    b->first + b->count <= a->first,
			    "%s and %s overlap", a->boundary, b->boundary);
		}
}

static void
test_names_resolve(void)
{
	const struct imsg_range	*r;
	uint32_t		 i;
	int			 k;

	imsg_names_register();
	for (k = 0; k < imsg_nranges; k++) {
		r = &imsg_ranges[k];
		for (i = 0; i < r->count; i++)
			CHECK_STR(ipc_type_name(r->first + i), r->names[i]);
	}
	CHECK(strncmp(ipc_type_name(0xfffff), "unknown", 7) == 0,
	    "got %s", ipc_type_name(0xfffff));
}

/* Peers are declared both ways; nobody but the parent talks to all. */
static void
test_peers_are_symmetric(void)
{
	int	 i, j;

	for (i = 0; i < PROC_COUNT; i++) {
		CHECK(procs[i].id == (enum proc_id)i, "row %d is %s", i,
		    procs[i].name);
		CHECK(!(procs[i].peers & PROCBIT(i)), "%s talks to itself",
		    procs[i].name);
		/* the parent's channels are implicit in every worker */
		for (j = 1; i > 0 && j < PROC_COUNT; j++)
			CHECK(!(procs[i].peers & PROCBIT(j)) ==
			    !(procs[j].peers & PROCBIT(i)),
			    "%s and %s disagree", procs[i].name,
			    procs[j].name);
	}
	/* the boundaries of DESIGN.md: no network process sees mailboxes
	 * but through mailbox, only queue touches the spool */
	CHECK(!(procs[PROC_DELIVERY].peers & PROCBIT(PROC_AUTH)),
	    "delivery must not reach auth");
	CHECK(!(procs[PROC_DELIVERY].peers & PROCBIT(PROC_SMTP)),
	    "delivery must not reach smtp");
	CHECK(!(procs[PROC_AUTH].peers & PROCBIT(PROC_QUEUE)),
	    "auth must not reach the queue");
}

static void
test_roles_by_name(void)
{
	int	 i;

	for (i = 0; i < PROC_COUNT; i++)
		CHECK(proc_byname(procs[i].name) == &procs[i], "%s",
		    procs[i].name);
	CHECK(proc_byname("nosuch") == NULL, "nosuch found");
	CHECK(procs[PROC_QUEUE].root == ROOT_SPOOL, "queue not in spool");
	CHECK(procs[PROC_SMTP].root == ROOT_EMPTY, "smtp not in empty dir");
	for (i = 1; i < PROC_COUNT; i++) {
		CHECK(strcmp(procs[i].user, "root") != 0, "%s runs as root",
		    procs[i].name);
		CHECK(procs[i].main != NULL && procs[i].sandbox != NULL,
		    "%s lacks an entry or a sandbox", procs[i].name);
	}
}

int
main(void)
{
	RUN(test_every_type_has_a_name);
	RUN(test_ranges_are_disjoint);
	RUN(test_names_resolve);
	RUN(test_peers_are_symmetric);
	RUN(test_roles_by_name);
	return unit_done();
}
