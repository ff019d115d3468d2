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
