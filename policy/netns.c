/*
 * netns.c: making and joining a tenant's network namespace (netns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns.h"

/* In the child: the new namespace, and its loopback up. 0 or an errno,
 * with *step naming what failed. */
static int
netns_child_setup(const char **step)
{
	struct ifreq ifr;
	int s, e;

	*step = "unshare(CLONE_NEWNET)";
	if (unshare(CLONE_NEWNET) == -1)
		return errno;
	*step = "socket";
	if ((s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	*step = "SIOCGIFFLAGS lo";
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == -1)
		goto fail;
	ifr.ifr_flags |= IFF_UP;
	*step = "SIOCSIFFLAGS lo up";
	if (ioctl(s, SIOCSIFFLAGS, &ifr) == -1)
		goto fail;
	close(s);
	return 0;
fail:
	e = errno;
	close(s);
	return e;
}

int
netns_new(char *err, size_t errlen)
{
	static const char *const steps[] = { "unshare(CLONE_NEWNET)",
	    "socket", "SIOCGIFFLAGS lo", "SIOCSIFFLAGS lo up" };
	int ready[2], hold[2], answer[2], fd = -1, status;
	char path[64];
	pid_t pid;
	ssize_t n;

	/* ready: the child's answer (step index, errno); hold: the child
	 * stays in the namespace until the parent has opened it. */
	if (pipe2(ready, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(hold, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	pid = fork();
	if (pid == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		close(hold[0]);
		close(hold[1]);
		return -1;
	}
	if (pid == 0) {
		const char *step = "";
		char c;
		size_t i;

		close(ready[0]);
		close(hold[1]);
		answer[0] = -1;
		answer[1] = netns_child_setup(&step);
		for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
			if (strcmp(steps[i], step) == 0)
				answer[0] = (int)i;
		if (write(ready[1], answer, sizeof(answer)) !=
		    (ssize_t)sizeof(answer))
			_exit(1);
		/* EOF when the parent is done with us. */
		while (read(hold[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	do
		n = read(ready[0], answer, sizeof(answer));
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)sizeof(answer))
		snprintf(err, errlen, "the namespace's child died before it "
		    "answered");
	else if (answer[1] != 0)
		snprintf(err, errlen, "%s: %s", answer[0] >= 0 && answer[0] <
		    (int)(sizeof(steps) / sizeof(steps[0])) ?
		    steps[answer[0]] : "?", strerror(answer[1]));
	else {
		snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
	}
	close(ready[0]);
	close(hold[1]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (fd != -1 && !netns_is_other(fd)) {
		snprintf(err, errlen, "the new namespace is the caller's own");
		close(fd);
		fd = -1;
	}
	return fd;
}

int
netns_is_other(int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) == -1 || stat("/proc/self/ns/net", &b) == -1)
		return 0;
	return a.st_dev != b.st_dev || a.st_ino != b.st_ino;
}

int
netns_join(int fd, char *err, size_t errlen)
{
	if (setns(fd, CLONE_NEWNET) == -1) {
		snprintf(err, errlen, "setns(CLONE_NEWNET): %s",
		    strerror(errno));
		return -1;
	}
	if (netns_is_other(fd)) {
		snprintf(err, errlen, "setns(CLONE_NEWNET): not in the "
		    "namespace afterwards");
		return -1;
	}
	return 0;
}
