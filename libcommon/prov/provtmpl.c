/* provtmpl: parse and render provisioning templates (provtmpl.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "store/store_devices.h"
#include "base/xmlesc.h"
#include "prov/provtmpl.h"

#define MAX_MAPS 16
#define MAX_ENTRIES 128

struct map_entry {
	struct pl k, v;
};

struct tmap {
	struct pl name;
	struct map_entry e[MAX_ENTRIES];
	unsigned n;
};

struct provtmpl {
	char *text;            /* owns everything the pls point into */
	struct pl file, ctype, body;
	bool xml;
	struct tmap maps[MAX_MAPS];
	unsigned nmaps;
};

static void destructor(void *arg)
{
	struct provtmpl *t = arg;

	mem_deref(t->text);
}

static int fail(char *errbuf, size_t errsz, int err, const char *fmt,
		const struct pl *what)
{
	if (errbuf && errsz)
		(void)re_snprintf(errbuf, errsz, fmt, what);
	return err;
}

/* "WORD REST": the first word and what follows the spaces after it. */
static bool split_word(const struct pl *in, struct pl *word, struct pl *rest)
{
	const char *sp = memchr(in->p, ' ', in->l);

	if (!sp || sp == in->p)
		return false;
	word->p = in->p;
	word->l = (size_t)(sp - in->p);
	while (sp < in->p + in->l && *sp == ' ')
		sp++;
	rest->p = sp;
	rest->l = (size_t)(in->p + in->l - sp);
	return rest->l > 0;
}

static int parse_map(struct provtmpl *t, const struct pl *rest,
		     char *errbuf, size_t errsz)
{
	struct tmap *m;
	struct pl name, list, kv;
	const char *p;

	if (t->nmaps >= MAX_MAPS)
		return fail(errbuf, errsz, E2BIG, "too many maps%r", &pl_null);
	if (!split_word(rest, &name, &list))
		return fail(errbuf, errsz, EBADMSG, "bad ##map line '%r'",
			    rest);
	m = &t->maps[t->nmaps++];
	m->name = name;
	p = list.p;
	while (p < list.p + list.l) {
		const char *eq;
		const char *sp = memchr(p, ' ', (size_t)(list.p + list.l - p));

		kv.p = p;
		kv.l = sp ? (size_t)(sp - p) : (size_t)(list.p + list.l - p);
		p = kv.p + kv.l + 1;
		if (!kv.l)
			continue;
		eq = memchr(kv.p, '=', kv.l);
		if (!eq || eq == kv.p || m->n >= MAX_ENTRIES)
			return fail(errbuf, errsz, EBADMSG, "bad map entry "
				    "'%r'", &kv);
		m->e[m->n].k.p = kv.p;
		m->e[m->n].k.l = (size_t)(eq - kv.p);
		m->e[m->n].v.p = eq + 1;
		m->e[m->n].v.l = kv.l - m->e[m->n].k.l - 1;
		m->n++;
	}
	return 0;
}

int provtmpl_parse(struct provtmpl **tp, const char *text, size_t len,
		   char *errbuf, size_t errsz)
{
	struct provtmpl *t;
	const char *p, *end;
	int err = 0;

	if (!tp || !text)
		return EINVAL;
	if (len > PROVTMPL_MAX_SIZE)
		return fail(errbuf, errsz, EFBIG, "template too big%r",
			    &pl_null);
	t = mem_zalloc(sizeof(*t), destructor);
	if (!t)
		return ENOMEM;
	t->text = mem_alloc(len + 1, NULL);
	if (!t->text) {
		mem_deref(t);
		return ENOMEM;
	}
	memcpy(t->text, text, len);
	t->text[len] = '\0';
	pl_set_str(&t->ctype, "text/plain");

	p = t->text;
	end = t->text + len;
	while (p < end && !strncmp(p, "##", 2)) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		struct pl line = { p + 2, nl ? (size_t)(nl - p - 2)
					     : (size_t)(end - p - 2) };
		struct pl word, rest;

		p = nl ? nl + 1 : end;
		if (line.l && line.p[line.l - 1] == '\r')
			line.l--;
		if (!split_word(&line, &word, &rest))
			continue;          /* a comment */
		if (!pl_strcmp(&word, "file"))
			t->file = rest;
		else if (!pl_strcmp(&word, "type"))
			t->ctype = rest;
		else if (!pl_strcmp(&word, "escape"))
			t->xml = !pl_strcmp(&rest, "xml");
		else if (!pl_strcmp(&word, "map"))
			err = parse_map(t, &rest, errbuf, errsz);
		if (err)
			break;
	}
	if (!err && !pl_isset(&t->file))
		err = fail(errbuf, errsz, EBADMSG, "no ##file line%r",
			   &pl_null);
	if (err) {
		mem_deref(t);
		return err;
	}
	t->body.p = p;
	t->body.l = (size_t)(end - p);
	*tp = t;
	return 0;
}

