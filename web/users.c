/* users: the Users page (list, add) and one user's page (name, password
 * reset, who may watch the user's presence, delete). */
#include <string.h>
#include <re.h>
#include "store/store_users.h"
#include "store/store_rules.h"
#include "store/store_devices.h"
#include "cgi.h"

static int count_h(const struct device_rec *d, void *arg)
{
	struct { const char *owner; unsigned n; } *c = arg;

	if (!strcmp(d->owner, c->owner))
		c->n++;
	return 0;
}

static int row_h(const struct user_rec *u, void *arg)
{
	struct req *r = arg;
	struct { const char *owner; unsigned n; } c = { u->username, 0 };

	(void)devices_foreach(r->admin, count_h, &c);
	return mbuf_printf(r->body, "<tr><td><a href=\"%s/user?u=%H\">%H</a>"
			   "</td><td>%H</td><td>%u</td></tr>", r->script,
			   xml_escape, u->username, xml_escape, u->username,
			   xml_escape, u->name, c.n);
}

static void add_user(struct req *r)
{
	const char *user = cgi_field(r, "username");
	const char *name = cgi_field(r, "name");
	const char *pw = cgi_field(r, "password");
	char gen[32];
	int err;

	if (!users_name_valid(user))
		cgi_error(r, "username", "1 to 64 of a-z A-Z 0-9 . _ - +");
	if (users_fullname_check(name))
		cgi_error(r, "name", "%s", users_fullname_check(name));
	if (*pw && strlen(pw) < 8)
		cgi_error(r, "password", "at least 8 characters (or empty "
			  "for a generated one)");
	if (r->nerrors)
		return;
	if (!*pw) {
		(void)users_gen_password(gen, sizeof(gen));
		pw = gen;
	}
	err = users_add(r->admin, user, name, r->conf->domain, pw);
	if (err == EEXIST || err == EINVAL) {
		cgi_error(r, "username", "a user '%s' exists", user);
		return;
	}
	if (err) {
		cgi_error(r, "username", "could not be stored: %m", err);
		return;
	}
	cgi_log(r, "admin '%s' added user '%s'", r->ws.admin, user);
	if (pw == gen)
		(void)re_snprintf(r->notice, sizeof(r->notice), "User %s "
				  "added. Password (shown once): %s", user,
				  gen);
	else
		(void)re_snprintf(r->notice, sizeof(r->notice), "User %s "
				  "added.", user);
}

int page_users(struct req *r)
{
	bool post = !strcmp(r->method, "POST");

	if (post)
		add_user(r);
	(void)page_begin(r, "Users");
	(void)mbuf_printf(r->body, "<table id=\"users\"><thead><tr><th>User"
			  "</th><th>Name</th><th>Devices</th></tr></thead>"
			  "<tbody>");
	(void)users_foreach(r->admin, row_h, r);
	(void)mbuf_printf(r->body, "</tbody></table><h2>Add a user</h2>"
			  "<form method=\"post\" action=\"%s/users\" "
			  "id=\"add-user\">", r->script);
	(void)page_csrf(r);
	(void)page_input(r, "User name", "username", "text",
			 r->nerrors ? cgi_field(r, "username") : "",
			 " required maxlength=\"64\"");
	(void)page_input(r, "Full name", "name", "text",
			 r->nerrors ? cgi_field(r, "name") : "", NULL);
	(void)page_input(r, "SIP password (empty: generated)", "password",
			 "password", "", " autocomplete=\"new-password\"");
	(void)mbuf_printf(r->body, "<button>Add</button></form>");
	(void)page_end(r);
	return cgi_send(r, post && r->nerrors ? 422 : 200,
			"text/html; charset=utf-8");
}

static int rule_h(const char *owner, const char *watcher,
		  enum rule_action a, void *arg)
{
	struct req *r = arg;

	(void)mbuf_printf(r->body, "<tr><td>%H</td><td>%s</td><td><form "
			  "method=\"post\" action=\"%s/user?u=%H\">",
			  xml_escape, watcher, rule_action_name(a), r->script,
			  xml_escape, owner);
	(void)page_csrf(r);
	return mbuf_printf(r->body, "<input type=\"hidden\" name=\"action\" "
			   "value=\"unrule\"><input type=\"hidden\" "
			   "name=\"watcher\" value=\"%H\"><button>Remove"
			   "</button></form></td></tr>", xml_escape, watcher);
}

