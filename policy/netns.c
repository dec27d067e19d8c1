/*
 * netns.c: making and joining a tenant's network namespace (netns.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "netns.h"

/* ------------------------------------------------------------ rtnetlink */

/* One request being built: a header, its fixed part, then attributes. */
struct nlreq {
	union {
		struct nlmsghdr nr_hdr;
		char nr_buf[512];
	};
};

static void
nl_begin(struct nlreq *r, uint16_t type, uint16_t flags, const void *fixed,
    size_t len)
{
	memset(r, 0, sizeof(*r));
	r->nr_hdr.nlmsg_type = type;
	r->nr_hdr.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->nr_hdr.nlmsg_len = NLMSG_LENGTH(len);
	memcpy(NLMSG_DATA(&r->nr_hdr), fixed, len);
}

/* Appends an attribute; returns it (for nesting) or NULL when full. */
static struct rtattr *
nl_put(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	size_t at = NLMSG_ALIGN(r->nr_hdr.nlmsg_len);
	struct rtattr *a = (struct rtattr *)(r->nr_buf + at);

	if (at + RTA_SPACE(len) > sizeof(r->nr_buf))
		return NULL;
	a->rta_type = type;
	a->rta_len = (unsigned short)RTA_LENGTH(len);
	if (len > 0)
		memcpy(RTA_DATA(a), data, len);
	r->nr_hdr.nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
	return a;
}

/* Closes a nest opened with nl_put(r, type, NULL, 0). */
static void
nl_end(struct nlreq *r, struct rtattr *nest)
{
	nest->rta_len = (unsigned short)(r->nr_buf + r->nr_hdr.nlmsg_len -
	    (char *)nest);
}

/* Sends r and waits for its acknowledgement: 0 or an errno. */
static int
nl_talk(int fd, struct nlreq *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	char buf[1024];
	struct nlmsghdr *h;
	ssize_t n;

	if (sendto(fd, r->nr_buf, r->nr_hdr.nlmsg_len, 0,
	    (struct sockaddr *)&sa, sizeof(sa)) == -1)
		return errno;
	for (;;) {
		if ((n = recv(fd, buf, sizeof(buf), 0)) == -1) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		    h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				return -e->error;
			}
		}
	}
}

static int
nl_addr_add(int fd, unsigned ifindex, struct in_addr a, int prefix)
{
	struct ifaddrmsg ifa = { .ifa_family = AF_INET,
	    .ifa_prefixlen = (unsigned char)prefix,
	    .ifa_scope = RT_SCOPE_UNIVERSE, .ifa_index = ifindex };
	struct nlreq r;

	nl_begin(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa,
	    sizeof(ifa));
	nl_put(&r, IFA_LOCAL, &a, sizeof(a));
	nl_put(&r, IFA_ADDRESS, &a, sizeof(a));
	return nl_talk(fd, &r);
}

static int
nl_link_up(int fd, unsigned ifindex)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC,
	    .ifi_index = (int)ifindex, .ifi_flags = IFF_UP,
	    .ifi_change = IFF_UP };
	struct nlreq r;

	nl_begin(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	return nl_talk(fd, &r);
}

/* The veth pair, from inside the new namespace: "eth0" here, its peer
 * named host_if in the namespace hostns refers to. */
static int
nl_veth_add(int fd, const char *host_if, int hostns)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *info, *data, *peer;
	struct nlreq r;

	nl_begin(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi,
	    sizeof(ifi));
	nl_put(&r, IFLA_IFNAME, "eth0", 5);
	if ((info = nl_put(&r, IFLA_LINKINFO, NULL, 0)) == NULL ||
	    nl_put(&r, IFLA_INFO_KIND, "veth", 5) == NULL ||
	    (data = nl_put(&r, IFLA_INFO_DATA, NULL, 0)) == NULL ||
	    (peer = nl_put(&r, VETH_INFO_PEER, &ifi, sizeof(ifi))) == NULL ||
	    nl_put(&r, IFLA_IFNAME, host_if, strlen(host_if) + 1) == NULL ||
	    nl_put(&r, IFLA_NET_NS_FD, &hostns, sizeof(hostns)) == NULL)
		return ENOBUFS;
	nl_end(&r, peer);
	nl_end(&r, data);
	nl_end(&r, info);
	return nl_talk(fd, &r);
}

