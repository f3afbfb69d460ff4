/* gone: once a second, if the admin database changed (seen on a handle
 * of its own, which it also asks: the users cache may be a few
 * milliseconds behind), every address-of-record whose user is no longer
 * there loses its bindings, as with a REGISTER of Contact: *
 * (location_apply, remove_all). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/log.h"
#include "store/store.h"
#include "store/store_users.h"
#include "location.h"
#include "edge.h"
#include "gone.h"

#define TICK_MS 1000
#define MAX_GONE 64            /* users dropped per tick; the rest next */

struct gone {
	struct edge *r;
	struct store *watch;
	struct tmr tmr;
	char *users[MAX_GONE];
	unsigned n;
	bool more;             /* over MAX_GONE: look again next tick */
};

static void destructor(void *arg)
{
	struct gone *g = arg;

	tmr_cancel(&g->tmr);
	mem_deref(g->watch);
}

static void find_h(const struct aor *a, const struct binding *b, void *arg)
{
	struct gone *g = arg;
	struct user_rec *u = NULL;
	struct pl pl;
	int err;

	(void)b;
	if (g->n && !strcmp(g->users[g->n - 1], a->user))
		return;                /* the AOR's next binding */
	pl_set_str(&pl, a->user);
	err = users_get(g->watch, &pl, &u);
	mem_deref(u);
	if (err != ENOENT) {
		if (err)
			g->more = true;        /* busy: ask again */
		return;
	}
	if (g->n >= MAX_GONE) {
		g->more = true;
		return;
	}
	if (!str_dup(&g->users[g->n], a->user))
		++g->n;
}

static void drop(struct gone *g, const char *user)
{
	struct loc_update u;
	const char *reason;
	uint16_t scode;

	memset(&u, 0, sizeof(u));
	u.user = user;
	pl_set_str(&u.callid, "lamplight-user-deleted");
	u.remove_all = true;
	if (location_apply(g->r->loc, &u, (uint64_t)time(NULL), &scode,
			   &reason) || scode != 200)
		log_warn("location: cannot drop the bindings of deleted user "
			 "'%s'", user);
	else
		log_info("user '%s' deleted: bindings dropped", user);
}

static void tick_h(void *arg)
{
	struct gone *g = arg;

	tmr_start(&g->tmr, TICK_MS, tick_h, g);
	if (!store_changed(g->watch) && !g->more)
		return;
	g->more = false;
	location_foreach(g->r->loc, find_h, g);
	for (unsigned i = 0; i < g->n; i++) {
		drop(g, g->users[i]);
		g->users[i] = mem_deref(g->users[i]);
	}
	g->n = 0;
}

int gone_alloc(struct gone **gp, struct edge *r, const char *admin_db)
{
	struct gone *g;
	int err;

	if (!gp || !r || !admin_db)
		return EINVAL;
	g = mem_zalloc(sizeof(*g), destructor);
	if (!g)
		return ENOMEM;
	g->r = r;
	err = users_open(&g->watch, admin_db, true);
	if (err) {
		mem_deref(g);
		return err;
	}
	(void)store_changed(g->watch);
	/* users deleted while the edge was down: looked for at once */
	g->more = true;
	tmr_init(&g->tmr);
	tmr_start(&g->tmr, 0, tick_h, g);
	*gp = g;
	return 0;
}
