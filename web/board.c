/* board: the live board, one tile per user with the lamp a desk phone
 * would show (idle, ringing, busy on the phone, do-not-disturb, offline),
 * the presence note and the registered devices. The page is static; its
 * script fetches board.json twice a second. board.json is a snapshot of
 * the bus (the `reg` and `dialog` topics of the edge and the `pres` topic
 * of the presence daemon, all "clone" snapshots, docs/bus.md) joined with
 * the users of the admin database. The lamp as the BLF gateway lights it:
 * a call ringing for the user: ringing; a call answered, or one the user
 * is making: busy; no call and a busy activity (blf_busy_activities):
 * do not disturb; no registered device: offline. A daemon that does not answer within
 * SNAP_WAIT_MS leaves its part out and says so ("synced").
 *
 * On a node of a cluster, `reg` and `dialog` are this node's edge's, and
 * `pres` is what this node's presence daemon composed from every node:
 * a user whose devices are on other nodes is not offline ("elsewhere":
 * how many answer there), and a call through another node lights the
 * tile as presence says (on the phone: busy; ringing). */
#include <string.h>
#include <time.h>
#include <re.h>
#include "bus/bus.h"
#include "store/store_users.h"
#include "cgi.h"

#define SNAP_WAIT_MS 1500

struct snap {
	struct odict *reg, *pres, *calls;
	struct bus_sub *rs, *ps, *ds;
	struct tmr tmr;
	uint64_t deadline;
};

static void keep(struct odict *into, const struct bus_msg *m)
{
	odict_entry_del(into, m->key);
	if (!strcmp(m->type, "set") && m->data)
		(void)odict_entry_add(into, m->key, ODICT_OBJECT,
				      (struct odict *)m->data);
}

static void reg_h(const struct bus_msg *m, void *arg)
{
	struct snap *s = arg;

	keep(s->reg, m);
}

static void pres_h(const struct bus_msg *m, void *arg)
{
	struct snap *s = arg;

	keep(s->pres, m);
}

static void dialog_h(const struct bus_msg *m, void *arg)
{
	struct snap *s = arg;

	keep(s->calls, m);
}

static void poll_h(void *arg)
{
	struct snap *s = arg;

	if ((bus_sub_synced(s->rs) && bus_sub_synced(s->ps) &&
	     bus_sub_synced(s->ds)) ||
	    tmr_jiffies() >= s->deadline) {
		re_cancel();
		return;
	}
	tmr_start(&s->tmr, 5, poll_h, s);
}

/* Is one of the user's RPID activities in the configured busy list? */
static bool busy_activity(const struct req *r, const struct odict *p)
{
	const struct odict_entry *a = odict_get_type(p, ODICT_ARRAY,
						     "activities");
	const char *list = r->conf->blf_busy_activities;

	for (struct le *le = a ? a->u.odict->lst.head : NULL; le;
	     le = le->next) {
		const struct odict_entry *e = le->data;
		size_t n;

		if (e->type != ODICT_STRING || !list)
			continue;
		n = strlen(e->u.str);
		for (const char *q = strstr(list, e->u.str); q;
		     q = strstr(q + 1, e->u.str))
			if ((q == list || q[-1] == ',' || q[-1] == ' ') &&
			    (q[n] == '\0' || q[n] == ',' || q[n] == ' '))
				return true;
	}
	return false;
}

/* "ringing", "busy" or NULL: the user's calls. */
static const char *call_lamp(const struct snap *s, const char *user)
{
	const char *lamp = NULL;

	for (struct le *le = s->calls->lst.head; le; le = le->next) {
		const struct odict_entry *e = le->data;
		const char *u, *st, *dir;

		if (e->type != ODICT_OBJECT)
			continue;
		u = odict_string(e->u.odict, "user");
		st = odict_string(e->u.odict, "state");
		dir = odict_string(e->u.odict, "direction");
		if (!u || !st || !dir || strcmp(u, user) ||
		    !strcmp(st, "terminated"))
			continue;
		if (!strcmp(dir, "recipient") && strcmp(st, "confirmed")) {
			if (!strcmp(st, "early"))
				return "ringing";
			continue;          /* trying: no phone rings yet */
		}
		lamp = "busy";
	}
	return lamp;
}

struct out {
	struct req *r;
	struct snap *s;
	bool first;
};