/* Deletes the link named name, if there is one: 0 or an errno. */
static int
nl_link_del(int fd, const char *name)
{
	struct ifinfomsg ifi = { .ifi_family = AF_UNSPEC };
	struct nlreq r;

	nl_begin(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	nl_put(&r, IFLA_IFNAME, name, strlen(name) + 1);
	return nl_talk(fd, &r);
}

static int
nl_default_route(int fd, unsigned ifindex, struct in_addr gw)
{
	struct rtmsg rt = { .rtm_family = AF_INET, .rtm_table = RT_TABLE_MAIN,
	    .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE,
	    .rtm_type = RTN_UNICAST, .rtm_flags = RTNH_F_ONLINK };
	struct nlreq r;
	uint32_t oif = ifindex;

	nl_begin(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt,
	    sizeof(rt));
	nl_put(&r, RTA_GATEWAY, &gw, sizeof(gw));
	nl_put(&r, RTA_OIF, &oif, sizeof(oif));
	return nl_talk(fd, &r);
}

static int
nl_open(void)
{
	return socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

/* Writes value to a /proc/sys file: 0 or an errno. */
static int
sysctl_write(const char *path, const char *value)
{
	size_t len = strlen(value);
	int fd = open(path, O_WRONLY | O_CLOEXEC), e = 0;

	if (fd == -1)
		return errno;
	if (write(fd, value, len) != (ssize_t)len)
		e = errno != 0 ? errno : EIO;
	close(fd);
	return e;
}

/* In the child, inside the new namespace: the veth pair, eth0's address,
 * up, and the default route through the host's end. 0 or an errno. */
static int
netns_child_egress(const struct netns_egress *eg, int hostns,
    const char **step)
{
	unsigned ifindex;
	int fd, e;

	*step = "netlink socket";
	if ((fd = nl_open()) == -1)
		return errno;
	*step = "veth pair";
	if ((e = nl_veth_add(fd, eg->ne_host_if, hostns)) != 0)
		goto out;
	*step = "eth0";
	if ((ifindex = if_nametoindex("eth0")) == 0) {
		e = errno;
		goto out;
	}
	*step = "eth0 address";
	if ((e = nl_addr_add(fd, ifindex, eg->ne_tenant_addr,
	    eg->ne_prefix)) != 0)
		goto out;
	*step = "eth0 up";
	if ((e = nl_link_up(fd, ifindex)) != 0)
		goto out;
	*step = "default route";
	e = nl_default_route(fd, ifindex, eg->ne_host_addr);
out:
	close(fd);
	return e;
}

/* In the child: the new namespace, and its loopback up. 0 or an errno,
 * with *step naming what failed. */
static int
netns_child_setup(const struct netns_egress *eg, const char **step)
{
	struct ifreq ifr;
	int s, e, hostns = -1;

	*step = "/proc/self/ns/net";
	if (eg != NULL &&
	    (hostns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		return errno;
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
	return eg != NULL ? netns_child_egress(eg, hostns, step) : 0;
fail:
	e = errno;
	close(s);
	return e;
}

/* The child's answer: errno 0, or the errno and the step that failed. */
struct netns_answer {
	int na_errno;
	char na_step[32];
};

/*
 * The child's answer, with an fd on its namespace when it made one: the
 * child opens its own /proc/self/ns/net. (The parent may not open the
 * child's: a child of a non-dumpable process is not dumpable either, and
 * without CAP_SYS_PTRACE, as under the unit's bounding set, its
 * /proc/PID/ns is closed to its own parent.) 0, or -1.
 */
static int
netns_answer_send(int sock, const struct netns_answer *a, int nsfd)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;

	memset(&msg, 0, sizeof(msg));
	memset(&u, 0, sizeof(u));
	iov.iov_base = (void *)a;
	iov.iov_len = sizeof(*a);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nsfd != -1) {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &nsfd, sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == (ssize_t)sizeof(*a) ?
	    0 : -1;
}

/* The answer and its fd (-1 when none came). Returns the bytes read. */
static ssize_t
netns_answer_recv(int sock, struct netns_answer *a, int *nsfd_r)
{
	struct msghdr msg;
	struct iovec iov;
	struct cmsghdr *cm;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	ssize_t n;

	*nsfd_r = -1;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = a;
	iov.iov_len = sizeof(*a);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = u.buf;
	msg.msg_controllen = sizeof(u.buf);
	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)) && *nsfd_r == -1)
			memcpy(nsfd_r, CMSG_DATA(cm), sizeof(int));
	if ((msg.msg_flags & MSG_CTRUNC) != 0 && *nsfd_r != -1) {
		close(*nsfd_r);
		*nsfd_r = -1;
	}
	return n;
}

