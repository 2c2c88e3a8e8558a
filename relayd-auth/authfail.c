/*
 * Portcullis: the per-client limits that auth keeps.  See authfail.h for
 * what the auth-failure limit counts and how the table is bounded.
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/tree.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mailaddr.h"
#include "config.h"
#include "table.h"
#include "authfail.h"

static int	 authfail_cmp(struct authfail_entry *, struct authfail_entry *);
static void	 authfail_remove(struct authfail *, struct authfail_entry *);
static void	 authfail_prune(struct authfail *, struct authfail_entry *,
	    int64_t);
static int	 authfail_resize(struct authfail *, struct authfail_entry *,
	    uint32_t);

RB_PROTOTYPE(authfail_tree, authfail_entry, node, authfail_cmp);
RB_GENERATE(authfail_tree, authfail_entry, node, authfail_cmp);

static int
authfail_cmp(struct authfail_entry *a, struct authfail_entry *b)
{
	if (a->addr.family != b->addr.family)
		return a->addr.family < b->addr.family ? -1 : 1;
	return memcmp(a->addr.addr, b->addr.addr, sizeof(a->addr.addr));
}

void
authfail_init(struct authfail *t, size_t max_addrs, size_t max_stamps)
{
	memset(t, 0, sizeof(*t));
	RB_INIT(&t->tree);
	TAILQ_INIT(&t->list);
	t->max_addrs = max_addrs > 0 ? max_addrs : 1;
	t->max_stamps = max_stamps > 0 ? max_stamps : 1;
}

void
authfail_clear(struct authfail *t)
{
	struct authfail_entry	*e;

	while ((e = TAILQ_FIRST(&t->list)) != NULL)
		authfail_remove(t, e);
}

static void
authfail_remove(struct authfail *t, struct authfail_entry *e)
{
	RB_REMOVE(authfail_tree, &t->tree, e);
	TAILQ_REMOVE(&t->list, e, order);
	t->count--;
	t->stamps -= e->cap;
	free(e->stamps);
	free(e);
}

/* The room of an entry's ring: cap times, keeping the newest. */
static int
authfail_resize(struct authfail *t, struct authfail_entry *e, uint32_t cap)
{
	int64_t		*v = NULL;
	uint32_t	 i, keep, skip;

	if (cap == e->cap)
		return 0;
	keep = e->len < cap ? e->len : cap;
	skip = e->len - keep;
	if (cap > 0 && (v = reallocarray(NULL, cap, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < keep; i++)
		v[i] = e->stamps[(e->head + skip + i) % e->cap];
	free(e->stamps);
	t->stamps = t->stamps - e->cap + cap;
	e->stamps = v;
	e->cap = cap;
	e->head = 0;
	e->len = keep;
	return 0;
}

/* Forget the failures that no longer count, and a block that is over. */
static void
authfail_prune(struct authfail *t, struct authfail_entry *e, int64_t now)
{
	while (e->len > 0 && now - e->stamps[e->head] >= t->within) {
		e->head = (e->head + 1) % e->cap;
		e->len--;
	}
	if (e->until != 0 && now >= e->until)
		e->until = 0;
}

void
authfail_set(struct authfail *t, uint32_t n, time_t within, time_t block)
{
	struct authfail_entry	*e, *next;

	if (n == 0 || within <= 0 || block <= 0) {
		authfail_clear(t);
		t->limit = 0;
		t->within = t->block = 0;
		return;
	}
	t->limit = n;
	t->within = (int64_t)within * 1000;
	t->block = (int64_t)block * 1000;
	/* a smaller N: no entry keeps more than N failures */
	TAILQ_FOREACH_SAFE(e, &t->list, order, next)
		if (e->cap > n && authfail_resize(t, e, n) == -1)
			authfail_remove(t, e);	/* cannot happen: smaller */
}

static void
sockaddr_of(const struct tracker_addr *ta, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (ta->family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, ta->addr, 4);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, ta->addr, 16);
	}
}

int
authfail_exempt(const struct limits *l, const struct tracker_addr *ta)
{
	struct sockaddr_storage	 ss;

	if (l->exempt == NULL)
		return 0;
	sockaddr_of(ta, &ss);
	return table_match_net(l->exempt, (struct sockaddr *)&ss);
}

