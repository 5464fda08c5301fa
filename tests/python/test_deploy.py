"""deploy/: the container images and Kubernetes manifests of tessel-serve, checked offline.

No cluster and no container engine run in CI, so:
- every Kubernetes manifest is validated against the JSON schemas of a pinned Kubernetes
  version that kubernetes-validate bundles (strict: unknown fields are errors; no network);
- the KServe InferenceService is a CRD (no bundled schema): its required fields by hand;
- the Dockerfiles' structure (multi-stage, non-root, health check, entrypoint, no remote ADD);
- every probe, health check and argument points at a route or flag tessel-serve has
  (read from src/serve), and ports agree between container, probes and Service.
scripts/container_test.sh builds and runs the real image (too slow for CI).
"""
import copy
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
kv = pytest.importorskip("kubernetes_validate")

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SERVE_SRC = ROOT / "src" / "serve"
# The Kubernetes version the manifests target (schemas bundled by kubernetes-validate).
K8S_VERSION = "1.31.0"
DOCKERFILES = ["Dockerfile", "Dockerfile.cuda"]


def _docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _manifests():
    out = []
    for p in sorted(K8S.glob("*.yaml")):
        if p.name == "kustomization.yaml":
            continue
        out += [(p.name, d) for d in _docs(p)]
    return out


MANIFESTS = _manifests()
BUILTIN = [(n, d) for n, d in MANIFESTS if not d["apiVersion"].startswith("serving.kserve.io/")]


def _one(kind):
    found = [d for _, d in MANIFESTS if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind} in deploy/k8s, found {len(found)}"
    return found[0]


def _serve_sources():
    return "\n".join(p.read_text() for p in sorted(SERVE_SRC.glob("*.cpp")))


def _served_routes():
    """Exact route strings compared against the request path in src/serve."""
    return set(re.findall(r'path\s*==\s*"(/[^"]*)"', _serve_sources()))


def _server_flags():
    main = (SERVE_SRC / "main.cpp").read_text()
    return set(re.findall(r'a\s*==\s*"(--[a-z-]+)"', main))


# ---------------------------------------------------------------- schema validation

def test_manifests_found():
    kinds = sorted(d["kind"] for _, d in MANIFESTS)
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "InferenceService", "PersistentVolumeClaim", "Service"]


def test_schemas_are_bundled_for_the_pinned_version():
    # The schemas ship inside the package: validation never touches the network.
    pkg = Path(kv.__file__).parent
    assert (pkg / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict").is_dir()


@pytest.mark.parametrize("name,doc", BUILTIN, ids=[f"{n}:{d['kind']}" for n, d in BUILTIN])
def test_manifest_valid_against_pinned_schema(name, doc):
    kv.validate(doc, K8S_VERSION, strict=True)


@pytest.mark.parametrize("mutate,match", [
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].__setitem__("livenessProbes", {}), "livenessProbes"),
    (lambda d: d["spec"].__setitem__("replicas", "two"), "two"),
    (lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name"), "name"),
])
def test_validator_rejects_broken_deployment(mutate, match):
    # The validation above can fail: an unknown field, a wrong type, a missing required field.
    d = copy.deepcopy(_one("Deployment"))
    mutate(d)
    with pytest.raises(kv.ValidationError, match=match):
        kv.validate(d, K8S_VERSION, strict=True)


def test_kustomization_lists_existing_manifests():
    k = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert k["kind"] == "Kustomization"
    listed = set(k["resources"])
    for r in listed:
        assert (K8S / r).is_file(), r
    # Everything but the InferenceService (applied instead of the Deployment on KServe).
    expected = {n for n, d in MANIFESTS if d["kind"] != "InferenceService"}
    assert listed == expected
    assert {i["name"] for i in k["images"]} == {"tessel-serve"}


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")
def test_kustomize_build_renders_valid_manifests():
    # What `kubectl apply -k deploy/k8s` would send: rendered offline, then validated.
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    docs = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert sorted(d["kind"] for d in docs) == ["Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim",
                                              "Service"]
    for d in docs:
        assert d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "tessel"
        kv.validate(d, K8S_VERSION, strict=True)


