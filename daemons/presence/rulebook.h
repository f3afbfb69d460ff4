/* rulebook: the watcher rules (store_rules) held in memory, read whole at
 * start and again whenever the admin database says it changed, so that a
 * SUBSCRIBE is decided without a statement (on PostgreSQL each of the two
 * was a round trip) and, while the database is out of reach, by what it
 * said last. */
#ifndef LP_RULEBOOK_H
#define LP_RULEBOOK_H

#include "store/store_rules.h"

/* More rules than this: decided by the store, as before (a warning). */
#define RULEBOOK_MAX 200000

struct rulebook;

int  rulebook_alloc(struct rulebook **rbp);
/* Every rule read again: the old book is kept if the read fails; over
 * RULEBOOK_MAX, the book is dropped (0: the store decides from now). */
int  rulebook_load(struct rulebook *rb, struct store *st);
/* rules_decide's answer, from memory (from `st` when the book could not
 * be read whole). */
enum rule_action rulebook_decide(const struct rulebook *rb, struct store *st,
				 const char *default_policy,
				 const char *owner, const char *watcher);

#endif
