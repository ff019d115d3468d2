# Base tools the tests use: a C compiler for -sys crates, perl and coreutils for test workloads.
apt_install gcc pkg-config perl

# cgroups: the local runtime's limit, pause and stats tests need them.
if [ -z "${FERRY_SKIP_CGROUP_TESTS:-}" ] && ! grep -qE ' cgroup2? ' /proc/mounts; then
    echo "scripts/test: no cgroup filesystem mounted; the local runtime's limit, pause and stats tests need one." >&2
    echo "             Set FERRY_SKIP_CGROUP_TESTS=1 to skip them knowingly." >&2
    exit 1
fi
