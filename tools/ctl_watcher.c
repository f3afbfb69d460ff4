/* ctl_watcher: `lamplightctl watcher`: who may watch whose presence. A
 * rule is an action (allow, block, polite-block, confirm) for an owner and
 * a watcher, or "*" for anyone; the presence daemon applies a change to
 * existing subscriptions within a second. `pending` lists the requests
 * waiting for a decision; approve and refuse are allow and block. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "base/conf.h"
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_rules.h"
#include "store/store_subs.h"
#include "store/store_pubs.h"
#include "ctl.h"

static int print_h(const char *owner, const char *watcher,
		   enum rule_action a, void *arg)
{
	(void)arg;
	printf("%-20s %-20s %s\n", owner, watcher, rule_action_name(a));
	return 0;
}

struct pend {
	struct store *admin;
	const char *policy;
	uint64_t now;
};

static int pending_h(const struct subs_rec *s, void *arg)
{
	const struct pend *p = arg;

	/* still undecided: no rule has been written since */
	if (s->state == NSUB_PENDING && !strcmp(s->event, "presence") &&
	    s->expires >= p->now &&
	    rules_decide(p->admin, p->policy, s->presentity, s->watcher) ==
	    RULE_CONFIRM)
		printf("%-20s %-20s\n", s->presentity, s->watcher);
	return 0;
}

/* Subscriptions the presence daemon holds until someone decides. */
static int pending(const struct conf *conf)
{
	struct store_opts o = { .readonly = true };
	struct store *st = NULL;
	struct pend p = { NULL, conf->presence_default_policy,
			  (uint64_t)time(NULL) };
	char *path = NULL;
	int err;

	err = conf_db(conf, "presence", &path);
	if (err)
		return err;
	printf("%-20s %-20s\n", "OWNER", "WATCHER");
	err = pres_open(&st, path, &o);
	mem_deref(path);
	if (err)
		return 0;          /* no presence daemon yet: nobody waits */
	err = users_open(&p.admin, conf->admin_db, true);
	err = err ? err : subs_foreach(st, pending_h, &p);
	mem_deref(p.admin);
	mem_deref(st);
	return err;
}

int ctl_watcher(const struct conf *conf, const char *verb, const char *owner,
		const char *watcher)
{
	struct store *st = NULL;
	enum rule_action a = RULE_NONE;
	int err;

	if (!strcmp(verb, "pending"))
		return pending(conf);
	/* what the admin page's Approve and Refuse buttons write */
	if (!strcmp(verb, "approve"))
		verb = "allow";
	else if (!strcmp(verb, "refuse"))
		verb = "block";
	if (strcmp(verb, "list") && strcmp(verb, "del") &&
	    rule_action_parse(&a, verb)) {
		fprintf(stderr, "lamplightctl: unknown watcher action '%s' "
			"(allow, block, polite-block, confirm, approve, "
			"refuse, del, list, pending)\n", verb);
		return EINVAL;
	}
	err = users_open(&st, conf->admin_db, false);
	if (err) {
		fprintf(stderr, "lamplightctl: admin database '%s': %s\n",
			conf->admin_db, strerror(err));
		return err;
	}
	if (!strcmp(verb, "list")) {
		printf("%-20s %-20s %s\n", "OWNER", "WATCHER", "ACTION");
		err = rules_foreach(st, owner, print_h, NULL);
		goto out;
	}
	if (!owner || !watcher) {
		fprintf(stderr, "lamplightctl: watcher %s OWNER WATCHER\n",
			verb);
		err = EINVAL;
		goto out;
	}
	if (!users_exists(st, owner)) {
		fprintf(stderr, "lamplightctl: no user '%s'\n", owner);
		err = ENOENT;
		goto out;
	}
	if (strcmp(watcher, "*") && !users_name_valid(watcher)) {
		fprintf(stderr, "lamplightctl: bad watcher '%s' (a user name "
			"or *)\n", watcher);
		err = EINVAL;
		goto out;
	}
	err = a == RULE_NONE ? rules_del(st, owner, watcher) :
		rules_set(st, owner, watcher, a);
	if (err)
		fprintf(stderr, "lamplightctl: cannot write the rule: %s\n",
			strerror(err));
 out:
	mem_deref(st);
	return err;
}
