//! The kernel's own record of OOM kills, for when the Engine loses one.
//!
//! On cgroup v1 with both cores busy the Engine sometimes reports an
//! OOM-killed container as merely killed (`OOMKilled: false`, exit 137, and
//! still false 300 ms later): containerd's OOM event is lost (3 of 20 runs
//! of `docker run -m 32m … tail -n 1 /dev/zero` under load here). The kernel
//! logs every memory-cgroup OOM kill with the victim's cgroup
//! (`oom-kill:…,task_memcg=/docker/<id>,…`), so for a local Engine Ferry asks
//! the kernel log before calling such an end a plain SIGKILL.

use std::io::{ErrorKind, Read};
use std::os::unix::fs::OpenOptionsExt;

/// Whether the kernel log records an OOM kill in the cgroup of container
/// `id`. False when the log cannot be read (no permission, no /dev/kmsg).
pub fn kernel_logged_oom(id: &str) -> bool {
    let Ok(kmsg) = std::fs::File::options().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg") else {
        return false;
    };
    logs_oom_of(kmsg, id)
}

/// Scan kernel log records (one per `read`, as /dev/kmsg gives them) for an
/// OOM kill naming container `id`.
fn logs_oom_of(mut records: impl Read, id: &str) -> bool {
    if id.is_empty() {
        return false;
    }
    let mut buf = vec![0u8; 8192];
    loop {
        match records.read(&mut buf) {
            Ok(0) => return false,
            Ok(n) => {
                let record = String::from_utf8_lossy(&buf[..n]);
                if record.contains("oom-kill:") && record.contains(id) {
                    return true;
                }
            }
            // A record overwritten while we read: go on with the next one.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => continue,
            // EAGAIN: the end of the log.
            Err(_) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out one record per read, as /dev/kmsg does.
    struct Records(Vec<&'static str>);

    impl Read for Records {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Err(ErrorKind::WouldBlock.into());
            }
            let r = self.0.remove(0).as_bytes();
            buf[..r.len()].copy_from_slice(r);
            Ok(r.len())
        }
    }

    #[test]
    fn finds_the_oom_kill_of_that_container_only() {
        let log = || {
            Records(vec![
                "6,100,25678,-;eth0: link up\n",
                "4,101,25679,-;oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),oom_memcg=/docker/aaa111,task_memcg=/docker/aaa111,task=tail,pid=7,uid=0\n",
                "3,102,25680,-;Memory cgroup out of memory: Killed process 7 (tail)\n",
            ])
        };
        assert!(logs_oom_of(log(), "aaa111"));
        assert!(!logs_oom_of(log(), "bbb222"));
        assert!(!logs_oom_of(log(), ""));
        assert!(!logs_oom_of(Records(vec![]), "aaa111"));
    }
}
