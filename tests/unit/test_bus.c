/* test_bus: message encoding and decoding, the sequence rules (next,
 * duplicate, gap, new epoch), and the clone pattern end to end in one
 * process over ipc://: a late subscriber gets a snapshot, live updates
 * follow, and a publisher restart (new epoch) makes it resync; and the
 * bus between nodes over tcp:// with CURVE: a node with an accepted key
 * syncs, one with a key the publisher refuses is asked about (to be
 * logged) and gets nothing, one that does not know the publisher's key
 * gets nothing either. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <re.h>
#include "bus/bus.h"
#include "tap.h"

static void codec(void)
{
	struct odict *d = NULL;
	struct bus_msg m;
	char *json = NULL;

	odict_alloc(&d, 4);
	odict_entry_add(d, "user", ODICT_STRING, "al\"ice\n");
	ok(!bus_msg_encode(&json, "reg", "alice", "set", 4294967297ULL,
			   "00000000000000ab", 1700000000000ULL, d),
	   "encode");
	ok(!bus_msg_decode(&m, json, strlen(json)), "decode");
	ok(!strcmp(m.topic, "reg") && !strcmp(m.key, "alice") &&
	   !strcmp(m.type, "set") && m.seq == 4294967297ULL &&
	   !strcmp(m.epoch, "00000000000000ab") &&
	   m.time == 1700000000000ULL, "every envelope field round-trips "
	   "(64-bit seq)");
	ok(m.data && !strcmp(odict_string(m.data, "user"), "al\"ice\n"),
	   "data round-trips with quotes and newlines");
	mem_deref(m.root);

	/* the same bytes as the envelope built as an odict and encoded */
	{
		struct odict *o = NULL;
		char *ref = NULL, *j2 = NULL;

		odict_alloc(&o, 16);
		odict_entry_add(o, "v", ODICT_INT, (int64_t)BUS_VERSION);
		odict_entry_add(o, "topic", ODICT_STRING, "reg");
		odict_entry_add(o, "key", ODICT_STRING, "alice");
		odict_entry_add(o, "type", ODICT_STRING, "set");
		odict_entry_add(o, "seq", ODICT_INT, (int64_t)4294967297LL);
		odict_entry_add(o, "epoch", ODICT_STRING, "00000000000000ab");
		odict_entry_add(o, "time", ODICT_INT, (int64_t)1700000000000LL);
		odict_entry_add(o, "data", ODICT_OBJECT, d);
		re_sdprintf(&ref, "%H", json_encode_odict, o);
		ok(ref && !strcmp(json, ref), "the encoding is json_encode_odict's "
		   "of the envelope");
		ok(!bus_msg_encode(&j2, "p\"q", "k\\\x01", "hb", 0, "e", 0,
				   NULL) && !bus_msg_decode(&m, j2, strlen(j2)) &&
		   !strcmp(m.topic, "p\"q") && !strcmp(m.key, "k\\\x01") &&
		   !m.data, "a topic and key with a quote, a backslash and a "
		   "control character round-trip; no data, no data field");
		mem_deref(m.root);
		mem_deref(j2);
		mem_deref(ref);
		mem_deref(o);
	}
	mem_deref(json);
	mem_deref(d);

	ok(bus_msg_decode(&m, "[1,2]", 5) == EBADMSG, "an array is refused");
	ok(bus_msg_decode(&m, "{\"v\":2,\"topic\":\"reg\",\"key\":\"\","
			  "\"type\":\"set\",\"seq\":1,\"epoch\":\"e\"}",
			  72) == EBADMSG, "another schema version is refused");
	ok(bus_msg_decode(&m, "{\"v\":1,\"topic\":\"reg\"}", 22) == EBADMSG,
	   "missing fields are refused");
	ok(bus_msg_decode(&m, "{\"v\":1,", 7) != 0, "broken JSON fails");
}

