#!/usr/bin/env bash
# Stop the daemons that .ci/slurm-up.sh started: exactly the PIDs it recorded.
set -uo pipefail

STATE=${CONVSTUDY_SLURM_STATE:-/tmp/convstudy-slurm}

stop() {
  local pidfile=$1 name=$2 pid
  [ -s "$pidfile" ] || return 0
  pid=$(cat "$pidfile")
  # Only a live process of that name: a stale file may name a reused PID.
  if [ -n "$pid" ] && [ "$(ps -o comm= -p "$pid" 2>/dev/null)" = "$name" ]; then
    kill "$pid"
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    echo "stopped $name ($pid)"
  fi
  rm -f "$pidfile"
}

stop "$STATE/slurmd.pid" slurmd
stop "$STATE/slurmctld.pid" slurmctld
stop "$STATE/munged.pid" munged
