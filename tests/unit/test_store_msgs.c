/* test_store_msgs: the IM relay's database (store_msgs): a kept message
 * is read back byte for byte (a body with NUL bytes too), in the order
 * kept, after a reopen (a restart); the attempt number moves on; a
 * deleted one is gone (ENOENT); the list reads lengths, not bodies. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_msgs.h"
#include "tap.h"
#include "testdb.h"

static char dir[] = "/tmp/lp-test-msgs-XXXXXX";

struct seen {
	unsigned n;
	uint64_t ids[8];
	size_t lens[8];
	char users[8][16];
	uint32_t attempt;
	uint8_t body[64];
	size_t bodylen;
	char date[64];
	char ctype[64];
	char origin[64];
	bool body_read;
};

static int list_h(const struct msgs_rec *r, void *arg)
{
	struct seen *s = arg;

	if (s->n < 8) {
		s->ids[s->n] = r->id;
		s->lens[s->n] = r->bodylen;
		str_ncpy(s->users[s->n], r->user, sizeof(s->users[0]));
	}
	s->body_read = s->body_read || r->body;
	++s->n;
	return 0;
}

static int get_h(const struct msgs_rec *r, void *arg)
{
	struct seen *s = arg;

	s->attempt = r->attempt;
	s->bodylen = r->bodylen < sizeof(s->body) ? r->bodylen : 0;
	memcpy(s->body, r->body, s->bodylen);
	str_ncpy(s->date, r->date, sizeof(s->date));
	str_ncpy(s->ctype, r->ctype, sizeof(s->ctype));
	str_ncpy(s->origin, r->origin, sizeof(s->origin));
	return 0;
}

int main(void)
{
	static const uint8_t body[] = { 'h', 'i', 0, 0xff, '\r', '\n' };
	struct msgs_rec r = {
		.user = "carol", .sender = "alice", .from_name = "Alice",
		.date = "Tue, 01 Dec 2026 09:00:00 GMT",
		.ctype = "text/plain;charset=UTF-8", .origin = "",
		.body = body, .bodylen = sizeof(body), .created = 1,
		.expires = 4000000000ULL,
	};
	struct store *st = NULL;
	struct seen s;
	uint64_t first;
	uint32_t n = 0;
	char p[256], cmd[300];

	if (!mkdtemp(dir))
		return 1;
	test_db(p, sizeof(p), dir, "imrelay.db");
	ok(!msgs_open(&st, p, NULL) && store_version(st) == 2,
	   "the relay's database opens (version 2)");
	ok(!msgs_add(st, &r) && r.id > 0, "a message kept, with an id");
	first = r.id;
	r.user = "dave";
	r.origin = "UDP:127.0.0.1:5062";
	r.bodylen = 2;
	ok(!msgs_add(st, &r) && r.id > first, "a second, a later id");
	r.user = "carol";
	ok(!msgs_add(st, &r), "a third");
	ok(!msgs_set_attempt(st, NULL, first, 3), "the first one's attempt moves");
	st = mem_deref(st);

	ok(!msgs_open(&st, p, NULL), "reopened (a restart)");
	memset(&s, 0, sizeof(s));
	ok(!msgs_foreach(st, list_h, &s) && s.n == 3 && s.ids[0] == first &&
	   s.ids[1] < s.ids[2] && !strcmp(s.users[0], "carol") &&
	   !strcmp(s.users[1], "dave"), "all three, in the order kept");
	ok(s.lens[0] == sizeof(body) && s.lens[1] == 2 && !s.body_read,
	   "the list gives the lengths and reads no body");
	memset(&s, 0, sizeof(s));
	ok(!msgs_get(st, NULL, first, get_h, &s) && s.attempt == 3 &&
	   s.bodylen == sizeof(body) && !memcmp(s.body, body, sizeof(body)),
	   "the body back byte for byte (NUL, 0xff, CRLF), attempt 3");
	ok(!strcmp(s.date, "Tue, 01 Dec 2026 09:00:00 GMT") &&
	   !strcmp(s.ctype, "text/plain;charset=UTF-8") && !s.origin[0],
	   "Date and Content-Type as given");
	ok(!msgs_count(st, &n) && n == 3, "count 3");
	ok(!msgs_del(st, "", first) && msgs_get(st, NULL, first, get_h, &s) == ENOENT,
	   "deleted: ENOENT");
	ok(!msgs_count(st, &n) && n == 2, "count 2");
	/* a node of a cluster: its own, and a dead node's */
	r.user = "erin";
	r.node = "b";
	ok(!msgs_add(st, &r), "node b keeps one");
	memset(&s, 0, sizeof(s));
	ok(!msgs_foreach_node(st, NULL, list_h, &s) && s.n == 2,
	   "the box's own: the two without a node");
	memset(&s, 0, sizeof(s));
	ok(!msgs_foreach_node(st, "b", list_h, &s) && s.n == 1 &&
	   !strcmp(s.users[0], "erin") && s.lens[0] == 2 && !s.body_read,
	   "node b's one, its length and no body");
	memset(&s, 0, sizeof(s));
	ok(!msgs_take(st, "b", "a", list_h, &s) && s.n == 1 &&
	   !strcmp(s.users[0], "erin") && s.lens[0] == 2,
	   "node a takes b's one, as msgs_foreach gives it");
	memset(&s, 0, sizeof(s));
	ok(!msgs_take(st, "b", "a", list_h, &s) && s.n == 0 &&
	   !msgs_foreach_node(st, "a", list_h, &s) && s.n == 1,
	   "taken again: nothing; it is a's");
	memset(&s, 0, sizeof(s));
	ok(!msgs_foreach_node(st, "a", list_h, &s) &&
	   !msgs_del(st, "b", s.ids[0]) && !msgs_set_attempt(st, "b",
							    s.ids[0], 9) &&
	   msgs_get(st, "b", s.ids[0], get_h, &s) == ENOENT &&
	   !msgs_get(st, "a", s.ids[0], get_h, &s) && s.attempt != 9,
	   "b, not dead after all, neither reads, deletes nor moves it");
	memset(&s, 0, sizeof(s));
	ok(!msgs_claim_box(st, "c") && !msgs_foreach_node(st, "c", list_h,
							   &s) &&
	   s.n == 2 && !msgs_foreach_node(st, "", list_h, &s) && s.n == 2,
	   "node c claims the two the box kept before it was a node");
	ok(msgs_take(st, "", "a", list_h, &s) == EINVAL,
	   "the box's are nobody's to take");
	r.node = NULL;
	r.user = NULL;
	ok(msgs_add(st, &r) == EINVAL, "a message without a target: EINVAL");
	st = mem_deref(st);

	re_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		ok(0, "cleanup");
	return tap_done();
}
