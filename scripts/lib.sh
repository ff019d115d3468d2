# Shared helpers for scripts/test and scripts/services/*.sh (sourced, not run).

log() { printf '\n== %s\n' "$*"; }

# apt_install PKG...: install Debian packages that are missing (apt-get update once per run).
apt_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/test: installing ${missing[*]} needs root (or install them yourself)" >&2
        exit 1
    fi
    log "installing ${missing[*]}"
    if [ -z "${FERRY_APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        export FERRY_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# wait_for DESCRIPTION SECONDS COMMAND...: poll until COMMAND succeeds, or fail loudly.
wait_for() {
    local what=$1 secs=$2
    shift 2
    local i
    for ((i = 0; i < secs * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "scripts/test: $what did not come up within ${secs}s" >&2
    return 1
}

# push_image REF ROOTFS CONFIG: a one-layer OCI image of the directory ROOTFS, with CONFIG as
# its config's "config" object, pushed to the test registry (unless it is there already).
push_image() {
    local ref=$1 rootfs=$2 config_json=$3
    skopeo inspect --tls-verify=false "docker://$ref" >/dev/null 2>&1 && return 0
    local dir; dir=$(mktemp -d)
    (
        cd "$dir"
        mkdir -p layout/blobs/sha256
        tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$rootfs" -cf layer.tar .
        blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "layout/blobs/sha256/$d"; echo "$d"; }
        local layer config manifest
        layer=$(blob layer.tar)
        cat > config.json <<JSON
{"architecture":"amd64","os":"linux","config":$config_json,"rootfs":{"type":"layers","diff_ids":["sha256:$layer"]}}
JSON
        config=$(blob config.json)
        cat > manifest.json <<JSON
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$config","size":$(stat -c %s config.json)},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$layer","size":$(stat -c %s layer.tar)}]}
JSON
        manifest=$(blob manifest.json)
        echo '{"imageLayoutVersion":"1.0.0"}' > layout/oci-layout
        cat > layout/index.json <<JSON
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$manifest","size":$(stat -c %s manifest.json),"annotations":{"org.opencontainers.image.ref.name":"1"}}]}
JSON
        skopeo copy --quiet --dest-tls-verify=false "oci:layout:1" "docker://$ref"
    )
    rm -rf "$dir"
}

# busybox_rootfs DIR: Debian's static busybox with its applets, a passwd and a /tmp.
busybox_rootfs() {
    local root=$1 applet
    mkdir -p "$root"/{bin,etc,tmp,root}
    chmod 755 "$root"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' > "$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
}
