#!/bin/sh
# Runs N copies of a program as the ranks of a job without mpirun: each gets torchrun's
# variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, MASTER_PORT) and the
# TCP backend meets them. Fails when any rank fails; every rank is bounded by `timeout`.
# usage: run_ranks.sh N PORT SECONDS PROGRAM [ARGS...]
n=$1 port=$2 secs=$3
shift 3
pids=""
r=0
while [ "$r" -lt "$n" ]; do
  RANK=$r WORLD_SIZE=$n LOCAL_RANK=$r LOCAL_WORLD_SIZE=$n MASTER_ADDR=127.0.0.1 MASTER_PORT=$port \
    timeout "$secs" "$@" &
  pids="$pids $!"
  r=$((r + 1))
done
status=0
for p in $pids; do
  wait "$p" || status=1
done
exit $status
