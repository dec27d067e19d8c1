/*
 * spawn.c: fork+exec of the supervisor's unprivileged programs
 * (dataagent-worker, dataagent-relay). Never a bare fork: this process's
 * memory holds every tenant's secrets and the keys, so the child is a
 * fresh image with only what it is given.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "supervisor.h"

pid_t
spawn_child(struct sup *sp, const char *path, const char *argv0,
    int chan_fd, int child_fd, int out_fd, const char *log_format)
{
	char lvl[64], fmt[32], asanv[256];
	const char *asan;
	pid_t pid;

	snprintf(lvl, sizeof(lvl), "LOG_LEVEL=%s",
	    log_level_name(sp->sp_cf.cf_log_level));
	snprintf(fmt, sizeof(fmt), "LOG_FORMAT=%s", log_format);
	/* A sanitizer build's settings follow it into the child; nothing
	 * else of ours does. */
	asan = getenv("ASAN_OPTIONS");
	snprintf(asanv, sizeof(asanv), "ASAN_OPTIONS=%s", asan != NULL ?
	    asan : "");
	if ((pid = fork()) == -1) {
		log_error("fork failed", "{s:s}", "error", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		char *const argv[] = { (char *)argv0, NULL };
		char *const envp[] = { lvl, fmt, asan != NULL ? asanv : NULL,
		    NULL };
		sigset_t none;
		int nullfd;

		/* child_fd = the channel, 0 = /dev/null, 1 and 2 = out_fd,
		 * and nothing else. */
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		if (dup2(chan_fd, child_fd) == -1)
			_exit(127);
		nullfd = open("/dev/null", O_RDONLY);
		if (nullfd == -1 || dup2(nullfd, 0) == -1 ||
		    dup2(out_fd, 1) == -1 || (out_fd != 2 &&
		    dup2(out_fd, 2) == -1))
			_exit(127);
		close_range(child_fd + 1, ~0U, 0);
		execve(path, argv, envp);
		_exit(127);
	}
	return pid;
}
