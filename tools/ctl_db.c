/* ctl_db: the admin database, opened for writing by the commands of
 * lamplightctl (users in lamplightctl.c; admins, devices and keys in
 * ctl_device.c), with the one message they print when it fails. */
#include <stdio.h>
#include <string.h>
#include <re.h>
#include "base/conf.h"
#include "store/store_users.h"
#include "ctl_db.h"

int open_admin(const struct conf *conf, struct store **stp)
{
	int err = users_open(stp, conf->admin_db, false);

	if (err)
		fprintf(stderr, "lamplightctl: admin database '%s': %s\n",
			conf->admin_db, strerror(err));
	return err;
}
