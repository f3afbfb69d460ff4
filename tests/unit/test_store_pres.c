/* test_store_pres: the presence daemon's database (subscriptions and
 * publications, store_subs and store_pubs) and the watcher rules of the
 * admin database (store_rules): what is written is what is read back,
 * after a reopen too (a restart), and deletions and bad values. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store.h"
#include "store/store_subs.h"
#include "store/store_pubs.h"
#include "store/store_users.h"
#include "store/store_rules.h"
#include "tap.h"
#include "testdb.h"

static char dir[] = "/tmp/lp-test-pres-XXXXXX";

struct seen {
	unsigned n;
	uint32_t lseq, version;
	char route[256];
	char doc[64];
};

static int sub_h(const struct subs_rec *r, void *arg)
{
	struct seen *s = arg;

	++s->n;
	s->lseq = r->lseq;
	s->version = r->version;
	str_ncpy(s->route, r->route, sizeof(s->route));
	return 0;
}

static int pub_h(const struct pubs_rec *r, void *arg)
{
	struct seen *s = arg;

	++s->n;
	str_ncpy(s->doc, r->doc, r->doclen < sizeof(s->doc) ?
		 r->doclen + 1 : sizeof(s->doc));
	return 0;
}

static void subs_and_pubs(void)
{
	struct subs_rec r = {
		.callid = "c1", .ltag = "l1", .rtag = "r1",
		.event = "presence", .event_id = "", .watcher = "alice",
		.presentity = "bob", .local_uri = "sip:bob@x",
		.remote_uri = "sip:alice@x", .target = "sip:alice@192.0.2.1",
		.route = "<sip:192.0.2.9;lr;flow=abc>",
		.ctype = "application/pidf+xml", .rseq = 2, .lseq = 1,
		.version = 1, .expires = 4000000000ULL, .state = 1,
	};
	struct pubs_rec pr = {
		.etag = "e1", .user = "bob", .expires = 4000000000ULL,
		.updated = 1, .doc = "<presence/>", .doclen = 11,
	};
	struct store *st = NULL;
	struct seen s;
	char p[256];

	test_db(p, sizeof(p), dir, "presence.db");
	ok(!pres_open(&st, p, NULL) && store_version(st) == 4,
	   "the presence database has both tables (version 4)");
	ok(!subs_put(st, &r) && !subs_seq(st, NULL, "c1", "l1", 7, 5),
	   "a subscription stored, its CSeq and version moved on");
	ok(!pubs_put(st, &pr), "a publication stored");
	pr.etag = "e0";
	pr.doc = "<presence>0</presence>";
	pr.doclen = strlen(pr.doc);
	ok(pubs_move(st, "e1", &pr) == 0, "a modification moves it to a new "
	   "entity tag");
	ok(pubs_move(st, "e1", &pr) == ENOENT, "the old tag is gone: ENOENT");
	pr.user = "eve";
	ok(pubs_move(st, "e0", &pr) == ENOENT, "another user's tag: ENOENT");
	pr.user = "bob";
	pr.etag = "e1";
	pr.doc = "<presence/>";
	pr.doclen = 11;
	ok(pubs_move(st, "e0", &pr) == 0, "and back to e1");
	r.callid = NULL;
	ok(subs_put(st, &r) == EINVAL, "a subscription without Call-ID: "
	   "EINVAL");
	st = mem_deref(st);

	ok(!pres_open(&st, p, NULL), "reopened (a restart)");
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach(st, sub_h, &s) && s.n == 1 && s.lseq == 7 &&
	   s.version == 5 && !strcmp(s.route, "<sip:192.0.2.9;lr;flow=abc>"),
	   "the subscription comes back with CSeq 7, version 5, its route");
	memset(&s, 0, sizeof(s));
	ok(!pubs_foreach(st, pub_h, &s) && s.n == 1 &&
	   !strcmp(s.doc, "<presence/>"), "the publication comes back");
	/* a node of a cluster loads its own subscriptions alone */
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach_node(st, "", sub_h, &s) && s.n == 1,
	   "the box's own: the one stored without a node");
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach_node(st, "b", sub_h, &s) && s.n == 0,
	   "node b has none");
	r.callid = "c2";
	r.node = "b";
	ok(!subs_put(st, &r), "node b stores one");
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach_node(st, "b", sub_h, &s) && s.n == 1 &&
	   !subs_foreach_node(st, NULL, sub_h, &s) && s.n == 2,
	   "now b has its one, the box its one");
	/* node b died: node a takes its rows */
	memset(&s, 0, sizeof(s));
	ok(!subs_take(st, "b", "a", sub_h, &s) && s.n == 1 &&
	   s.lseq == r.lseq,
	   "node a takes b's one, as it was");
	memset(&s, 0, sizeof(s));
	ok(!subs_take(st, "b", "a", sub_h, &s) && s.n == 0 &&
	   !subs_foreach_node(st, "a", sub_h, &s) && s.n == 1 &&
	   !subs_foreach_node(st, "b", sub_h, &s) && s.n == 1,
	   "taken again: nothing; it is a's now");
	ok(subs_take(st, "", "a", sub_h, &s) == EINVAL,
	   "the box's rows are nobody's to take");
	/* node b, not dead after all, writes on: not over a's row */
	r.lseq = 99;
	ok(subs_put(st, &r) == ESTALE &&
	   !subs_seq(st, "b", "c2", "l1", 98, 9) &&
	   !subs_del(st, "b", "c2", "l1"), "b's put says ESTALE, its CSeq "
	   "and delete go");
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach_node(st, "a", sub_h, &s) && s.n == 1 &&
	   s.lseq != 99 && s.lseq != 98, "and change nothing of a's row");
	ok(!subs_del(st, "a", "c2", "l1"), "a deletes it");
	/* and its own publications */
	memset(&s, 0, sizeof(s));
	ok(!pubs_foreach_node(st, NULL, pub_h, &s) && s.n == 1 &&
	   !pubs_foreach_node(st, "b", pub_h, &s) && s.n == 1,
	   "the box's publication is the box's, node b has none");
	pr.etag = "e9";
	pr.node = "b";
	ok(!pubs_put(st, &pr), "node b stores one");
	memset(&s, 0, sizeof(s));
	ok(!pubs_foreach_node(st, "b", pub_h, &s) && s.n == 1 &&
	   !pubs_foreach_node(st, "", pub_h, &s) && s.n == 2 &&
	   !pubs_foreach(st, pub_h, &s) && s.n == 4 && !pubs_del(st, "e9"),
	   "now b has its one, the box its one; both are listed");
	ok(!subs_del(st, "", "c1", "l1") && !pubs_del(st, "e1"),
	   "both deleted");
	memset(&s, 0, sizeof(s));
	ok(!subs_foreach(st, sub_h, &s) && !pubs_foreach(st, pub_h, &s) &&
	   s.n == 0, "nothing left");
	mem_deref(st);
}

