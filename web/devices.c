/* devices: the Devices page (list with the last fetch of each file, add)
 * and one device's page: vendor, model, owner, the credentials to type
 * into the phone (or its provisioning URL), a reset of them, its keys
 * (position, BLF or speed dial, target, label), delete. A change is in
 * the phone's file at its next fetch. */
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <re.h>
#include "store/store_users.h"
#include "prov/provfile.h"
#include "cgi.h"

static const char *const vendors[] = {
	"yealink", "polycom", "grandstream", "snom", "cisco",
};

static int when(struct re_printf *pf, void *arg)
{
	const uint64_t *t = arg;
	char buf[32];
	time_t tt = (time_t)*t;
	struct tm tm;

	if (!*t)
		return re_hprintf(pf, "never");
	(void)gmtime_r(&tt, &tm);
	(void)strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
	return re_hprintf(pf, "%s", buf);
}

static int row_h(const struct device_rec *d, void *arg)
{
	struct req *r = arg;

	return mbuf_printf(r->body, "<tr><td><a href=\"%s/device?mac=%s\">"
			   "%s</a></td><td>%s</td><td>%H</td><td>%H</td>"
			   "<td class=\"fetch\">%H%s%H</td></tr>", r->script,
			   d->mac, d->mac, d->vendor, xml_escape, d->model,
			   xml_escape, d->owner, when, &d->last_fetch,
			   d->last_fetch ? " from " : "", xml_escape,
			   d->last_addr);
}

static int vendor_select(struct req *r, const char *cur)
{
	int err = mbuf_printf(r->body, "<label>Vendor <select name=\""
			      "vendor\">");

	for (size_t i = 0; i < ARRAY_SIZE(vendors); i++)
		err |= mbuf_printf(r->body, "<option%s>%s</option>",
				   strcmp(cur, vendors[i]) ? "" :
				   " selected", vendors[i]);
	return err | mbuf_printf(r->body, "</select></label>");
}


/* The device of the form's fields, checked; false: errors were set. */
static bool device_from_form(struct req *r, struct device_rec *d)
{
	const char *e;

	memset(d, 0, sizeof(*d));
	e = device_mac_normalise(d->mac, cgi_field(r, "mac"));
	if (e)
		cgi_error(r, "mac", "%s", e);
	e = device_vendor_check(cgi_field(r, "vendor"));
	if (e)
		cgi_error(r, "vendor", "%s", e);
	else
		str_ncpy(d->vendor, cgi_field(r, "vendor"), sizeof(d->vendor));
	e = device_model_check(cgi_field(r, "model"));
	if (e)
		cgi_error(r, "model", "%s", e);
	else
		str_ncpy(d->model, cgi_field(r, "model"), sizeof(d->model));
	if (users_exists(r->admin, cgi_field(r, "owner")))
		str_ncpy(d->owner, cgi_field(r, "owner"), sizeof(d->owner));
	else
		cgi_error(r, "owner", "no user '%s'", cgi_field(r, "owner"));
	return !r->nerrors;
}

int page_devices(struct req *r)
{
	bool post = !strcmp(r->method, "POST");

	if (post) {
		struct device_rec d;
		uint8_t key[DEVICE_KEY_BYTES];
		int err;

		if (device_from_form(r, &d)) {
			err = provfile_key(r->conf, key);
			err = err ? err : devices_add(r->admin, key,
						      r->conf->domain, &d);
			if (err == EEXIST || err == EINVAL)
				cgi_error(r, "mac", "a device with this MAC "
					  "address exists");
			else if (err)
				cgi_error(r, "mac", "could not be stored: %m",
					  err);
			else {
				cgi_log(r, "admin '%s' added device %s",
					r->ws.admin, d.mac);
				return cgi_redirect(r, "/devices");
			}
		}
	}
	(void)page_begin(r, "Devices");
	(void)mbuf_printf(r->body, "<table id=\"devices\"><thead><tr><th>MAC"
			  "</th><th>Vendor</th><th>Model</th><th>Owner</th>"
			  "<th>Last fetched its file</th></tr></thead><tbody>");
	(void)devices_foreach(r->admin, row_h, r);
	(void)mbuf_printf(r->body, "</tbody></table><h2>Add a device</h2>"
			  "<form method=\"post\" action=\"%s/devices\" "
			  "id=\"add-device\">", r->script);
	(void)page_csrf(r);
	(void)page_input(r, "MAC address", "mac", "text",
			 r->nerrors ? cgi_field(r, "mac") : "",
			 " required placeholder=\"00:15:65:12:34:56\"");
	(void)vendor_select(r, cgi_field(r, "vendor"));
	(void)page_input(r, "Model", "model", "text",
			 r->nerrors ? cgi_field(r, "model") : "",
			 " placeholder=\"T46U\"");
	(void)page_input(r, "Owner (user)", "owner", "text",
			 r->nerrors ? cgi_field(r, "owner") : "",
			 " required");
	(void)mbuf_printf(r->body, "<button>Add</button></form>");
	(void)page_end(r);
	return cgi_send(r, post && r->nerrors ? 422 : 200,
			"text/html; charset=utf-8");
}

