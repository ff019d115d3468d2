/*
 * ferry-init: the tiny pid 1 Ferry puts in every OCI container (as tini does
 * for `docker run --init`). The kernel ignores signals to a namespace's pid 1
 * that it has no handler for, so without it `kill -9 $$` in a shell would do
 * nothing and SIGTERM would be lost on programs that never expect to be init.
 *
 * It starts PROGRAM as its only child, forwards every signal it receives to
 * it, reaps orphans, and exits with the child's status: its exit code, or
 * 128 + N when the child was killed by signal N.
 *
 * Built statically by build.rs so it runs in any image (even one without libc).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void say(const char *a, const char *b, const char *c) {
    const char *parts[] = {"ferry-init: ", a, b, c, "\n"};
    for (unsigned i = 0; i < sizeof parts / sizeof *parts; i++)
        if (parts[i]) (void)!write(2, parts[i], strlen(parts[i]));
}

int main(int argc, char **argv) {
    /* `ferry-init -- PROGRAM …` (tini's calling convention) works too. */
    if (argc >= 2 && strcmp(argv[1], "--") == 0) {
        argv++;
        argc--;
    }
    if (argc < 2) {
        say("usage: ferry-init [--] PROGRAM [ARG...]", 0, 0);
        return 127;
    }
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old);
    /* posix_spawn (a vfork underneath) instead of fork + exec: no copy of
     * our page tables and no copy-on-write faults on either side, on the
     * critical path of every container start. It reports a failed exec. */
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setsigmask(&attr, &old);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
    pid_t child;
    int e = posix_spawnp(&child, argv[1], 0, &attr, argv + 1, environ);
    if (e != 0) {
        say("cannot run ", argv[1], e == ENOENT ? ": not found" : ": not executable");
        return e == ENOENT ? 127 : 126;
    }
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0) {
            if (errno == EINTR) continue;
            say("sigwaitinfo: ", strerror(errno), 0);
            return 126;
        }
        if (sig != SIGCHLD) {
            kill(child, sig);
            continue;
        }
        int status;
        pid_t p;
        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
            if (p != child) continue;
            if (WIFEXITED(status)) return WEXITSTATUS(status);
            if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        }
    }
}
