/* test_store: schema migrations (fresh, repeated, a failing one, a newer
 * database), read-only opens, users, bindings and a cluster's nodes
 * through their store_* interfaces. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <re.h>
#include "store/store_sql.h"
#include "store/store_users.h"
#include "store/store_loc.h"
#include "store/store_nodes.h"
#include "tap.h"
#include "testdb.h"

static char dir[] = "/tmp/lp-test-store-XXXXXX";

static void path(char *out, size_t len, const char *name)
{
	test_db(out, len, dir, name);
}

static void migrations(void)
{
	static const char *const v1[] = {
		"CREATE TABLE t (a INTEGER);",
	};
	static const char *const v2[] = {
		"CREATE TABLE t (a INTEGER);",
		"ALTER TABLE t ADD COLUMN b TEXT; INSERT INTO t VALUES (1, 'x');",
	};
	static const char *const v3bad[] = {
		"CREATE TABLE t (a INTEGER);",
		"ALTER TABLE t ADD COLUMN b TEXT; INSERT INTO t VALUES (1, 'x');",
		"CREATE TABLE u (x); THIS IS NOT SQL;",
	};
	static const struct store_schema s1 = { v1, NULL, 1 };
	static const struct store_schema s2 = { v2, NULL, 2 };
	static const struct store_schema s3bad = { v3bad, NULL, 3 };
	struct store_opts ro = { .readonly = true };
	struct store *st = NULL;
	char p[256];

	path(p, sizeof(p), "sub/dir/m.db");
	ok(!store_open(&st, p, &s1, NULL) && store_version(st) == 1,
	   "a fresh database (and its folders) gets version 1");
	st = mem_deref(st);
	ok(!store_open(&st, p, &s1, NULL) && store_version(st) == 1,
	   "reopening applies nothing again");
	st = mem_deref(st);
	ok(!store_open(&st, p, &s2, NULL) && store_version(st) == 2,
	   "an upgrade applies only the new step");
	st = mem_deref(st);
	ok(store_open(&st, p, &s3bad, NULL) != 0 && !st,
	   "a failing migration is an error");
	ok(!store_open(&st, p, &s2, &ro) && store_version(st) == 2,
	   "... and leaves the database at the old version");
	st = mem_deref(st);
	ok(store_open(&st, p, &s1, NULL) == EPROTO,
	   "a database newer than the program is refused");
	ok(store_open(&st, p, &s1, &ro) == EPROTO,
	   "read-only open checks the version too");
	ok(!store_open(&st, p, &s2, NULL), "reopen");
	ok(!store_meta_set(st, "k", "v1") && !store_meta_set(st, "k", "v2"),
	   "meta set twice");
	{
		char *v = NULL;

		ok(!store_meta_first(st, "f", "one", &v) && !strcmp(v, "one"),
		   "meta first: the value made");
		v = mem_deref(v);
		ok(!store_meta_first(st, "f", "two", &v) && !strcmp(v, "one"),
		   "meta first again: the first value holds");
		mem_deref(v);
	}
	{
		char *v = NULL;
		ok(!store_meta_get(st, "k", &v) && !strcmp(v, "v2"),
		   "meta keeps the last value");
		mem_deref(v);
		ok(store_meta_get(st, "missing", &v) == ENOENT,
		   "a missing meta key is ENOENT");
	}
	mem_deref(st);
}

static int count_h(const struct user_rec *u, void *arg)
{
	(void)u;
	++*(int *)arg;
	return 0;
}

static void users(void)
{
	struct store *st = NULL;
	struct user_rec *u = NULL;
	struct pl alice = PL("alice"), nobody = PL("nobody");
	uint32_t n = 0;
	int cnt = 0;
	char p[256];

	path(p, sizeof(p), "admin.db");
	ok(!users_open(&st, p, false), "admin database");
	ok(!users_add(st, "alice", "Alice", "example.com", "secret"),
	   "add alice");
	ok(users_add(st, "alice", "Alice", "example.com", "x") == EEXIST,
	   "a second alice is refused");
	ok(users_add(st, "bad user", NULL, "example.com", "x") == EINVAL,
	   "a name with a space is refused");
	ok(!users_get(st, &alice, &u) && !strcmp(u->name, "Alice") &&
	   !strcmp(u->ha1[DIGEST_MD5], "b1726872c344b6dc8365b774f8fd6412")
	   && strlen(u->ha1[DIGEST_SHA256]) == 64 && !u->algs,
	   "alice has her HA1 per algorithm and no clear password");
	u = mem_deref(u);
	ok(!users_set_algs(st, "alice", "sha-256,md5") &&
	   !users_get(st, &alice, &u) && !strcmp(u->algs, "sha-256,md5"),
	   "per-user algorithms");
	u = mem_deref(u);
	ok(!users_set_password(st, "alice", "example.com", "new") &&
	   !users_get(st, &alice, &u) &&
	   strcmp(u->ha1[DIGEST_MD5], "b1726872c344b6dc8365b774f8fd6412"),
	   "a new password changes the hashes");
	u = mem_deref(u);
	ok(users_get(st, &nobody, &u) == ENOENT, "unknown user: ENOENT");
	ok(users_set_password(st, "nobody", "r", "p") == ENOENT,
	   "password of an unknown user: ENOENT");
	users_add(st, "bob", NULL, "example.com", "pw");
	ok(!users_count(st, &n) && n == 2, "two users");
	ok(!users_foreach(st, count_h, &cnt) && cnt == 2, "foreach visits 2");
	ok(!users_del(st, "bob") && users_del(st, "bob") == ENOENT,
	   "delete, then ENOENT");
	mem_deref(st);
}

static int seen_h(const struct loc_rec *r, void *arg)
{
	char *out = arg;

	strcat(out, r->uri);
	strcat(out, r->path ? "+path;" : ";");
	return 0;
}

static int ua_h(const struct loc_rec *r, void *arg)
{
	char *out = arg;

	if (r->user_agent)
		strcpy(out, r->user_agent);
	return 0;
}

static void bindings(void)
{
	struct store *st = NULL;
	char p[256], seen[512] = "";
	struct loc_rec r = {
		.aor = "alice", .uri = "sip:alice@192.0.2.1:5060",
		.callid = "c1", .cseq = 1, .expires = 100, .q = 500,
		.tp = "UDP", .src = "192.0.2.1:5060", .updated = 1,
	};

	path(p, sizeof(p), "loc.db");
	ok(!loc_open(&st, p, NULL), "location database");
	ok(!loc_put(st, &r), "put a binding");
	r.uri = "sip:alice@192.0.2.2:5060";
	r.q = 1000;
	r.path = "<sip:proxy.example.com;lr>";
	ok(!loc_put(st, &r), "put another");
	r.cseq = 2;
	ok(!loc_put(st, &r), "put replaces the same (aor, uri)");
	ok(!loc_foreach(st, seen_h, seen) &&
	   !strcmp(seen, "sip:alice@192.0.2.2:5060+path;"
		   "sip:alice@192.0.2.1:5060;"), "two rows, highest q first");
	ok(!loc_del(st, NULL, "alice", "sip:alice@192.0.2.2:5060"),
	   "delete one");
	seen[0] = '\0';
	loc_foreach(st, seen_h, seen);
	ok(!strcmp(seen, "sip:alice@192.0.2.1:5060;"), "one row left");
	/* Latin-1 from an old phone, a byte that is never UTF-8, a lone
	 * continuation byte, and real UTF-8 around them */
	r.user_agent = "Caf\xe9 Phone \xff\x80 \xe2\x82\xac \xef\xbc\xa1";
	ok(!loc_put(st, &r), "a User-Agent that is not UTF-8 is kept");
	seen[0] = '\0';
	loc_foreach(st, ua_h, seen);
	ok(!strcmp(seen, r.user_agent), "and read back byte for byte");
	r.callid = NULL;
	ok(loc_put(st, &r) == EINVAL, "a record without Call-ID is refused");

	/* two nodes sharing the table: each sees and removes its own */
	r.callid = "c2";
	r.user_agent = NULL;
	r.path = NULL;
	r.aor = "bob";
	r.uri = "sip:bob@192.0.2.9:5060";
	r.node = "b";
	ok(!loc_put(st, &r), "node b puts bob's binding");
	seen[0] = '\0';
	ok(!loc_foreach_node(st, "", seen_h, seen) &&
	   !strcmp(seen, "sip:alice@192.0.2.2:5060+path;"
		   "sip:alice@192.0.2.1:5060;"),
	   "the box's own rows leave out node b's (%s)", seen);
	seen[0] = '\0';
	ok(!loc_foreach_node(st, "b", seen_h, seen) &&
	   !strcmp(seen, "sip:bob@192.0.2.9:5060;") &&
	   !loc_foreach_aor(st, "b", "bob", seen_h, seen),
	   "node b's are its own");
	seen[0] = '\0';
	ok(!loc_foreach_aor(st, "a", "bob", seen_h, seen) && !seen[0],
	   "node a sees none of bob's");
	ok(!loc_del(st, "a", "bob", r.uri) &&
	   !loc_del_expired(st, "a", "bob", r.uri, 1000), "node a's "
	   "deletes of bob's binding");
	seen[0] = '\0';
	loc_foreach(st, seen_h, seen);
	ok(strstr(seen, "sip:bob@192.0.2.9:5060;") != NULL,
	   "remove nothing of node b's");
	ok(!loc_del_expired(st, "b", "bob", r.uri, 1000), "node b's does");
	seen[0] = '\0';
	loc_foreach(st, seen_h, seen);
	ok(!strstr(seen, "bob"), "gone");
	mem_deref(st);
}