static void seq(void)
{
	struct bus_seqstate s = { "aaaaaaaaaaaaaaaa", 10 };

	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 11, false) == BUS_SEQ_OK,
	   "the next number applies");
	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 10, false) == BUS_SEQ_DUP,
	   "the same number is a duplicate");
	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 3, false) == BUS_SEQ_DUP,
	   "an older number is a duplicate");
	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 12, false) == BUS_SEQ_GAP,
	   "a skipped number is a gap");
	ok(bus_seq_check(&s, "bbbbbbbbbbbbbbbb", 1, false) ==
	   BUS_SEQ_NEWEPOCH, "another epoch: the publisher restarted");
	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 10, true) == BUS_SEQ_OK,
	   "a heartbeat at our number: in sync");
	ok(bus_seq_check(&s, "aaaaaaaaaaaaaaaa", 11, true) == BUS_SEQ_GAP,
	   "a heartbeat ahead of us: we lost the last update");
}

/* ---- end to end ---- */

struct state {
	char users[8][16];     /* last data "n" per key, "" when deleted */
	unsigned resets;
	unsigned updates;
	unsigned gone;         /* bit per key: a `del` made by a resync */
	bool gone_kept;        /* each carried the key's last value */
	unsigned want;
};

static void reset_h(void *arg)
{
	struct state *s = arg;

	memset(s->users, 0, sizeof(s->users));
	++s->resets;
}

static void update_h(const struct bus_msg *m, void *arg)
{
	struct state *s = arg;
	unsigned k = (unsigned)atoi(m->key);

	++s->updates;
	if (k >= 8)
		return;
	if (!strcmp(m->type, "del")) {
		const struct odict_entry *r;

		r = odict_get_type(m->root, ODICT_BOOL, "resync");
		if (r && r->u.boolean) {
			s->gone |= 1u << k;
			if (!m->data || !odict_string(m->data, "n"))
				s->gone_kept = false;
		}
		s->users[k][0] = '\0';
	}
	else if (m->data && odict_string(m->data, "n"))
		str_ncpy(s->users[k], odict_string(m->data, "n"),
			 sizeof(s->users[k]));
	if (s->want && s->updates >= s->want)
		re_cancel();
}

static struct tmr guard;

static void guard_h(void *arg)
{
	(void)arg;
	re_cancel();
}

static void run_until(unsigned ms)
{
	tmr_start(&guard, ms, guard_h, NULL);
	re_main(NULL);
	tmr_cancel(&guard);
}

static void set(struct bus_pub *pub, const char *key, const char *n)
{
	struct odict *d = NULL;

	odict_alloc(&d, 4);
	odict_entry_add(d, "n", ODICT_STRING, n);
	bus_pub_set(pub, "reg", key, d);
	mem_deref(d);
}

