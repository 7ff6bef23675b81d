#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for tests/test_slurm.py.
#
# Needs root and Debian's slurm-wlm and munge (.ci/run installs them). Starts
# munged, slurmctld and `slurmd -N localhost` with a minimal configuration: no
# accounting, no cgroups. Their PIDs go to $STATE/*.pid; .ci/slurm-down.sh stops
# exactly those processes. Exits non-zero, saying why, when the cluster does
# not come up (.ci/run then fails; by hand, the SLURM test is skipped saying why).
#
#   .ci/slurm-up.sh     # start (stops a cluster this script started before)
#   .ci/slurm-down.sh   # stop
set -euo pipefail

STATE=${CONVSTUDY_SLURM_STATE:-/tmp/convstudy-slurm}
# The plugin's job step runs srun without SLURM_CONF, so only the default path works.
CONF=/etc/slurm/slurm.conf
MUNGE_SOCKET_DIR=/run/munge

die() {
  echo "slurm-up: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (daemons, /etc/slurm/slurm.conf)"
for cmd in munged slurmctld slurmd sbatch squeue scontrol sinfo; do
  command -v "$cmd" >/dev/null || die "$cmd not found: apt-get install slurm-wlm munge"
done

"$(dirname "$0")/slurm-down.sh" || true
mkdir -p "$STATE/slurmctld" "$STATE/slurmd"

echo "== munge"
# Clients (sbatch, slurmd, jobs) reach munged through its socket: the directory
# must be world-executable, and owned by munge, which runs the daemon.
install -d -o munge -g munge -m 0755 "$MUNGE_SOCKET_DIR" /var/lib/munge /var/log/munge
install -d -o munge -g munge -m 0700 /etc/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
runuser -u munge -- munged \
  --socket="$MUNGE_SOCKET_DIR/munge.socket.2" \
  --pid-file="$MUNGE_SOCKET_DIR/munged.pid"
for _ in $(seq 50); do
  [ -s "$MUNGE_SOCKET_DIR/munged.pid" ] && break
  sleep 0.1
done
cp "$MUNGE_SOCKET_DIR/munged.pid" "$STATE/munged.pid" || die "munged did not start"
munge -n | unmunge >/dev/null || die "munge cannot encode and decode a credential"

echo "== slurm.conf ($CONF)"
cpus=$(nproc)
# A little under the machine's memory, so that slurmd does not drain the node.
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$(dirname "$CONF")"
cat >"$CONF" <<EOF
# Written by .ci/slurm-up.sh: a one-node test cluster on localhost.
ClusterName=convstudy
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
MpiDefault=none
# No cgroups in containers: track processes by their parents, bind no CPUs.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
# No accounting: sacct cannot answer, so the profile uses squeue, which needs
# finished jobs kept this long (the plugin checks MinJobAge).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF

echo "== slurmctld, slurmd"
slurmctld -i || die "slurmctld failed: $(tail -5 "$STATE/slurmctld.log" 2>/dev/null)"
slurmd -N localhost || die "slurmd failed: $(tail -5 "$STATE/slurmd.log" 2>/dev/null)"

# Up when the node takes jobs (idle), within 30 seconds.
state=""
for _ in $(seq 60); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  case "$state" in
  idle | mixed | allocated) break ;;
  esac
  sleep 0.5
done
case "$state" in
idle | mixed | allocated) ;;
*)
  die "node localhost is '${state:-unknown}', not idle; $(tail -3 "$STATE/slurmctld.log" 2>/dev/null)"
  ;;
esac
sinfo
echo "SLURM cluster up: $cpus CPUs, ${mem_mb} MB; PIDs in $STATE"