static int key_row_h(const struct key_rec *k, void *arg)
{
	struct req *r = arg;
	const char *mac = cgi_param(r, "mac");

	(void)mbuf_printf(r->body, "<tr><td>%u</td><td>%s</td><td>%H</td>"
			  "<td>%H</td><td><form method=\"post\" action=\"%s/"
			  "device?mac=%H\">", k->position,
			  k->kind == KEY_BLF ? "BLF" : "speed dial", xml_escape,
			  k->target, xml_escape, k->label, r->script, xml_escape,
			  mac);
	(void)page_csrf(r);
	return mbuf_printf(r->body, "<input type=\"hidden\" name=\"action\" "
			   "value=\"keydel\"><input type=\"hidden\" name=\""
			   "position\" value=\"%u\"><button>Remove</button>"
			   "</form></td></tr>", k->position);
}

static void key_set(struct req *r, const char *mac)
{
	struct key_rec k;
	const char *pos = cgi_field(r, "position");
	const char *target = cgi_field(r, "target");
	const char *label = cgi_field(r, "label");
	char *end = NULL;
	long n = strtol(pos, &end, 10);
	int err;

	memset(&k, 0, sizeof(k));
	if (!*pos || *end || n < 1 || n > DEVICE_MAX_KEYS)
		cgi_error(r, "position", "a key position is 1 to %u",
			  DEVICE_MAX_KEYS);
	if (key_kind_parse(&k.kind, cgi_field(r, "kind")))
		cgi_error(r, "kind", "BLF or speed dial");
	else if (k.kind == KEY_BLF && !users_exists(r->admin, target))
		cgi_error(r, "target", "a BLF key watches a user: no user "
			  "'%s'", target);
	else if (k.kind == KEY_SPEED && !users_name_valid(target) &&
		 device_number_check(target))
		cgi_error(r, "target", "a user or a number (0-9 * # +)");
	if (device_label_check(label) || strpbrk(label, ";|"))
		cgi_error(r, "label", "at most 32 characters, no ; or |");
	if (r->nerrors)
		return;
	k.position = (uint32_t)n;
	str_ncpy(k.target, target, sizeof(k.target));
	str_ncpy(k.label, *label ? label : target, sizeof(k.label));
	err = keys_set(r->admin, mac, &k);
	if (err)
		cgi_error(r, "position", "could not be stored: %m", err);
	else
		(void)re_snprintf(r->notice, sizeof(r->notice), "Key %u "
				  "saved.", k.position);
}

static int act(struct req *r, struct device_rec *d)
{
	const char *action = cgi_field(r, "action");
	uint8_t key[DEVICE_KEY_BYTES];
	int err = 0;

	if (!strcmp(action, "keyset"))
		key_set(r, d->mac);
	else if (!strcmp(action, "keydel")) {
		err = keys_del(r->admin, d->mac,
			       (uint32_t)atoi(cgi_field(r, "position")));
		(void)re_snprintf(r->notice, sizeof(r->notice),
				  "Key removed.");
	}
	else if (!strcmp(action, "edit")) {
		struct device_rec n;

		if (!device_from_form(r, &n))
			return 0;
		str_ncpy(n.mac, d->mac, sizeof(n.mac));
		err = provfile_key(r->conf, key);
		err = err ? err : devices_update(r->admin, key, r->conf->domain,
						 &n);
		(void)re_snprintf(r->notice, sizeof(r->notice), "Saved.");
	}
	else if (!strcmp(action, "reset")) {
		err = provfile_key(r->conf, key);
		err = err ? err : devices_reset(r->admin, key,
						r->conf->domain, d->mac);
		cgi_log(r, "admin '%s' reset the credentials of device %s",
			r->ws.admin, d->mac);
		(void)re_snprintf(r->notice, sizeof(r->notice), "New "
				  "credentials: the phone needs them before "
				  "its next fetch.");
	}
	else
		cgi_error(r, "action", "unknown action");
	if (err)
		(void)re_snprintf(r->notice, sizeof(r->notice), "Not saved: "
				  "%m", err);
	return err;
}

