/* cgi: reading a CGI request, form fields, escaping and writing the
 * answer (cgi.h). Every size a browser controls has a cap: the body
 * (CGI_MAX_BODY, else 413), the number of fields (CGI_MAX_FIELDS, else
 * 400). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <re.h>
#include <openssl/crypto.h>
#include "cgi.h"

static int hexval(char c)
{
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

/* application/x-www-form-urlencoded, decoded in place */
static char *urldecode(char *s)
{
	char *w = s;

	for (char *p = s; *p; p++) {
		if (*p == '+')
			*w++ = ' ';
		else if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
			*w++ = (char)(hexval(p[1]) * 16 + hexval(p[2]));
			p += 2;
		}
		else
			*w++ = *p;
	}
	*w = '\0';
	return s;
}

int cgi_form_parse(struct form *f, char *buf)
{
	char *save = NULL;

	for (char *tok = strtok_r(buf, "&", &save); tok;
	     tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (f->n >= CGI_MAX_FIELDS)
			return E2BIG;
		if (eq)
			*eq++ = '\0';
		f->f[f->n].name = urldecode(tok);
		f->f[f->n].value = urldecode(eq ? eq : tok + strlen(tok));
		f->n++;
	}
	return 0;
}

const char *cgi_get(const struct form *f, const char *name)
{
	for (unsigned i = 0; i < f->n; i++)
		if (!strcmp(f->f[i].name, name))
			return f->f[i].value;
	return NULL;
}

const char *cgi_field(const struct req *r, const char *name)
{
	const char *v = cgi_get(&r->form, name);

	return v ? v : "";
}

const char *cgi_param(const struct req *r, const char *name)
{
	const char *v = cgi_get(&r->query, name);

	return v ? v : "";
}

void cgi_error(struct req *r, const char *field, const char *fmt, ...)
{
	struct field_error *e;
	va_list ap;

	if (r->nerrors >= CGI_MAX_ERRORS)
		return;
	e = &r->errors[r->nerrors++];
	e->field = field;
	va_start(ap, fmt);
	(void)re_vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

const char *cgi_error_of(const struct req *r, const char *field)
{
	for (unsigned i = 0; i < r->nerrors; i++)
		if (!strcmp(r->errors[i].field, field))
			return r->errors[i].msg;
	return NULL;
}

int cgi_header(struct req *r, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = mbuf_vprintf(r->hdrs, fmt, ap);
	va_end(ap);
	return err ? err : mbuf_write_str(r->hdrs, "\r\n");
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

static int write_all(const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(STDOUT_FILENO, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int cgi_send(struct req *r, int status, const char *ctype)
{
	struct mbuf *mb = mbuf_alloc(512 + r->hdrs->end);
	int err;

	if (!mb)
		return ENOMEM;
	err = mbuf_printf(mb, "Status: %d %s\r\n", status, reason(status));
	if (ctype)
		err |= mbuf_printf(mb, "Content-Type: %s\r\n"
				   "Content-Length: %zu\r\n", ctype,
				   r->body->end);
	err |= mbuf_printf(mb,
		"Cache-Control: no-store\r\n"
		"X-Content-Type-Options: nosniff\r\n"
		"X-Frame-Options: DENY\r\n"
		"Referrer-Policy: same-origin\r\n"
		"Content-Security-Policy: default-src 'self'; "
		"frame-ancestors 'none'; form-action 'self'\r\n");
	err |= mbuf_write_mem(mb, r->hdrs->buf, r->hdrs->end);
	err |= mbuf_write_str(mb, "\r\n");
	if (!err)
		err = write_all(mb->buf, mb->end);
	if (!err && ctype)
		err = write_all(r->body->buf, r->body->end);
	mem_deref(mb);
	return err;
}

int cgi_redirect(struct req *r, const char *where)
{
	mbuf_reset(r->body);
	(void)cgi_header(r, "Location: %s%s", r->script, where);
	return cgi_send(r, 303, NULL);
}

int cgi_fail(struct req *r, int status, const char *why)
{
	mbuf_reset(r->body);
	/* the database out of reach: as the SIP side says (RFC 9110 §10.2.3) */
	if (status == 503)
		(void)mbuf_write_str(r->hdrs, "Retry-After: 5\r\n");
	(void)mbuf_printf(r->body, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
			  "<meta charset=\"utf-8\"><title>%d %s</title></head>"
			  "<body><h1>%d %s</h1><p>%H</p></body></html>\n",
			  status, reason(status), status, reason(status),
			  xml_escape, why);
	return cgi_send(r, status, "text/html; charset=utf-8");
}

int json_esc(struct re_printf *pf, void *arg)
{
	const char *s = arg;
	int err = 0;

	for (; s && *s && !err; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			err = re_hprintf(pf, "\\%c", c);
		else if (c < 0x20 || c == '<' || c == '>' || c == '&')
			err = re_hprintf(pf, "\\u%04x", c);
		else
			err = pf->vph(s, 1, pf->arg);
	}
	return err;
}

/* A POST of a logged-in admin carries the session's token. */
bool cgi_csrf_ok(const struct req *r)
{
	const char *t = cgi_get(&r->form, "csrf");

	return r->logged_in && t && strlen(t) == strlen(r->ws.csrf) &&
	       !CRYPTO_memcmp(t, r->ws.csrf, strlen(t));
}

void cgi_log(const struct req *r, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	(void)re_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* lighttpd writes a CGI's stderr to its error log */
	fprintf(stderr, "lamplight-web: %s (from %s)\n", buf,
		r->remote ? r->remote : "?");
}
