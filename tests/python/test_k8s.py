"""`tessel k8s render`: the MPIJob and TrainJob manifests of data-parallel training, checked offline.

No cluster here, so:
- the custom resources (MPIJob kubeflow.org/v2beta1; TrainingRuntime and TrainJob
  trainer.kubeflow.org/v1alpha1) are checked against JSON schemas written in this file
  from the published CRDs' openAPIV3Schema (required fields, types, enums) and, for the
  MPIJob, the rules the MPI Operator's validation applies on admission (launcher replicas
  1, restart policies, slotsPerWorker and sshAuthMountPath set, clean-pod policy);
- the pod templates inside them are validated as core/v1 Pods and batch/v1 Jobs against the
  Kubernetes JSON schemas that kubernetes-validate bundles (strict: unknown fields fail);
- the launcher's command is parsed by `tessel launch` itself, and the ports, user and paths
  agree with the image (deploy/Dockerfile, target train; deploy/train/);
- the examples in deploy/k8s/training/ are exactly what the command renders.
"""
import copy
import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

yaml = pytest.importorskip("yaml")
kv = pytest.importorskip("kubernetes_validate")
jsonschema = pytest.importorskip("jsonschema")

from tessel.cli import main  # noqa: E402
from tessel.cli import k8s  # noqa: E402
from tessel.cli.launch import launch as launch_command  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "deploy" / "k8s" / "training"
K8S_VERSION = "1.31.0"  # as tests/python/test_deploy.py

_INT32 = {"type": "integer", "minimum": -2**31, "maximum": 2**31 - 1}
_STR_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_META = {"type": "object", "properties": {"name": {"type": "string"}, "labels": _STR_MAP,
                                          "annotations": _STR_MAP}}
_POD_TEMPLATE = {  # PodTemplateSpec: the CRDs require spec.containers
    "type": "object", "required": ["spec"],
    "properties": {"metadata": _META,
                   "spec": {"type": "object", "required": ["containers"],
                            "properties": {"containers": {"type": "array", "minItems": 1}}}}}
_DNS_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# MPIJob, kubeflow/mpi-operator manifests/base/kubeflow.org_mpijobs.yaml (v2beta1):
# spec.required = [mpiReplicaSpecs]; known spec fields slotsPerWorker (int32), sshAuthMountPath,
# mpiImplementation (enum), runPolicy, mpiReplicaSpecs (map of ReplicaSpec {replicas int32,
# restartPolicy string, template PodTemplateSpec}). Its admission validation adds: Launcher
# present with replicas 1, Worker replicas >= 1, replicas set, restartPolicy Never or OnFailure,
# slotsPerWorker >= 0 and set, sshAuthMountPath non-empty, runPolicy.cleanPodPolicy in
# None/Running/All, non-negative backoffLimit/ttl/deadline, and NAME-worker-(N-1) a DNS label.
_REPLICA = {"type": "object", "required": ["replicas", "restartPolicy", "template"], "additionalProperties": False,
            "properties": {"replicas": _INT32, "restartPolicy": {"enum": ["Never", "OnFailure"]},
                           "template": _POD_TEMPLATE}}
MPIJOB_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kubeflow.org/v2beta1"}, "kind": {"const": "MPIJob"},
        "metadata": {**_META, "required": ["name"],
                     "properties": {**_META["properties"], "name": {"type": "string", "pattern": _DNS_LABEL}}},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["mpiReplicaSpecs", "slotsPerWorker", "sshAuthMountPath", "runPolicy"],
            "properties": {
                "slotsPerWorker": {**_INT32, "minimum": 0},
                "sshAuthMountPath": {"type": "string", "minLength": 1},
                "mpiImplementation": {"enum": ["OpenMPI", "Intel", "MPICH"]},
                "runPolicy": {"type": "object", "required": ["cleanPodPolicy"], "additionalProperties": False,
                              "properties": {"cleanPodPolicy": {"enum": ["None", "Running", "All"]},
                                             "backoffLimit": {**_INT32, "minimum": 0},
                                             "ttlSecondsAfterFinished": {**_INT32, "minimum": 0},
                                             "activeDeadlineSeconds": {"type": "integer", "minimum": 0},
                                             "suspend": {"type": "boolean"}}},
                "mpiReplicaSpecs": {
                    "type": "object", "required": ["Launcher"], "additionalProperties": False,
                    "properties": {
                        "Launcher": {**_REPLICA, "properties": {**_REPLICA["properties"], "replicas": {"const": 1}}},
                        "Worker": {**_REPLICA, "properties": {**_REPLICA["properties"],
                                                              "replicas": {**_INT32, "minimum": 1}}}}},
            }},
    }}

