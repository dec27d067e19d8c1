/*
 * test_netns.c: a tenant's network namespace (policy/netns.c), probed
 * from the inside.
 *
 * The harness listens on 127.0.0.1 and on an abstract Unix socket in its
 * own namespace; a child joins a namespace netns_new() made and reports
 * what it can reach. The harness's own namespace must not change. Needs
 * root.
 */
#include <errno.h>
#include <stddef.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns.h"
#include "unit.h"

static int
tcp_listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) == -1)
		return -1;
	return fd;
}

static int
tcp_listener_on(const char *addr, struct sockaddr_in *sin)
{
	socklen_t len = sizeof(*sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, addr, &sin->sin_addr);
	if (fd == -1 || bind(fd, (struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    listen(fd, 4) == -1 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) == -1) {
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
read_line(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	if (fgets(buf, (int)len, f) == NULL) {
		fclose(f);
		return -1;
	}
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int
abstract_addr(struct sockaddr_un *sun, const char *name)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path + 1, sizeof(sun->sun_path) - 1, "%s", name);
	return (int)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name));
}

/* errno of a connect to sa (0: it worked). */
static int
connect_errno(int family, const struct sockaddr *sa, socklen_t len)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	if (fd == -1)
		return errno;
	e = connect(fd, sa, len) == -1 ? errno : 0;
	close(fd);
	return e;
}

static int
lo_is_up(void)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), up;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	up = s != -1 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 &&
	    (ifr.ifr_flags & IFF_UP) != 0;
	if (s != -1)
		close(s);
	return up;
}

int
main(void)
{
	struct sockaddr_in sin, own, hsin;
	struct sockaddr_un sun;
	struct stat before, after;
	struct netns_egress eg;
	char err[256], name[64], path[96], line[16];
	int ns, tl, al, ul, st, r[5], p[2];
	socklen_t alen;
	pid_t pid;

	if (geteuid() != 0) {
		UNIT_SKIP("network namespaces", "needs root");
		return unit_done();
	}
	snprintf(name, sizeof(name), "dataagent-test-netns-%d", (int)getpid());
	tl = tcp_listener(&sin);
	al = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	alen = (socklen_t)abstract_addr(&sun, name);
	UNIT_CASE("the harness listens on 127.0.0.1 and an abstract socket");
	UNIT_CHECK(tl != -1);
	UNIT_CHECK(al != -1 && bind(al, (struct sockaddr *)&sun, alen) == 0 &&
	    listen(al, 4) == 0);
	UNIT_CHECK(connect_errno(AF_INET, (struct sockaddr *)&sin,
	    sizeof(sin)) == 0);
	UNIT_CHECK(connect_errno(AF_UNIX, (struct sockaddr *)&sun, alen) == 0);

	UNIT_CASE("netns_new: a namespace other than ours, ours unchanged");
	UNIT_CHECK(stat("/proc/self/ns/net", &before) == 0);
	ns = netns_new(NULL, err, sizeof(err));
	if (ns == -1)
		fprintf(stderr, "netns_new: %s\n", err);
	UNIT_CHECK(ns != -1);
	UNIT_CHECK(ns != -1 && netns_is_other(ns));
	UNIT_CHECK(stat("/proc/self/ns/net", &after) == 0 &&
	    after.st_ino == before.st_ino);
	if (ns == -1)
		return unit_done();

	UNIT_CASE("inside: lo is up, the host's listeners are not there");
	if (pipe(p) == -1)
		return unit_done();
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		r[0] = netns_join(ns, err, sizeof(err)) == 0 &&
		    !netns_is_other(ns);
		r[1] = lo_is_up();
		r[2] = connect_errno(AF_INET, (struct sockaddr *)&sin,
		    sizeof(sin));
		r[3] = connect_errno(AF_UNIX, (struct sockaddr *)&sun, alen);
		/* its own loopback works */
		al = tcp_listener(&own);
		r[4] = al == -1 ? -1 : connect_errno(AF_INET,
		    (struct sockaddr *)&own, sizeof(own));
		_exit(write(p[1], r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	memset(r, 0xff, sizeof(r));
	UNIT_CHECK(read(p[0], r, sizeof(r)) == (ssize_t)sizeof(r));
	close(p[0]);
	waitpid(pid, &st, 0);
	UNIT_CHECK(r[0] == 1);
	UNIT_CHECK(r[1] == 1);
	UNIT_CHECK(r[2] == ECONNREFUSED);
	UNIT_CHECK(r[3] == ECONNREFUSED);
	UNIT_CHECK(r[4] == 0);

	UNIT_CASE("the harness's own listener still answers afterwards");
	close(ns);
	UNIT_CHECK(connect_errno(AF_INET, (struct sockaddr *)&sin,
	    sizeof(sin)) == 0);

	UNIT_CASE("egress: a veth pair, addressed, routed, forwarding");
	memset(&eg, 0, sizeof(eg));
	snprintf(eg.ne_host_if, sizeof(eg.ne_host_if), "dat-u%d",
	    (int)getpid() % 100000);
	inet_pton(AF_INET, "10.213.254.1", &eg.ne_host_addr);
	inet_pton(AF_INET, "10.213.254.2", &eg.ne_tenant_addr);
	eg.ne_prefix = 30;
	ns = netns_new(&eg, err, sizeof(err));
	if (ns == -1)
		fprintf(stderr, "netns_new(egress): %s\n", err);
	UNIT_CHECK(ns != -1);
	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/conf/%s/forwarding",
	    eg.ne_host_if);
	UNIT_CHECK(read_line(path, line, sizeof(line)) == 0 &&
	    strcmp(line, "1") == 0);
	/* From inside: the host's end answers (no rules here: those are
	 * the supervisor's), a public address has a route now. */
	ul = tcp_listener_on("10.213.254.1", &hsin);
	UNIT_CHECK(ul != -1);
	if (ns != -1 && ul != -1 && pipe(p) == 0) {
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			r[0] = netns_join(ns, err, sizeof(err)) == 0;
			r[1] = connect_errno(AF_INET, (struct sockaddr *)&hsin,
			    sizeof(hsin));
			r[2] = if_nametoindex("eth0") != 0;
			_exit(write(p[1], r, sizeof(r)) == (ssize_t)sizeof(r) ?
			    0 : 1);
		}
		close(p[1]);
		memset(r, 0xff, sizeof(r));
		UNIT_CHECK(read(p[0], r, sizeof(r)) == (ssize_t)sizeof(r));
		close(p[0]);
		waitpid(pid, &st, 0);
		UNIT_CHECK(r[0] == 1);
		UNIT_CHECK(r[1] == 0);
		UNIT_CHECK(r[2] == 1);
	}
	if (ul != -1)
		close(ul);
	if (ns != -1)
		close(ns);

	UNIT_CASE("netns_join refuses an fd that is not a namespace");
	UNIT_CHECK(netns_join(tl, err, sizeof(err)) == -1 &&
	    strstr(err, "setns") != NULL);
	close(tl);
	close(al);
	return unit_done();
}
