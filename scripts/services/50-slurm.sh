# A real single-node Slurm cluster (Debian's slurm-wlm: munged, slurmctld,
# slurmd) plus an sshd on 127.0.0.1:2222 acting as the "login node", and
# podman for containers on Slurm. Used by ferry-slurm's tests and
# crates/cli/tests/{conformance_slurm,slurm_*}.rs.
#
# What the tests read (exported here, and also at fixed paths):
#   FERRY_SLURM_SSH_KEY   private key authorised for ferrykey on 127.0.0.1:2222
#                         (/var/lib/ferry-test/ssh/id_ed25519)
#   FERRY_SLURM_SSH       ferrykey@127.0.0.1:2222 (a plain user with /bin/sh: a
#                         login shell that starts fast, like a cluster account)
#   FERRY_SLURM_PW_USER   a password-only user on the same sshd (ferrypw); its
#   FERRY_SLURM_PW_FILE   password is in this file (/var/lib/ferry-test/ssh/ferrypw.password)
#   FERRY_SLURM_IMAGE     a podman image holding busybox (localhost/ferry-busybox:1)
#   FERRY_SLURM_PODMAN    the podman command line that works on this machine (no
#                         systemd, cgroup v1 hybrid: runc, cgroupfs, explicit ulimits)
#
# No systemd here: daemons are started in the background; idempotent (a
# running daemon is left alone), fails loudly when something does not come up.
apt_install slurmctld slurmd slurm-client munge openssh-server openssh-client podman catatonit runc busybox-static rsync

FERRY_SLURM_STATE=/var/lib/ferry-test
FERRY_SLURM_SSH_KEY=$FERRY_SLURM_STATE/ssh/id_ed25519
FERRY_SLURM_SSH=ferrykey@127.0.0.1:2222
FERRY_SLURM_IMAGE=localhost/ferry-busybox:1
FERRY_SLURM_PODMAN="podman --runtime runc --cgroup-manager=cgroupfs"
FERRY_SLURM_PODMAN_RUN="run --rm --init --network=host --ulimit nofile=1024:1024 --ulimit nproc=4096:4096"
FERRY_SLURM_PW_USER=ferrypw
FERRY_SLURM_PW_FILE=$FERRY_SLURM_STATE/ssh/ferrypw.password
export FERRY_SLURM_PW_USER FERRY_SLURM_PW_FILE
export FERRY_SLURM_SSH_KEY FERRY_SLURM_SSH FERRY_SLURM_IMAGE FERRY_SLURM_PODMAN FERRY_SLURM_PODMAN_RUN

# --- munge -------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
    log "creating the munge key"
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n </dev/null >/dev/null 2>&1; then
    log "starting munged"
    runuser -u munge -- /usr/sbin/munged --force
    wait_for "munged" 20 munge -n
fi

# --- slurm.conf ----------------------------------------------------------------
slurm_host=$(hostname -s)
slurm_cpus=$(nproc)
slurm_mem=$(( $(free -m | awk '/^Mem:/ {print $2}') - 1024 ))
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
slurm_conf=$(cat <<CONF
# Written by Ferry's scripts/services/50-slurm.sh: a single-node test cluster.
ClusterName=ferry-test
SlurmctldHost=$slurm_host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue/scontrol for 10 minutes (no slurmdbd here).
MinJobAge=600
KillWait=5
InactiveLimit=0
SchedulerParameters=defer_batch=0
SuspendTime=-1
SlurmctldTimeout=30
SlurmdTimeout=60
MaxJobCount=20000
DefMemPerCPU=256
NodeName=$slurm_host CPUs=$slurm_cpus RealMemory=$slurm_mem State=UNKNOWN
PartitionName=debug Nodes=$slurm_host Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
CONF
)
conf_changed=0
if [ "$(cat /etc/slurm/slurm.conf 2>/dev/null)" != "$slurm_conf" ]; then
    printf '%s\n' "$slurm_conf" > /etc/slurm/slurm.conf
    conf_changed=1
fi

slurm_running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [ "$conf_changed" = 1 ]; then
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if slurm_running "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
    done
fi
if ! slurm_running /run/slurmctld.pid; then
    log "starting slurmctld"
    /usr/sbin/slurmctld
fi
wait_for "slurmctld" 60 scontrol ping
if ! slurm_running /run/slurmd.pid; then
    log "starting slurmd"
    /usr/sbin/slurmd
