/* sockage: the age of the datagram just read (sockage.h). */
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <time.h>
#include "sip/sockage.h"

int64_t sockage_ms(int fd)
{
	struct timespec stamp, now;
	int64_t ms;

	if (fd < 0 || ioctl(fd, SIOCGSTAMPNS, &stamp) ||
	    clock_gettime(CLOCK_REALTIME, &now))
		return -1;
	ms = (int64_t)(now.tv_sec - stamp.tv_sec) * 1000 +
		(now.tv_nsec - stamp.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
}