int provtmpl_load(struct provtmpl **tp, const char *dir, const char *vendor,
		  char *errbuf, size_t errsz)
{
	char path[512];
	char *buf = NULL;
	size_t n = 0;
	FILE *f;
	int err;

	if (device_vendor_check(vendor))
		return EINVAL;
	(void)re_snprintf(path, sizeof(path), "%s/%s.tmpl", dir, vendor);
	f = fopen(path, "re");
	if (!f) {
		err = errno;
		if (errbuf)
			(void)re_snprintf(errbuf, errsz, "%s: %m", path, err);
		return err;
	}
	buf = mem_alloc(PROVTMPL_MAX_SIZE + 1, NULL);
	if (buf)
		n = fread(buf, 1, PROVTMPL_MAX_SIZE + 1, f);
	(void)fclose(f);
	if (!buf)
		return ENOMEM;
	err = provtmpl_parse(tp, buf, n, errbuf, errsz);
	mem_deref(buf);
	return err;
}

int provtmpl_filename(const struct provtmpl *t, const char *mac, char *out,
		      size_t sz)
{
	struct mbuf *mb = mbuf_alloc(64);
	const char *p = t->file.p, *end = t->file.p + t->file.l;
	int err = 0;

	if (!mb)
		return ENOMEM;
	while (p < end && !err) {
		if (end - p >= 5 && !strncmp(p, "{mac}", 5)) {
			err = mbuf_write_str(mb, mac);
			p += 5;
		}
		else if (end - p >= 5 && !strncmp(p, "{MAC}", 5)) {
			for (const char *m = mac; *m && !err; m++)
				err = mbuf_write_u8(mb, (uint8_t)(*m >= 'a' &&
					*m <= 'f' ? *m - 'a' + 'A' : *m));
			p += 5;
		}
		else
			err = mbuf_write_u8(mb, (uint8_t)*p++);
	}
	if (!err && mb->end + 1 > sz)
		err = ENAMETOOLONG;
	if (!err) {
		memcpy(out, mb->buf, mb->end);
		out[mb->end] = '\0';
	}
	mem_deref(mb);
	return err;
}

const char *provtmpl_ctype(const struct provtmpl *t)
{
	static char buf[64];

	(void)re_snprintf(buf, sizeof(buf), "%r", &t->ctype);
	return buf;
}

/* A value into the file: escaped for XML when the template says so, and
 * without control characters, so that it never starts a line of its
 * own. */
static int put(struct mbuf *out, bool xml, const char *s)
{
	char buf[512];
	size_t n = 0;
	int err;

	for (; s && *s && n + 1 < sizeof(buf); s++)
		if ((unsigned char)*s >= 0x20)
			buf[n++] = *s;
	buf[n] = '\0';
	err = xml ? mbuf_printf(out, "%H", xml_escape, buf)
		  : mbuf_write_str(out, buf);
	if (!err && out->end > PROVTMPL_MAX_SIZE)
		err = EFBIG;
	return err;
}

struct ctx {
	const struct provtmpl *t;
	const struct prov_vars *v;
	const struct prov_key *key;   /* inside a section */
	char num[3][24];
	char uri[200];
	char *errbuf;
	size_t errsz;
};

/* The value of a variable, or NULL for an unknown one. */
static const char *var(struct ctx *c, const struct pl *name)
{
	const struct prov_vars *v = c->v;

	if (!pl_strcmp(name, "mac"))       return v->mac;
	if (!pl_strcmp(name, "MAC")) {
		size_t i;

		for (i = 0; v->mac[i] && i < sizeof(c->num[0]) - 1; i++)
			c->num[0][i] = (char)(v->mac[i] >= 'a' ? v->mac[i] -
					      'a' + 'A' : v->mac[i]);
		c->num[0][i] = '\0';
		return c->num[0];
	}
	if (!pl_strcmp(name, "user"))      return v->user;
	if (!pl_strcmp(name, "authname"))  return v->authname;
	if (!pl_strcmp(name, "password"))  return v->password;
	if (!pl_strcmp(name, "name"))      return v->name;
	if (!pl_strcmp(name, "domain"))    return v->domain;
	if (!pl_strcmp(name, "server"))    return v->server;
	if (!pl_strcmp(name, "transport")) return v->transport;
	if (!pl_strcmp(name, "pickup"))    return v->pickup;
	if (!pl_strcmp(name, "port")) {
		(void)re_snprintf(c->num[1], sizeof(c->num[1]), "%u",
				  v->port);
		return c->num[1];
	}
	if (!c->key)
		return NULL;
	if (!pl_strcmp(name, "pos") || !pl_strcmp(name, "index0")) {
		(void)re_snprintf(c->num[2], sizeof(c->num[2]), "%u",
				  c->key->pos - (name->l == 6 ? 1 : 0));
		return c->num[2];
	}
	if (!pl_strcmp(name, "target"))    return c->key->target;
	if (!pl_strcmp(name, "label"))     return c->key->label;
	if (!pl_strcmp(name, "uri")) {
		(void)re_snprintf(c->uri, sizeof(c->uri), "sip:%s@%s",
				  c->key->target, v->domain);
		return c->uri;
	}
	return NULL;
}

