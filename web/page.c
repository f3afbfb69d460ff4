/* page: the frame of every page an admin sees after login: the head with
 * the style sheet, the navigation, the logout form; and the form pieces
 * pages share (a labelled input with its error message, the CSRF token). */
#include <string.h>
#include <re.h>
#include "cgi.h"

int page_begin(struct req *r, const char *title)
{
	static const char *const nav[][2] = {
		{"/board", "Board"}, {"/users", "Users"},
		{"/devices", "Devices"}, {"/watchers", "Watchers"},
		{"/nodes", "Nodes"},
	};
	int err = mbuf_printf(r->body,
		"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
		"<meta name=\"viewport\" content=\"width=device-width\">"
		"<title>%H · Lamplight</title>"
		"<link rel=\"stylesheet\" href=\"/lamplight-static/style.css\">"
		"</head><body><header><span class=\"brand\">Lamplight</span>"
		"<nav>", xml_escape, title);

	/* Nodes: on a node of a cluster only */
	for (size_t i = 0; i < ARRAY_SIZE(nav) - !r->conf->node_id; i++)
		err |= mbuf_printf(r->body, "<a href=\"%s%s\"%s>%s</a>",
				   r->script, nav[i][0],
				   strcmp(r->path, nav[i][0]) ? "" :
				   " aria-current=\"page\"", nav[i][1]);
	err |= mbuf_printf(r->body, "</nav><form method=\"post\" action=\""
			   "%s/logout\" class=\"logout\">", r->script);
	err |= page_csrf(r);
	err |= mbuf_printf(r->body, "<span>%H</span> <button>Log out</button>"
			   "</form></header><main><h1>%H</h1>",
			   xml_escape, r->ws.admin, xml_escape, title);
	if (r->notice[0])
		err |= mbuf_printf(r->body, "<p class=\"notice\" role=\"status\">"
				   "%H</p>", xml_escape, r->notice);
	if (r->nerrors)
		err |= mbuf_printf(r->body, "<p class=\"error\" role=\"alert\">"
				   "Nothing was changed: see the messages "
				   "below.</p>");
	return err;
}

int page_end(struct req *r)
{
	return mbuf_printf(r->body, "</main></body></html>\n");
}

int page_csrf(struct req *r)
{
	return mbuf_printf(r->body, "<input type=\"hidden\" name=\"csrf\" "
			   "value=\"%H\">", xml_escape, r->ws.csrf);
}

/* A labelled input; after a refused POST, its error next to it and the
 * value the admin typed. */
int page_input(struct req *r, const char *label, const char *name,
	       const char *type, const char *value, const char *extra)
{
	const char *e = cgi_error_of(r, name);
	int err;

	err = mbuf_printf(r->body, "<label>%H <input type=\"%s\" name=\"%s\" "
			  "id=\"f-%s\" value=\"%H\"%s%s>", xml_escape, label,
			  type, name, name, xml_escape, value ? value : "",
			  e ? " aria-invalid=\"true\"" : "",
			  extra ? extra : "");
	if (e)
		err |= mbuf_printf(r->body, "<span class=\"field-error\" "
				   "id=\"e-%s\">%H</span>", name, xml_escape, e);
	return err | mbuf_printf(r->body, "</label>");
}
