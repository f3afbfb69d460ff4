/* cgi: the admin page's program, one process per HTTP request (CGI/1.1,
 * RFC 3875, under lighttpd's mod_cgi). What every page shares: the
 * request as read from the environment and stdin, the form fields, the
 * login session, HTML escaping and the answer. */
#ifndef LP_WEB_CGI_H
#define LP_WEB_CGI_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>
#include "base/conf.h"
#include "store/store.h"
#include "store/store_admin.h"
#include "base/xmlesc.h"

#define CGI_MAX_BODY (64 * 1024)
#define CGI_MAX_FIELDS 64
#define CGI_MAX_ERRORS 8

struct field {
	char *name;
	char *value;
};

struct form {
	struct field f[CGI_MAX_FIELDS];
	unsigned n;
};

/* A message next to a form field, after a POST that was refused. */
struct field_error {
	const char *field;
	char msg[160];
};

struct req {
	const char *method, *script, *path, *remote, *uri;
	bool https;
	struct form query, form;
	struct conf *conf;
	struct store *admin;
	struct web_session ws;
	bool logged_in;
	char *cookie_session, *cookie_login;
	/* the answer */
	struct mbuf *body;
	struct mbuf *hdrs;
	struct field_error errors[CGI_MAX_ERRORS];
	unsigned nerrors;
	char notice[256];
};

/* Splits a=b&c=d into `f` (E2BIG past CGI_MAX_FIELDS); the strings point
 * into `buf`, decoded in place. */
int  cgi_form_parse(struct form *f, char *buf);
const char *cgi_get(const struct form *f, const char *name);
/* the form field, or "" */
const char *cgi_field(const struct req *r, const char *name);
const char *cgi_param(const struct req *r, const char *name);
void cgi_error(struct req *r, const char *field, const char *fmt, ...);
const char *cgi_error_of(const struct req *r, const char *field);
int  cgi_header(struct req *r, const char *fmt, ...);
int  cgi_send(struct req *r, int status, const char *ctype);
int  cgi_redirect(struct req *r, const char *where);
int  cgi_fail(struct req *r, int status, const char *why);
int  json_esc(struct re_printf *pf, void *arg);
bool cgi_csrf_ok(const struct req *r);
void cgi_log(const struct req *r, const char *fmt, ...);

/* page.c: the frame every page of a logged-in admin shares */
int  page_begin(struct req *r, const char *title);
int  page_end(struct req *r);
int  page_csrf(struct req *r);
int  page_input(struct req *r, const char *label, const char *name,
		const char *type, const char *value, const char *extra);

int  page_login(struct req *r);
int  page_logout(struct req *r);
int  page_users(struct req *r);
int  page_user(struct req *r);
int  page_devices(struct req *r);
int  page_device(struct req *r);
int  page_watchers(struct req *r);
int  page_nodes(struct req *r);
int  page_board(struct req *r);
int  board_json(struct req *r);
int  prov_serve(struct req *r);

#endif
