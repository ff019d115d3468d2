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
    (
        set -euo pipefail
        cd "$oci_build"
        mkdir -p rootfs/bin rootfs/etc rootfs/tmp rootfs/root layout/blobs/sha256
        cp /bin/busybox rootfs/bin/busybox
        for applet in $(rootfs/bin/busybox --list); do
            [ "$applet" = busybox ] || ln -sf busybox "rootfs/bin/$applet"
        done
        printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > rootfs/etc/passwd
        printf 'root:x:0:\nnogroup:x:65534:\n' > rootfs/etc/group
        chmod 1777 rootfs/tmp
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C rootfs -cf layer.tar .
        blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "layout/blobs/sha256/$d"; echo "$d"; }
        layer=$(blob layer.tar)
        layer_size=$(stat -c %s layer.tar)
        cat > config.json <<JSON
{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["sh"],"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:$layer"]}}
JSON
        config=$(blob config.json)
        config_size=$(stat -c %s config.json)
        cat > manifest.json <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$config_size},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":$layer_size}]}
JSON
        manifest=$(blob manifest.json)
        manifest_size=$(stat -c %s manifest.json)
        echo '{"imageLayoutVersion":"1.0.0"}' > layout/oci-layout
        cat > layout/index.json <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$manifest_size,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}
JSON
        skopeo copy --quiet --dest-tls-verify=false "oci:layout:1" "docker://$FERRY_OCI_TEST_IMAGE"
    )
    rm -rf "$oci_build"
    skopeo inspect --tls-verify=false "docker://$FERRY_OCI_TEST_IMAGE" >/dev/null
fi