static int count_rows(struct store *st)
{
	static const char sql[] = "SELECT count(*) FROM d";
	struct store_q *q = store_stmt(st, sql);
	int n = -1;

	if (q && q_step(q) == STORE_ROW)
		n = (int)q_col_int(q, 0);
	if (q)
		q_reset(q);
	return n;
}

static int put_later(struct store *st, const char *k, int64_t n)
{
	static const char sql[] = "INSERT INTO d (k, n) VALUES (?1, ?2)";
	struct store_q *q = store_stmt(st, sql);

	if (!q)
		return EIO;
	q_text(q, 1, k);
	q_int(q, 2, n);
	return store_step_later(q);
}

/* Statements whose results nobody reads, in a transaction: on
 * PostgreSQL they go together at the commit (pipeline mode), on SQLite
 * at once; either way a failing one fails the transaction whole, and a
 * statement that reads sees the ones before it. */
static void later(void)
{
	static const char *const v1[] = {
		"CREATE TABLE d (k TEXT PRIMARY KEY, "
		"n INTEGER NOT NULL CHECK (n >= 0));",
	};
	static const struct store_schema s1 = { v1, NULL, 1 };
	struct store *st = NULL;
	char p[256];
	int err;

	path(p, sizeof(p), "later.db");
	ok(!store_open(&st, p, &s1, NULL), "a table for deferred writes");
	ok(!store_begin(st) && !put_later(st, "a", 1) &&
	   !put_later(st, "b", 2) && !store_commit(st) &&
	   count_rows(st) == 2, "two deferred inserts, committed");
	ok(!store_begin(st) && !put_later(st, "c", 3), "a third, deferred");
	err = put_later(st, "d", -1);
	err = err ? err : store_commit(st);
	if (err)
		store_rollback(st);
	ok(err == EEXIST, "a failing one (a CHECK) fails the transaction, "
	   "at its step or at the commit (%d)", err);
	ok(count_rows(st) == 2, "and nothing of that transaction stays");
	ok(!store_begin(st) && !put_later(st, "e", 5) && count_rows(st) == 3
	   && !store_commit(st), "a read inside the transaction sees the "
	   "deferred insert before it");
	ok(put_later(st, "f", 6) == 0 && count_rows(st) == 4,
	   "outside a transaction, a deferred statement is done at once");
	mem_deref(st);
}

