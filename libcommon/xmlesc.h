/* xmlesc: text escaped for XML and HTML (& < > " '), as a %H print
 * handler: PIDF and dialog-info documents, the admin page, provisioning
 * files. */
#ifndef LP_XMLESC_H
#define LP_XMLESC_H

#include <re.h>

int xml_escape(struct re_printf *pf, const char *s);

#endif