static void clone_pattern(void)
{
	char dir[] = "/tmp/lp-test-bus-XXXXXX";
	char pe[128], se[128];
	struct bus *bus = NULL;
	struct bus_pub *pub = NULL;
	struct bus_sub *sub = NULL;
	struct state s;

	memset(&s, 0, sizeof(s));
	tmr_init(&guard);
	if (!mkdtemp(dir))
		return;
	re_snprintf(pe, sizeof(pe), "ipc://%s/pub.ipc", dir);
	re_snprintf(se, sizeof(se), "ipc://%s/snap.ipc", dir);

	ok(!bus_alloc(&bus), "bus");
	ok(!bus_pub_alloc(&pub, bus, pe, se, 200), "publisher");
	set(pub, "1", "one");
	set(pub, "2", "two");
	set(pub, "3", "three");
	bus_pub_del(pub, "reg", "3", NULL);
	set(pub, "1", "uno");
	ok(bus_pub_seq(pub, "reg") == 5, "five changes: seq 5");

	/* a late joiner: everything before it comes from the snapshot */
	ok(!bus_sub_alloc(&sub, bus, pe, se, "reg", reset_h, update_h, &s),
	   "subscriber");
	s.want = 2;
	run_until(3000);
	ok(bus_sub_synced(sub), "synced from the snapshot");
	ok(s.resets == 1 && !strcmp(s.users[1], "uno") &&
	   !strcmp(s.users[2], "two") && !s.users[3][0],
	   "snapshot holds the latest value of each live key, not the "
	   "deleted one");

	/* live updates: give the SUB time to join, then publish */
	run_until(300);
	s.updates = 0;
	s.want = 2;
	set(pub, "4", "four");
	bus_pub_del(pub, "reg", "2", NULL);
	run_until(3000);
	ok(!strcmp(s.users[4], "four") && !s.users[2][0],
	   "live set and delete arrive in order");
	ok(s.resets == 1, "no resync while nothing was lost");

	/* publisher restart: new epoch, seq from 1, state rebuilt */
	pub = mem_deref(pub);
	ok(!bus_pub_alloc(&pub, bus, pe, se, 200), "publisher restarted");
	set(pub, "5", "five");
	s.want = 0;
	s.gone = 0;
	s.gone_kept = true;
	run_until(2500);
	ok(s.resets >= 2 && !strcmp(s.users[5], "five") && !s.users[1][0],
	   "the subscriber resynced to the new publisher's state "
	   "(resets %u)", s.resets);
	ok(bus_sub_synced(sub), "and is in sync again");
	ok(s.gone == ((1u << 1) | (1u << 4)) && s.gone_kept,
	   "keys the new snapshot lacks are reported deleted, with their "
	   "last value and \"resync\" (mask %#x)", s.gone);

	/* the publisher gone for good (a node no longer running) */
	s.gone = 0;
	s.updates = 0;
	bus_sub_forget(sub);
	ok(s.gone == (1u << 5) && s.updates == 1 && !s.users[5][0] &&
	   s.gone_kept, "forget: each key it knew, once, as a del with its "
	   "last value (mask %#x)", s.gone);
	s.updates = 0;
	bus_sub_forget(sub);
	ok(s.updates == 0, "forget again: nothing left to report");

	mem_deref(sub);
	mem_deref(pub);
	mem_deref(bus);
	re_snprintf(pe, sizeof(pe), "rm -rf %s", dir);
	if (system(pe)) {}
}

/* Held updates: a publisher with batching sends nothing before its time,
 * then everything in order; a heartbeat sends what is held before it
 * (else its seq would be a gap and a resync); BATCH_MAX (512) held
 * updates leave at once; turning batching off sends the rest. */
