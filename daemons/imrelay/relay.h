/* relay: a MESSAGE from a user (relay.c), checked, handed to deliver.c
 * and answered when its delivery ends; retransmissions answered again. */
#ifndef LP_RELAY_H
#define LP_RELAY_H

#include <stdint.h>
#include <re.h>

struct imrelay;

int  relay_init(struct imrelay *r);
/* MESSAGE from a user */
void relay_request(struct imrelay *r, const struct sip_msg *msg,
		   const char *sender);
void relay_tick(struct imrelay *r, uint64_t now);
/* Shed stale requests on this UDP socket (ours) before libre reads them */
void relay_attach(struct imrelay *r, void *sock);
void relay_close(struct imrelay *r);

#endif