/* In the parent (the host's namespace): the host's end of the pair gets
 * its address, comes up and forwards. 0 or an errno. */
static int
netns_host_end(const struct netns_egress *eg, const char **step)
{
	char path[80];
	unsigned ifindex;
	int fd, e;

	*step = "netlink socket";
	if ((fd = nl_open()) == -1)
		return errno;
	*step = eg->ne_host_if;
	if ((ifindex = if_nametoindex(eg->ne_host_if)) == 0) {
		e = errno;
		goto out;
	}
	*step = "host address";
	if ((e = nl_addr_add(fd, ifindex, eg->ne_host_addr,
	    eg->ne_prefix)) != 0)
		goto out;
	*step = "host end up";
	if ((e = nl_link_up(fd, ifindex)) != 0)
		goto out;
	/* Forwarding for what comes in on this interface only. */
	*step = "forwarding";
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding",
	    eg->ne_host_if);
	if ((e = sysctl_write(path, "1")) != 0)
		goto out;
	e = 0;
out:
	close(fd);
	return e;
}

int
netns_new(const struct netns_egress *eg, char *err, size_t errlen)
{
	struct netns_answer answer;
	int ready[2], hold[2], fd = -1, status, e;
	const char *step = "";
	pid_t pid;
	ssize_t n;

	/* ready: the child's answer and an fd on its namespace; hold: the
	 * child stays in the namespace until the parent has it. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    ready) == -1) {
		snprintf(err, errlen, "socketpair: %s", strerror(errno));
		return -1;
	}
	if (pipe2(hold, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(ready[0]);
		close(ready[1]);
		return -1;
	}
	/* A pair left by a namespace the kernel has not finished tearing
	 * down would make the name taken. */
	if (eg != NULL && (fd = nl_open()) != -1) {
		(void)nl_link_del(fd, eg->ne_host_if);
		close(fd);
		fd = -1;
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
		char c;
		int nsfd = -1;

		close(ready[0]);
		close(hold[1]);
		memset(&answer, 0, sizeof(answer));
		answer.na_errno = netns_child_setup(eg, &step);
		if (answer.na_errno == 0 && (nsfd = open("/proc/self/ns/net",
		    O_RDONLY | O_CLOEXEC)) == -1) {
			answer.na_errno = errno;
			step = "/proc/self/ns/net";
		}
		snprintf(answer.na_step, sizeof(answer.na_step), "%s", step);
		if (netns_answer_send(ready[1], &answer, nsfd) == -1)
			_exit(1);
		/* EOF when the parent is done with us. */
		while (read(hold[0], &c, 1) == -1 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	n = netns_answer_recv(ready[0], &answer, &fd);
	if (n != (ssize_t)sizeof(answer))
		snprintf(err, errlen, "the namespace's child died before it "
		    "answered");
	else if (answer.na_errno != 0) {
		answer.na_step[sizeof(answer.na_step) - 1] = '\0';
		snprintf(err, errlen, "%s: %s", answer.na_step,
		    strerror(answer.na_errno));
	} else if (fd == -1)
		snprintf(err, errlen, "the namespace's child sent no fd");
	if (fd != -1 && (n != (ssize_t)sizeof(answer) ||
	    answer.na_errno != 0)) {
		close(fd);
		fd = -1;
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
	if (fd != -1 && eg != NULL &&
	    (e = netns_host_end(eg, &step)) != 0) {
		snprintf(err, errlen, "%s: %s", step, strerror(e));
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
