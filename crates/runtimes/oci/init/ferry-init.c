/*
 * ferry-init: the tiny pid 1 Ferry puts in every OCI container (as tini does
 * for `docker run --init`). The kernel ignores signals to a namespace's pid 1
 * that it has no handler for, so without it `kill -9 $$` in a shell would do
 * nothing and SIGTERM would be lost on programs that never expect to be init.
 *
 * It starts PROGRAM (looked up in PATH like execvp) as its only child,
 * forwards every signal it receives to it, reaps orphans, and exits with the
 * child's status: its exit code, or 128 + N when the child was killed by
 * signal N. A program that cannot be started is exit code 127 (not found) or
 * 126 (found but not executable), with a line on stderr.
 *
 * It uses no C library: a handful of raw system calls (x86_64 and aarch64)
 * are all it needs. That makes it run in any image (even one without libc)
 * and start in a few microseconds: a static glibc spends about a quarter of a
 * millisecond of every container start initialising itself (CPU feature
 * probes, which trap to the hypervisor in a VM), on the path between the
 * container's creation and the workload's first instruction.
 *
 * Built by build.rs with -nostdlib; it includes no header either.
 */

/* The constants it needs, the same on both architectures. */
#define SIGCHLD 17
#define SIG_BLOCK 0
#define SIG_SETMASK 2
#define WNOHANG 1
#define CLONE_VM 0x00000100
#define CLONE_VFORK 0x00004000
#define ENOENT 2
#define EACCES 13
#define ENOTDIR 20
#define PATH_MAX 4096

#if defined(__x86_64__)
enum { NR_write = 1, NR_rt_sigprocmask = 14, NR_execve = 59, NR_wait4 = 61, NR_kill = 62,
       NR_rt_sigtimedwait = 128, NR_exit_group = 231 };

static long syscall4(long n, long a, long b, long c, long d) {
    register long r10 __asm__("r10") = d;
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10) : "rcx", "r11", "memory");
    return ret;
}

/* The process entry: the stack holds argc, argv..., NULL, envp..., NULL. */
__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  xor %ebp, %ebp\n"
        "  mov %rsp, %rdi\n"
        "  and $-16, %rsp\n"
        "  call ferry_init_main\n"
        "  hlt\n");

/* long spawn_clone(flags, stack_top, fn): clone(2) whose child runs fn() on
 * stack_top and exits with what it returns. With CLONE_VM | CLONE_VFORK the
 * child borrows our memory (nothing is copied) and we resume once it has
 * exec'd or exited, which is what posix_spawn does underneath. */
__asm__(".text\n"
        "spawn_clone:\n"
        "  mov %rdx, %r9\n"
        "  mov $56, %eax\n" /* clone */
        "  xor %edx, %edx\n"
        "  xor %r10d, %r10d\n"
        "  xor %r8d, %r8d\n"
        "  syscall\n"
        "  test %rax, %rax\n"
        "  jnz 1f\n"
        "  xor %ebp, %ebp\n"
        "  call *%r9\n"
        "  mov %eax, %edi\n"
        "  mov $60, %eax\n" /* exit */
        "  syscall\n"
        "1: ret\n");
#elif defined(__aarch64__)
enum { NR_write = 64, NR_rt_sigprocmask = 135, NR_execve = 221, NR_wait4 = 260, NR_kill = 129,
       NR_rt_sigtimedwait = 137, NR_exit_group = 94 };

static long syscall4(long n, long a, long b, long c, long d) {
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory", "cc");
    return x0;
}

__asm__(".text\n"
        ".global _start\n"
        "_start:\n"
        "  mov x29, #0\n"
        "  mov x30, #0\n"
        "  mov x0, sp\n"
        "  and sp, x0, #-16\n"
        "  bl ferry_init_main\n"
        "  brk #0\n");

__asm__(".text\n"
        "spawn_clone:\n"
        "  mov x9, x2\n"
        "  mov x2, xzr\n"
        "  mov x3, xzr\n"
        "  mov x4, xzr\n"
        "  mov x8, #220\n" /* clone */
        "  svc #0\n"
        "  cbnz x0, 1f\n"
        "  mov x29, xzr\n"
        "  mov x30, xzr\n"
        "  blr x9\n"
        "  mov x8, #93\n" /* exit */
        "  svc #0\n"
        "1: ret\n");
#else
#error "ferry-init: add this architecture's system call numbers, entry point and spawn_clone"
#endif

#define sys(n, a, b, c, d) syscall4(n, (long)(a), (long)(b), (long)(c), (long)(d))