/* {{map:var}}: ENOENT when the map has no entry for the value. */
static int lookup(struct ctx *c, const struct pl *tag, const char **valp,
		  char *buf, size_t sz)
{
	struct pl mname, vname;
	const char *val;
	const char *colon = pl_strchr(tag, ':');

	if (!colon) {
		*valp = var(c, tag);
		return *valp ? 0 : EINVAL;
	}
	mname.p = tag->p;
	mname.l = (size_t)(colon - tag->p);
	vname.p = colon + 1;
	vname.l = tag->l - mname.l - 1;
	val = var(c, &vname);
	if (!val)
		return EINVAL;
	for (unsigned i = 0; i < c->t->nmaps; i++) {
		const struct tmap *m = &c->t->maps[i];

		if (pl_cmp(&m->name, &mname))
			continue;
		for (unsigned j = 0; j < m->n; j++) {
			if (pl_strcmp(&m->e[j].k, val))
				continue;
			(void)re_snprintf(buf, sz, "%r", &m->e[j].v);
			*valp = buf;
			return 0;
		}
		return ENOENT;
	}
	return EINVAL;
}

static int render(struct mbuf *out, struct ctx *c, const struct pl *body);

static int section(struct mbuf *out, struct ctx *c, const struct pl *name,
		   const struct pl *inner)
{
	int kind;

	if (c->key)
		return fail(c->errbuf, c->errsz, EBADMSG, "section '%r' in "
			    "a section", name);
	if (!pl_strcmp(name, "blf"))
		kind = KEY_BLF;
	else if (!pl_strcmp(name, "speed"))
		kind = KEY_SPEED;
	else
		return fail(c->errbuf, c->errsz, EBADMSG, "unknown section "
			    "'%r'", name);
	for (size_t i = 0; i < c->v->key_count; i++) {
		size_t mark = out->end;
		int err;

		if (c->v->keys[i].kind != kind)
			continue;
		c->key = &c->v->keys[i];
		err = render(out, c, inner);
		c->key = NULL;
		if (err == ENOENT) {       /* no such key on this phone */
			out->end = mark;
			out->pos = mark;
			continue;
		}
		if (err)
			return err;
	}
	return 0;
}

static int render(struct mbuf *out, struct ctx *c, const struct pl *body)
{
	const char *p = body->p, *end = body->p + body->l;
	int err = 0;

	while (p < end && !err) {
		const char *open = NULL, *close;
		struct pl tag;
		char buf[128];
		const char *val;

		for (const char *q = p; q + 1 < end; q++)
			if (q[0] == '{' && q[1] == '{') {
				open = q;
				break;
			}
		if (!open) {
			err = mbuf_write_mem(out, (const uint8_t *)p,
					     (size_t)(end - p));
			break;
		}
		err = mbuf_write_mem(out, (const uint8_t *)p,
				     (size_t)(open - p));
		close = NULL;
		for (const char *q = open + 2; q + 1 < end; q++)
			if (q[0] == '}' && q[1] == '}') {
				close = q;
				break;
			}
		if (err || !close) {
			struct pl at = { open, (size_t)(end - open) > 20 ? 20 :
				(size_t)(end - open) };
			return err ? err : fail(c->errbuf, c->errsz, EBADMSG,
						"unclosed '{{' at '%r'", &at);
		}
		tag.p = open + 2;
		tag.l = (size_t)(close - open - 2);
		p = close + 2;
		if (tag.l && tag.p[0] == '#') {
			char endtag[64];
			const char *stop;
			struct pl name = { tag.p + 1, tag.l - 1 }, inner;

			(void)re_snprintf(endtag, sizeof(endtag), "{{/%r}}",
					  &name);
			stop = NULL;
			for (const char *q = p; q + strlen(endtag) <= end; q++)
				if (!strncmp(q, endtag, strlen(endtag))) {
					stop = q;
					break;
				}
			if (!stop)
				return fail(c->errbuf, c->errsz, EBADMSG,
					    "section '%r' not closed", &name);
			inner.p = p;
			inner.l = (size_t)(stop - p);
			err = section(out, c, &name, &inner);
			p = stop + strlen(endtag);
			continue;
		}
		err = lookup(c, &tag, &val, buf, sizeof(buf));
		if (err == EINVAL)
			return fail(c->errbuf, c->errsz, EBADMSG,
				    "unknown variable '%r'", &tag);
		if (!err)
			err = put(out, c->t->xml, val);
	}
	if (!err && out->end > PROVTMPL_MAX_SIZE)
		err = EFBIG;
	return err;
}

int provtmpl_render(struct mbuf *out, const struct provtmpl *t,
		    const struct prov_vars *v, char *errbuf, size_t errsz)
{
	struct ctx c;

	if (!out || !t || !v || v->key_count > PROVTMPL_MAX_KEYS)
		return EINVAL;
	memset(&c, 0, sizeof(c));
	c.t = t;
	c.v = v;
	c.errbuf = errbuf;
	c.errsz = errsz;
	return render(out, &c, &t->body);
}
