/* dialog: the state of every call through the edge, for the caller's user
 * and for the callee's, published on the bus (topic `dialog`); and the
 * end of a call nobody keeps alive (RFC 4028 session timer). */
#ifndef LP_DIALOG_H
#define LP_DIALOG_H

#include <re.h>

struct bus_pub;
struct dialogs;
struct edge;

/* Where one party of a call is reached: its flow. */
struct dlg_flow {
	enum sip_transp tp;
	struct sa dst;
};

int  dialogs_alloc(struct dialogs **dp, struct edge *r, struct bus_pub *pub);
void dialogs_invite(struct dialogs *d, const struct sip_msg *inv,
		    const char *caller, const char *callee);
/* An answer relayed to the caller; a 2xx names the callee's flow and the
 * session interval it set (s; 0: no session timer). */
void dialogs_response(struct dialogs *d, const struct sip_msg *inv,
		      const struct sip_msg *resp,
		      const struct dlg_flow *callee, uint32_t interval);
bool dialogs_answered(struct dialogs *d, const struct sip_msg *inv);
/* A request inside a call, from either party (its CSeq, its target, a
 * BYE). */
void dialogs_request(struct dialogs *d, const struct sip_msg *msg);
/* A 2xx to a re-INVITE or UPDATE inside a call: the session refreshed. */
void dialogs_refresh(struct dialogs *d, const struct sip_msg *resp);
void dialogs_end(struct dialogs *d, const struct pl *callid,
		 const char *reason);
bool dialogs_knows(struct dialogs *d, const struct pl *callid,
		   const struct pl *tag1, const struct pl *tag2);
uint32_t dialogs_count(const struct dialogs *d);

#endif
