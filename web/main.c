/* lamplight.cgi: the admin page and the provisioning server, as one CGI
 * program. lighttpd runs it for every request under /lamplight (the
 * page: login, users, devices and keys, watchers, the live board) and
 * /prov (the files phones fetch at boot). It reads the configuration
 * named by $LAMPLIGHT_CONF (else the installed one) and works on the
 * admin database like lamplightctl. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include "base/conf.h"
#include "store/store_users.h"
#include "base/fastrand.h"
#include "cgi.h"


static char *env(const char *name)
{
	return getenv(name);
}

static int read_body(struct req *r, char **bufp)
{
	const char *cl = env("CONTENT_LENGTH");
	const char *ct = env("CONTENT_TYPE");
	long n = cl ? strtol(cl, NULL, 10) : 0;
	char *buf;
	size_t got = 0;

	*bufp = NULL;
	if (n <= 0)
		return 0;
	if (n > CGI_MAX_BODY)
		return EFBIG;
	if (!ct || strncmp(ct, "application/x-www-form-urlencoded", 33))
		return EPROTO;
	buf = mem_alloc((size_t)n + 1, NULL);
	if (!buf)
		return ENOMEM;
	while (got < (size_t)n) {
		ssize_t k = read(STDIN_FILENO, buf + got, (size_t)n - got);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	buf[got] = '\0';
	*bufp = buf;
	(void)r;
	return cgi_form_parse(&r->form, buf);
}

/* The value of cookie `name` from $HTTP_COOKIE, copied. */
static char *cookie(const char *name)
{
	const char *c = env("HTTP_COOKIE");
	size_t n = strlen(name);

	while (c && *c) {
		while (*c == ' ' || *c == ';')
			c++;
		if (!strncmp(c, name, n) && c[n] == '=') {
			const char *v = c + n + 1, *e = strchr(v, ';');
			char *out = NULL;
			struct pl pl = { v, e ? (size_t)(e - v) : strlen(v) };

			if (pl.l > 128)
				return NULL;
			(void)pl_strdup(&out, &pl);
			return out;
		}
		c = strchr(c, ';');
	}
	return NULL;
}

static int route(struct req *r)
{
	const char *p = r->path;
	bool post = !strcmp(r->method, "POST");

	if (!strcmp(r->method, "GET") && !strcmp(p, "/login"))
		return page_login(r);
	if (post && !strcmp(p, "/login"))
		return page_login(r);
	if (!r->logged_in) {
		if (post)
			return cgi_fail(r, 403, "Not logged in.");
		if (!strcmp(p, "/board.json"))
			return cgi_fail(r, 401, "Not logged in.");
		return cgi_redirect(r, "/login");
	}
	if (post && !cgi_csrf_ok(r)) {
		cgi_log(r, "%s %s refused: missing or wrong CSRF token",
			r->method, p);
		return cgi_fail(r, 403, "The form's security token is "
				"missing or out of date: reload the page.");
	}
	if (!strcmp(p, "/") || !*p)
		return cgi_redirect(r, "/board");
	if (post && !strcmp(p, "/logout"))
		return page_logout(r);
	if (!strcmp(p, "/board"))
		return page_board(r);
	if (!strcmp(p, "/board.json"))
		return board_json(r);
	if (!strcmp(p, "/users"))
		return page_users(r);
	if (!strcmp(p, "/user"))
		return page_user(r);
	if (!strcmp(p, "/devices"))
		return page_devices(r);
	if (!strcmp(p, "/device"))
		return page_device(r);
	if (!strcmp(p, "/watchers"))
		return page_watchers(r);
	if (!strcmp(p, "/nodes"))
		return page_nodes(r);
	return cgi_fail(r, 404, "No such page.");
}

int main(void)
{
	struct req r;
	char *qbuf = NULL, *bbuf = NULL, *errmsg = NULL;
	const char *conf_path = env("LAMPLIGHT_CONF");
	const char *q = env("QUERY_STRING");
	const char *script;
	int err;

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&r, 0, sizeof(r));
	err = libre_init();
	if (err)
		return 1;
	fastrand_init();
	r.body = mbuf_alloc(8192);
	r.hdrs = mbuf_alloc(512);
	r.method = env("REQUEST_METHOD") ? env("REQUEST_METHOD") : "GET";
	script = env("SCRIPT_NAME") ? env("SCRIPT_NAME") : "";
	r.script = script;
	r.path = env("PATH_INFO") ? env("PATH_INFO") : "";
	r.remote = env("REMOTE_ADDR");
	r.uri = env("REQUEST_URI") ? env("REQUEST_URI") : "";
	r.https = env("HTTPS") && !strcmp(env("HTTPS"), "on");
	if (!r.body || !r.hdrs)
		goto out;

	err = conf_load(&r.conf, conf_path ? conf_path : CONF_DEFAULT_PATH,
			&errmsg);
	if (err) {
		fprintf(stderr, "lamplight-web: configuration: %s\n",
			errmsg ? errmsg : strerror(err));
		(void)cgi_fail(&r, 500, "The appliance's configuration "
			       "cannot be read; see the web server's log.");
		goto out;
	}
	if (q && strlen(q) > 4096) {
		(void)cgi_fail(&r, 400, "Query too long.");
		goto out;
	}
	if (q && (str_dup(&qbuf, q) || cgi_form_parse(&r.query, qbuf))) {
		(void)cgi_fail(&r, 400, "Too many query parameters.");
		goto out;
	}
	err = read_body(&r, &bbuf);
	if (err == EFBIG) {
		(void)cgi_fail(&r, 413, "The form is too big.");
		goto out;
	}
	if (err) {
		(void)cgi_fail(&r, 400, err == EPROTO ? "Forms are sent as "
			       "application/x-www-form-urlencoded." :
			       "Too many form fields.");
		goto out;
	}
	err = users_open(&r.admin, r.conf->admin_db, false);
	if (err) {
		fprintf(stderr, "lamplight-web: admin database '%s': %s\n",
			r.conf->admin_db, strerror(err));
		(void)cgi_fail(&r, 503, "The admin database cannot be "
			       "opened; see the web server's log.");
		goto out;
	}
	if (strlen(script) >= 5 && !strcmp(script + strlen(script) - 5,
					   "/prov")) {
		(void)prov_serve(&r);
		goto out;
	}
	r.cookie_session = cookie("lp_session");
	r.cookie_login = cookie("lp_login");
	if (r.cookie_session &&
	    !sessions_get(r.admin, r.cookie_session, WEB_SESSION_LIFETIME, &r.ws))
		r.logged_in = true;
	(void)route(&r);
 out:
	mem_deref(r.admin);
	mem_deref(r.conf);
	mem_deref(r.body);
	mem_deref(r.hdrs);
	mem_deref(qbuf);
	mem_deref(bbuf);
	mem_deref(errmsg);
	mem_deref(r.cookie_session);
	mem_deref(r.cookie_login);
	libre_close();
	return 0;
}