static void batching(void)
{
	char dir[] = "/tmp/lp-test-bus-XXXXXX";
	char pe[128], se[128], v[16];
	struct bus *bus = NULL;
	struct bus_pub *pub = NULL;
	struct bus_sub *sub = NULL;
	struct state s;

	memset(&s, 0, sizeof(s));
	tmr_init(&guard);
	if (!mkdtemp(dir))
		return;
	ok(!bus_alloc(&bus), "bus for batching");

	/* 1: a 50 ms batch, heartbeats every 200 ms */
	re_snprintf(pe, sizeof(pe), "ipc://%s/pub1.ipc", dir);
	re_snprintf(se, sizeof(se), "ipc://%s/snap1.ipc", dir);
	ok(!bus_pub_alloc(&pub, bus, pe, se, 200), "batching publisher");
	bus_pub_batch(pub, 50);
	ok(!bus_sub_alloc(&sub, bus, pe, se, "reg", reset_h, update_h, &s),
	   "its subscriber");
	run_until(500);
	ok(bus_sub_synced(sub) && s.resets == 1, "synced (empty snapshot)");
	s.updates = 0;
	for (unsigned i = 0; i < 100; i++) {
		re_snprintf(v, sizeof(v), "v%u", i);
		set(pub, i % 2 ? "1" : "2", v);
	}
	run_until(10);
	ok(s.updates == 0, "nothing delivered 10 ms into a 50 ms batch "
	   "(%u)", s.updates);
	s.want = 100;
	run_until(3000);
	ok(s.updates == 100 && !strcmp(s.users[1], "v99") &&
	   !strcmp(s.users[2], "v98"), "then all 100, the last values last "
	   "(%u)", s.updates);
	ok(s.resets == 1, "no resync");

	/* 2: a batch longer than the heartbeat */
	bus_pub_batch(pub, 60000);
	s.updates = 0;
	s.want = 3;
	set(pub, "3", "a");
	set(pub, "3", "b");
	set(pub, "4", "c");
	run_until(3000);
	ok(s.updates == 3 && !strcmp(s.users[3], "b") &&
	   !strcmp(s.users[4], "c"), "a heartbeat sends the held updates "
	   "first (%u)", s.updates);
	ok(s.resets == 1, "and its seq is no gap: no resync (resets %u)",
	   s.resets);
	sub = mem_deref(sub);
	pub = mem_deref(pub);

	/* 3: no heartbeat for a minute, a batch of a minute */
	memset(&s, 0, sizeof(s));
	re_snprintf(pe, sizeof(pe), "ipc://%s/pub2.ipc", dir);
	re_snprintf(se, sizeof(se), "ipc://%s/snap2.ipc", dir);
	ok(!bus_pub_alloc(&pub, bus, pe, se, 60000), "second publisher");
	bus_pub_batch(pub, 60000);
	ok(!bus_sub_alloc(&sub, bus, pe, se, "reg", reset_h, update_h, &s),
	   "its subscriber");
	run_until(500);
	ok(bus_sub_synced(sub), "synced");
	for (unsigned i = 0; i < 513; i++) {
		re_snprintf(v, sizeof(v), "w%u", i);
		set(pub, "5", v);
	}
	s.want = 512;
	run_until(3000);
	run_until(200);
	ok(s.updates == 512 && !strcmp(s.users[5], "w511"),
	   "512 held updates leave at once, the 513th waits (%u)",
	   s.updates);
	bus_pub_batch(pub, 0);
	s.want = 513;
	run_until(3000);
	ok(s.updates == 513 && !strcmp(s.users[5], "w512") && s.resets == 1,
	   "batching off sends it (%u, resets %u)", s.updates, s.resets);

	mem_deref(sub);
	mem_deref(pub);
	mem_deref(bus);
	re_snprintf(pe, sizeof(pe), "rm -rf %s", dir);
	if (system(pe)) {}
}

/* A TCP port free now on 127.0.0.1 (the kernel's pick). */
static unsigned free_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	unsigned port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

struct gate {
	char allowed[BUS_KEY_LEN + 1];
	char refused[BUS_KEY_LEN + 1];
	char addr[64];
	unsigned asked;
};

static bool auth_h(const char *key, const char *addr, void *arg)
{
	struct gate *g = arg;

	++g->asked;
	if (!strcmp(key, g->allowed))
		return true;
	str_ncpy(g->refused, key, sizeof(g->refused));
	str_ncpy(g->addr, addr, sizeof(g->addr));
	return false;
}

