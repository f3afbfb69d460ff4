/* gone: the bindings of a user deleted from the admin database are
 * dropped within a second: the user's phones stop ringing, the bus (and
 * so presence and the lamps) sees them unregistered, and a user added
 * again under the name starts with none. */
#ifndef LP_GONE_H
#define LP_GONE_H

struct gone;
struct edge;

int gone_alloc(struct gone **gp, struct edge *r, const char *admin_db);

#endif
