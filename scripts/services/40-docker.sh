# Docker Engine for the docker runtime's tests: Debian's docker.io (Engine
# 20.10, API 1.41) started in the background (no systemd needed), plus the
# test image ferry-test/busybox:1 imported from Debian's busybox-static, and
# tini (its static build is the init `ferry build` copies into images).
#
# Exports DOCKER_HOST and FERRY_DOCKER_TEST_IMAGE. Set FERRY_SKIP_DOCKER_TESTS=1
# to skip the docker tests knowingly instead.
if [ -n "${FERRY_SKIP_DOCKER_TESTS:-}" ]; then
    log "FERRY_SKIP_DOCKER_TESTS is set: not starting dockerd"
    return 0
fi
apt_install docker.io busybox-static tini curl

FERRY_DOCKER_SOCK=/var/run/docker.sock
DOCKER_HOST="unix://$FERRY_DOCKER_SOCK"
FERRY_DOCKER_TEST_IMAGE=ferry-test/busybox:1
export DOCKER_HOST FERRY_DOCKER_TEST_IMAGE

ferry_docker_cli() { /usr/bin/docker -H "$DOCKER_HOST" "$@"; }

if ! ferry_docker_cli info >/dev/null 2>&1; then
    # containerd first (dockerd would start its own, but a separate one
    # survives dockerd restarts and keeps its own log).
    if ! pgrep -x containerd >/dev/null 2>&1; then
        nohup containerd >/var/log/ferry-test-containerd.log 2>&1 &
        wait_for "containerd" 30 test -S /run/containerd/containerd.sock
    fi
    # overlay2 needs a filesystem that supports it under /var/lib/docker;
    # fall back to vfs (slow but works everywhere).
    driver=overlay2
    probe=$(mktemp -d /var/lib/ferry-overlay-probe.XXXXXX 2>/dev/null || mktemp -d)
    mkdir -p "$probe"/{l,u,w,m}
    if ! mount -t overlay overlay -o "lowerdir=$probe/l,upperdir=$probe/u,workdir=$probe/w" "$probe/m" 2>/dev/null; then
        driver=vfs
    else
        umount "$probe/m"
    fi
    rm -rf "$probe"
    # --iptables=false: sandboxes and CI machines often lack a usable
    # iptables; published ports still work through docker-proxy on loopback,
    # which is all the tests use (containers get no outbound NAT).
    log "starting dockerd (storage driver $driver)"
    nohup dockerd --host "$DOCKER_HOST" --containerd /run/containerd/containerd.sock \
        --storage-driver "$driver" --iptables=false --ip-masq=false \
        >/var/log/ferry-test-dockerd.log 2>&1 &
    if ! wait_for "dockerd" 60 ferry_docker_cli info; then
        tail -n 30 /var/log/ferry-test-dockerd.log >&2
        return 1
    fi
fi

# The test image: a rootfs of busybox-static with its applets as symlinks.
if ! ferry_docker_cli image inspect "$FERRY_DOCKER_TEST_IMAGE" >/dev/null 2>&1; then
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs"/{bin,tmp,etc,proc,sys,dev,root,var/www}
    chmod 1777 "$rootfs/tmp"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
    tar -C "$rootfs" -c . | ferry_docker_cli import \
        --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$FERRY_DOCKER_TEST_IMAGE" >/dev/null
    rm -rf "$rootfs"
fi
