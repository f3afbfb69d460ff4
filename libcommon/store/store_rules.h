/* store_rules: who may watch whose presence (the semantics of RFC 5025:
 * allow, block, polite-block, confirm), in the admin database. Written by
 * lamplightctl and the admin page, read by the presence daemon (and by
 * the edge: who may see a user's lamp may pick up the user's calls). */
#ifndef LP_STORE_RULES_H
#define LP_STORE_RULES_H

#include "store/store.h"

enum rule_action {
	RULE_NONE = 0,         /* no rule: the configured default */
	RULE_ALLOW,
	RULE_BLOCK,
	RULE_POLITE_BLOCK,
	RULE_CONFIRM,
};

typedef int (rules_h)(const char *owner, const char *watcher,
		      enum rule_action a, void *arg);

int  rule_action_parse(enum rule_action *a, const char *s);
const char *rule_action_name(enum rule_action a);
int  rules_set(struct store *st, const char *owner, const char *watcher,
	       enum rule_action a);
int  rules_del(struct store *st, const char *owner, const char *watcher);
int  rules_get(struct store *st, const char *owner, const char *watcher,
	       enum rule_action *a);
int  rules_foreach(struct store *st, const char *owner, rules_h *h,
		   void *arg);
enum rule_action rules_decide(struct store *st, const char *default_policy,
			      const char *owner, const char *watcher);

#endif
