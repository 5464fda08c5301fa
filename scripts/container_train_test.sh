#!/usr/bin/env bash
# Builds deploy/Dockerfile's training image (--target train) with Debian's podman/buildah,
# runs a 2-rank data-parallel training inside it and checks that the weights match the
# same run outside (the build tree or the installed package, under `tessel launch`); then
# checks the worker variant: tessel-sshd as uid 10001 accepts the mounted key and runs
# tessel over ssh, as the MPI Operator's launcher does. Too slow for CI (a cold build is
# 15-30 minutes on 2 cores): run it by hand before a change to deploy/ or the distributed
# packaging lands. Same machine set-up as scripts/container_test.sh (the serving image).
#
#   bash scripts/container_train_test.sh             # build, then the checks; keeps the image
#   SKIP_BUILD=1 bash scripts/container_train_test.sh  # reuse the image of the last run
#   KEEP_IMAGES=0 bash scripts/container_train_test.sh # also removes the built image
#   OUTSIDE_PYTHONPATH=DIR ...                        # the outside run imports tessel from DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${IMAGE:-localhost/tessel-train:test}
BASE=debian:bookworm
PY=${PY:-$ROOT/.venv/bin/python}
CONTEXT=${CONTEXT:-head}
KEEP_IMAGES=${KEEP_IMAGES:-1}
SSH_PORT=2222
NAME=tessel-ctt-$$
WORK=$(mktemp -d /tmp/tessel-ctt.XXXXXX)
T0=$SECONDS
step() { echo "[container_train_test $(date +%T) +$((SECONDS - T0))s] $*"; }
cleanup() {
  podman rm -f "$NAME-worker" >/dev/null 2>&1 || true
  [ "$KEEP_IMAGES" = 1 ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || { echo "container_train_test.sh: run as root (podman storage, debootstrap)" >&2; exit 2; }

# ---- 1. tools, containers.conf, base image (as scripts/container_test.sh)
step "1/5 tools and base image"
missing=()
for p in podman buildah debootstrap runc uidmap fuse-overlayfs openssh-client; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
conf=/etc/containers/containers.conf   # crun/runc cannot set RLIMIT_NOFILE here
mkdir -p /etc/containers && touch "$conf"
if ! grep -q '^[[:space:]]*default_ulimits[[:space:]]*=[[:space:]]*\[\]' "$conf"; then
  if grep -q '^\[containers\]' "$conf"; then
    sed -i 's/^[[:space:]]*default_ulimits[[:space:]]*=.*$//' "$conf"
    sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
  else
    printf '\n[containers]\ndefault_ulimits = []\n' >>"$conf"
  fi
fi
if ! podman image exists "$BASE"; then
  mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "${mirror:-http://deb.debian.org/debian}" \
    >"$WORK/debootstrap.log" 2>&1 || { tail -n 30 "$WORK/debootstrap.log"; exit 1; }
  tar -C "$WORK/rootfs" -c . | podman import - "$BASE" >/dev/null
  podman tag "$BASE" docker.io/library/debian:bookworm
  rm -rf "$WORK/rootfs"
fi

# ---- 2. build --target train
if [ "${SKIP_BUILD:-0}" = 1 ] && podman image exists "$IMAGE"; then
  step "2/5 SKIP_BUILD=1: reusing $IMAGE"
else
  step "2/5 buildah bud --target train ($CONTEXT)"
  mkdir -p "$WORK/ctx"
  if [ "$CONTEXT" = worktree ]; then
    git ls-files -z --cached --others --exclude-standard | xargs -0 -I{} sh -c 'test -e "{}" && printf "%s\0" "{}"' |
      tar -c --null -T - | tar -x -C "$WORK/ctx"
  else
    git archive HEAD | tar -x -C "$WORK/ctx"
  fi
  vols=()
  ccache_dir=${CCACHE_DIR:-$HOME/.cache/ccache}
  [ -d "$ccache_dir" ] && vols=(-v "$ccache_dir:/root/.cache/ccache")
  host_ca=/etc/ssl/certs/ca-certificates.crt
  [ -f "$host_ca" ] && vols+=(-v "$host_ca:/run/host-ca.crt:ro" --build-arg PIP_CA_BUNDLE=/run/host-ca.crt)
  tb=$SECONDS
  buildah bud --isolation chroot --format docker --layers --target train "${vols[@]}" \
    -f "$WORK/ctx/deploy/Dockerfile" -t "$IMAGE" "$WORK/ctx" >"$WORK/build.log" 2>&1 ||
    { tail -n 60 "$WORK/build.log"; exit 1; }
  step "built $IMAGE in $((SECONDS - tb))s, $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
fi

# ---- 3. the same 2-rank training outside and inside
step "3/5 2-rank training outside and inside the container"
mkdir -p "$WORK/job/out" && chmod -R a+rwX "$WORK/job" && chmod a+x "$WORK"
cat >"$WORK/job/train_check.py" <<'EOF'
# 2 ranks, each on its half of every batch; rank 0 writes the final weights (JSON floats).
import json, sys
import tessel as ts
import tessel.distributed as dist
from tessel.nn.parallel import DistributedDataParallel as DDP
dist.init_process_group()
rank, world = dist.get_rank(), dist.get_world_size()
assert world == 2 and dist.get_backend() == "mpi", (world, dist.get_backend())
ts.manual_seed(0)
model = DDP(ts.nn.Sequential(ts.nn.Linear(8, 16), ts.nn.Tanh(), ts.nn.Linear(16, 3)))
opt = ts.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
g = ts.Generator().manual_seed(1)
for step in range(5):
    x = ts.randn(16, 8, generator=g)
    y = ts.randint(0, 3, (16,), generator=g)
    half = slice(8 * rank, 8 * rank + 8)
    opt.zero_grad()
    ts.nn.functional.cross_entropy(model(x[half]), y[half]).backward()
    opt.step()
if rank == 0:
    with open(sys.argv[1], "w") as f:
        json.dump({n: p.detach().reshape(-1).tolist() for n, p in model.module.named_parameters()}, f)
EOF
# Outside: OUTSIDE_PYTHONPATH when given (e.g. a copy of a build, while others rebuild the
# tree), else the build tree through scripts/dev_overlay.sh, else the installed package.
if [ -n "${OUTSIDE_PYTHONPATH:-}" ]; then
  export PYTHONPATH="$OUTSIDE_PYTHONPATH"
elif ls "$ROOT"/build/python/_C.*.so >/dev/null 2>&1; then
  bash scripts/dev_overlay.sh "$WORK/pypath" >/dev/null
  export PYTHONPATH="$WORK/pypath" TESSEL_BUILD_DIR="$ROOT/build"
fi
outside_env=(env -u PYTHONUNBUFFERED)
[ "$(id -u)" -eq 0 ] && outside_env+=(OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1)
"${outside_env[@]}" "$PY" -m tessel launch -n 2 --threads 1 --timeout 300 -x PYTHONPATH -- \
  "$PY" "$WORK/job/train_check.py" "$WORK/job/out/outside.json"
podman run --rm --runtime=runc --network=host -v "$WORK/job:/job" "$IMAGE" \
  tessel launch -n 2 --threads 1 --timeout 300 -- tessel-python /job/train_check.py /job/out/inside.json
fails=0
check() {  # check NAME COMMAND...: one line per check
  if "${@:2}" >"$WORK/check.out" 2>&1; then echo "  ok   $1"; else echo "  FAIL $1"; sed 's/^/       /' "$WORK/check.out"; fails=$((fails + 1)); fi
}
check "weights inside == outside (float32 rounding)" "$PY" - "$WORK/job/out/outside.json" "$WORK/job/out/inside.json" <<'EOF'
import json, sys
import numpy as np
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a.keys() == b.keys() and a, (list(a), list(b))
worst = max(float(np.max(np.abs(np.array(a[k]) - np.array(b[k])))) for k in a)
print(f"max |outside - inside| = {worst:.3g}")
for k in a:
    np.testing.assert_allclose(np.array(b[k]), np.array(a[k]), rtol=1e-5, atol=1e-6, err_msg=k)
EOF

# ---- 4. the worker variant: sshd as uid 10001, key auth, tessel over ssh
step "4/5 worker: tessel-sshd on port $SSH_PORT"
if "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $SSH_PORT)) == 0)"; then
  mkdir -p "$WORK/ssh"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/id_ed25519"
  cp "$WORK/ssh/id_ed25519.pub" "$WORK/ssh/authorized_keys"
  chown -R 10001:10001 "$WORK/ssh" && chmod 700 "$WORK/ssh"
  podman run -d --name "$NAME-worker" --runtime=runc --network=host -v "$WORK/ssh:/home/tessel/.ssh:ro" "$IMAGE" >/dev/null
  for _ in $(seq 1 40); do
    "$PY" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1', $SSH_PORT)))" && break
    sleep 0.25
  done
  check "sshd runs as uid 10001" bash -c "[ \"\$(podman top $NAME-worker user | tail -n 1 | tr -d ' ')\" = tessel ]"
  # A second container as the launcher: the mounted key, the image's ssh client config (port 2222).
  check "launcher container: ssh to the worker runs tessel with the MPI backend" bash -c \
    "podman run --rm --runtime=runc --network=host -v $WORK/ssh:/home/tessel/.ssh:ro $IMAGE \
       ssh 127.0.0.1 tessel-python -c \"'import tessel.distributed as d; assert d.is_mpi_available(); print(1)'\" | grep -qx 1"
  check "password login refused" bash -c \
    "! podman run --rm --runtime=runc --network=host $IMAGE ssh -o BatchMode=yes 127.0.0.1 true"
  podman logs "$NAME-worker" 2>&1 | tail -n 3 | sed 's/^/  sshd: /'
else
  echo "  FAIL port $SSH_PORT is in use on this machine: the worker check needs it"; fails=$((fails + 1))
fi

# ---- 5. result
total=$((SECONDS - T0))
if [ $fails -eq 0 ]; then step "5/5 PASS (${total}s)"; else step "5/5 FAIL: $fails check(s) (${total}s)"; exit 1; fi
