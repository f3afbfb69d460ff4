/* watchers: who watches whom. Pending requests (presence subscriptions
 * the presence daemon holds until someone decides, under a `confirm`
 * rule or default) with Approve and Refuse, which write an allow or block
 * rule that the presence daemon applies within a second; the active
 * subscriptions to presence and to busy lamps; every rule, with a form to
 * add one. */
#include <string.h>
#include <time.h>
#include <re.h>
#include "store/store_users.h"
#include "store/store_rules.h"
#include "store/store_subs.h"
#include "store/store_pubs.h"
#include "cgi.h"

static int pending_h(const struct subs_rec *s, void *arg)
{
	struct req *r = arg;

	if (s->state != NSUB_PENDING || strcmp(s->event, "presence") ||
	    s->expires < (uint64_t)time(NULL))
		return 0;
	/* decided since: the presence daemon applies it within a second */
	if (rules_decide(r->admin, r->conf->presence_default_policy,
			 s->presentity, s->watcher) != RULE_CONFIRM)
		return 0;
	(void)mbuf_printf(r->body, "<tr><td>%H</td><td>%H</td><td><form "
			  "method=\"post\" action=\"%s/watchers\" class=\""
			  "inline\"><input type=\"hidden\" name=\"owner\" "
			  "value=\"%H\"><input type=\"hidden\" name=\"watcher\""
			  " value=\"%H\">", xml_escape, s->watcher, xml_escape,
			  s->presentity, r->script, xml_escape, s->presentity,
			  xml_escape, s->watcher);
	(void)page_csrf(r);
	return mbuf_printf(r->body, "<button name=\"rule\" value=\"allow\">"
			   "Approve</button> <button name=\"rule\" value=\""
			   "block\" class=\"danger\">Refuse</button></form>"
			   "</td></tr>");
}

/* Who watches whom now: active subscriptions to presence (presence.db)
 * and to busy lamps (blf.db). */
static int active_h(const struct subs_rec *s, void *arg)
{
	struct req *r = arg;

	if (s->state != NSUB_ACTIVE || s->expires < (uint64_t)time(NULL))
		return 0;
	return mbuf_printf(r->body, "<tr><td>%H</td><td>%H</td><td>%s</td>"
			   "</tr>", xml_escape, s->watcher, xml_escape,
			   s->presentity, !strcmp(s->event, "dialog") ?
			   "busy lamp" : s->event);
}

static void list_subs(struct req *r, const char *db, subs_h *h)
{
	struct store_opts o = { .readonly = true };
	struct store *st = NULL;
	char *path = NULL;
	int err;

	err = conf_db(r->conf, db, &path);
	if (err)
		return;
	err = !strcmp(db, "blf") ? subs_open(&st, path, &o)
				 : pres_open(&st, path, &o);
	if (!err)
		(void)subs_foreach(st, h, r);
	mem_deref(st);
	mem_deref(path);
}

static int rule_h(const char *owner, const char *watcher,
		  enum rule_action a, void *arg)
{
	struct req *r = arg;

	(void)mbuf_printf(r->body, "<tr><td>%H</td><td>%H</td><td>%s</td><td>"
			  "<form method=\"post\" action=\"%s/watchers\" "
			  "class=\"inline\"><input type=\"hidden\" name=\""
			  "owner\" value=\"%H\"><input type=\"hidden\" name=\""
			  "watcher\" value=\"%H\"><input type=\"hidden\" name="
			  "\"rule\" value=\"delete\">", xml_escape, owner,
			  xml_escape, watcher, rule_action_name(a), r->script,
			  xml_escape, owner, xml_escape, watcher);
	(void)page_csrf(r);
	return mbuf_printf(r->body, "<button>Remove</button></form></td>"
			   "</tr>");
}

static void act(struct req *r)
{
	const char *owner = cgi_field(r, "owner");
	const char *watcher = cgi_field(r, "watcher");
	const char *rule = cgi_field(r, "rule");
	enum rule_action a;
	int err;

	if (!users_exists(r->admin, owner))
		cgi_error(r, "owner", "no user '%s'", owner);
	if (strcmp(watcher, "*") && !users_name_valid(watcher))
		cgi_error(r, "watcher", "a user name, or * for anyone");
	if (strcmp(rule, "delete") && rule_action_parse(&a, rule))
		cgi_error(r, "rule", "allow, block, polite-block or confirm");
	if (r->nerrors)
		return;
	if (!strcmp(rule, "delete"))
		err = rules_del(r->admin, owner, watcher);
	else
		err = rules_set(r->admin, owner, watcher, a);
	if (err)
		(void)re_snprintf(r->notice, sizeof(r->notice), "Not saved: "
				  "%m", err);
	else
		(void)re_snprintf(r->notice, sizeof(r->notice), "%s: %s %s "
				  "%s.", !strcmp(rule, "allow") ? "Approved" :
				  !strcmp(rule, "block") ? "Refused" : "Saved",
				  watcher, !strcmp(rule, "delete") ?
				  "no longer has a rule for" : "→", owner);
	cgi_log(r, "admin '%s': watcher rule %s %s %s", r->ws.admin, owner,
		watcher, rule);
}

int page_watchers(struct req *r)
{
	bool post = !strcmp(r->method, "POST");

	if (post)
		act(r);
	(void)page_begin(r, "Watchers");
	(void)mbuf_printf(r->body, "<h2>Waiting for a decision</h2><table "
			  "id=\"pending\"><thead><tr><th>Watcher</th><th>Wants "
			  "to watch</th><th></th></tr></thead><tbody>");
	list_subs(r, "presence", pending_h);
	(void)mbuf_printf(r->body, "</tbody></table><h2>Watching now</h2>"
			  "<table id=\"active\"><thead><tr><th>Watcher</th>"
			  "<th>Watches</th><th>What</th></tr></thead><tbody>");
	list_subs(r, "presence", active_h);
	list_subs(r, "blf", active_h);
	(void)mbuf_printf(r->body, "</tbody></table><h2>Rules</h2><table id="
			  "\"rules\"><thead><tr><th>Owner</th><th>Watcher</th>"
			  "<th>Rule</th><th></th></tr></thead><tbody>");
	(void)rules_foreach(r->admin, NULL, rule_h, r);
	(void)mbuf_printf(r->body, "</tbody></table><h2>Add a rule</h2><form "
			  "method=\"post\" action=\"%s/watchers\" id=\"add-"
			  "rule\">", r->script);
	(void)page_csrf(r);
	(void)page_input(r, "Owner", "owner", "text",
			 r->nerrors ? cgi_field(r, "owner") : "", " required");
	(void)page_input(r, "Watcher (* for anyone)", "watcher", "text",
			 r->nerrors ? cgi_field(r, "watcher") : "",
			 " required");
	(void)mbuf_printf(r->body, "<label>Rule <select name=\"rule\">"
			  "<option>allow</option><option>confirm</option>"
			  "<option>polite-block</option><option>block</option>"
			  "</select></label><button>Save rule</button></form>");
	(void)page_end(r);
	return cgi_send(r, post && r->nerrors ? 422 : 200,
			"text/html; charset=utf-8");
}