# TrainJob, kubeflow/trainer manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml (v1alpha1):
# spec.required = [runtimeRef]; runtimeRef.required = [name] (1..253 chars; apiGroup and kind
# default to trainer.kubeflow.org / ClusterTrainingRuntime); trainer: image (<= 500 chars),
# command and args (<= 128 strings), numNodes and numProcPerNode (int32), resourcesPerNode
# (ResourceRequirements), env; metadata.name an RFC 1035 label of at most 63 characters.
_QTY = {"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^[0-9.]+([KMGTPE]i?|m|k)?$"}]}
_RESOURCES = {"type": "object", "additionalProperties": False,
              "properties": {"requests": {"type": "object", "additionalProperties": _QTY},
                             "limits": {"type": "object", "additionalProperties": _QTY}}}
TRAINJOB_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "trainer.kubeflow.org/v1alpha1"}, "kind": {"const": "TrainJob"},
        "metadata": {**_META, "required": ["name"],
                     "properties": {**_META["properties"],
                                    "name": {"type": "string", "pattern": _DNS_LABEL, "maxLength": 63}}},
        "spec": {"type": "object", "required": ["runtimeRef"], "additionalProperties": False, "properties": {
            "runtimeRef": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 253},
                "apiGroup": {"type": "string", "maxLength": 253}, "kind": {"type": "string", "maxLength": 253}}},
            "suspend": {"type": "boolean"},
            "activeDeadlineSeconds": {"type": "integer", "minimum": 1},
            "trainer": {"type": "object", "additionalProperties": False, "properties": {
                "image": {"type": "string", "maxLength": 500},
                "command": {"type": "array", "maxItems": 128, "items": {"type": "string"}},
                "args": {"type": "array", "maxItems": 128, "items": {"type": "string"}},
                "numNodes": _INT32, "numProcPerNode": _INT32, "resourcesPerNode": _RESOURCES,
                "env": {"type": "array", "maxItems": 128}}}}},
    }}

# TrainingRuntime, trainer.kubeflow.org_trainingruntimes.yaml (v1alpha1): spec.required =
# [template] (a JobSet template: replicatedJobs, each {name, template: JobTemplateSpec});
# mlPolicy {numNodes, mpi {numProcPerNode int32, mpiImplementation enum, sshAuthMountPath,
# runLauncherAsNode bool}}.
TRAININGRUNTIME_SCHEMA = {
    "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "trainer.kubeflow.org/v1alpha1"},
        "kind": {"enum": ["TrainingRuntime", "ClusterTrainingRuntime"]},
        "metadata": {**_META, "required": ["name"]},
        "spec": {"type": "object", "required": ["template"], "properties": {
            "mlPolicy": {"type": "object", "properties": {
                "numNodes": _INT32,
                "mpi": {"type": "object", "additionalProperties": False, "properties": {
                    "numProcPerNode": _INT32, "mpiImplementation": {"enum": ["OpenMPI", "Intel", "MPICH"]},
                    "sshAuthMountPath": {"type": "string", "maxLength": 4096},
                    "runLauncherAsNode": {"type": "boolean"}}}}},
            "template": {"type": "object", "required": ["spec"], "properties": {"spec": {
                "type": "object", "required": ["replicatedJobs"], "properties": {"replicatedJobs": {
                    "type": "array", "minItems": 1, "items": {
                        "type": "object", "required": ["name", "template"],
                        "properties": {"name": {"type": "string", "pattern": _DNS_LABEL},
                                       "template": {"type": "object", "required": ["spec"]}}}}}}}}}},
    }}


