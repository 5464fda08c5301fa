#!/usr/bin/env bash
# Builds deploy/Dockerfile with Debian's podman/buildah (no Docker engine on these
# machines), runs tessel-serve in the container and checks the protocols against it
# from the host. Too slow for CI (a cold build takes 15-30 minutes on 2 cores):
# run it by hand before a change to deploy/ or the server's packaging lands.
#
#   bash scripts/container_test.sh            # everything; keeps the images for the next run
#   KEEP_IMAGES=0 bash scripts/container_test.sh   # also removes the built image
#   SKIP_BUILD=1 bash scripts/container_test.sh     # reuse the image of the last run (checks only)
#
# Steps (each timed):
#   1. apt-get install podman buildah debootstrap runc (if missing)
#   2. base image: debootstrap --variant=minbase bookworm | podman import, tagged debian:bookworm
#      (the Dockerfile's FROM), unless it exists already
#   3. [containers] default_ulimits = [] in /etc/containers/containers.conf (crun/runc
#      cannot set RLIMIT_NOFILE here)
#   4. buildah bud --isolation chroot of the committed tree (git archive HEAD, or the
#      working tree with CONTEXT=worktree), the host's ccache mounted when present
#   5. a model repository made with ts.onnx.export, mounted read-only at /models
#   6. podman run --runtime=runc --network=host, read-only root filesystem and a tmpfs
#      /tmp (as deploy/k8s runs it), then the checks below, then SIGTERM: exit code 0
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
IMAGE=${IMAGE:-localhost/tessel-serve:test}
BASE=debian:bookworm
PY=${PY:-$ROOT/.venv/bin/python}
CONTEXT=${CONTEXT:-head}
KEEP_IMAGES=${KEEP_IMAGES:-1}
NAME=tessel-ct-$$
WORK=$(mktemp -d /tmp/tessel-ct.XXXXXX)
T0=$SECONDS
step() { echo "[container_test $(date +%T) +$((SECONDS - T0))s] $*"; }
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  [ "$KEEP_IMAGES" = 1 ] || podman rmi -f "$IMAGE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || { echo "container_test.sh: run as root (podman storage, debootstrap)" >&2; exit 2; }

# ---- 1. tools
step "1/6 tools"
missing=()
for p in podman buildah debootstrap runc uidmap fuse-overlayfs curl; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  step "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---- 3. (before any podman run) containers.conf
conf=/etc/containers/containers.conf
mkdir -p /etc/containers
touch "$conf"
if ! grep -q '^[[:space:]]*default_ulimits[[:space:]]*=[[:space:]]*\[\]' "$conf"; then
  step "setting default_ulimits = [] in $conf"
  if grep -q '^\[containers\]' "$conf"; then
    sed -i 's/^[[:space:]]*default_ulimits[[:space:]]*=.*$//' "$conf"
    sed -i '/^\[containers\]/a default_ulimits = []' "$conf"
  else
    printf '\n[containers]\ndefault_ulimits = []\n' >>"$conf"
  fi
fi

# ---- 2. base image
step "2/6 base image $BASE"
if podman image exists "$BASE"; then
  step "$BASE exists, reused"
