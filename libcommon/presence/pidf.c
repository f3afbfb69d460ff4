/* pidf: parse a publisher's PIDF document into struct pidf, and print a
 * model as a PIDF document.
 *
 * Parsing is defensive because the bytes come from any phone: the size is
 * capped before libxml2 sees them, and xml/xmlsafe.h reads them (no
 * DOCTYPE or entity, no processing instruction, no XInclude, no external
 * schema, no network, nesting capped at PIDF_MAX_DEPTH). What is kept
 * is a closed set of values, each checked (tokens, identifiers, sizes);
 * elements of other namespaces are dropped. Printing writes every value
 * through one escaping print handler. */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <re.h>
#include "presence/pidf.h"
#include "base/xmlesc.h"
#include "xml/xmlsafe.h"

#define ID_MAX 64
#define TOKEN_MAX 32
#define STAMP_MAX 40
#define ENTITY_MAX 256

static void tuple_destructor(void *arg)
{
	struct pidf_tuple *t = arg;

	list_unlink(&t->le);
	mem_deref(t->id);
	mem_deref(t->contact);
	mem_deref(t->note);
	mem_deref(t->timestamp);
}

static void destructor(void *arg)
{
	struct pidf *p = arg;

	list_flush(&p->tuples);
	mem_deref(p->entity);
	mem_deref(p->person_id);
	for (unsigned i = 0; i < p->nact; i++)
		mem_deref(p->activities[i]);
	for (unsigned i = 0; i < p->nmood; i++)
		mem_deref(p->moods[i]);
	mem_deref(p->place);
	mem_deref(p->note);
}

void pidf_init(void)
{
	xmlInitParser();
}

int pidf_alloc(struct pidf **pp, const char *entity)
{
	struct pidf *p;
	int err;

	if (!pp || !entity)
		return EINVAL;
	p = mem_zalloc(sizeof(*p), destructor);
	if (!p)
		return ENOMEM;
	err = str_dup(&p->entity, entity);
	if (err)
		mem_deref(p);
	else
		*pp = p;
	return err;
}

int pidf_tuple_add(struct pidf *p, const char *id, bool open,
		   const char *contact, const char *note)
{
	struct pidf_tuple *t;
	int err;

	if (!p || !id)
		return EINVAL;
	if (list_count(&p->tuples) >= PIDF_MAX_TUPLES)
		return E2BIG;
	t = mem_zalloc(sizeof(*t), tuple_destructor);
	if (!t)
		return ENOMEM;
	t->open = open;
	t->priority = -1;
	err = str_dup(&t->id, id);
	if (!err && contact)
		err = str_dup(&t->contact, contact);
	if (!err && note)
		err = str_dup(&t->note, note);
	if (err) {
		mem_deref(t);
		return err;
	}
	list_append(&p->tuples, &t->le, t);
	return 0;
}

/* ---- checks of single values ---- */

static bool is_token(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '-' || (c >= 'A' && c <= 'Z')))
			return false;
	}
	return true;
}

/* xs:ID, tolerant of leading digits (some clients send them) */
static bool is_id(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		      c == '.'))
			return false;
	}
	return true;
}

static bool is_stamp(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > STAMP_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789TZtz:.+-", s[i]))
			return false;
	return true;
}

/* "0.8", "1", "0.125" -> 800, 1000, 125 */
static int qvalue(const char *s)
{
	int v;

	if (s[0] != '0' && s[0] != '1')
		return -1;
	v = (s[0] - '0') * 1000;
	if (s[1] == '\0')
		return v;
	if (s[1] != '.')
		return -1;
	for (int i = 2, m = 100; s[i]; i++, m /= 10) {
		if (s[i] < '0' || s[i] > '9' || !m)
			return -1;
		v += (s[i] - '0') * m;
	}
	return v > 1000 ? -1 : v;
}

int pidf_token_add(char **v, unsigned *n, const char *tok)
{
	if (*n >= PIDF_MAX_TOKENS)
		return 0;      /* more than a person can be doing at once */
	for (unsigned i = 0; i < *n; i++)
		if (!strcmp(v[i], tok))
			return 0;
	if (str_dup(&v[*n], tok))
		return ENOMEM;
	++*n;
	return 0;
}

