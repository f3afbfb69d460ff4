/* keyfile: a secret in a file of its own, made when missing (keyfile.h).
 * The secret is written to a file of a name of its own, synced, then
 * linked to `path`: a program that starts meanwhile never reads a file
 * half written, and the first link wins. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include "base/keyfile.h"

static int make(const char *path, keyfile_make_h *makeh, void *arg,
		uint8_t *buf, size_t size)
{
	char tmp[4096];
	size_t len = size;
	ssize_t n;
	int fd, err;

	err = makeh(buf, &len, arg);
	if (err)
		return err;
	n = snprintf(tmp, sizeof(tmp), "%s.%ld.new", path, (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0)
		return errno;
	n = write(fd, buf, len);
	err = n != (ssize_t)len || fsync(fd) ? EIO : 0;
	(void)close(fd);
	if (!err && link(tmp, path) && errno != EEXIST)
		err = errno;
	(void)unlink(tmp);
	return err;
}

int keyfile_load(const char *path, uint8_t *buf, size_t size, size_t *lenp,
		 keyfile_make_h *makeh, void *arg)
{
	ssize_t n;
	int fd, err;

	if (!path || !buf || !lenp || !makeh)
		return EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		/* EEXIST from link: another program's came first, read it */
		err = make(path, makeh, arg, buf, size);
		if (err)
			return err;
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0)
		return errno;
	n = read(fd, buf, size);
	(void)close(fd);
	if (n < 0)
		return EIO;
	*lenp = (size_t)n;
	return 0;
}