static int rule_h(const char *owner, const char *watcher,
		  enum rule_action a, void *arg)
{
	unsigned *n = arg;

	(void)owner;
	(void)watcher;
	(void)a;
	++*n;
	return 0;
}

static void rules(void)
{
	struct store *st = NULL;
	enum rule_action a = RULE_ALLOW;
	unsigned n = 0;
	char p[256];

	test_db(p, sizeof(p), dir, "admin.db");
	ok(!users_open(&st, p, false), "the admin database opens");
	ok(!rules_get(st, "bob", "alice", &a) && a == RULE_NONE,
	   "no rule: RULE_NONE");
	ok(!rules_set(st, "bob", "alice", RULE_POLITE_BLOCK) &&
	   !rules_get(st, "bob", "alice", &a) && a == RULE_POLITE_BLOCK,
	   "polite-block written and read");
	ok(!rules_set(st, "bob", "alice", RULE_ALLOW) &&
	   !rules_get(st, "bob", "alice", &a) && a == RULE_ALLOW,
	   "a second rule for the same pair replaces the first");
	ok(!rules_set(st, "bob", "*", RULE_CONFIRM) &&
	   !rules_foreach(st, "bob", rule_h, &n) && n == 2,
	   "bob has two rules (alice and *)");
	ok(rules_set(st, "bob", "carol", RULE_NONE) == EINVAL,
	   "RULE_NONE is not a rule");
	ok(rule_action_parse(&a, "polite-block") == 0 &&
	   a == RULE_POLITE_BLOCK && rule_action_parse(&a, "maybe") ==
	   EINVAL && !strcmp(rule_action_name(RULE_CONFIRM), "confirm"),
	   "action names both ways");
	ok(!rules_del(st, "bob", "alice") &&
	   !rules_get(st, "bob", "alice", &a) && a == RULE_NONE,
	   "a deleted rule is gone");
	mem_deref(st);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	subs_and_pubs();
	rules();
	re_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		ok(0, "cleanup");
	return tap_done();
}