long spawn_clone(unsigned long flags, void *stack_top, int (*fn)(void));
void ferry_init_main(long *sp);

static unsigned long length(const char *s) {
    unsigned long n = 0;
    while (s[n]) n++;
    return n;
}

static void say(const char *a, const char *b, const char *c) {
    const char *parts[] = {"ferry-init: ", a, b, c, "\n"};
    for (unsigned i = 0; i < sizeof parts / sizeof *parts; i++)
        if (parts[i]) sys(NR_write, 2, parts[i], length(parts[i]), 0);
}

/* What the spawned child needs. */
static struct {
    char **argv, **envp;
    unsigned long mask;
    char path[PATH_MAX];
} spawn;
static char child_stack[16384] __attribute__((aligned(16)));

/* execve, trying each directory of PATH when the name has no slash (as
 * execvp does, without its /bin/sh fallback for scripts with no #!). */
static long exec_in_path(const char *name) {
    for (const char *p = name; *p; p++)
        if (*p == '/') return sys(NR_execve, name, spawn.argv, spawn.envp, 0);
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char **e = spawn.envp; *e; e++) {
        const char *v = *e;
        if (v[0] == 'P' && v[1] == 'A' && v[2] == 'T' && v[3] == 'H' && v[4] == '=') path = v + 5;
    }
    unsigned long name_len = length(name);
    long err = -ENOENT;
    int denied = 0;
    for (const char *dir = path;; dir++) {
        const char *end = dir;
        while (*end && *end != ':') end++;
        unsigned long dir_len = end - dir;
        if (dir_len + 1 + name_len < PATH_MAX) {
            char *out = spawn.path;
            if (dir_len == 0) *out++ = '.'; /* an empty entry is the current directory */
            for (const char *s = dir; s < end; s++) *out++ = *s;
            *out++ = '/';
            for (const char *s = name; *s; s++) *out++ = *s;
            *out = 0;
            err = sys(NR_execve, spawn.path, spawn.argv, spawn.envp, 0);
            if (err == -EACCES) denied = 1;
            else if (err != -ENOENT && err != -ENOTDIR) return err;
        }
        if (!*end) break;
        dir = end;
    }
    return denied ? -EACCES : err;
}

/* The child: exec the program, or say why not and exit 127 (not found) or
 * 126, which the parent then passes on as the program's own exit code. Not
 * reported through the shared memory: emulators such as qemu-user turn
 * CLONE_VM | CLONE_VFORK into a plain fork. */
static int child_main(void) {
    sys(NR_rt_sigprocmask, SIG_SETMASK, &spawn.mask, 0, sizeof spawn.mask);
    long error = exec_in_path(spawn.argv[0]);
    say("cannot run ", spawn.argv[0], error == -ENOENT ? ": not found" : ": not executable");
    return error == -ENOENT ? 127 : 126;
}

static int run(int argc, char **argv, char **envp) {
    /* `ferry-init -- PROGRAM …` (tini's calling convention) works too. */
    if (argc >= 2 && argv[1][0] == '-' && argv[1][1] == '-' && argv[1][2] == 0) {
        argv++;
        argc--;
    }
    if (argc < 2) {
        say("usage: ferry-init [--] PROGRAM [ARG...]", 0, 0);
        return 127;
    }
    unsigned long all = ~0UL;
    sys(NR_rt_sigprocmask, SIG_BLOCK, &all, &spawn.mask, sizeof all);
    spawn.argv = argv + 1;
    spawn.envp = envp;
    long child = spawn_clone(CLONE_VM | CLONE_VFORK | SIGCHLD, child_stack + sizeof child_stack, child_main);
    if (child < 0) {
        say("cannot run ", argv[1], ": no process could be created");
        return 126;
    }
    for (;;) {
        unsigned long info[16]; /* siginfo_t: 128 bytes */
        long sig = sys(NR_rt_sigtimedwait, &all, info, 0, sizeof all);
        if (sig < 0) continue; /* EINTR */
        if (sig != SIGCHLD) {
            sys(NR_kill, child, sig, 0, 0);
            continue;
        }
        int status;
        long p;
        while ((p = sys(NR_wait4, -1, &status, WNOHANG, 0)) > 0) {
            if (p != child) continue;
            if ((status & 0x7f) == 0) return (status >> 8) & 0xff; /* exited */
            if ((status & 0x7f) != 0x7f) return 128 + (status & 0x7f); /* killed by a signal */
        }
    }
}

void ferry_init_main(long *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    sys(NR_exit_group, run(argc, argv, argv + argc + 1), 0, 0, 0);
}