/* ---- the libxml2 tree ---- */

static bool in_ns(const xmlNode *n, const char *ns)
{
	return n->ns && n->ns->href &&
		!strcmp((const char *)n->ns->href, ns);
}

static bool is_elem(const xmlNode *n, const char *ns, const char *name)
{
	return n->type == XML_ELEMENT_NODE && in_ns(n, ns) &&
		!strcmp((const char *)n->name, name);
}

/* The text of an element, trimmed, capped: 0, EINVAL when too long. */
static int text_of(char **out, const xmlNode *n)
{
	xmlChar *c = xmlNodeGetContent(n);
	const char *s = c ? (const char *)c : "";
	size_t len;
	int err = 0;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		++s;
	len = strlen(s);
	while (len && (s[len-1] == ' ' || s[len-1] == '\t' ||
		       s[len-1] == '\r' || s[len-1] == '\n'))
		--len;
	if (len > PIDF_MAX_TEXT)
		err = EINVAL;
	else {
		*out = mem_deref(*out);
		err = len ? str_dup(out, s) : 0;
		if (!err && len)
			(*out)[len] = '\0';
	}
	xmlFree(c);
	return err;
}

static int prop_of(char **out, const xmlNode *n, const char *name)
{
	xmlChar *v = xmlGetProp(n, (const xmlChar *)name);
	int err;

	if (!v)
		return ENOENT;
	err = strlen((const char *)v) > ENTITY_MAX ? EINVAL :
		str_dup(out, (const char *)v);
	xmlFree(v);
	return err;
}

static int fail(struct pidf_err *e, uint16_t code, const char *reason)
{
	e->code = code;
	e->reason = reason;
	return EBADMSG;
}

static int parse_tuple(struct pidf *p, const xmlNode *n, struct pidf_err *e)
{
	struct pidf_tuple *t;
	char *id = NULL;
	bool basic = false;
	int err;

	if (prop_of(&id, n, "id") || !is_id(id)) {
		mem_deref(id);
		return fail(e, 400, "Bad Request: Tuple Without Valid id");
	}
	err = pidf_tuple_add(p, id, false, NULL, NULL);
	mem_deref(id);
	if (err == E2BIG)
		return fail(e, 400, "Bad Request: Too Many Tuples");
	if (err)
		return err;
	t = p->tuples.tail->data;

	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_elem(c, PIDF_NS, "status")) {
			for (const xmlNode *b = c->children; b; b = b->next) {
				char *v = NULL;

				if (!is_elem(b, PIDF_NS, "basic"))
					continue;
				if (text_of(&v, b) || !v ||
				    (strcmp(v, "open") && strcmp(v, "closed"))) {
					mem_deref(v);
					return fail(e, 400, "Bad Request: "
						    "basic Is Not open Or "
						    "closed");
				}
				t->open = !strcmp(v, "open");
				basic = true;
				mem_deref(v);
			}
		}
		else if (is_elem(c, PIDF_NS, "contact")) {
			char *prio = NULL;

			if (text_of(&t->contact, c))
				return fail(e, 400, "Bad Request: Contact Too "
					    "Long");
			if (!prop_of(&prio, c, "priority")) {
				t->priority = qvalue(prio);
				mem_deref(prio);
				if (t->priority < 0)
					return fail(e, 400, "Bad Request: Bad "
						    "Contact priority");
			}
		}
		else if (is_elem(c, PIDF_NS, "note")) {
			if (!t->note && text_of(&t->note, c))
				return fail(e, 400, "Bad Request: Note Too "
					    "Long");
		}
		else if (is_elem(c, PIDF_NS, "timestamp")) {
			if (text_of(&t->timestamp, c) ||
			    (t->timestamp && !is_stamp(t->timestamp)))
				return fail(e, 400, "Bad Request: Bad "
					    "timestamp");
		}
		else if (in_ns(c, PIDF_NS)) {
			return fail(e, 400, "Bad Request: Unknown PIDF "
				    "Element In tuple");
		}
		/* other namespaces: extensions we do not pass on */
	}
	if (!basic)
		return fail(e, 400, "Bad Request: Tuple Without basic "
			    "Status");
	return 0;
}

