/* pidf: presence documents (RFC 3863 PIDF, RFC 4479 data model, RFC 4480
 * RPID). A publisher's document is parsed into a model with every value
 * examined (names from a closed set, sizes capped); a watcher's document
 * is printed from a model, never copied from a publisher's bytes. */
#ifndef LP_PIDF_H
#define LP_PIDF_H

#include <stdbool.h>
#include <stdint.h>
#include <re.h>

#define PIDF_NS  "urn:ietf:params:xml:ns:pidf"
#define PIDF_DM  "urn:ietf:params:xml:ns:pidf:data-model"
#define PIDF_RPID "urn:ietf:params:xml:ns:pidf:rpid"

#define PIDF_MAX_TUPLES 16     /* per document */
#define PIDF_MAX_TOKENS 8      /* activities, moods per person */
#define PIDF_MAX_DEPTH 12      /* element nesting */
#define PIDF_MAX_TEXT 512      /* a note, a contact */

struct pidf_tuple {
	struct le le;
	char *id;
	bool open;
	char *contact;         /* NULL: none */
	int32_t priority;      /* 0..1000 (q-value x 1000), -1: none */
	char *note;
	char *timestamp;       /* RFC 3339, characters checked */
};

struct pidf {
	char *entity;          /* sip:user@domain or pres:user@domain */
	struct list tuples;    /* struct pidf_tuple */
	bool person;           /* a person element is present */
	char *person_id;
	char *activities[PIDF_MAX_TOKENS];
	unsigned nact;
	char *moods[PIDF_MAX_TOKENS];
	unsigned nmood;
	char *place;           /* RPID place-type, a token */
	char *note;            /* the person's note, else the document's */
};

/* Why a document was refused: the SIP answer and its reason phrase. */
struct pidf_err {
	uint16_t code;
	const char *reason;
};

void pidf_init(void);
int  pidf_alloc(struct pidf **pp, const char *entity);
int  pidf_parse(struct pidf **pp, const uint8_t *buf, size_t len,
		size_t max_size, struct pidf_err *e);
int  pidf_tuple_add(struct pidf *p, const char *id, bool open,
		    const char *contact, const char *note);
int  pidf_token_add(char **v, unsigned *n, const char *tok);
bool pidf_entity_is(const struct pidf *p, const char *user,
		    const char *domain);
bool pidf_open(const struct pidf *p);
int  pidf_print(struct re_printf *pf, const struct pidf *p);

#endif
