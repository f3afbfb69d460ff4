/* sockbuf: find our UDP sockets by address and enlarge their receive
 * buffers (sockbuf.h says why). O(open fds), once at start. */
#include <errno.h>
#include <string.h>
#include <dirent.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <re.h>
#include "base/sockbuf.h"

/* Every UDP socket bound to `laddr` gets `bytes` (the kernel clamps it to
 * net.core.rmem_max); `got` is what the last one has now. */
int sockbuf_udp_rcvbuf(const struct sa *laddr, int bytes, int *got)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = 0;

	if (!d)
		return errno;
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name), type = 0, v = 0;
		socklen_t len = sizeof(type);
		struct sa sa;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
		    fd == dirfd(d))
			continue;
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) ||
		    type != SOCK_DGRAM)
			continue;
		sa_init(&sa, AF_UNSPEC);
		sa.len = sizeof(sa.u);
		if (getsockname(fd, &sa.u.sa, &sa.len) ||
		    !sa_cmp(&sa, laddr, SA_ALL))
			continue;
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes,
				 sizeof(bytes));
		len = sizeof(v);
		if (got && !getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len))
			*got = v;
		++found;
	}
	closedir(d);
	return found ? 0 : ENOENT;
}