static int tile_h(const struct user_rec *u, void *arg)
{
	struct out *o = arg;
	struct mbuf *mb = o->r->body;
	const struct odict_entry *re = odict_lookup(o->s->reg, u->username);
	const struct odict_entry *pe = odict_lookup(o->s->pres, u->username);
	const struct odict *p = pe ? pe->u.odict : NULL;
	const struct odict_entry *contacts = re ? odict_get_type(re->u.odict,
		ODICT_ARRAY, "contacts") : NULL;
	const char *call = call_lamp(o->s, u->username);
	const char *lamp = "idle";
	const char *pcall = p ? odict_string(p, "call") : NULL;
	uint64_t all = 0, here = 0, elsewhere;
	const struct odict_entry *acts = p ? odict_get_type(p, ODICT_ARRAY,
							    "activities") : NULL;
	bool first = true;
	int err;

	for (struct le *le = contacts ? contacts->u.odict->lst.head : NULL;
	     le; le = le->next) {
		const struct odict_entry *c = le->data;
		bool reach = true;

		if (c->type == ODICT_OBJECT)
			(void)odict_get_boolean(c->u.odict, &reach,
						"reachable");
		here += c->type == ODICT_OBJECT && reach;
	}
	if (p)
		(void)odict_get_number(p, &all, "devices");
	elsewhere = all > here ? all - here : 0;
	if ((!contacts || !odict_count(contacts->u.odict, false)) &&
	    !elsewhere)
		lamp = "offline";
	else if (call)
		lamp = call;
	else if (pcall && !strcmp(pcall, "on-the-phone"))
		lamp = "busy";             /* a call through another node */
	else if (pcall && !strcmp(pcall, "ringing"))
		lamp = "ringing";
	else if (p && busy_activity(o->r, p))
		lamp = "dnd";

	err = mbuf_printf(mb, "%s{\"user\":\"%H\",\"name\":\"%H\","
			  "\"lamp\":\"%s\",\"note\":\"%H\",\"basic\":\"%H\","
			  "\"activities\":[", o->first ? "" : ",", json_esc,
			  u->username, json_esc, u->name, lamp, json_esc,
			  p ? odict_string(p, "note") : "", json_esc,
			  p ? odict_string(p, "basic") : "");
	o->first = false;
	for (struct le *le = acts ? acts->u.odict->lst.head : NULL; le;
	     le = le->next) {
		const struct odict_entry *e = le->data;

		if (e->type != ODICT_STRING)
			continue;
		err |= mbuf_printf(mb, "%s\"%H\"", first ? "" : ",", json_esc,
				   e->u.str);
		first = false;
	}
	err |= mbuf_printf(mb, "],\"devices\":[");
	first = true;
	for (struct le *le = contacts ? contacts->u.odict->lst.head : NULL;
	     le; le = le->next) {
		const struct odict_entry *c = le->data;
		bool reach = true;

		if (c->type != ODICT_OBJECT)
			continue;
		(void)odict_get_boolean(c->u.odict, &reach, "reachable");
		err |= mbuf_printf(mb, "%s{\"user_agent\":\"%H\",\"received\":"
				   "\"%H\",\"reachable\":%s}", first ? "" : ",",
				   json_esc,
				   odict_string(c->u.odict, "user_agent"),
				   json_esc,
				   odict_string(c->u.odict, "received"),
				   reach ? "true" : "false");
		first = false;
	}
	return err | mbuf_printf(mb, "],\"elsewhere\":%llu}",
				 (unsigned long long)elsewhere);
}

int board_json(struct req *r)
{
	struct bus *bus = NULL;
	struct snap s;
	struct out o = { r, &s, true };
	int err;

	memset(&s, 0, sizeof(s));
	tmr_init(&s.tmr);
	err = odict_alloc(&s.reg, 64);
	err = err ? err : odict_alloc(&s.pres, 64);
	err = err ? err : odict_alloc(&s.calls, 64);
	err = err ? err : bus_alloc(&bus);
	err = err ? err : bus_sub_alloc(&s.rs, bus, r->conf->bus_registrar_pub,
					r->conf->bus_registrar_snapshot, "reg",
					NULL, reg_h, &s);
	err = err ? err : bus_sub_alloc(&s.ps, bus, r->conf->bus_presence_pub,
					r->conf->bus_presence_snapshot, "pres",
					NULL, pres_h, &s);
	err = err ? err : bus_sub_alloc(&s.ds, bus,
					r->conf->bus_registrar_pub,
					r->conf->bus_registrar_snapshot,
					"dialog", NULL, dialog_h, &s);
	if (err) {
		cgi_log(r, "board: bus: %m", err);
		goto out;
	}
	s.deadline = tmr_jiffies() + SNAP_WAIT_MS;
	tmr_start(&s.tmr, 1, poll_h, &s);
	(void)re_main(NULL);
	tmr_cancel(&s.tmr);

	err = mbuf_printf(r->body, "{\"time\":%llu,\"synced\":{\"reg\":%s,"
			  "\"dialog\":%s,\"pres\":%s},\"users\":[",
			  (unsigned long long)time(NULL),
			  bus_sub_synced(s.rs) ? "true" : "false",
			  bus_sub_synced(s.ds) ? "true" : "false",
			  bus_sub_synced(s.ps) ? "true" : "false");
	err |= users_foreach(r->admin, tile_h, &o);
	err |= mbuf_printf(r->body, "]}\n");
 out:
	mem_deref(s.rs);
	mem_deref(s.ps);
	mem_deref(s.ds);
	mem_deref(bus);
	mem_deref(s.calls);
	mem_deref(s.reg);
	mem_deref(s.pres);
	if (err)
		return cgi_fail(r, 503, "The board cannot be read now.");
	return cgi_send(r, 200, "application/json");
}

int page_board(struct req *r)
{
	(void)page_begin(r, "Board");
	(void)mbuf_printf(r->body,
		"<ul class=\"legend\"><li><span class=\"lamp idle\"></span>idle"
		"</li><li><span class=\"lamp ringing\"></span>ringing</li>"
		"<li><span class=\"lamp busy\"></span>on the phone</li>"
		"<li><span class=\"lamp dnd\"></span>do not disturb</li>"
		"<li><span class=\"lamp offline\"></span>offline</li></ul>"
		"<p id=\"board-status\" role=\"status\"></p>"
		"<div id=\"board\" data-src=\"%s/board.json\"></div>"
		"<script src=\"/lamplight-static/board.js\"></script>",
		r->script);
	(void)page_end(r);
	return cgi_send(r, 200, "text/html; charset=utf-8");
}