int page_device(struct req *r)
{
	struct device_rec d;
	uint8_t key[DEVICE_KEY_BYTES];
	char sip[DEVICE_SECRET_LEN + 1], prov[DEVICE_SECRET_LEN + 1];
	char mac[DEVICE_MAC_LEN + 1];
	bool post = !strcmp(r->method, "POST");

	if (device_mac_normalise(mac, cgi_param(r, "mac")) ||
	    devices_get(r->admin, mac, &d))
		return cgi_fail(r, 404, "No such device.");
	if (post && !strcmp(cgi_field(r, "action"), "del")) {
		if (devices_del(r->admin, mac))
			return cgi_fail(r, 500, "The device could not be "
					"deleted.");
		cgi_log(r, "admin '%s' deleted device %s", r->ws.admin, mac);
		return cgi_redirect(r, "/devices");
	}
	if (post) {
		(void)act(r, &d);
		(void)devices_get(r->admin, mac, &d);
	}
	if (provfile_key(r->conf, key))
		return cgi_fail(r, 500, "The device key cannot be read.");
	devices_secret(sip, key, "sip", d.mac, d.gen);
	devices_secret(prov, key, "prov", d.mac, d.gen);

	(void)page_begin(r, d.mac);
	(void)mbuf_printf(r->body, "<p class=\"fetch\">Last fetched its file:"
			  " %H%s%H</p>", when, &d.last_fetch,
			  d.last_fetch ? " from " : "", xml_escape, d.last_addr);
	(void)mbuf_printf(r->body, "<h2>Device</h2><form method=\"post\" "
			  "action=\"%s/device?mac=%s\"><input type=\"hidden\" "
			  "name=\"action\" value=\"edit\"><input type=\"hidden\""
			  " name=\"mac\" value=\"%s\">", r->script, d.mac,
			  d.mac);
	(void)page_csrf(r);
	(void)vendor_select(r, d.vendor);
	(void)page_input(r, "Model", "model", "text", d.model, NULL);
	(void)page_input(r, "Owner (user)", "owner", "text", d.owner,
			 " required");
	(void)mbuf_printf(r->body, "<button>Save</button></form>"
		"<h2>Credentials</h2><dl class=\"creds\">"
		"<dt>Provisioning user</dt><dd id=\"prov-user\">%s</dd>"
		"<dt>Provisioning password</dt><dd id=\"prov-pass\">%s</dd>"
		"<dt>SIP auth name</dt><dd id=\"sip-user\">%H~%s</dd>"
		"<dt>SIP password</dt><dd id=\"sip-pass\">%s</dd></dl>"
		"<p>The phone's provisioning server: <code>http://%s:%s@"
		"<var>this-host</var>/prov/</code></p>"
		"<form method=\"post\" action=\"%s/device?mac=%s\">"
		"<input type=\"hidden\" name=\"action\" value=\"reset\">",
		d.mac, prov, xml_escape, d.owner, d.mac, sip, d.mac, prov,
		r->script, d.mac);
	(void)page_csrf(r);
	(void)mbuf_printf(r->body, "<button>New credentials</button></form>"
			  "<h2>Keys</h2><table id=\"keys\"><thead><tr><th>"
			  "Position</th><th>Kind</th><th>Target</th><th>Label"
			  "</th><th></th></tr></thead><tbody>");
	(void)keys_foreach(r->admin, d.mac, key_row_h, r);
	(void)mbuf_printf(r->body, "</tbody></table><form method=\"post\" "
			  "action=\"%s/device?mac=%s\" id=\"set-key\"><input "
			  "type=\"hidden\" name=\"action\" value=\"keyset\">",
			  r->script, d.mac);
	(void)page_csrf(r);
	(void)page_input(r, "Position", "position", "number",
			 r->nerrors ? cgi_field(r, "position") : "",
			 " min=\"1\" max=\"100\" required");
	(void)mbuf_printf(r->body, "<label>Kind <select name=\"kind\">"
			  "<option value=\"blf\">BLF</option><option value=\""
			  "speed\">speed dial</option></select></label>");
	(void)page_input(r, "Target (user or number)", "target", "text",
			 r->nerrors ? cgi_field(r, "target") : "",
			 " required");
	(void)page_input(r, "Label", "label", "text",
			 r->nerrors ? cgi_field(r, "label") : "", NULL);
	(void)mbuf_printf(r->body, "<button>Set key</button></form>"
			  "<h2>Delete</h2><form method=\"post\" action=\"%s/"
			  "device?mac=%s\"><input type=\"hidden\" name=\""
			  "action\" value=\"del\">", r->script, d.mac);
	(void)page_csrf(r);
	(void)mbuf_printf(r->body, "<button class=\"danger\">Delete this "
			  "device</button></form>");
	(void)page_end(r);
	return cgi_send(r, post && r->nerrors ? 422 : 200,
			"text/html; charset=utf-8");
}
