//! Hand the tear-down of the CLI's address space to a helper, so whoever
//! waits for `ferry` (a shell, a script, a scheduler) gets its exit status
//! without waiting for it.
//!
//! When the last user of an address space exits, the kernel unmaps it before
//! it tells the parent: for `ferry` half a millisecond, a twentieth of a
//! container's start. So the CLI starts a helper process that shares its
//! memory (`clone` with `CLONE_VM`, as `vfork` children do), blocks every
//! signal, closes every file descriptor but a pidfd of the CLI, and sleeps
//! until the CLI has exited. The CLI's exit then leaves the address space to
//! the helper, and the helper's exit, at the lowest CPU priority, frees it.
//!
//! The helper runs on a stack of its own in that shared memory and makes raw
//! system calls only: it must not touch the C library's thread state or
//! anything else of the CLI's threads. (A CLI that exec'd another program
//! would leave its old address space to the helper until that program
//! ended; `ferry` never execs itself.)

/// Start the helper; where it cannot start, the CLI's exit frees its memory
/// itself, as any process's does.
pub fn defer_to_helper() {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    imp::start();
}

#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
mod imp {
    use std::ptr::addr_of_mut;

    #[cfg(target_arch = "x86_64")]
    mod nr {
        pub const RT_SIGPROCMASK: usize = 14;
        pub const SETPRIORITY: usize = 141;
        pub const PPOLL: usize = 271;
        pub const CLOSE_RANGE: usize = 436;
    }
    #[cfg(target_arch = "aarch64")]
    mod nr {
        pub const RT_SIGPROCMASK: usize = 135;
        pub const SETPRIORITY: usize = 140;
        pub const PPOLL: usize = 73;
        pub const CLOSE_RANGE: usize = 436;
    }

    /// The helper's stack. It needs a few hundred bytes.
    #[repr(C, align(16))]
    struct Stack([u8; 8192]);
    static mut STACK: Stack = Stack([0; 8192]);
    /// Every signal (the kernel ignores SIGKILL and SIGSTOP in it).
    static ALL_SIGNALS: u64 = !0;

    pub fn start() {
        // SAFETY: pidfd_open on our own pid, no pointers.
        let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, libc::getpid(), 0) };
        if pidfd < 0 {
            return; // kernel before 5.3
        }
        // SAFETY: the child runs `helper` on STACK, which nothing else uses
        // (one helper per process: `start` is called once, from main), and
        // makes only raw system calls. Exit signal 0: the CLI is not told
        // if it ends first (it does not, unless the kernel refuses a call).
        let pid = unsafe {
            let top = addr_of_mut!(STACK).cast::<u8>().add(std::mem::size_of::<Stack>());
            libc::clone(helper, top.cast(), libc::CLONE_VM, pidfd as usize as *mut libc::c_void)
        };
        if pid < 0 {
            tracing::debug!("no tear-down helper: {}", std::io::Error::last_os_error());
        }
        // SAFETY: our copy of the pidfd; the helper has its own.
        unsafe { libc::close(pidfd as i32) };
    }

    extern "C" fn helper(arg: *mut libc::c_void) -> libc::c_int {
        let pidfd = arg as usize;
        // SAFETY: raw system calls on the helper's own state; the pointers
        // are to statics and to this stack frame.
        unsafe {
            syscall4(nr::RT_SIGPROCMASK, libc::SIG_SETMASK as usize, &ALL_SIGNALS as *const u64 as usize, 0, 8);
            if pidfd > 0 {
                syscall4(nr::CLOSE_RANGE, 0, pidfd - 1, 0, 0);
            }
            syscall4(nr::CLOSE_RANGE, pidfd + 1, u32::MAX as usize, 0, 0);
            syscall4(nr::SETPRIORITY, libc::PRIO_PROCESS as usize, 0, 19, 0);
            let mut fd = libc::pollfd { fd: pidfd as i32, events: libc::POLLIN, revents: 0 };
            // Readable once the CLI has exited.
            while syscall4(nr::PPOLL, &mut fd as *mut libc::pollfd as usize, 1, 0, 0) == -(libc::EINTR as isize) {}
        }
        0
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
        let ret: isize;
        // SAFETY: the caller's; the syscall instruction clobbers rcx and r11.
        unsafe {
            std::arch::asm!("syscall", inlateout("rax") n as isize => ret, in("rdi") a, in("rsi") b, in("rdx") c,
                in("r10") d, lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    #[cfg(target_arch = "aarch64")]
    unsafe fn syscall4(n: usize, a: usize, b: usize, c: usize, d: usize) -> isize {
        let ret: isize;
        // SAFETY: the caller's.
        unsafe {
            std::arch::asm!("svc 0", in("x8") n, inlateout("x0") a as isize => ret, in("x1") b, in("x2") c,
                in("x3") d, options(nostack));
        }
        ret
    }
}