static long fsize(const char *p)
{
	struct stat sb;

	return stat(p, &sb) ? -1 : (long)sb.st_size;
}

/* bg_checkpoint: a commit never copies the WAL into the database file; a
 * thread does, within 500 ms. The file grows only when that happens. */
static void checkpoints(void)
{
	static const char *const v1[] = { "CREATE TABLE t (a TEXT);" };
	static const struct store_schema s1 = { v1, NULL, 1 };
	struct store_opts o = { .bg_checkpoint = true };
	struct store *st = NULL;
	long before, after;
	char p[256];

	path(p, sizeof(p), "ckpt.db");
	ok(!store_open(&st, p, &s1, &o), "open with a checkpoint thread");
	usleep(700 * 1000);        /* the schema's own checkpoint */
	store_begin(st);
	for (int i = 0; i < 2000; i++)
		store_exec(st, "INSERT INTO t VALUES (hex(randomblob(40)))");
	ok(!store_commit(st), "2,000 rows committed");
	before = fsize(p);
	usleep(1200 * 1000);
	after = fsize(p);
	ok(after > before + 100000, "the database file took the rows only "
	   "from the checkpoint thread (%ld -> %ld bytes)", before, after);
	mem_deref(st);         /* joins the thread: a hang times out */
}

/* Processes that open a fresh database together (the daemons start
 * together) each find it migrated once and open it. */