void
authfail_configure(struct authfail *t, const struct limits *l)
{
	struct authfail_entry	*e, *next;

	authfail_set(t, l->auth_failures_per_ip > 0 ?
	    (uint32_t)l->auth_failures_per_ip : 0, l->auth_failures_within,
	    l->auth_failures_block);
	TAILQ_FOREACH_SAFE(e, &t->list, order, next)
		if (authfail_exempt(l, &e->addr))
			authfail_remove(t, e);
}

struct authfail_entry *
authfail_find(struct authfail *t, const struct tracker_addr *ta)
{
	struct authfail_entry	 key;

	memset(&key, 0, sizeof(key));
	key.addr = *ta;
	return RB_FIND(authfail_tree, &t->tree, &key);
}

int
authfail_is_blocked(const struct authfail_entry *e, int64_t now)
{
	return e->until != 0 && now < e->until;
}

int
authfail_check(struct authfail *t, const struct tracker_addr *ta,
    int64_t now, int64_t *until)
{
	struct authfail_entry	*e;

	if (t->limit == 0 || (e = authfail_find(t, ta)) == NULL)
		return 0;
	if (!authfail_is_blocked(e, now))
		return 0;
	if (e->refused < UINT32_MAX)
		e->refused++;
	if (until != NULL)
		*until = e->until;
	return 1;
}

int
authfail_record(struct authfail *t, const struct tracker_addr *ta,
    int64_t now)
{
	struct authfail_entry	*e, *old;
	uint32_t		 cap;

	if (t->limit == 0)
		return AUTHFAIL_IGNORED;
	if ((e = authfail_find(t, ta)) == NULL) {
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		e->addr = *ta;
		while (t->count >= t->max_addrs) {
			old = TAILQ_FIRST(&t->list);
			t->evicted++;
			if (authfail_is_blocked(old, now))
				t->evicted_blocked++;
			authfail_remove(t, old);
		}
		RB_INSERT(authfail_tree, &t->tree, e);
		TAILQ_INSERT_TAIL(&t->list, e, order);
		t->count++;
	}
	authfail_prune(t, e, now);
	/* not asked while blocked (authfail_check first): nothing to add */
	if (authfail_is_blocked(e, now))
		return AUTHFAIL_BLOCKS;

	if (e->len == e->cap && e->cap < t->limit) {
		cap = e->cap < 4 ? 4 : e->cap * 2;
		if (cap > t->limit || cap < e->cap)
			cap = t->limit;
		if (authfail_resize(t, e, cap) == -1 && e->cap == 0) {
			if (e->len == 0 && e->until == 0)
				authfail_remove(t, e);
			return -1;
		}
	}
	if (e->len == e->cap) {		/* full: the oldest goes */
		e->head = (e->head + 1) % e->cap;
		e->len--;
	}
	e->stamps[(e->head + e->len) % e->cap] = now;
	e->len++;
	e->last = now;
	TAILQ_REMOVE(&t->list, e, order);
	TAILQ_INSERT_TAIL(&t->list, e, order);

	/* the bound on failure times: never this entry, which needs them */
	while (t->stamps > t->max_stamps &&
	    (old = TAILQ_FIRST(&t->list)) != e) {
		t->evicted++;
		if (authfail_is_blocked(old, now))
			t->evicted_blocked++;
		authfail_remove(t, old);
	}

	if (e->len >= t->limit) {
		e->until = now + t->block;
		if (e->until == 0)
			e->until = 1;
		return AUTHFAIL_BLOCKS;
	}
	return AUTHFAIL_COUNTED;
}

int
authfail_failed(struct authfail *t, const struct limits *l,
    const struct tracker_addr *ta, int64_t now)
{
	if (t->limit == 0 || authfail_exempt(l, ta))
		return AUTHFAIL_IGNORED;
	return authfail_record(t, ta, now);
}

uint32_t
authfail_count(struct authfail *t, struct authfail_entry *e, int64_t now)
{
	authfail_prune(t, e, now);
	return e->len;
}

size_t
authfail_expire(struct authfail *t, int64_t now)
{
	struct authfail_entry	*e, *next;
	size_t			 n = 0;

	/* a blocked entry may sit before expired ones: look at them all */
	TAILQ_FOREACH_SAFE(e, &t->list, order, next) {
		authfail_prune(t, e, now);
		if (e->len == 0 && e->until == 0) {
			authfail_remove(t, e);
			n++;
		}
	}
	return n;
}

int
authfail_reset(struct authfail *t, const struct tracker_addr *ta)
{
	struct authfail_entry	*e;

	if ((e = authfail_find(t, ta)) == NULL)
		return 0;
	authfail_remove(t, e);
	return 1;
}