/* The element names below an RPID element (activities, mood,
 * place-type): each one a token. */
static int parse_tokens(char **v, unsigned *nv, const xmlNode *n,
			struct pidf_err *e)
{
	for (const xmlNode *c = n->children; c; c = c->next) {
		const char *name = (const char *)c->name;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!is_token(name))
			return fail(e, 400, "Bad Request: Bad RPID Value");
		if (pidf_token_add(v, nv, name))
			return ENOMEM;
	}
	return 0;
}

static int parse_person(struct pidf *p, const xmlNode *n, struct pidf_err *e)
{
	int err;

	if (p->person)
		return 0;      /* the first person is the one we show */
	p->person = true;
	if (prop_of(&p->person_id, n, "id") || !is_id(p->person_id))
		return fail(e, 400, "Bad Request: Person Without Valid id");

	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_elem(c, PIDF_RPID, "activities")) {
			err = parse_tokens(p->activities, &p->nact, c, e);
		}
		else if (is_elem(c, PIDF_RPID, "mood")) {
			err = parse_tokens(p->moods, &p->nmood, c, e);
		}
		else if (is_elem(c, PIDF_RPID, "place-type")) {
			char *v[PIDF_MAX_TOKENS] = {NULL};
			unsigned nv = 0;

			err = parse_tokens(v, &nv, c, e);
			if (!err && nv) {
				p->place = mem_deref(p->place);
				p->place = mem_ref(v[0]);
			}
			for (unsigned i = 0; i < nv; i++)
				mem_deref(v[i]);
		}
		else if (is_elem(c, PIDF_DM, "note") ||
			 is_elem(c, PIDF_RPID, "note")) {
			err = text_of(&p->note, c) ?
				fail(e, 400, "Bad Request: Note Too Long") : 0;
		}
		else {
			err = 0;
		}
		if (err)
			return err;
	}
	return 0;
}

int pidf_parse(struct pidf **pp, const uint8_t *buf, size_t len,
	       size_t max_size, struct pidf_err *e)
{
	struct pidf *p = NULL;
	xmlDoc *doc = NULL;
	xmlNode *root;
	char *entity = NULL, *docnote = NULL;
	const char *why;
	int err;

	if (!pp || !buf || !e)
		return EINVAL;
	if (len > max_size)
		return fail(e, 413, "Request Entity Too Large");
	if (!len)
		return fail(e, 400, "Bad Request: Empty Document");
	err = xmlsafe_read(&doc, buf, len, XML_PARSE_NOBLANKS, PIDF_MAX_DEPTH,
			   &why);
	if (err == EBADMSG)
		return fail(e, 400, why);
	if (err)
		return err;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_elem(root, PIDF_NS, "presence")) {
		err = fail(e, 400, "Bad Request: Not A PIDF Document");
		goto out;
	}
	if (prop_of(&entity, root, "entity") || !entity[0]) {
		err = fail(e, 400, "Bad Request: Presence Without entity");
		goto out;
	}
	err = pidf_alloc(&p, entity);
	if (err)
		goto out;

	for (const xmlNode *c = root->children; c && !err; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (is_elem(c, PIDF_NS, "tuple"))
			err = parse_tuple(p, c, e);
		else if (is_elem(c, PIDF_NS, "note"))
			err = docnote ? 0 : text_of(&docnote, c) ?
				fail(e, 400, "Bad Request: Note Too Long") : 0;
		else if (is_elem(c, PIDF_DM, "person"))
			err = parse_person(p, c, e);
		else if (in_ns(c, PIDF_NS))
			err = fail(e, 400, "Bad Request: Unknown PIDF "
				   "Element");
	}
	if (!err && !p->note && docnote)
		p->note = mem_ref(docnote);

 out:
	xmlFreeDoc(doc);
	mem_deref(entity);
	mem_deref(docnote);
	if (err)
		mem_deref(p);
	else
		*pp = p;
	return err;
}

