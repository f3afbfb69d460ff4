/* provfile: one device's provisioning file, from its vendor's template
 * (provtmpl.h), its owner, its keys and its credentials; what the
 * provisioning server sends and `lamplightctl device file` prints. */
#ifndef LP_PROVFILE_H
#define LP_PROVFILE_H

#include <re.h>
#include "base/conf.h"
#include "store/store.h"
#include "store/store_devices.h"
#include "prov/provtmpl.h"

/* Where the templates are: $LAMPLIGHT_PROV_TEMPLATES, else installed. */
const char *provfile_dir(void);
/* The device key of this installation (state_dir/device.key). */
int  provfile_key(const struct conf *conf, uint8_t key[DEVICE_KEY_BYTES]);
int  provfile_render(struct mbuf *out, struct store *admin,
		     const struct conf *conf, const uint8_t *key,
		     const struct device_rec *d, const struct provtmpl *t,
		     char *errbuf, size_t errsz);

#endif
