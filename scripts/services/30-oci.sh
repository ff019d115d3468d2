# The OCI runtime's prerequisites: runc and crun (both are tested), skopeo (to
# seed the registry), Debian's static busybox (the test image), CRIU (tested
# where `criu check` passes), a C toolchain for the static ferry-init, and
# an aarch64 cross compiler with qemu-user, so ferry-init's second
# architecture is built and run too (crates/runtimes/oci/tests/ferry_init.rs).
# Then: a tiny busybox image in the local registry, which the conformance
# suite pulls back through `ferry image pull`.
apt_install runc crun skopeo busybox-static criu gcc libc6-dev gcc-aarch64-linux-gnu qemu-user

# crun refuses a cgroup v1 "hybrid" layout while the v2 hierarchy still holds
# controllers ("cgroups in hybrid mode not supported, drop all controllers from
# cgroupv2"). On such hosts, bind those leftover controllers (typically
# hugetlb) to v1 hierarchies of their own, as every other controller is.
if [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
    for controller in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
        mountpoint -q "/sys/fs/cgroup/$controller" && continue
        mkdir -p "/sys/fs/cgroup/$controller"
        mount -t cgroup -o "$controller" cgroup "/sys/fs/cgroup/$controller"
    done
fi

FERRY_OCI_TEST_IMAGE="${FERRY_REGISTRY:?the registry service (20-registry.sh) must run first}/ferry-test/busybox:1"
export FERRY_OCI_TEST_IMAGE

if ! skopeo inspect --tls-verify=false "docker://$FERRY_OCI_TEST_IMAGE" >/dev/null 2>&1; then
    log "building the busybox test image $FERRY_OCI_TEST_IMAGE"
    oci_build=$(mktemp -d)
    busybox_rootfs "$oci_build"
    push_image "$FERRY_OCI_TEST_IMAGE" "$oci_build" '{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/"}'
    rm -rf "$oci_build"
    skopeo inspect --tls-verify=false "docker://$FERRY_OCI_TEST_IMAGE" >/dev/null
fi
