#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying the sbatch scripts in examples/slurm/
# (docs/SLURM.md). Debian 12, as root; no systemd and no cgroups needed (works in containers).
#
#   bash scripts/slurm-local.sh install          # apt-get install slurm-wlm munge (and Open MPI)
#   bash scripts/slurm-local.sh start [--fake-gpus N] [--clean]
#                                                # write /etc/slurm/slurm.conf, start munged,
#                                                # slurmctld, slurmd; wait until the node is idle
#   bash scripts/slurm-local.sh stop             # stop the three daemons
#   bash scripts/slurm-local.sh status           # daemons, sinfo, squeue
#
# start --fake-gpus N declares N GPUs (gres "gpu", backed by /dev/null-like device files) on the
# node, so that scripts asking for --gpus-per-task or --gres=gpu:N are scheduled here too; Slurm
# sets CUDA_VISIBLE_DEVICES per task, but no real device exists (CUDA sees none).
# start --clean forgets the jobs of a previous start (clears StateSaveLocation).
# The slurm.conf written here replaces any existing one (the previous one is kept as
# slurm.conf.bak once). Logs: /var/log/slurm/{slurmctld,slurmd}.log, /var/log/munge/munged.log.
set -euo pipefail

CONF_DIR=/etc/slurm
CONF=$CONF_DIR/slurm.conf
STATE=/var/spool/slurmctld        # StateSaveLocation (job state, survives restarts)
SPOOL=/var/spool/slurmd           # SlurmdSpoolDir (batch scripts of running jobs)
LOGS=/var/log/slurm
RUN=/run/slurm                    # pid files
PLUGIN_DIR=/usr/lib/x86_64-linux-gnu/slurm-wlm

die() { echo "slurm-local.sh: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "run as root"

install_packages() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  # slurm-wlm pulls slurmctld, slurmd, slurm-client and the plugins (mpi_pmix needs libpmix2);
  # openmpi-bin/libopenmpi-dev are the project's MPI (DESIGN section 10).
  apt-get install -y --no-install-recommends slurm-wlm munge openmpi-bin libopenmpi-dev
}

# MpiDefault: pmix when this Slurm has the PMIx plugin (Debian's Open MPI 4.1 talks PMIx through
# its ext3x component; it has no PMI-2 client), else none.
mpi_default() {
  if [[ -e $PLUGIN_DIR/mpi_pmix.so || -e $PLUGIN_DIR/mpi_pmix_v4.so ]]; then echo pmix; else echo none; fi
}

write_conf() {
  local fake_gpus=$1 host cpus mem_mb gres_line="" gres_types=""
  host=$(hostname -s)
  cpus=$(nproc)
  # Leave 1 GiB to the system; RealMemory must not exceed what slurmd detects.
  mem_mb=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))
  (( mem_mb > 512 )) || mem_mb=512
  if (( fake_gpus > 0 )); then
    gres_types="GresTypes=gpu"
    gres_line=" Gres=gpu:$fake_gpus"
    # slurmd drops GPUs without device files, so each fake GPU is a character device with
    # /dev/null's numbers (1, 3): harmless, and Slurm sets CUDA_VISIBLE_DEVICES from the index.
    mkdir -p $RUN
    local i
    for (( i = 0; i < fake_gpus; ++i )); do
      rm -f $RUN/fakegpu$i
      mknod $RUN/fakegpu$i c 1 3 2>/dev/null || touch $RUN/fakegpu$i   # a file: works, logs an error
    done
    echo "Name=gpu File=$RUN/fakegpu[0-$((fake_gpus - 1))]" > $CONF_DIR/gres.conf
  else
    rm -f $CONF_DIR/gres.conf
  fi
  [[ -e $CONF && ! -e $CONF.bak ]] && ! grep -q 'written by scripts/slurm-local.sh' $CONF &&
    cp $CONF $CONF.bak
  cat > $CONF <<EOF
