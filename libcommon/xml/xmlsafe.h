/* xmlsafe: XML that others send us (PIDF from phones; XCAP and RLMI to
 * come), read with libxml2 so that reading it loads nothing, expands
 * nothing and includes nothing.
 *
 * Refused, before or after libxml2 reads it: a NUL byte, a DOCTYPE (and
 * with it every entity, internal or external), an encoding other than
 * UTF-8, a processing instruction (<?xml-stylesheet?> and the like: a
 * reader further on may act on it), an XInclude element (either
 * namespace: libxml2 does not process it, but whoever gets the document
 * from us might), an xsi:schemaLocation or xsi:noNamespaceSchemaLocation
 * (a validating reader would load the schema), and elements nested
 * deeper than the caller allows. The parser itself never touches the
 * network (XML_PARSE_NONET) and substitutes no entities. */
#ifndef LP_XMLSAFE_H
#define LP_XMLSAFE_H

#include <stddef.h>
#include <stdint.h>
#include <libxml/tree.h>

#define XINCLUDE_NS_2001 "http://www.w3.org/2001/XInclude"
#define XINCLUDE_NS_2003 "http://www.w3.org/2003/XInclude"
#define XSI_NS           "http://www.w3.org/2001/XMLSchema-instance"

/* Read `buf` into *docp (xmlFreeDoc it), with libxml2's `opts` on top of
 * ours (those that load or expand anything are taken off). 0, or
 * EBADMSG with *reason a static 400 reason phrase for SIP or HTTP
 * ("Bad Request: XInclude Not Allowed"), or EINVAL. */
int xmlsafe_read(xmlDoc **docp, const uint8_t *buf, size_t len,
		 int opts, unsigned max_depth, const char **reason);

#endif
