/* keyfile: a secret in a file of its own, made when missing (keyfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include "base/keyfile.h"

int keyfile_load(const char *path, uint8_t *buf, size_t size, size_t *lenp,
		 keyfile_make_h *makeh, void *arg)
{
	ssize_t n;
	int fd;

	if (!path || !buf || !lenp || !makeh)
		return EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		size_t len = size;
		int err = makeh(buf, &len, arg);

		if (err)
			return err;
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
		if (fd < 0)
			return errno == EEXIST
				? keyfile_load(path, buf, size, lenp, makeh,
					       arg)
				: errno;
		n = write(fd, buf, len);
		if (n != (ssize_t)len || fsync(fd)) {
			(void)close(fd);
			(void)unlink(path);
			return EIO;
		}
		(void)close(fd);
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
