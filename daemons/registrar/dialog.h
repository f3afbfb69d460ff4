/* dialog: the state of every call through the edge, for the caller's user
 * and for the callee's, published on the bus (topic `dialog`). */
#ifndef LP_DIALOG_H
#define LP_DIALOG_H

#include <re.h>

struct bus_pub;
struct dialogs;

int  dialogs_alloc(struct dialogs **dp, struct bus_pub *pub,
		   const char *domain);
void dialogs_invite(struct dialogs *d, const struct sip_msg *inv,
		    const char *caller, const char *callee);
void dialogs_response(struct dialogs *d, const struct sip_msg *inv,
		      const struct sip_msg *resp);
bool dialogs_answered(struct dialogs *d, const struct sip_msg *inv);
void dialogs_end(struct dialogs *d, const struct pl *callid,
		 const char *reason);

#endif