# ---------------------------------------------------------------- Deployment, Service, HPA

def _container(pod_spec, name):
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def _flag(args, name):
    """The value of the last NAME in args (tessel-serve keeps the last of a repeated flag)."""
    idx = [i for i, a in enumerate(args) if a == name]
    assert idx, f"{name} not in {args}"
    return args[idx[-1] + 1]


def test_deployment_security_and_resources():
    pod = _one("Deployment")["spec"]["template"]["spec"]
    c = _container(pod, "tessel-serve")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    for k in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(c["resources"][k])
    # Read-only root: /tmp (the image's port file) is an emptyDir, the models a read-only volume.
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in vols[mounts["/tmp"]["name"]]
    assert mounts["/models"]["readOnly"] is True
    claim = vols[mounts["/models"]["name"]]["persistentVolumeClaim"]["claimName"]
    assert claim == _one("PersistentVolumeClaim")["metadata"]["name"]


def test_deployment_probes_and_ports_agree():
    pod = _one("Deployment")["spec"]["template"]["spec"]
    c = _container(pod, "tessel-serve")
    port = c["ports"][0]
    assert int(_flag(c["args"], "--http-port")) == port["containerPort"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert c[probe]["httpGet"]["port"] in (port["name"], port["containerPort"]), probe
    # The pod outlives the server's drain on SIGTERM.
    assert pod["terminationGracePeriodSeconds"] > float(_flag(c["args"], "--drain-timeout-secs"))


def test_service_selects_deployment_pods():
    dep, svc = _one("Deployment"), _one("Service")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    names = {p["name"] for p in _container(dep["spec"]["template"]["spec"], "tessel-serve")["ports"]}
    assert all(p["targetPort"] in names for p in svc["spec"]["ports"])


def test_hpa_targets_deployment_on_cpu():
    hpa, dep = _one("HorizontalPodAutoscaler"), _one("Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    ref = hpa["spec"]["scaleTargetRef"]
    assert (ref["apiVersion"], ref["kind"], ref["name"]) == ("apps/v1", "Deployment", dep["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    m = hpa["spec"]["metrics"][0]
    assert m["resource"]["name"] == "cpu" and m["resource"]["target"]["type"] == "Utilization"
    # Utilization is relative to the request: the container must set one.
    assert "cpu" in _container(dep["spec"]["template"]["spec"], "tessel-serve")["resources"]["requests"]


# ---------------------------------------------------------------- KServe InferenceService (CRD)

def test_inferenceservice_required_fields():
    isvc = _one("InferenceService")
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1"
    assert isinstance(isvc["metadata"]["name"], str) and re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?",
                                                                      isvc["metadata"]["name"])
    c = isvc["spec"]["predictor"]["containers"][0]
    assert c["image"].startswith("tessel-serve")
    assert isinstance(c["args"], list) and all(isinstance(a, str) for a in c["args"])
    assert len(c["ports"]) == 1 and isinstance(c["ports"][0]["containerPort"], int)
    assert int(_flag(c["args"], "--http-port")) == c["ports"][0]["containerPort"]
    # KServe's storage initializer downloads STORAGE_URI into /mnt/models.
    assert _flag(c["args"], "--model-repository") == "/mnt/models"
    assert any(e["name"] == "STORAGE_URI" for e in c["env"])
    for probe, path in (("livenessProbe", "/v2/health/live"), ("readinessProbe", "/v2/health/ready")):
        assert c[probe]["httpGet"] == {"path": path, "port": c["ports"][0]["containerPort"]}
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert isvc["spec"]["predictor"]["securityContext"]["runAsNonRoot"] is True


def test_inferenceservice_container_is_a_valid_core_container():
    # The predictor's containers are core/v1 Containers: validate one inside a Pod.
    isvc = _one("InferenceService")
    pred = isvc["spec"]["predictor"]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"},
           "spec": {"containers": pred["containers"], "volumes": pred["volumes"],
                    "securityContext": pred["securityContext"]}}
    kv.validate(pod, K8S_VERSION, strict=True)


# ---------------------------------------------------------------- routes and flags exist

def _all_probe_paths():
    paths = []
    for _, d in MANIFESTS:
        spec = d["spec"]
        pod = spec.get("template", {}).get("spec") or spec.get("predictor")
        for c in (pod or {}).get("containers", []):
            paths += [c[p]["httpGet"]["path"] for p in ("livenessProbe", "readinessProbe", "startupProbe") if p in c]
    return paths


def test_probe_paths_are_served_routes():
    routes = _served_routes()
    assert {"/v2/health/live", "/v2/health/ready"} <= routes  # the regex does find routes
    paths = _all_probe_paths()
    assert len(paths) == 5
    assert set(paths) <= routes


def test_manifest_args_are_server_flags():
    flags = _server_flags()
    assert {"--http-port", "--host", "--model-repository"} <= flags
    for _, d in MANIFESTS:
        spec = d["spec"]
        pod = spec.get("template", {}).get("spec") or spec.get("predictor")
        for c in (pod or {}).get("containers", []):
            used = [a for a in c.get("args", []) if a.startswith("--")]
            assert set(used) <= flags, set(used) - flags


# ---------------------------------------------------------------- Dockerfiles

def _instructions(text):
    """(INSTRUCTION, arguments) per instruction: continuation lines joined, comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") and not cur:
            continue
        if line.lstrip().startswith("#"):  # a comment inside a continuation
            continue
        cur += line.rstrip()
        if cur.endswith("\\"):
            cur = cur[:-1] + " "
            continue
        if cur.strip():
            word, _, rest = cur.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def _stages(ins):
    stages = []
    for word, rest in ins:
        if word == "FROM":
            stages.append([(word, rest)])
        elif stages:
            stages[-1].append((word, rest))
    return stages


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_structure(name):
    ins = _instructions((DEPLOY / name).read_text())
    stages = _stages(ins)
    assert len(stages) >= 2, "multi-stage"
    froms = [s[0][1].split() for s in stages]
    assert all(len(f) == 3 and f[1].upper() == "AS" for f in froms), froms
    build_name = froms[0][2]
    runtime = stages[-1]
    words = [w for w, _ in runtime]
    # The runtime stage copies the build's output and nothing is compiled there.
    assert any(w == "COPY" and f"--from={build_name}" in r for w, r in runtime)
    assert not any(w == "RUN" and re.search(r"\b(cmake|pip|g\+\+|build-essential)\b", r) for w, r in runtime)
    # The last USER is numeric and not root (Kubernetes' runAsNonRoot checks a numeric uid).
    users = [r for w, r in runtime if w == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", users[-1]), users
    assert words.index("USER") < words.index("ENTRYPOINT")
    # Health check on the readiness route; entrypoint tessel-serve on all interfaces, /models.
    hc = [r for w, r in runtime if w == "HEALTHCHECK"]
    assert len(hc) == 1 and "/v2/health/ready" in hc[0]
    ep = json.loads(next(r for w, r in runtime if w == "ENTRYPOINT"))
    assert ep[0] == "tessel-serve"
    assert _flag(ep, "--host") == "0.0.0.0" and _flag(ep, "--model-repository") == "/models"
    assert set(a for a in ep if a.startswith("--")) <= _server_flags()
    # The health check reads the port from the file the entrypoint makes the server write.
    assert _flag(ep, "--port-file") in hc[0]
    cmd = json.loads(next(r for w, r in runtime if w == "CMD"))
    assert int(_flag(cmd, "--http-port")) == int(next(r for w, r in runtime if w == "EXPOSE"))
    # Nothing fetched from URLs by ADD (reproducible builds, no unchecked downloads).
    for w, r in ins:
        assert not (w == "ADD" and re.search(r"\b(https?|git)://|git@", r)), r
        if w == "RUN":
            assert not re.search(r"\b(curl|wget)\b", r), r


def test_dockerfile_base_is_what_container_test_imports():
    # scripts/container_test.sh tags its debootstrap image with the Dockerfile's base name.
    ins = _instructions((DEPLOY / "Dockerfile").read_text())
    bases = {s[0][1].split()[0] for s in _stages(ins)}
    assert bases == {"debian:bookworm"}
    script = (ROOT / "scripts" / "container_test.sh").read_text()
    assert "BASE=debian:bookworm" in script
    assert "-f \"$WORK/ctx/deploy/Dockerfile\"" in script


def test_dockerfile_runtime_libraries_cover_the_server_link():
    # The runtime stage installs the libraries of what the server links (src/serve CMake:
    # protobuf, simdjson; libtessel: oneDNN + its OpenCL loader, OpenMP).
    runtime = _stages(_instructions((DEPLOY / "Dockerfile").read_text()))[-1]
    run = " ".join(r for w, r in runtime if w == "RUN")
    for pkg in ("libdnnl2", "ocl-icd-libopencl1", "libgomp1", "libprotobuf32", "libsimdjson14"):
        assert re.search(rf"\b{re.escape(pkg)}\b", run), pkg
    # And the build checks ldd finds every one of them.
    assert "not found" in run and "ldd /opt/tessel/bin/tessel-serve" in run


def test_instruction_parser_sees_continuations_and_comments():
    ins = _instructions("FROM a AS b\n# c\nRUN x \\\n  # inner\n  && y\nUSER 1\n")
    assert ins == [("FROM", "a AS b"), ("RUN", "x    && y"), ("USER", "1")]
    assert shlex.split(ins[1][1]) == ["x", "&&", "y"]


def test_dockerfile_train_target():
    # --target train (docs/distributed.md): the Python package with the MPI backend, OpenMPI,
    # the ssh client for mpirun and sshd for the workers, as the unprivileged user 10001 whose
    # home holds the keys the MPI Operator mounts (tessel k8s render mpijob's sshAuthMountPath).
    stages = _stages(_instructions((DEPLOY / "Dockerfile").read_text()))
    names = [s[0][1].split()[2] for s in stages]
    assert names[-1] == "runtime" and "train" in names  # the serving image stays the default target
    build = stages[0]
    assert re.search(r"\blibopenmpi-dev\b", " ".join(r for w, r in build if w == "RUN"))
    assert any(w == "RUN" and "is_mpi_available()" in r for w, r in build)  # the wheel has the MPI backend
    train = stages[names.index("train")]
    run = " ".join(r for w, r in train if w == "RUN")
    for pkg in ("python3", "libopenmpi3", "openmpi-bin", "openssh-client", "openssh-server", "libdnnl2"):
        assert re.search(rf"\b{re.escape(pkg)}\b", run), pkg
    assert "not found" in run and "ldd /opt/tessel-venv" in run
    assert not re.search(r"\b(cmake|g\+\+|build-essential)\b", run)
    assert any(w == "COPY" and "--from=build /opt/tessel-venv" in r for w, r in train)
    copies = [r.split() for w, r in train if w == "COPY" and not r.startswith("--from")]
    for src, _dst in copies:
        assert (ROOT / src).is_file(), src
    assert "deploy/train/tessel-sshd" in [c[0] for c in copies]
    assert (ROOT / "deploy" / "train" / "tessel-sshd").stat().st_mode & 0o111  # COPY keeps the mode
    users = [r for w, r in train if w == "USER"]
    assert users == ["10001:10001"]
    assert "--uid 10001" in run and "--home-dir /home/tessel" in run
    assert json.loads(next(r for w, r in train if w == "CMD")) == ["tessel-sshd"]
    assert next(r for w, r in train if w == "EXPOSE") == "2222"
    # The serving image loads the same libtessel, which now links OpenMPI.
    runtime_run = " ".join(r for w, r in stages[-1] if w == "RUN")
    assert re.search(r"\blibopenmpi3\b", runtime_run)
    # And LAPACK (kernels/CMakeLists.txt prefers OpenBLAS): -dev in the build, the library in both images.
    assert re.search(r"\blibopenblas-openmp-dev\b", " ".join(r for w, r in build if w == "RUN"))
    assert re.search(r"\blibopenblas0-openmp\b", runtime_run) and re.search(r"\blibopenblas0-openmp\b", run)
