/* test_rulebook: the watcher rules in memory (daemons/presence/rulebook)
 * decide as the store does (rules_decide) for every owner and watcher of
 * a small table: a watcher's own rule, the owner's "*" rule, the
 * default policy, the owner watching themselves; a change is seen only
 * once the book is read again; a book that was never read asks the
 * store. */
#include <stdlib.h>
#include <string.h>
#include <re.h>
#include "store/store.h"
#include "store/store_users.h"
#include "store/store_rules.h"
#include "rulebook.h"
#include "tap.h"

static char dir[] = "/tmp/lp-test-rulebook-XXXXXX";

static const char *const people[] = { "ann", "bob", "cy", "dee", "eve" };

/* Every pair, under both default policies: the same answer. */
static bool agree(const struct rulebook *rb, struct store *st)
{
	const char *pol[] = { "allow", "confirm" };

	for (size_t p = 0; p < ARRAY_SIZE(pol); p++)
		for (size_t o = 0; o < ARRAY_SIZE(people); o++)
			for (size_t w = 0; w < ARRAY_SIZE(people); w++) {
				const char *ow = people[o], *wa = people[w];

				if (rulebook_decide(rb, st, pol[p], ow, wa) !=
				    rules_decide(st, pol[p], ow, wa))
					return false;
			}
	return true;
}

int main(void)
{
	struct store *st = NULL;
	struct rulebook *rb = NULL;
	char p[256];

	libre_init();
	if (!mkdtemp(dir))
		return 1;
	re_snprintf(p, sizeof(p), "%s/admin.db", dir);
	ok(!users_open(&st, p, false) && !rulebook_alloc(&rb), "opened");

	ok(rulebook_decide(rb, st, "block", "ann", "bob") == RULE_BLOCK &&
	   rulebook_decide(rb, st, "block", "ann", "ann") == RULE_ALLOW,
	   "a book never read asks the store: the default, and the owner "
	   "always sees themselves");

	ok(!rules_set(st, "ann", "bob", RULE_BLOCK) &&
	   !rules_set(st, "ann", "*", RULE_CONFIRM) &&
	   !rules_set(st, "bob", "cy", RULE_POLITE_BLOCK) &&
	   !rules_set(st, "cy", "*", RULE_ALLOW) &&
	   !rules_set(st, "dee", "eve", RULE_ALLOW), "five rules written");
	ok(!rulebook_load(rb, st), "the book reads them");
	ok(agree(rb, st), "for every owner, watcher and default policy the "
	   "book decides as the store");
	ok(rulebook_decide(rb, st, "allow", "ann", "bob") == RULE_BLOCK &&
	   rulebook_decide(rb, st, "allow", "ann", "cy") == RULE_CONFIRM &&
	   rulebook_decide(rb, st, "confirm", "eve", "ann") == RULE_CONFIRM &&
	   rulebook_decide(rb, st, "allow", "bob", "cy") ==
	   RULE_POLITE_BLOCK,
	   "a watcher's rule, then the owner's '*', then the default");

	ok(!rules_del(st, "ann", "bob") && !rules_set(st, "eve", "*",
						     RULE_BLOCK),
	   "a rule deleted, another written");
	ok(rulebook_decide(rb, st, "allow", "ann", "bob") == RULE_BLOCK,
	   "the book says what it read until it reads again");
	ok(!rulebook_load(rb, st) && agree(rb, st) &&
	   rulebook_decide(rb, st, "allow", "ann", "bob") == RULE_CONFIRM &&
	   rulebook_decide(rb, st, "allow", "eve", "dee") == RULE_BLOCK,
	   "read again: it agrees with the store once more");

	mem_deref(rb);
	mem_deref(st);
	re_snprintf(p, sizeof(p), "rm -rf %s", dir);
	if (system(p)) {}
	libre_close();
	return tap_done();
}