static bool act(struct req *r, const char *user)
{
	const char *action = cgi_field(r, "action");
	char gen[32];
	int err = 0;

	if (!strcmp(action, "name")) {
		const char *name = cgi_field(r, "name");

		if (users_fullname_check(name)) {
			cgi_error(r, "name", "%s", users_fullname_check(name));
			return false;
		}
		err = users_set_name(r->admin, user, name);
		(void)re_snprintf(r->notice, sizeof(r->notice), "Name saved.");
	}
	else if (!strcmp(action, "passwd")) {
		const char *pw = cgi_field(r, "password");

		if (*pw && strlen(pw) < 8) {
			cgi_error(r, "password", "at least 8 characters (or "
				  "empty for a generated one)");
			return false;
		}
		if (!*pw) {
			(void)users_gen_password(gen, sizeof(gen));
			pw = gen;
		}
		err = users_set_password(r->admin, user, r->conf->domain, pw);
		(void)re_snprintf(r->notice, sizeof(r->notice), pw == gen ?
				  "New password (shown once): %s" :
				  "Password changed.%s", pw == gen ? gen : "");
		cgi_log(r, "admin '%s' reset the password of '%s'",
			r->ws.admin, user);
	}
	else if (!strcmp(action, "rule")) {
		const char *w = cgi_field(r, "watcher");
		enum rule_action a;

		if (strcmp(w, "*") && !users_name_valid(w)) {
			cgi_error(r, "watcher", "a user name, or * for anyone");
			return false;
		}
		if (rule_action_parse(&a, cgi_field(r, "rule"))) {
			cgi_error(r, "rule", "allow, block, polite-block or "
				  "confirm");
			return false;
		}
		err = rules_set(r->admin, user, w, a);
		(void)re_snprintf(r->notice, sizeof(r->notice), "Rule saved.");
	}
	else if (!strcmp(action, "unrule")) {
		err = rules_del(r->admin, user, cgi_field(r, "watcher"));
		(void)re_snprintf(r->notice, sizeof(r->notice),
				  "Rule removed.");
	}
	else {
		cgi_error(r, "action", "unknown action");
		return false;
	}
	if (err)
		(void)re_snprintf(r->notice, sizeof(r->notice), "Not saved: "
				  "%m", err);
	return !err;
}

int page_user(struct req *r)
{
	const char *user = cgi_param(r, "u");
	struct user_rec *u = NULL;
	struct pl pl;
	bool post = !strcmp(r->method, "POST");

	pl_set_str(&pl, user);
	if (!users_name_valid(user) || users_get(r->admin, &pl, &u))
		return cgi_fail(r, 404, "No such user.");
	if (post && !strcmp(cgi_field(r, "action"), "del")) {
		mem_deref(u);
		if (users_del(r->admin, user))
			return cgi_fail(r, 500, "The user could not be deleted.");
		cgi_log(r, "admin '%s' deleted user '%s'", r->ws.admin, user);
		return cgi_redirect(r, "/users");
	}
	if (post)
		(void)act(r, user);
	if (post && !r->nerrors) {    /* the name may have changed */
		mem_deref(u);
		u = NULL;
		if (users_get(r->admin, &pl, &u))
			return cgi_fail(r, 404, "No such user.");
	}
	(void)page_begin(r, u->username);

	(void)mbuf_printf(r->body, "<h2>Name</h2><form method=\"post\" "
			  "action=\"%s/user?u=%H\"><input type=\"hidden\" "
			  "name=\"action\" value=\"name\">", r->script,
			  xml_escape, user);
	(void)page_csrf(r);
	(void)page_input(r, "Full name", "name", "text", u->name, NULL);
	(void)mbuf_printf(r->body, "<button>Save</button></form>"
			  "<h2>Reset the SIP password</h2><form method=\"post\""
			  " action=\"%s/user?u=%H\"><input type=\"hidden\" "
			  "name=\"action\" value=\"passwd\">", r->script,
			  xml_escape, user);
	(void)page_csrf(r);
	(void)page_input(r, "New password (empty: generated)", "password",
			 "password", "", " autocomplete=\"new-password\"");
	(void)mbuf_printf(r->body, "<button>Reset</button></form>"
			  "<h2>Who may watch %H</h2><table id=\"rules\"><thead>"
			  "<tr><th>Watcher</th><th>Rule</th><th></th></tr>"
			  "</thead><tbody>", xml_escape, user);
	(void)rules_foreach(r->admin, user, rule_h, r);
	(void)mbuf_printf(r->body, "</tbody></table><form method=\"post\" "
			  "action=\"%s/user?u=%H\" id=\"add-rule\"><input "
			  "type=\"hidden\" name=\"action\" value=\"rule\">",
			  r->script, xml_escape, user);
	(void)page_csrf(r);
	(void)page_input(r, "Watcher (* for anyone)", "watcher", "text",
			 r->nerrors ? cgi_field(r, "watcher") : "", NULL);
	(void)mbuf_printf(r->body, "<label>Rule <select name=\"rule\">"
			  "<option>allow</option><option>confirm</option>"
			  "<option>polite-block</option><option>block</option>"
			  "</select></label><button>Save rule</button></form>"
			  "<h2>Delete</h2><form method=\"post\" action=\"%s/"
			  "user?u=%H\"><input type=\"hidden\" name=\"action\" "
			  "value=\"del\">", r->script, xml_escape, user);
	(void)page_csrf(r);
	(void)mbuf_printf(r->body, "<button class=\"danger\">Delete %H and "
			  "the devices it owns</button></form>", xml_escape,
			  user);
	(void)page_end(r);
	mem_deref(u);
	return cgi_send(r, post && r->nerrors ? 422 : 200,
			"text/html; charset=utf-8");
}
