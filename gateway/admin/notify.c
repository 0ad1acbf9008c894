/*
 * notify.c: the service manager's readiness protocol (sd_notify(3)): one
 * datagram per change of state to the AF_UNIX socket that NOTIFY_SOCKET
 * names, a path or, after '@', an abstract name. Written here rather than
 * linking libsystemd for one sendto(). Without NOTIFY_SOCKET (not started
 * by systemd with Type=notify) it does nothing.
 *
 * Must never: block (a datagram, MSG_DONTWAIT), fail the daemon (the
 * manager may be gone: a debug line), or send to a name it had to cut.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "admin.h"
#include "log.h"

/* The socket address NOTIFY_SOCKET names; 0 when unset or unusable. */
static socklen_t notify_address(struct sockaddr_un *sa)
{
	const char *name = getenv("NOTIFY_SOCKET");
	size_t len = name ? strlen(name) : 0;
	if (len < 2 || (name[0] != '/' && name[0] != '@') || len >= sizeof(sa->sun_path))
		return 0;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, name, len);
	if (name[0] == '@')
		sa->sun_path[0] = '\0'; /* the abstract namespace: no terminating NUL counted */
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (name[0] == '/'));
}

int service_notify(const char *state)
{
	struct sockaddr_un sa;
	socklen_t salen = notify_address(&sa);
	if (!salen)
		return 0;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	ssize_t n = sendto(fd, state, strlen(state), MSG_DONTWAIT | MSG_NOSIGNAL,
	                   (struct sockaddr *)&sa, salen);
	int err = errno;
	close(fd);
	if (n < 0) {
		log_msg(GW_LOG_DEBUG, LS_MAIN, 0, NULL, "service manager notification: %s",
		        strerror(err));
		return -1;
	}
	return 0;
}
