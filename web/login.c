/* login: the login form and logout. A login needs the form's token,
 * which must match the lp_login cookie set with the form (there is no
 * session yet to hold one). Failed logins are counted per account and
 * per address (store_admin.h): after LOGIN_FREE_TRIES, each further try
 * waits twice as long, and a try inside the wait is refused with 429 and
 * Retry-After before the password is even looked at. Each failure is
 * logged with the address, for fail2ban. */
#include <string.h>
#include <time.h>
#include <re.h>
#include "cgi.h"

static int login_form(struct req *r, int status, const char *msg,
		      const char *name)
{
	char token[ADMIN_TOKEN_HEX];

	random_hex(token, 32);
	(void)cgi_header(r, "Set-Cookie: lp_login=%s; Path=%s; HttpOnly; "
			 "SameSite=Strict%s", token, r->script,
			 r->https ? "; Secure" : "");
	mbuf_reset(r->body);
	(void)mbuf_printf(r->body,
		"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width\">"
		"<title>Log in · Lamplight</title>"
		"<link rel=\"stylesheet\" href=\"/lamplight-static/style.css\">"
		"</head><body class=\"login\"><main><h1>Lamplight</h1>"
		"<form method=\"post\" action=\"%s/login\">"
		"<input type=\"hidden\" name=\"csrf\" value=\"%s\">",
		r->script, token);
	if (msg)
		(void)mbuf_printf(r->body, "<p class=\"error\" role=\"alert\">"
				  "%H</p>", xml_escape, msg);
	(void)page_input(r, "Name", "name", "text", name,
			 " autocomplete=\"username\" required");
	(void)page_input(r, "Password", "password", "password", "",
			 " autocomplete=\"current-password\" required");
	(void)mbuf_printf(r->body, "<button>Log in</button></form></main>"
			  "</body></html>\n");
	return cgi_send(r, status, "text/html; charset=utf-8");
}

int page_login(struct req *r)
{
	const char *name = cgi_field(r, "name");
	const char *pw = cgi_field(r, "password");
	const char *token = cgi_field(r, "csrf");
	char ukey[96], akey[96], session[ADMIN_TOKEN_HEX];
	uint64_t now = (uint64_t)time(NULL);
	uint32_t wait, w2;

	if (strcmp(r->method, "POST"))
		return login_form(r, 200, NULL, "");
	if (!r->cookie_login || strcmp(token, r->cookie_login)) {
		cgi_log(r, "login refused: missing or wrong CSRF token");
		return cgi_fail(r, 403, "The form's security token is missing "
				"or out of date: reload the login page.");
	}
	(void)re_snprintf(ukey, sizeof(ukey), "user:%.64s", name);
	(void)re_snprintf(akey, sizeof(akey), "addr:%s",
			  r->remote ? r->remote : "?");
	wait = logins_wait(r->admin, ukey, now);
	w2 = logins_wait(r->admin, akey, now);
	if (w2 > wait)
		wait = w2;
	if (wait) {
		char msg[128];

		cgi_log(r, "login for '%s' refused: too many failures, %u s "
			"left", name, wait);
		(void)cgi_header(r, "Retry-After: %u", wait);
		(void)re_snprintf(msg, sizeof(msg), "Too many failed logins: "
				  "try again in %u seconds.", wait);
		return login_form(r, 429, msg, name);
	}
	if (admins_verify(r->admin, name, pw)) {
		(void)logins_failed(r->admin, ukey, now);
		(void)logins_failed(r->admin, akey, now);
		cgi_log(r, "login for '%s' failed: wrong name or password",
			name);
		return login_form(r, 403, "Wrong name or password.", name);
	}
	(void)logins_clear(r->admin, ukey);
	(void)logins_clear(r->admin, akey);
	if (sessions_create(r->admin, name, WEB_SESSION_LIFETIME,
			    session))
		return cgi_fail(r, 500, "The session could not be stored.");
	cgi_log(r, "admin '%s' logged in", name);
	(void)cgi_header(r, "Set-Cookie: lp_session=%s; Path=%s; HttpOnly; "
			 "SameSite=Strict%s", session, r->script,
			 r->https ? "; Secure" : "");
	(void)cgi_header(r, "Set-Cookie: lp_login=; Path=%s; Max-Age=0",
			 r->script);
	return cgi_redirect(r, "/board");
}

int page_logout(struct req *r)
{
	(void)sessions_del(r->admin, r->cookie_session);
	(void)cgi_header(r, "Set-Cookie: lp_session=; Path=%s; HttpOnly; "
			 "SameSite=Strict; Max-Age=0", r->script);
	return cgi_redirect(r, "/login");
}
