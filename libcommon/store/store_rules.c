/* store_rules: SQL for the watcher_rules table of the admin database (its
 * schema is migration 2 in store_users.c, where the database is opened). */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_rules.h"

static const char *const names[] = {
	"none", "allow", "block", "polite-block", "confirm",
};

int rule_action_parse(enum rule_action *a, const char *s)
{
	for (size_t i = 1; i < ARRAY_SIZE(names); i++) {
		if (s && !strcmp(s, names[i])) {
			*a = (enum rule_action)i;
			return 0;
		}
	}
	return EINVAL;
}

const char *rule_action_name(enum rule_action a)
{
	return (size_t)a < ARRAY_SIZE(names) ? names[a] : "?";
}

static const char set_sql[] =
	"INSERT INTO watcher_rules (owner, watcher, action, updated) "
	"VALUES (?1, ?2, ?3, ?4) ON CONFLICT (owner, watcher) DO UPDATE SET "
	"action = excluded.action, updated = excluded.updated";

int rules_set(struct store *st, const char *owner, const char *watcher,
	      enum rule_action a)
{
	struct store_q *s;

	if (!st || !owner || !watcher || a == RULE_NONE ||
	    (size_t)a >= ARRAY_SIZE(names))
		return EINVAL;
	s = store_stmt(st, set_sql);
	if (!s)
		return EIO;
	q_text(s, 1, owner);
	q_text(s, 2, watcher);
	q_text(s, 3, names[a]);
	q_int(s, 4, time(NULL));
	return store_step_done(s);
}

static const char del_sql[] =
	"DELETE FROM watcher_rules WHERE owner = ?1 AND watcher = ?2";

int rules_del(struct store *st, const char *owner, const char *watcher)
{
	return store_run_text(st, del_sql, 2, owner, watcher);
}

static const char get_sql[] =
	"SELECT action FROM watcher_rules WHERE owner = ?1 AND watcher = ?2";

int rules_get(struct store *st, const char *owner, const char *watcher,
	      enum rule_action *a)
{
	struct store_q *s = store_stmt(st, get_sql);
	int rc, err = 0;

	if (!s)
		return EIO;
	q_text(s, 1, owner);
	q_text(s, 2, watcher);
	rc = q_step(s);
	if (rc == STORE_ROW) {
		if (rule_action_parse(a,
				      q_col_text(s, 0)))
			err = EBADMSG;
	}
	else if (rc == STORE_DONE) {
		*a = RULE_NONE;
	}
	else {
		err = rc;
	}
	q_reset(s);
	return err;
}

static const char list_sql[] =
	"SELECT owner, watcher, action FROM watcher_rules "
	"WHERE CAST(?1 AS TEXT) IS NULL OR owner = ?1 "
	"ORDER BY owner, watcher";

int rules_foreach(struct store *st, const char *owner, rules_h *h,
		  void *arg)
{
	struct store_q *s = store_stmt(st, list_sql);
	int rc, err = 0;

	if (!s)
		return EIO;
	if (owner)
		q_text(s, 1, owner);
	while ((rc = q_step(s)) == STORE_ROW) {
		enum rule_action a;

		if (rule_action_parse(&a,
				      q_col_text(s, 2)))
			continue;
		err = h(q_col_text(s, 0),
			q_col_text(s, 1), a, arg);
		if (err)
			break;
	}
	return store_rows_end(s, rc, err);
}

/* What applies to `watcher` for `owner`: the owner always sees
 * themselves; a rule for the watcher, else the owner's "*" rule, else
 * the configured default (`default_policy`, allow if unreadable). */
enum rule_action rules_decide(struct store *st, const char *default_policy,
			      const char *owner, const char *watcher)
{
	enum rule_action a = RULE_NONE;

	if (!strcmp(owner, watcher))
		return RULE_ALLOW;
	if (rules_get(st, owner, watcher, &a) || a == RULE_NONE)
		if (rules_get(st, owner, "*", &a))
			a = RULE_NONE;
	if (a == RULE_NONE && rule_action_parse(&a, default_policy))
		a = RULE_ALLOW;
	return a;
}