def _validate(doc, schema):
    jsonschema.validate(doc, schema)


def _mpijob(**kw):
    args = dict(image="tessel-train:0.1.0", workers=3, slots_per_worker=2, cpu="4", memory="8Gi")
    args.update(kw)
    return k8s.render_mpijob(**args)


def _trainjob(**kw):
    args = dict(image="tessel-train:0.1.0", workers=3, slots_per_worker=2, cpu="4", memory="8Gi")
    args.update(kw)
    return k8s.render_trainjob(**args)


def _as_pod(template, name="check"):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, **template.get("metadata", {})},
            "spec": template["spec"]}


def _launch_argv(cmd):
    """The mpirun command line `tessel launch` builds from the launcher's command."""
    assert cmd[:2] == ["tessel", "launch"], cmd
    ctx = launch_command.make_context("launch", list(cmd[2:]))
    p = ctx.params
    program = list(p["program"])
    if program and program[0] == "--":
        program = program[1:]
    from tessel.cli.launch import build_command
    argv, env = build_command(p["nprocs"], program, p["hosts"], p["threads"], p["timeout"], is_root=False, cores=1)
    return argv, env, program


# ---------------------------------------------------------------- MPIJob

def test_mpijob_matches_the_crd_and_operator_rules():
    job = _mpijob()
    _validate(job, MPIJOB_SCHEMA)
    spec = job["spec"]
    assert spec["slotsPerWorker"] == 2 and spec["mpiImplementation"] == "OpenMPI"
    assert spec["mpiReplicaSpecs"]["Worker"]["replicas"] == 3
    assert spec["sshAuthMountPath"] == "/home/tessel/.ssh"


@pytest.mark.parametrize("mutate", [
    lambda j: j["spec"].pop("slotsPerWorker"),
    lambda j: j["spec"].pop("mpiReplicaSpecs"),
    lambda j: j["spec"]["mpiReplicaSpecs"].pop("Launcher"),
    lambda j: j["spec"]["mpiReplicaSpecs"]["Launcher"].__setitem__("replicas", 2),
    lambda j: j["spec"]["mpiReplicaSpecs"]["Worker"].__setitem__("restartPolicy", "Always"),
    lambda j: j["spec"]["mpiReplicaSpecs"]["Worker"].__setitem__("replicas", 0),
    lambda j: j["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"].__setitem__("containers", []),
    lambda j: j["spec"]["runPolicy"].__setitem__("cleanPodPolicy", "Sometimes"),
    lambda j: j["spec"].__setitem__("slotsPerWorker", "2"),
    lambda j: j["spec"].__setitem__("slotPerWorker", 2),
])
def test_mpijob_schema_rejects_broken_jobs(mutate):
    # The schema above can fail: each of these breaks one rule the CRD or the operator enforces.
    job = _mpijob()
    mutate(job)
    with pytest.raises(jsonschema.ValidationError):
        _validate(job, MPIJOB_SCHEMA)


@pytest.mark.parametrize("role", ["Launcher", "Worker"])
def test_mpijob_pod_templates_are_valid_pods(role):
    tpl = _mpijob()["spec"]["mpiReplicaSpecs"][role]["template"]
    kv.validate(_as_pod(tpl), K8S_VERSION, strict=True)


def test_pod_validation_can_fail():
    tpl = copy.deepcopy(_mpijob()["spec"]["mpiReplicaSpecs"]["Worker"]["template"])
    tpl["spec"]["containers"][0]["ports"][0]["containerPort"] = "ssh"
    with pytest.raises(kv.ValidationError):
        kv.validate(_as_pod(tpl), K8S_VERSION, strict=True)


