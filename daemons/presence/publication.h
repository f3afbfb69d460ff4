/* publication: one device's presence publication (RFC 3903), shared by
 * presentity.c (which owns and composes them) and publish.c (which
 * answers PUBLISH). */
#ifndef LP_PUBLICATION_H
#define LP_PUBLICATION_H

#include <re.h>

#define PUB_ETAG_LEN 16
#define PUB_MAX_PER_USER 16    /* per user and node; a new one evicts the
				* oldest */

struct presence;
struct presentity;
struct pidf;

struct publication {
	struct le le;          /* the presentity's, oldest first */
	struct le he;          /* presence.etags (another node's: .remote) */
	struct presentity *e;
	unsigned src;          /* the node that took it (0: this one) */
	char id[PUB_ETAG_LEN + 1];   /* its first entity tag: its name on
				      * the bus (`pub`) */
	char etag[PUB_ETAG_LEN + 1]; /* another node's: its id */
	uint64_t expires;      /* s since 1970 */
	uint64_t updated;      /* ms since 1970 */
	struct pidf *doc;
};

struct publication *pub_find(struct presence *p, const struct pl *etag);
const char *pub_user(const struct publication *pb);
int pub_put(struct presence *p, struct publication *pb, const char *user,
	    struct pidf *doc, const struct pl *raw, uint32_t expires,
	    const char *etag);
int pub_remove(struct presence *p, struct publication *pb);

#endif
