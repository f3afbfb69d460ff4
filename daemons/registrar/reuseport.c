/* reuseport: the edge workers' shared UDP listen sockets. Each worker
 * binds the same udp listen addresses with SO_REUSEPORT, and the kernel
 * spreads the datagrams over them by a hash of the source and destination
 * (one phone's datagrams always reach the same worker, while the group of
 * workers stays the same). libre binds its SIP sockets inside
 * sip_transp_add() and offers no way to set an option before the bind, so
 * this program defines bind() itself: libre's call reaches it (the
 * executable's symbol comes first), and it sets SO_REUSEPORT on a UDP
 * socket bound to one of the addresses reuseport_share() named, then
 * binds with the system call. Every other bind (TCP, the bus, route_edge,
 * ephemeral sockets) is the plain system call. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <re.h>
#include "reuseport.h"

#define MAX_SHARED 8

static struct sa shared[MAX_SHARED];
static unsigned nshared;

void reuseport_share(const struct sa *addrs, unsigned n)
{
	nshared = 0;
	for (unsigned i = 0; i < n && i < MAX_SHARED; i++)
		shared[nshared++] = addrs[i];
}

static bool is_shared(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sa sa;
	int type = 0;
	socklen_t tl = sizeof(type);

	if (!nshared || !addr || len > sizeof(sa.u) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
		return false;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) ||
	    type != SOCK_DGRAM)
		return false;
	sa_init(&sa, addr->sa_family);
	memcpy(&sa.u, addr, len);
	sa.len = len;
	for (unsigned i = 0; i < nshared; i++)
		if (sa_cmp(&sa, &shared[i], SA_ALL))
			return true;
	return false;
}

int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	if (is_shared(fd, addr, len)) {
		const int on = 1;

		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)))
			return -1;
	}
	return (int)syscall(SYS_bind, fd, addr, len);
}
