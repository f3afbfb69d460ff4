/* fuzz_dialoginfo: the dialog-info documents the BLF gateway writes,
 * from arbitrary call and presence state. The input's first byte picks
 * the phone quirks (blf_single_dialog, blf_initiator_confirmed,
 * blf_idle_between, blf_early_while_busy); each further line is a bus
 * message (topics dialog, pres, reg) handed to lamps.c as the bus would,
 * from this node or one of two others (its seq picks: the calls and
 * devices each node reports are kept apart).
 * Then every lamp's document is written twice for one subscription (so
 * that the quirks that depend on what was shown before run too) and must
 * be well-formed XML (libxml2). lamps.c is compiled in here as it is;
 * the few notifier functions it calls are stubs with other names. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libxml/parser.h>
#include <re.h>

#define nsub_presentity  fz_nsub_presentity
#define nsub_version     fz_nsub_version
#define nsub_mark        fz_nsub_mark
#define nsub_set_mark    fz_nsub_set_mark
#define nsub_set_state   fz_nsub_set_state
#define nsub_state       fz_nsub_state
#define notifier_changed fz_notifier_changed
#define notifier_foreach fz_notifier_foreach
#define notifier_all     fz_notifier_all
#include "../../daemons/blf/lamps.c"

struct nsub {
	const char *user;
	uint32_t version;
	uint8_t mark;
	enum nsub_state state;
};

const char *nsub_presentity(const struct nsub *s) { return s->user; }
uint32_t nsub_version(const struct nsub *s) { return s->version; }
uint8_t nsub_mark(const struct nsub *s) { return s->mark; }
void nsub_set_mark(struct nsub *s, uint8_t mark) { s->mark = mark; }
enum nsub_state nsub_state(const struct nsub *s) { return s->state; }
void nsub_set_state(struct nsub *s, enum nsub_state st, const char *reason)
{
	(void)reason;
	s->state = st;
}
void notifier_changed(struct notifier *n, const char *event,
		      const char *presentity)
{
	(void)n; (void)event; (void)presentity;
}
void notifier_foreach(struct notifier *n, const char *event,
		      const char *presentity, nsub_h *h, void *arg)
{
	(void)n; (void)event; (void)presentity; (void)h; (void)arg;
}
void notifier_all(struct notifier *n, nsub_h *h, void *arg)
{
	(void)n; (void)h; (void)arg;
}

static struct conf *conf;

static bool render_h(struct le *le, void *arg)
{
	struct lamp *l = le->data;
	struct nsub s = { l->user, 1, SHOW_UNKNOWN, NSUB_ACTIVE };
	struct mbuf *mb;

	(void)arg;
	for (int i = 0; i < 2; i++, s.version++) {
		xmlDocPtr doc;

		mb = mbuf_alloc(512);
		if (!mb || lamp_body(mb, &s, arg)) {
			mem_deref(mb);
			continue;
		}
		doc = xmlReadMemory((const char *)mb->buf, (int)mb->end,
				    "dialog-info", NULL, XML_PARSE_NONET |
				    XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
		if (!doc) {            /* we wrote what no parser reads */
			const xmlError *e = xmlGetLastError();

			fprintf(stderr, "not well-formed (%s):\n%.*s\n",
				e && e->message ? e->message : "?",
				(int)mb->end, (const char *)mb->buf);
			abort();
		}
		xmlFreeDoc(doc);
		mem_deref(mb);
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char base[] = "domain = example.org\n";
	struct blf b;
	const char *p = (const char *)data, *end = p + size;

	if (!conf) {
		char *msg = NULL;

		(void)libre_init();
		xmlInitParser();
		if (conf_parse(&conf, base, sizeof(base) - 1, "fuzz", &msg))
			abort();
		mem_deref(msg);
	}
	if (!size)
		return 0;
	conf->blf_single_dialog = data[0] & 1;
	conf->blf_initiator_confirmed = data[0] & 2;
	conf->blf_idle_between = data[0] & 4;
	conf->blf_early_while_busy = data[0] & 8;
	memset(&b, 0, sizeof(b));
	b.conf = conf;
	b.reg_known = true;
	str_ncpy(b.busy[0], "busy", sizeof(b.busy[0]));
	str_ncpy(b.busy[1], "meeting", sizeof(b.busy[1]));
	b.nbusy = 2;
	if (lamps_init(&b))
		return 0;
	++p;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		struct bus_msg m;

		memset(&m, 0, sizeof(m));
		if (n && !bus_msg_decode(&m, p, n) && m.topic && m.key &&
		    m.type) {
			/* the node that says it: this one, or one of
			 * two others (the input's seq chooses) */
			unsigned src = (unsigned)(m.seq % 3);

			if (!strcmp(m.topic, "dialog"))
				lamps_dialog_h(src, &m, &b);
			else if (!strcmp(m.topic, "pres"))
				lamps_pres_h(&m, &b);
			else if (!strcmp(m.topic, "reg"))
				lamps_reg_h(src, &m, &b);
		}
		mem_deref(m.root);
		p = nl ? nl + 1 : end;
	}
	hash_apply(b.lamps, render_h, &b);
	lamps_close(&b);
	return 0;
}