def test_mpijob_pods_run_as_non_root_with_resources():
    for role in ("Launcher", "Worker"):
        pod = _mpijob()["spec"]["mpiReplicaSpecs"][role]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == k8s.UID
        assert pod["securityContext"]["fsGroup"] == k8s.UID  # the mounted SSH secret is readable
        c = pod["containers"][0]
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and {"cpu", "memory"} <= set(c["resources"]["limits"])
    worker = _mpijob(cpu="6", memory="12Gi")["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert worker["resources"]["requests"] == worker["resources"]["limits"] == {"cpu": "6", "memory": "12Gi"}


def test_mpijob_workers_run_sshd_on_the_images_port():
    c = _mpijob()["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    assert c["command"] == ["tessel-sshd"]
    assert c["ports"][0]["containerPort"] == k8s.SSH_PORT
    assert c["readinessProbe"]["tcpSocket"]["port"] == k8s.SSH_PORT
    # The image's sshd and ssh client use that port; sshd takes keys from the mount path.
    sshd = (ROOT / "deploy" / "train" / "sshd_config").read_text()
    assert re.search(rf"^Port {k8s.SSH_PORT}$", sshd, re.M)
    assert re.search(rf"^AuthorizedKeysFile {k8s.SSH_AUTH_MOUNT_PATH}/authorized_keys$", sshd, re.M)
    assert re.search(r"^PasswordAuthentication no$", sshd, re.M)
    assert re.search(rf"^\s*Port {k8s.SSH_PORT}$", (ROOT / "deploy" / "train" / "ssh_config").read_text(), re.M)
    script = (ROOT / "deploy" / "train" / "tessel-sshd").read_text()
    assert "-f /etc/ssh/tessel/sshd_config" in script and "ssh-keygen" in script


@pytest.mark.parametrize("workers,slots,cpu,threads", [(3, 2, "4", 2), (2, 1, "8", 8), (4, 4, "2", 1),
                                                       (1, 1, "1500m", 1), (2, 2, "500m", 1)])
def test_mpijob_launcher_runs_tessel_launch_over_every_slot(workers, slots, cpu, threads):
    job = _mpijob(workers=workers, slots_per_worker=slots, cpu=cpu, command=["tessel", "train", "cfg.yaml"])
    cmd = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"]
    argv, env, program = _launch_argv(cmd)
    assert argv[:3] == ["mpirun", "-np", str(workers * slots)]
    assert env["OMP_NUM_THREADS"] == str(threads)
    assert "--allow-run-as-root" not in argv  # the pods are not root
    assert program == ["tessel", "train", "cfg.yaml"] and argv[-3:] == program


def test_mpijob_timeout_and_volumes():
    job = _mpijob(timeout=3600, pvc="runs", config_map="my-config")
    cmd = job["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"]
    argv, _, _ = _launch_argv(cmd)
    assert argv[argv.index("--timeout") + 1] == "3600"
    pod = job["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
    vols = {v["name"]: v for v in pod["volumes"]}
    assert vols["workspace"]["persistentVolumeClaim"]["claimName"] == "runs"
    assert vols["config"]["configMap"]["name"] == "my-config"
    mounts = {m["mountPath"]: m for m in pod["containers"][0]["volumeMounts"]}
    assert mounts["/etc/tessel"]["readOnly"] is True and mounts["/workspace"]["name"] == "workspace"
    assert "emptyDir" in {v["name"]: v for v in _mpijob()["spec"]["mpiReplicaSpecs"]["Worker"]["template"]["spec"]
                          ["volumes"]}["workspace"]


@pytest.mark.parametrize("kw,hint", [
    (dict(workers=0), "--workers"), (dict(slots_per_worker=0), "--slots-per-worker"), (dict(cpu="two"), "--cpu"),
    (dict(memory="lots"), "--memory"), (dict(name="Tessel_Train"), "--name"), (dict(name="x" * 60), "--name"),
])
def test_render_rejects_bad_arguments(kw, hint):
    import click
    with pytest.raises(click.BadParameter) as e:
        _mpijob(**kw)
    assert e.value.param_hint == hint
    with pytest.raises(click.BadParameter):
        _trainjob(**kw)


# ---------------------------------------------------------------- TrainJob and its runtime

def test_trainjob_and_runtime_match_the_crds():
    runtime, job = _trainjob()
    _validate(runtime, TRAININGRUNTIME_SCHEMA)
    _validate(job, TRAINJOB_SCHEMA)
    ref = job["spec"]["runtimeRef"]
    assert (ref["name"], ref["kind"], ref["apiGroup"]) == (runtime["metadata"]["name"], runtime["kind"],
                                                           runtime["apiVersion"].split("/")[0])
    mpi = runtime["spec"]["mlPolicy"]["mpi"]
    assert mpi == {"numProcPerNode": 2, "mpiImplementation": "OpenMPI", "sshAuthMountPath": k8s.SSH_AUTH_MOUNT_PATH,
                   "runLauncherAsNode": False}
    assert job["spec"]["trainer"]["numNodes"] == runtime["spec"]["mlPolicy"]["numNodes"] == 3
    assert job["spec"]["trainer"]["numProcPerNode"] == 2


@pytest.mark.parametrize("mutate,schema", [
    (lambda d: d["spec"].pop("runtimeRef"), TRAINJOB_SCHEMA),
    (lambda d: d["spec"]["runtimeRef"].pop("name"), TRAINJOB_SCHEMA),
    (lambda d: d["metadata"].__setitem__("name", "Train"), TRAINJOB_SCHEMA),
    (lambda d: d["spec"]["trainer"].__setitem__("numNodes", "3"), TRAINJOB_SCHEMA),
    (lambda d: d["spec"]["trainer"].__setitem__("command", ["x"] * 129), TRAINJOB_SCHEMA),
])
def test_trainjob_schema_rejects_broken_jobs(mutate, schema):
    job = _trainjob()[1]
    mutate(job)
    with pytest.raises(jsonschema.ValidationError):
        _validate(job, schema)


def test_trainingruntime_schema_rejects_broken_runtimes():
    runtime = _trainjob()[0]
    for mutate in (lambda d: d["spec"].pop("template"),
                   lambda d: d["spec"]["mlPolicy"]["mpi"].__setitem__("mpiImplementation", "LAM"),
                   lambda d: d["spec"]["template"]["spec"]["replicatedJobs"][0].pop("name")):
        broken = copy.deepcopy(runtime)
        mutate(broken)
        with pytest.raises(jsonschema.ValidationError):
            _validate(broken, TRAININGRUNTIME_SCHEMA)


def test_trainingruntime_jobs_are_valid_batch_jobs():
    runtime = _trainjob()[0]
    jobs = {j["name"]: j for j in runtime["spec"]["template"]["spec"]["replicatedJobs"]}
    assert set(jobs) == {"launcher", "node"}
    for name, rj in jobs.items():
        job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, **rj["template"]["metadata"]},
               "spec": copy.deepcopy(rj["template"]["spec"])}
        job["spec"]["template"]["spec"]["restartPolicy"] = "Never"  # JobSet's default; Job requires one
        kv.validate(job, K8S_VERSION, strict=True)
    # The Trainer writes the TrainJob's trainer fields into the "node" container of the job
    # labelled as the trainer ancestor: the launcher, which runs tessel launch.
    launcher = jobs["launcher"]["template"]
    assert launcher["metadata"]["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] == "trainer"
    assert launcher["spec"]["template"]["spec"]["containers"][0]["name"] == "node"
    assert jobs["launcher"]["dependsOn"] == [{"name": "node", "status": "Ready"}]
    node = jobs["node"]["template"]["spec"]["template"]["spec"]["containers"][0]
    assert node["command"] == ["tessel-sshd"] and node["ports"][0]["containerPort"] == k8s.SSH_PORT


def test_trainjob_command_is_tessel_launch():
    job = _trainjob(workers=2, slots_per_worker=3, cpu="6")[1]
    argv, env, program = _launch_argv(job["spec"]["trainer"]["command"])
    assert argv[:3] == ["mpirun", "-np", "6"] and env["OMP_NUM_THREADS"] == "2"
    assert program == list(k8s.DEFAULT_COMMAND)


# ---------------------------------------------------------------- command line and examples

def test_cli_prints_the_rendered_documents():
    r = CliRunner().invoke(main, ["k8s", "render", "mpijob", "--image", "img:1", "--workers", "2",
                                  "--command", "tessel train '/etc/tessel/my cfg.yaml'"])
    assert r.exit_code == 0, r.output
    docs = list(yaml.safe_load_all(r.output))
    assert docs == [k8s.render_mpijob("img:1", 2, command=["tessel", "train", "/etc/tessel/my cfg.yaml"])]
    r = CliRunner().invoke(main, ["k8s", "render", "trainjob", "--image", "img:1", "--workers", "2",
                                  "--runtime", "my-runtime"])
    assert r.exit_code == 0, r.output
    docs = list(yaml.safe_load_all(r.output))
    assert [d["kind"] for d in docs] == ["TrainingRuntime", "TrainJob"]
    assert docs[1]["spec"]["runtimeRef"]["name"] == "my-runtime"


@pytest.mark.parametrize("args,message", [
    (["--image", "img", "--workers", "0"], "--workers"),
    (["--workers", "2"], "--image"),
    (["--image", "img", "--workers", "2", "--cpu", "fast"], "--cpu"),
    (["--image", "img", "--workers", "2", "--command", ""], "--command"),
])
def test_cli_usage_errors(args, message):
    r = CliRunner().invoke(main, ["k8s", "render", "mpijob"] + args)
    assert r.exit_code == 2 and message in r.output, r.output


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_examples_are_what_the_command_renders(path):
    # One source: the checked-in examples are the command's output for the arguments in their header.
    text = path.read_text()
    m = re.match(r"# Generated by: tessel (k8s render .*)\n", text)
    assert m, "the example must name the command that generated it"
    r = CliRunner().invoke(main, shlex.split(m.group(1)))
    assert r.exit_code == 0, r.output
    body = text[text.index("---\n"):]
    assert body == r.output, f"{path} is stale: regenerate it with `tessel {m.group(1)}`"


def test_examples_cover_both_kinds():
    kinds = sorted(d["kind"] for p in EXAMPLES.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d)
    assert kinds == ["MPIJob", "TrainJob", "TrainingRuntime"]


# ---------------------------------------------------------------- serving: deploy/k8s/*.yaml

SERVE_DIR = ROOT / "deploy" / "k8s"


def _static_serve_docs():
    docs = {}
    for p in sorted(SERVE_DIR.glob("*.yaml")):
        if p.name != "kustomization.yaml":
            for d in yaml.safe_load_all(p.read_text()):
                if d:
                    docs[d["kind"]] = d
    return docs


def test_serving_manifests_are_what_render_serve_prints():
    # One source: the commented files in deploy/k8s hold the documents `tessel k8s render serve`
    # (and `--kserve`) prints with the defaults; a change to one without the other fails here.
    static = _static_serve_docs()
    rendered = {d["kind"]: d for d in k8s.render_serve() + k8s.render_serve(kserve=True)}
    assert sorted(static) == sorted(rendered)
    for kind in static:
        assert static[kind] == rendered[kind], kind


def test_render_serve_options_and_validity():
    docs = k8s.render_serve(image="reg/tessel-serve:2", replicas=3, max_replicas=6, port=9000, drain_secs=20)
    by = {d["kind"]: d for d in docs}
    for d in docs:
        kv.validate(d, K8S_VERSION, strict=True)
    c = by["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert c["image"] == "reg/tessel-serve:2" and c["ports"][0]["containerPort"] == 9000
    assert c["args"][c["args"].index("--http-port") + 1] == "9000"
    assert by["Deployment"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 20
    assert (by["HorizontalPodAutoscaler"]["spec"]["minReplicas"], by["HorizontalPodAutoscaler"]["spec"]["maxReplicas"]) \
        == (3, 6)
    assert by["Service"]["spec"]["ports"][0]["port"] == 9000
    import click
    with pytest.raises(click.BadParameter):
        k8s.render_serve(replicas=5, max_replicas=2)
    with pytest.raises(click.BadParameter):
        k8s.render_serve(cpu="lots")


def test_cli_render_serve():
    r = CliRunner().invoke(main, ["k8s", "render", "serve", "--kserve"])
    assert r.exit_code == 0, r.output
    assert [d["kind"] for d in yaml.safe_load_all(r.output)] == ["PersistentVolumeClaim", "InferenceService"]