/* Does the document speak of sip:user@domain (or pres:user@domain)? */
bool pidf_entity_is(const struct pidf *p, const char *user,
		    const char *domain)
{
	struct pl ent, scheme, u, host;

	if (!p || !p->entity)
		return false;
	pl_set_str(&ent, p->entity);
	if (re_regex(ent.p, ent.l, "[a-z]+:[^@]+@[^;>]+", &scheme, &u, &host))
		return false;
	if (pl_strcasecmp(&scheme, "sip") && pl_strcasecmp(&scheme, "pres"))
		return false;
	return !pl_strcmp(&u, user) && !pl_strcasecmp(&host, domain);
}

bool pidf_open(const struct pidf *p)
{
	for (struct le *le = p ? p->tuples.head : NULL; le; le = le->next) {
		const struct pidf_tuple *t = le->data;
		if (t->open)
			return true;
	}
	return false;
}

/* ---- printing ---- */

static int print_tuple(struct re_printf *pf, const struct pidf_tuple *t)
{
	int err;

	err = re_hprintf(pf, "<tuple id=\"%H\"><status><basic>%s</basic>"
			 "</status>", xml_escape, t->id,
			 t->open ? "open" : "closed");
	if (!err && t->contact) {
		if (t->priority >= 0)
			err = re_hprintf(pf, "<contact priority=\"%d.%03d\">",
					 t->priority / 1000,
					 t->priority % 1000);
		else
			err = re_hprintf(pf, "<contact>");
		err = err ? err : re_hprintf(pf, "%H</contact>",
					     xml_escape, t->contact);
	}
	if (!err && t->note)
		err = re_hprintf(pf, "<note>%H</note>", xml_escape,
				 t->note);
	if (!err && t->timestamp)
		err = re_hprintf(pf, "<timestamp>%H</timestamp>",
				 xml_escape, t->timestamp);
	return err ? err : re_hprintf(pf, "</tuple>\n");
}

static int print_tokens(struct re_printf *pf, const char *elem,
			char *const *v, unsigned n)
{
	int err;

	if (!n)
		return 0;
	err = re_hprintf(pf, "<rpid:%s>", elem);
	for (unsigned i = 0; i < n && !err; i++)
		err = re_hprintf(pf, "<rpid:%H/>", xml_escape, v[i]);
	return err ? err : re_hprintf(pf, "</rpid:%s>", elem);
}

static int print_person(struct re_printf *pf, const struct pidf *p)
{
	int err;

	err = re_hprintf(pf, "<dm:person id=\"%H\">", xml_escape,
			 p->person_id ? p->person_id : "p1");
	err = err ? err : print_tokens(pf, "activities", p->activities,
				       p->nact);
	err = err ? err : print_tokens(pf, "mood", p->moods, p->nmood);
	if (!err && p->place)
		err = re_hprintf(pf, "<rpid:place-type><lt:%H xmlns:lt=\""
				 "urn:ietf:params:xml:ns:location-type\"/>"
				 "</rpid:place-type>", xml_escape,
				 p->place);
	if (!err && p->note)
		err = re_hprintf(pf, "<dm:note>%H</dm:note>",
				 xml_escape, p->note);
	return err ? err : re_hprintf(pf, "</dm:person>\n");
}

/* The rpid: and dm: prefixes are what common clients look for: many match
 * text, not namespaces. */
int pidf_print(struct re_printf *pf, const struct pidf *p)
{
	int err;

	if (!p)
		return EINVAL;
	err = re_hprintf(pf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			 "<presence xmlns=\"" PIDF_NS "\" xmlns:dm=\""
			 PIDF_DM "\" xmlns:rpid=\"" PIDF_RPID "\" "
			 "entity=\"%H\">\n", xml_escape, p->entity);
	for (struct le *le = p->tuples.head; le && !err; le = le->next)
		err = print_tuple(pf, le->data);
	if (!err && (p->person || p->nact || p->nmood || p->note ||
		     p->place))
		err = print_person(pf, p);
	return err ? err : re_hprintf(pf, "</presence>\n");
}