static void concurrent(void)
{
	static const char *const v3[] = {
		"CREATE TABLE t (a INTEGER);",
		"CREATE TABLE u (b TEXT); CREATE INDEX u_b ON u (b);",
		"ALTER TABLE t ADD COLUMN c TEXT;",
	};
	static const struct store_schema s3 = { v3, NULL, 3 };
	unsigned failed = 0, version_wrong = 0;

	for (unsigned round = 0; round < 20; round++) {
		pid_t kids[4];
		char p[256];
		struct store *st = NULL;
		char name[16];

		re_snprintf(name, sizeof(name), "c%u.db", round);
		test_db(p, sizeof(p), dir, name);
		for (unsigned i = 0; i < 4; i++) {
			kids[i] = fork();
			if (kids[i] == 0) {
				int err = store_open(&st, p, &s3, NULL);

				_exit(err ? 1 : store_version(st) == 3 ? 0 : 2);
			}
		}
		for (unsigned i = 0; i < 4; i++) {
			int status = 0;

			if (kids[i] < 0 || waitpid(kids[i], &status, 0) < 0 ||
			    !WIFEXITED(status) || WEXITSTATUS(status) == 1)
				++failed;
			else if (WEXITSTATUS(status) == 2)
				++version_wrong;
		}
	}
	ok(!failed && !version_wrong, "4 processes open a fresh database "
	   "together, 20 times: every open succeeds at the last version "
	   "(%u failed, %u at another version)", failed, version_wrong);
}

static int node_count_h(const struct node_rec *n, void *arg)
{
	(void)n;
	++*(unsigned *)arg;
	return 0;
}

/* A node claims its id at each start; another key, or a second running
 * instance with the same key, is refused and writes nothing. */
static void nodes(void)
{
	struct store *st = NULL;
	struct node_rec a, b, h, r;
	unsigned n = 0;
	char p[256];

	path(p, sizeof(p), "admin.db");
	ok(!users_open(&st, p, false), "admin database for nodes");
	ok(nodes_id_valid("node-1") && !nodes_id_valid("-x") &&
	   !nodes_id_valid("Node") && !nodes_id_valid("") &&
	   !nodes_id_valid("a b") &&
	   !nodes_id_valid("0123456789abcdef0123456789abcdef0"),
	   "node ids: [a-z0-9-], 1 to 32, no leading dash");
	memset(&a, 0, sizeof(a));
	str_ncpy(a.id, "one", sizeof(a.id));
	str_ncpy(a.key, "K1", sizeof(a.key));
	str_ncpy(a.bus, "tcp://127.0.0.2:5090", sizeof(a.bus));
	str_ncpy(a.sip, "udp:127.0.0.2:5060", sizeof(a.sip));
	str_ncpy(a.instance, "i1", sizeof(a.instance));
	ok(!nodes_claim(st, &a, 1000, 10, &h), "node one claims its id");
	ok(!nodes_get(st, "one", &r) && !strcmp(r.bus, a.bus) &&
	   r.started == 1000 && r.seen == 1000, "and is listed, seen");

	b = a;
	str_ncpy(b.key, "K2", sizeof(b.key));
	str_ncpy(b.instance, "i2", sizeof(b.instance));
	str_ncpy(b.bus, "tcp://127.0.0.3:5090", sizeof(b.bus));
	ok(nodes_claim(st, &b, 5000, 10, &h) == EEXIST && !strcmp(h.key, "K1"),
	   "another key claiming the id is refused, even long after");
	b = a;
	str_ncpy(b.instance, "i2", sizeof(b.instance));
	ok(nodes_claim(st, &b, 1005, 10, &h) == EBUSY &&
	   !strcmp(h.instance, "i1"), "the same key while instance i1 runs "
	   "(seen 5 s ago): refused");
	ok(!nodes_get(st, "one", &r) && !strcmp(r.instance, "i1"),
	   "nothing written");
	ok(!nodes_seen(st, "one", "i1", 1008, "load"), "i1 is seen");
	ok(nodes_claim(st, &b, 1015, 10, &h) == EBUSY, "still alive at 1015");
	ok(!nodes_claim(st, &b, 1020, 10, &h), "silent 12 s: i2 takes it "
	   "(a restart after a crash)");
	ok(nodes_seen(st, "one", "i1", 1021, NULL) == ESTALE,
	   "the old instance learns it is no longer the node");
	ok(!nodes_leave(st, "one", "i2") && !nodes_get(st, "one", &r) &&
	   r.seen == 0, "a clean stop: seen 0");
	str_ncpy(b.instance, "i3", sizeof(b.instance));
	ok(!nodes_claim(st, &b, 1022, 10, &h), "so a restart at once claims "
	   "it");
	ok(!nodes_foreach(st, node_count_h, &n) && n == 1, "one node listed");
	ok(!nodes_forget(st, "one") && nodes_forget(st, "one") == ENOENT &&
	   nodes_get(st, "one", &r) == ENOENT, "forgotten");
	mem_deref(st);
}

int main(void)
{
	char cmd[300];

	libre_init();
	if (!mkdtemp(dir))
		return 1;
	migrations();
	concurrent();
	users();
	bindings();
	later();
	nodes();
	if (!test_pg())        /* SQLite's WAL alone */
		checkpoints();
	re_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {}
	libre_close();
	return tap_done();
}
