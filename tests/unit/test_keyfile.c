/* test_keyfile: a secret kept in a file, made when missing: made once
 * then read back; 8 processes starting together on a missing file all
 * end up with the same secret (the first link wins, nobody reads a file
 * half written); its mode is 0640; a file that cannot be made says so. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <re.h>
#include "base/keyfile.h"
#include "tap.h"

#define NPROC 8

static int make_h(uint8_t *buf, size_t *lenp, void *arg)
{
	(void)arg;
	*lenp = 32;
	rand_bytes(buf, 32);
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/lp-test-keyfile-XXXXXX";
	char path[256], cmd[300];
	uint8_t a[64], b[64], got[NPROC][32];
	size_t na = 0, nb = 0;
	int fds[NPROC][2];
	struct stat s;
	bool same = true;

	libre_init();
	if (!mkdtemp(dir))
		return 1;
	re_snprintf(path, sizeof(path), "%s/one.key", dir);
	ok(!keyfile_load(path, a, sizeof(a), &na, make_h, NULL) && na == 32,
	   "a missing key is made (32 bytes)");
	ok(!keyfile_load(path, b, sizeof(b), &nb, make_h, NULL) && nb == 32 &&
	   !memcmp(a, b, 32), "then read back, the same");
	ok(!stat(path, &s) && (s.st_mode & 0777) == 0640, "mode 0640");

	re_snprintf(path, sizeof(path), "%s/race.key", dir);
	for (int i = 0; i < NPROC; i++) {
		if (pipe(fds[i]))
			return 1;
		if (!fork()) {
			uint8_t k[64];
			size_t n = 0;

			close(fds[i][0]);
			if (keyfile_load(path, k, sizeof(k), &n, make_h, NULL) ||
			    n != 32)
				memset(k, 0, 32);
			if (write(fds[i][1], k, 32) != 32)
				_exit(1);
			_exit(0);
		}
		close(fds[i][1]);
	}
	for (int i = 0; i < NPROC; i++) {
		if (read(fds[i][0], got[i], 32) != 32)
			memset(got[i], 0, 32);
		close(fds[i][0]);
		(void)wait(NULL);
		if (memcmp(got[i], got[0], 32))
			same = false;
	}
	{
		static const uint8_t zero[32];

		ok(same && memcmp(got[0], zero, 32), "%d processes making a "
		   "missing key together all read the same one", NPROC);
	}
	re_snprintf(path, sizeof(path), "%s/no/such/dir/x.key", dir);
	ok(keyfile_load(path, a, sizeof(a), &na, make_h, NULL) == ENOENT,
	   "a folder that does not exist: ENOENT");

	re_snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd)) {}
	libre_close();
	return tap_done();
}