static void curve(void)
{
	char dir[] = "/tmp/lp-test-bus-XXXXXX";
	char pe[128], se[128], tp[64], ts[64];
	struct bus_keys ka, kb, kc;
	struct bus *a = NULL, *b = NULL, *c = NULL, *d = NULL, *e = NULL;
	struct bus_pub *pub = NULL;
	struct bus_sub *sb = NULL, *sc = NULL, *sd = NULL, *se_ = NULL;
	struct state s1, s2, s3;
	struct gate g;
	unsigned port = free_port(), port2 = free_port();
	char pubk[BUS_KEY_LEN + 1];

	memset(&s1, 0, sizeof(s1));
	memset(&s2, 0, sizeof(s2));
	memset(&s3, 0, sizeof(s3));
	memset(&g, 0, sizeof(g));
	tmr_init(&guard);
	if (!mkdtemp(dir) || !port || !port2)
		return;
	re_snprintf(pe, sizeof(pe), "ipc://%s/pub.ipc", dir);
	re_snprintf(se, sizeof(se), "ipc://%s/snap.ipc", dir);
	re_snprintf(tp, sizeof(tp), "tcp://127.0.0.1:%u", port);
	re_snprintf(ts, sizeof(ts), "tcp://127.0.0.1:%u", port2);

	ok(!bus_keys_make(&ka) && !bus_keys_make(&kb) && !bus_keys_make(&kc) &&
	   strlen(ka.pub) == BUS_KEY_LEN && strcmp(ka.pub, kb.pub),
	   "CURVE key pairs are made (Z85, 40 characters)");
	ok(!bus_keys_public(pubk, ka.sec) && !strcmp(pubk, ka.pub),
	   "the public half follows from the secret one");
	str_ncpy(g.allowed, kb.pub, sizeof(g.allowed));

	ok(!bus_alloc(&a) && !bus_alloc(&b) && !bus_alloc(&c) &&
	   !bus_alloc(&d) && !bus_alloc(&e), "five buses (five nodes)");
	{
		struct bus_keys bad = ka;

		bad.pub[0] = bad.pub[0] == 'a' ? 'b' : 'a';
		ok(bus_secure(a, &bad, auth_h, &g) == EINVAL,
		   "a key pair whose halves do not match is refused");
	}
	ok(!bus_secure(a, &ka, auth_h, &g) && !bus_secure(b, &kb, NULL, NULL)
	   && !bus_secure(c, &kc, NULL, NULL) &&
	   !bus_secure(d, &kb, NULL, NULL), "secured");
	ok(!bus_pub_alloc(&pub, a, pe, se, 200) &&
	   !bus_pub_listen(pub, tp, ts), "a publisher on ipc:// and, for "
	   "the other nodes, on tcp://");
	set(pub, "1", "one");

	ok(bus_sub_alloc(&sb, b, tp, ts, "reg", reset_h, update_h, &s1) ==
	   EINVAL, "a secured bus does not subscribe to tcp:// without the "
	   "publisher's key");
	ok(!bus_sub_alloc_node(&sb, b, tp, ts, ka.pub, "reg", reset_h,
			       update_h, &s1), "node b subscribes");
	ok(!bus_sub_alloc_node(&sc, c, tp, ts, ka.pub, "reg", reset_h,
			       update_h, &s2), "node c (a key a refuses) "
	   "subscribes");
	ok(!bus_sub_alloc_node(&sd, d, tp, ts, kc.pub, "reg", reset_h,
			       update_h, &s3), "node d (b's key, but a wrong "
	   "key for a) subscribes");
	ok(!bus_sub_alloc(&se_, e, tp, ts, "reg", reset_h, update_h, &s3),
	   "a bus without keys subscribes in plain text");
	s1.want = 1;
	run_until(3000);
	ok(bus_sub_synced(sb) && !strcmp(s1.users[1], "one"),
	   "node b, whose key a accepts, syncs over CURVE");
	run_until(300);
	s1.updates = 0;
	s1.want = 1;
	set(pub, "2", "two");
	run_until(3000);
	ok(!strcmp(s1.users[2], "two"), "and gets live updates");
	run_until(500);
	ok(!strcmp(g.refused, kc.pub) && !strcmp(g.addr, "127.0.0.1"),
	   "a asked about c's key and its address, and refused it");
	ok(!bus_sub_synced(sc) && !s2.updates && !bus_sub_synced(sd) &&
	   !bus_sub_synced(se_) && !s3.updates,
	   "c, d and the plain-text bus got nothing");

	mem_deref(sb);
	mem_deref(sc);
	mem_deref(sd);
	mem_deref(se_);
	mem_deref(pub);
	mem_deref(a);
	mem_deref(b);
	mem_deref(c);
	mem_deref(d);
	mem_deref(e);
	re_snprintf(pe, sizeof(pe), "rm -rf %s", dir);
	if (system(pe)) {}
}

int main(void)
{
	libre_init();
	codec();
	seq();
	clone_pattern();
	batching();
	curve();
	libre_close();
	return tap_done();
}
