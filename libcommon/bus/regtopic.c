/* regtopic: reading the `reg` topic (regtopic.h). */
#include <errno.h>
#include <string.h>
#include <re.h>
#include "bus/bus.h"
#include "bus/regtopic.h"

int regtopic_devices(const struct bus_msg *m, uint32_t *n)
{
	const struct odict_entry *ce;

	if (!m || !n || !m->key || !m->key[0])
		return EINVAL;
	*n = 0;
	if (!strcmp(m->type, "del"))
		return 0;
	if (strcmp(m->type, "set"))
		return EINVAL;
	ce = m->data ? odict_get_type(m->data, ODICT_ARRAY, "contacts") : NULL;
	for (struct le *le = ce ? ce->u.odict->lst.head : NULL; le;
	     le = le->next) {
		const struct odict_entry *c = le->data;
		bool reach = true;

		if (c->type != ODICT_OBJECT)
			continue;
		(void)odict_get_boolean(c->u.odict, &reach, "reachable");
		*n += reach ? 1 : 0;
	}
	return 0;
}