fi
node_state() { sinfo -h -N -n "$slurm_host" -o '%t' 2>/dev/null | head -n 1; }
node_ready() { case "$(node_state)" in idle|mix|alloc) return 0 ;; *) return 1 ;; esac; }
for _ in $(seq 1 60); do
    node_ready && break
    case "$(node_state)" in
        down*|drain*|drng*|fail*) scontrol update nodename="$slurm_host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
done
if ! node_ready; then
    echo "scripts/test: the Slurm node $slurm_host is not idle: $(sinfo -N 2>&1)" >&2
    tail -n 20 /var/log/slurm/slurmd.log /var/log/slurm/slurmctld.log >&2 || true
    exit 1
fi

# --- sshd on 127.0.0.1:2222 (the "login node") ------------------------------------
mkdir -p "$FERRY_SLURM_STATE/ssh" /run/sshd
chmod 700 "$FERRY_SLURM_STATE/ssh"
[ -f "$FERRY_SLURM_STATE/ssh/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$FERRY_SLURM_STATE/ssh/host_ed25519"
[ -f "$FERRY_SLURM_SSH_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C ferry-test -f "$FERRY_SLURM_SSH_KEY"
# '*': no password, yet not "locked" (sshd without PAM refuses locked accounts).
id -u ferrykey >/dev/null 2>&1 || useradd -m -s /bin/sh ferrykey
usermod -p '*' ferrykey
install -d -m 700 -o ferrykey -g ferrykey /home/ferrykey/.ssh
install -m 600 -o ferrykey -g ferrykey "$FERRY_SLURM_SSH_KEY.pub" /home/ferrykey/.ssh/authorized_keys
# A password-only user, for the askpass path (password generated once, kept in a root-only file).
id -u "$FERRY_SLURM_PW_USER" >/dev/null 2>&1 || useradd -m -s /bin/sh "$FERRY_SLURM_PW_USER"
if [ ! -s "$FERRY_SLURM_PW_FILE" ]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$FERRY_SLURM_PW_FILE")
fi
printf '%s:%s\n' "$FERRY_SLURM_PW_USER" "$(cat "$FERRY_SLURM_PW_FILE")" | chpasswd
cat > "$FERRY_SLURM_STATE/ssh/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port 2222
HostKey $FERRY_SLURM_STATE/ssh/host_ed25519
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
MaxSessions 50
MaxStartups 50:30:100
PidFile /run/ferry-test-sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
Match User $FERRY_SLURM_PW_USER
    PasswordAuthentication yes
    PubkeyAuthentication no
CONF
if slurm_running /run/ferry-test-sshd.pid && ! cmp -s "$FERRY_SLURM_STATE/ssh/sshd_config" "$FERRY_SLURM_STATE/ssh/sshd_config.running"; then
    kill "$(cat /run/ferry-test-sshd.pid)"; sleep 0.5
fi
if ! slurm_running /run/ferry-test-sshd.pid; then
    cp "$FERRY_SLURM_STATE/ssh/sshd_config" "$FERRY_SLURM_STATE/ssh/sshd_config.running"
    log "starting sshd on 127.0.0.1:2222"
    /usr/sbin/sshd -f "$FERRY_SLURM_STATE/ssh/sshd_config"
fi
wait_for "sshd on 127.0.0.1:2222" 20 ssh -i "$FERRY_SLURM_SSH_KEY" -p 2222 -o BatchMode=yes \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null ferrykey@127.0.0.1 true

# --- podman image from Debian's busybox-static (no registry access needed) -------------
if ! podman --cgroup-manager=cgroupfs image exists "$FERRY_SLURM_IMAGE" 2>/dev/null; then
    log "building $FERRY_SLURM_IMAGE from busybox-static"
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$rootfs/etc"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $("$rootfs/bin/busybox" --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    tar -C "$rootfs" -cf "$rootfs.tar" .
    podman --cgroup-manager=cgroupfs import --quiet --change 'ENV PATH=/bin' "$rootfs.tar" "$FERRY_SLURM_IMAGE" >/dev/null
    rm -rf "$rootfs" "$rootfs.tar"
fi
$FERRY_SLURM_PODMAN $FERRY_SLURM_PODMAN_RUN "$FERRY_SLURM_IMAGE" true \
    || { echo "scripts/test: podman cannot run $FERRY_SLURM_IMAGE" >&2; exit 1; }