else
  mirror=$(sed -n 's/^URIs:[[:space:]]*//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
  mirror=${mirror:-http://deb.debian.org/debian}
  debootstrap --variant=minbase bookworm "$WORK/rootfs" "$mirror" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log"; exit 1; }
  tar -C "$WORK/rootfs" -c . | podman import - "$BASE" >/dev/null
  # Both spellings a short name resolves to, so FROM debian:bookworm finds it offline.
  podman tag "$BASE" docker.io/library/debian:bookworm
  rm -rf "$WORK/rootfs"
  step "base image imported ($(podman image inspect --format '{{.Size}}' "$BASE") bytes)"
fi

# ---- 4. build
if [ "${SKIP_BUILD:-0}" = 1 ] && podman image exists "$IMAGE"; then
  step "4/6 SKIP_BUILD=1: reusing $IMAGE"
else
step "4/6 buildah bud -f deploy/Dockerfile ($CONTEXT)"
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
# pip in the build stage trusts the host's CA bundle (it holds the CA of this network's
# TLS-intercepting egress proxy, when there is one).
host_ca=/etc/ssl/certs/ca-certificates.crt
[ -f "$host_ca" ] && vols+=(-v "$host_ca:/run/host-ca.crt:ro" --build-arg PIP_CA_BUNDLE=/run/host-ca.crt)
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it).
tb=$SECONDS
buildah bud --isolation chroot --format docker --layers "${vols[@]}" -f "$WORK/ctx/deploy/Dockerfile" \
  -t "$IMAGE" "$WORK/ctx" >"$WORK/build.log" 2>&1 || { tail -n 60 "$WORK/build.log"; exit 1; }
step "built $IMAGE in $((SECONDS - tb))s, $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
fi
podman image inspect --format '{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Healthcheck.Test}}' "$IMAGE"

# ---- 5. model repository
step "5/6 model repository"
# The build tree through scripts/dev_overlay.sh when there is one (an installed
# package in the venv may be older than the tree); else the installed package.
if ls "$ROOT"/build/python/_C.*.so >/dev/null 2>&1; then
  bash scripts/dev_overlay.sh "$WORK/pypath" >/dev/null
  export PYTHONPATH="$WORK/pypath" TESSEL_BUILD_DIR="$ROOT/build"
fi
"$PY" - "$WORK/models" <<'EOF'
import sys
from pathlib import Path
import tessel as ts
p = Path(sys.argv[1]) / "mlp" / "1" / "model.onnx"
p.parent.mkdir(parents=True)
ts.manual_seed(0)
m = ts.nn.Sequential(ts.nn.Linear(16, 8), ts.nn.ReLU(), ts.nn.Linear(8, 4))
ts.onnx.export(m, (ts.randn(2, 16),), str(p), input_names=["x"], output_names=["y"],
               dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
EOF
chmod -R a+rX "$WORK/models" && chmod a+x "$WORK"   # the server runs as uid 10001

# ---- 6. run and check
PORT=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "6/6 podman run on port $PORT"
podman run -d --name "$NAME" --runtime=runc --network=host --read-only --tmpfs /tmp \
  -v "$WORK/models:/models:ro" "$IMAGE" --http-port "$PORT" >/dev/null 2>"$WORK/run.err" ||
  { cat "$WORK/run.err"; exit 1; }
# (podman's "unable to get systemd connection to add healthchecks" is expected without
# systemd: the health check is run by hand below.)
ready=0
for _ in $(seq 1 120); do
  if curl -fs -o /dev/null "http://127.0.0.1:$PORT/v2/health/ready"; then ready=1; break; fi
  [ "$(podman inspect --format '{{.State.Running}}' "$NAME")" = true ] || break
  sleep 0.5
done
if [ $ready != 1 ]; then podman logs "$NAME" | tail -n 30; echo "FAIL: server not ready" >&2; exit 1; fi
step "ready after container start"

fails=0
check() {  # check NAME COMMAND...: one line per check
  if "${@:2}" >"$WORK/check.out" 2>&1; then echo "  ok   $1"; else echo "  FAIL $1"; sed 's/^/       /' "$WORK/check.out"; fails=$((fails + 1)); fi
}
check "runs as uid 10001 (non-root)" bash -c "[ \"\$(podman exec $NAME id -u)\" = 10001 ]"
check "root filesystem mounted read-only, /tmp writable" bash -c \
  "podman exec $NAME grep -qE '^[^ ]+ / [^ ]+ ro[, ]' /proc/mounts && podman exec $NAME touch /tmp/x"
check "image HEALTHCHECK passes (podman healthcheck run)" podman healthcheck run "$NAME"
# The protocol checks run on the host against the container, with the same clients users have.
cat >"$WORK/checks.py" <<'EOF'
import json, sys, urllib.error, urllib.request
import numpy as np
import onnxruntime as ort
import tritonclient.http as triton

url, model_path = sys.argv[1], sys.argv[2]
fails = 0

def http(method, path, body=None):
    req = urllib.request.Request(url + path, method=method, data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def check(name, fn):
    global fails
    try:
        fn()
        print("  ok   " + name)
    except Exception as e:  # report every check, then fail once at the end
        fails += 1
        print(f"  FAIL {name}: {type(e).__name__}: {e}")

def expect(status, path, method="GET", body=None):
    code, data = http(method, path, body)
    assert code == status, f"{method} {path}: {code} {data[:200]!r}"
    return json.loads(data) if data and data[:1] in b"[{" else data

x = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
ref = ort.InferenceSession(model_path).run(None, {"x": x})[0]

def oip_infer():
    r = expect(200, "/v2/models/mlp/infer", "POST", {"id": "ct-1", "inputs": [
        {"name": "x", "datatype": "FP32", "shape": [3, 16], "data": x.ravel().tolist()}]})
    assert r["id"] == "ct-1", r
    out = r["outputs"][0]
    assert out["name"] == "y" and out["shape"] == [3, 4], out
    np.testing.assert_allclose(np.array(out["data"], np.float32).reshape(3, 4), ref, rtol=1e-5, atol=1e-5)

def tritonclient_infer():
    c = triton.InferenceServerClient(url.split("//", 1)[1])
    assert c.is_server_live() and c.is_model_ready("mlp")
    i = triton.InferInput("x", [3, 16], "FP32")
    i.set_data_from_numpy(x, binary_data=True)
    res = c.infer("mlp", [i], outputs=[triton.InferRequestedOutput("y", binary_data=True)])
    np.testing.assert_allclose(res.as_numpy("y"), ref, rtol=1e-5, atol=1e-5)

def tf_status():
    r = expect(200, "/v1/models/mlp")
    assert r["model_version_status"][0]["state"] == "AVAILABLE", r

def tf_predict():
    r = expect(200, "/v1/models/mlp:predict", "POST", {"instances": x.tolist()})
    np.testing.assert_allclose(np.array(r["predictions"], np.float32), ref, rtol=1e-5, atol=1e-5)

def metrics():
    text = expect(200, "/metrics").decode()
    assert "tessel_inference_requests_total" in text, text[:300]

def unknown_model():
    r = expect(404, "/v2/models/nope/infer", "POST", {"inputs": []})
    assert "error" in r, r

check("GET /v2/health/live", lambda: expect(200, "/v2/health/live"))
check("GET /v2/health/ready", lambda: expect(200, "/v2/health/ready"))
check("GET /v2 (server metadata)", lambda: expect(200, "/v2")["extensions"])
check("GET /v2/models/mlp (model metadata)", lambda: expect(200, "/v2/models/mlp")["inputs"][0]["name"] == "x" or 1 / 0)
check("GET /v2/models/mlp/ready", lambda: expect(200, "/v2/models/mlp/ready"))
check("POST /v2/models/mlp/infer (OIP JSON) == onnxruntime", oip_infer)
check("tritonclient[http] infer (binary extension) == onnxruntime", tritonclient_infer)
check("GET /v1/models/mlp (TF-Serving status)", tf_status)
check("POST /v1/models/mlp:predict (TF-Serving instances) == onnxruntime", tf_predict)
check("GET /metrics (Prometheus)", metrics)
check("unknown model: 404 with {error}", unknown_model)
sys.exit(1 if fails else 0)
EOF
echo "  protocol checks from the host:"
"$PY" "$WORK/checks.py" "http://127.0.0.1:$PORT" "$WORK/models/mlp/1/model.onnx" || fails=$((fails + 1))
check "SIGTERM: graceful stop, exit code 0" bash -c \
  "podman stop -t 30 $NAME >/dev/null && [ \"\$(podman inspect --format '{{.State.ExitCode}}' $NAME)\" = 0 ]"
podman logs "$NAME" 2>&1 | tail -n 3 | sed 's/^/  log: /'

total=$((SECONDS - T0))
if [ $fails -eq 0 ]; then step "PASS (${total}s)"; else step "FAIL: $fails check(s) (${total}s)"; exit 1; fi