# written by scripts/slurm-local.sh: a one-node cluster on $host
ClusterName=local
SlurmctldHost=$host
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# A requeued job may start again only after the step credential lifetime (default 120 s), and
# then waits for the next scheduling pass (backfill every 30 s, main loop every 60 s by default):
# with 10 s and the 5 s passes below a requeued job restarts 12-15 s later (30 s and the defaults:
# 55-60 s), which keeps the requeue tests quick.
AuthInfo=cred_expire=10
StateSaveLocation=$STATE
SlurmdSpoolDir=$SPOOL
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in containers: track processes through /proc, no task binding/confinement.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=5,sched_interval=5
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=$(mpi_default)
# A requeued job (scontrol requeue, or --requeue after a node failure) may run again.
JobRequeue=1
# Quick turnaround for a toy cluster.
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
MinJobAge=300
KillWait=30
$gres_types
NodeName=$host CPUs=$cpus RealMemory=$mem_mb$gres_line State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
EOF
}

start_munge() {
  if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
  fi
  chown munge:munge /etc/munge /etc/munge/munge.key
  chmod 700 /etc/munge
  chmod 400 /etc/munge/munge.key
  mkdir -p /run/munge /var/lib/munge /var/log/munge
  chown munge:munge /run/munge /var/lib/munge /var/log/munge
  chmod 755 /run/munge
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return; sleep 0.1; done
  die "munged did not start (see /var/log/munge/munged.log)"
}

running() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  local fake_gpus=0 clean=0
  while (( $# )); do
    case $1 in
      --fake-gpus) fake_gpus=$2; shift 2 ;;
      --clean) clean=1; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  command -v slurmctld >/dev/null || die "Slurm is not installed: bash $0 install"
  write_conf "$fake_gpus"
  mkdir -p $STATE $SPOOL $LOGS $RUN
  (( clean )) && rm -rf "${STATE:?}"/*
  chown slurm:slurm $STATE $LOGS $RUN
  start_munge
  # A previous start's daemons read the old slurm.conf: restart them.
  running $RUN/slurmd.pid && stop_daemons
  running $RUN/slurmctld.pid && stop_daemons
  /usr/sbin/slurmctld            # forks into the background (pid file $RUN/slurmctld.pid)
  for _ in $(seq 100); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.2; done
  scontrol ping | grep -q UP || die "slurmctld did not come up (see $LOGS/slurmctld.log)"
  /usr/sbin/slurmd               # forks into the background (pid file $RUN/slurmd.pid)
  local host state=""
  host=$(hostname -s)
  # Wait for the node to register: idle (or busy with earlier jobs), without a suffix such as
  # "*" (not responding yet).
  for _ in $(seq 150); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null || true)
    case $state in
      idle|mixed|allocated|completing) break ;;
      # Left down/drained by an earlier run (or invalid before this slurm.conf): resume it.
      down|drained|draining|inval) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
  done
  case $state in
    idle|mixed|allocated|completing) ;;
    *) sinfo -R >&2; die "node $host is '$state', not idle (see $LOGS/slurmd.log)" ;;
  esac
  sinfo
}

stop_daemons() {
  local f
  for f in $RUN/slurmd.pid $RUN/slurmctld.pid; do
    if running "$f"; then
      local pid; pid=$(cat "$f")
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
}

stop() {
  stop_daemons
  if [[ -s /run/munge/munged.pid ]] && kill -0 "$(cat /run/munge/munged.pid)" 2>/dev/null; then
    runuser -u munge -- /usr/sbin/munged --stop >/dev/null 2>&1 ||
      kill "$(cat /run/munge/munged.pid)"
  fi
  echo "stopped"
}

status() {
  local d
  for d in /run/munge/munged.pid $RUN/slurmctld.pid $RUN/slurmd.pid; do
    if running "$d"; then echo "$(basename "$d" .pid): running (pid $(cat "$d"))"
    else echo "$(basename "$d" .pid): stopped"; fi
  done
  if sinfo 2>/dev/null; then squeue; fi
}

case ${1:-} in
  install) install_packages ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  restart) shift; stop; start "$@" ;;
  status) status ;;
  *) echo "usage: $0 install | start [--fake-gpus N] [--clean] | stop | restart | status" >&2; exit 2 ;;
esac
