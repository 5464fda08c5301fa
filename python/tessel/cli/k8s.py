"""`tessel k8s render`: Kubernetes manifests for data-parallel training
(docs/distributed.md, "On Kubernetes"), printed as YAML:

    tessel k8s render mpijob --image tessel-train:0.1.0 --workers 4 --slots-per-worker 2
    tessel k8s render trainjob --image tessel-train:0.1.0 --workers 4 > trainjob.yaml
    tessel k8s render serve [--kserve]      # tessel-serve: what deploy/k8s/*.yaml hold

mpijob:   a Kubeflow MPI Operator MPIJob (kubeflow.org/v2beta1). The launcher pod runs
          `tessel launch` (mpirun over the hostfile the operator writes); the worker pods
          run sshd (non-root, port 2222) and host the ranks, slotsPerWorker each.
trainjob: the Kubeflow Trainer alternative: a TrainingRuntime with an OpenMPI policy
          (the same launcher and sshd pods, as a JobSet template) and a TrainJob
          (trainer.kubeflow.org/v1alpha1) that references it.

Both use the image's training target (deploy/Dockerfile, --target train): user 10001
with its home at /home/tessel, where the operator mounts the SSH keys it generates.
The program reads its config from a ConfigMap mounted at /etc/tessel and works in
/workspace (an emptyDir, or --pvc's claim), where rank 0 writes its outputs.
"""
import re
import shlex

import click

__all__ = ["k8s", "render_mpijob", "render_trainjob", "render_serve", "SSH_PORT", "SSH_AUTH_MOUNT_PATH", "SSHD_COMMAND", "UID"]

UID = 10001
SSH_PORT = 2222
HOME = "/home/tessel"
SSH_AUTH_MOUNT_PATH = f"{HOME}/.ssh"
SSHD_COMMAND = ("tessel-sshd",)  # deploy/train/tessel-sshd: sshd -D -e with a per-container host key
DEFAULT_COMMAND = ("tessel", "train", "/etc/tessel/train.yaml")
_QUANTITY_CPU = re.compile(r"^([0-9]+(\.[0-9]+)?|[0-9]+m)$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[mk]|e[0-9]+)?$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def _labels(name, component):
    return {"app.kubernetes.io/name": "tessel-train", "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": component, "app.kubernetes.io/part-of": "tessel"}


def _pod_security():
    # Numeric ids: runAsNonRoot is checked against the uid without reading /etc/passwd;
    # fsGroup makes the mounted SSH secret and volumes readable by that uid.
    return {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"}}


def _container_security():
    # sshd as an unprivileged user needs no capability: it can only log in its own user.
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def _cpu_threads(cpu, slots):
    """Threads per rank: the worker's whole CPUs shared by its ranks (at least 1)."""
    if cpu.endswith("m"):
        whole = int(cpu[:-1]) // 1000
    else:
        whole = int(float(cpu))
    return max(1, whole // slots)


def _check(name, workers, slots, cpu, memory):
    if workers < 1:
        raise click.BadParameter(f"must be >= 1, got {workers}", param_hint="--workers")
    if slots < 1:
        raise click.BadParameter(f"must be >= 1, got {slots}", param_hint="--slots-per-worker")
    if not _QUANTITY_CPU.match(cpu):
        raise click.BadParameter(f"a Kubernetes CPU quantity such as 2, 1.5 or 500m, got {cpu!r}",
                                 param_hint="--cpu")
    if not _QUANTITY.match(memory):
        raise click.BadParameter(f"a Kubernetes memory quantity such as 4Gi or 512Mi, got {memory!r}",
                                 param_hint="--memory")
    # The operator names pods NAME-worker-I and NAME-launcher: each must be a DNS label (<= 63).
    longest = f"{name}-worker-{workers - 1}"
    if not _DNS_LABEL.match(name) or len(longest) > 63:
        raise click.BadParameter(f"{name!r}: lowercase letters, digits and '-', starting with a letter, and short "
                                 f"enough that the pod name {longest!r} has at most 63 characters",
                                 param_hint="--name")


def _launch_command(workers, slots, threads, command, timeout):
    cmd = ["tessel", "launch", "-n", str(workers * slots), "--threads", str(threads)]
    if timeout:
        cmd += ["--timeout", str(timeout)]
    return cmd + ["--"] + list(command)


def _volumes(config_map, pvc):
    vols = [{"name": "config", "configMap": {"name": config_map}}]
    vols.append({"name": "workspace", "persistentVolumeClaim": {"claimName": pvc}} if pvc
                 else {"name": "workspace", "emptyDir": {}})
    mounts = [{"name": "config", "mountPath": "/etc/tessel", "readOnly": True},
              {"name": "workspace", "mountPath": "/workspace"}]
    return vols, mounts


def _launcher_container(image, launch, name="launcher"):
    return {
        "name": name, "image": image, "command": launch,
        # mpirun only starts the remote daemons and relays output: a small share of a CPU.
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": _container_security(),
    }


def _worker_container(image, cpu, memory, mounts, name="worker"):
    return {
        "name": name, "image": image,
        "command": list(SSHD_COMMAND),
        "ports": [{"name": "ssh", "containerPort": SSH_PORT, "protocol": "TCP"}],
        # Ready once sshd accepts connections: the launcher's mpirun can reach this host.
        "readinessProbe": {"tcpSocket": {"port": SSH_PORT}, "initialDelaySeconds": 2, "periodSeconds": 5},
        # requests == limits: Guaranteed QoS, so the ranks' threads get whole CPUs.
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
        "securityContext": _container_security(),
        "volumeMounts": mounts,
    }


def render_mpijob(image, workers, slots_per_worker=1, cpu="2", memory="4Gi", command=DEFAULT_COMMAND,
                  name="tessel-train", config_map="tessel-train-config", pvc=None, timeout=None):
    """The MPIJob (a dict) of a data-parallel run on `workers` pods with `slots_per_worker` ranks each."""
    _check(name, workers, slots_per_worker, cpu, memory)
    threads = _cpu_threads(cpu, slots_per_worker)
    vols, mounts = _volumes(config_map, pvc)
    launch = _launch_command(workers, slots_per_worker, threads, command, timeout)

    def template(component, container, volumes=None):
        spec = {"securityContext": _pod_security(), "automountServiceAccountToken": False,
                "containers": [container]}
        if volumes:
            spec["volumes"] = volumes
        return {"metadata": {"labels": _labels(name, component)}, "spec": spec}

    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": {"name": name, "labels": _labels(name, "training")},
        "spec": {
            "slotsPerWorker": slots_per_worker,
            "mpiImplementation": "OpenMPI",
            "sshAuthMountPath": SSH_AUTH_MOUNT_PATH,
            # backoffLimit: the launcher retries while the workers' sshd comes up; a rank that
            # fails ends mpirun (and the job) after these retries.
            "runPolicy": {"cleanPodPolicy": "Running", "backoffLimit": 3},
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "restartPolicy": "OnFailure",
                             "template": template("launcher", _launcher_container(image, launch))},
                "Worker": {"replicas": workers, "restartPolicy": "OnFailure",
                           "template": template("worker", _worker_container(image, cpu, memory, mounts), vols)},
            },
        },
    }


def render_trainjob(image, workers, slots_per_worker=1, cpu="2", memory="4Gi", command=DEFAULT_COMMAND,
                    name="tessel-train", config_map="tessel-train-config", pvc=None, timeout=None,
                    runtime="tessel-mpi"):
    """[TrainingRuntime, TrainJob] (dicts): Kubeflow Trainer's form of the same run. The
    runtime holds the MPI policy and the pods; the TrainJob names the image, sizes and command."""
    _check(name, workers, slots_per_worker, cpu, memory)
    if not _DNS_LABEL.match(runtime) or len(runtime) > 63:
        raise click.BadParameter(f"{runtime!r} is not a DNS label", param_hint="--runtime")
    threads = _cpu_threads(cpu, slots_per_worker)
    vols, mounts = _volumes(config_map, pvc)
    launch = _launch_command(workers, slots_per_worker, threads, command, timeout)

    def job(component, container, volumes=None, ancestor=False):
        pod = {"securityContext": _pod_security(), "automountServiceAccountToken": False,
               "containers": [container]}
        if volumes:
            pod["volumes"] = volumes
        meta = {"labels": dict(_labels(runtime, component))}
        if ancestor:  # the Trainer puts the TrainJob's trainer.image/command into this job's "node" container
            meta["labels"]["trainer.kubeflow.org/trainjob-ancestor-step"] = "trainer"
        return {"metadata": meta, "spec": {"template": {"metadata": {"labels": _labels(runtime, component)},
                                                        "spec": pod}}}

    runtime_doc = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainingRuntime",
        "metadata": {"name": runtime, "labels": {"trainer.kubeflow.org/framework": "tessel",
                                                 "app.kubernetes.io/part-of": "tessel"}},
        "spec": {
            "mlPolicy": {"numNodes": workers,
                         "mpi": {"numProcPerNode": slots_per_worker, "mpiImplementation": "OpenMPI",
                                 "sshAuthMountPath": SSH_AUTH_MOUNT_PATH, "runLauncherAsNode": False}},
            "template": {"spec": {
                # The launcher resolves the nodes before they are ready (hostfile by DNS name).
                "network": {"publishNotReadyAddresses": True},
                "successPolicy": {"operator": "All", "targetReplicatedJobs": ["launcher"]},
                "replicatedJobs": [
                    {"name": "node",
                     "template": job("worker", _worker_container(image, cpu, memory, mounts, name="node"), vols)},
                    {"name": "launcher", "dependsOn": [{"name": "node", "status": "Ready"}],
                     "template": job("launcher", _launcher_container(image, launch, name="node"), ancestor=True)},
                ],
            }},
        },
    }
    trainjob = {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": {"name": name, "labels": _labels(name, "training")},
        "spec": {
            "runtimeRef": {"name": runtime, "apiGroup": "trainer.kubeflow.org", "kind": "TrainingRuntime"},
            "trainer": {"image": image, "numNodes": workers, "numProcPerNode": slots_per_worker, "command": launch,
                        "resourcesPerNode": {"requests": {"cpu": cpu, "memory": memory},
                                             "limits": {"cpu": cpu, "memory": memory}}},
        },
    }
    return [runtime_doc, trainjob]


def to_yaml(docs, header=()):
    """YAML documents, each starting with ---, after `header` lines as comments."""
    import yaml
    text = yaml.safe_dump_all(docs, sort_keys=False, explicit_start=True, width=100)
    return "".join(f"# {h}\n" for h in header) + text


# ---------------------------------------------------------------- command line

def _common(fn):
    opts = [
        click.option("--image", required=True, help="The training image (deploy/Dockerfile --target train)."),
        click.option("--workers", type=int, required=True, help="Worker pods (MPI hosts)."),
        click.option("--slots-per-worker", type=int, default=1, show_default=True, help="Ranks per worker pod."),
        click.option("--cpu", default="2", show_default=True,
                     help="CPU of each worker (request = limit); threads per rank = whole CPUs / slots."),
        click.option("--memory", default="4Gi", show_default=True, help="Memory of each worker (request = limit)."),
        click.option("--name", default="tessel-train", show_default=True, help="The job's name."),
        click.option("--config-map", default="tessel-train-config", show_default=True,
                     help="ConfigMap mounted read-only at /etc/tessel on the workers."),
        click.option("--pvc", default=None, help="PersistentVolumeClaim for /workspace (default: an emptyDir)."),
        click.option("--timeout", type=int, default=None, metavar="SECONDS", help="tessel launch --timeout."),
        click.option("--command", "command", default=None, metavar="'PROGRAM ARGS...'",
                     help="What each rank runs, one shell-quoted string. [default: tessel train "
                          "/etc/tessel/train.yaml]"),
    ]
    for o in reversed(opts):
        fn = o(fn)
    return fn


def _argv(command):
    if command is None:
        return list(DEFAULT_COMMAND)
    argv = shlex.split(command)
    if not argv:
        raise click.BadParameter("empty", param_hint="--command")
    return argv


@click.group("k8s")
def k8s():
    """Kubernetes manifests for data-parallel training (MPI Operator, Kubeflow Trainer)."""


@k8s.group("render")
def render():
    """Print manifests as YAML (kubectl apply -f -)."""


@render.command("mpijob")
@_common
def render_mpijob_command(image, workers, slots_per_worker, cpu, memory, name, config_map, pvc, timeout, command):
    """A Kubeflow MPI Operator MPIJob (kubeflow.org/v2beta1)."""
    doc = render_mpijob(image, workers, slots_per_worker, cpu, memory, _argv(command), name, config_map, pvc, timeout)
    click.echo(to_yaml([doc]), nl=False)


@render.command("trainjob")
@_common
@click.option("--runtime", default="tessel-mpi", show_default=True, help="Name of the TrainingRuntime rendered with it.")
def render_trainjob_command(image, workers, slots_per_worker, cpu, memory, name, config_map, pvc, timeout, command,
                            runtime):
    """A Kubeflow Trainer TrainJob (trainer.kubeflow.org/v1alpha1) and its TrainingRuntime."""
    docs = render_trainjob(image, workers, slots_per_worker, cpu, memory, _argv(command), name, config_map, pvc,
                           timeout, runtime)
    click.echo(to_yaml(docs), nl=False)


# ---------------------------------------------------------------- serving (deploy/k8s/*.yaml)

_SERVE = "tessel-serve"


def render_serve(image="tessel-serve:0.1.0", replicas=2, max_replicas=10, threads=2, cpu="1", cpu_limit="2",
                 memory="512Mi", memory_limit="2Gi", models_pvc="tessel-models", storage="10Gi", port=8000,
                 drain_secs=30, kserve=False):
    """tessel-serve's manifests (dicts): PersistentVolumeClaim, Deployment, Service and
    HorizontalPodAutoscaler, or with kserve=True the claim and a KServe InferenceService.
    deploy/k8s/*.yaml are these documents with comments (tests/python/test_k8s.py checks them)."""
    if replicas < 1 or max_replicas < replicas:
        raise click.BadParameter(f"need 1 <= replicas <= max replicas, got {replicas} and {max_replicas}",
                                 param_hint="--replicas")
    for hint, q in (("--cpu", cpu), ("--cpu-limit", cpu_limit)):
        if not _QUANTITY_CPU.match(q):
            raise click.BadParameter(f"a Kubernetes CPU quantity such as 2 or 500m, got {q!r}", param_hint=hint)
    for hint, q in (("--memory", memory), ("--memory-limit", memory_limit), ("--storage", storage)):
        if not _QUANTITY.match(q):
            raise click.BadParameter(f"a Kubernetes quantity such as 2Gi, got {q!r}", param_hint=hint)
    label = {"app.kubernetes.io/name": _SERVE}
    resources = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}
    tmp_volume = {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}
    pod_security = {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": models_pvc, "labels": label},
           "spec": {"accessModes": ["ReadOnlyMany"], "resources": {"requests": {"storage": storage}}}}
    if kserve:
        kport = 8080  # KServe's default container port
        isvc = {
            "apiVersion": "serving.kserve.io/v1beta1", "kind": "InferenceService",
            "metadata": {"name": _SERVE, "labels": label, "annotations": {
                "serving.kserve.io/deploymentMode": "RawDeployment", "serving.kserve.io/autoscalerClass": "hpa",
                "serving.kserve.io/metric": "cpu", "serving.kserve.io/targetUtilizationPercentage": "70"}},
            "spec": {"predictor": {
                "minReplicas": 1, "maxReplicas": max_replicas, "securityContext": pod_security,
                "containers": [{
                    "name": "kserve-container", "image": image,
                    "args": ["--model-repository", "/mnt/models", "--http-port", str(kport), "--threads", str(threads),
                             "--drain-timeout-secs", str(drain_secs), "--log-format", "json"],
                    "env": [{"name": "STORAGE_URI", "value": f"pvc://{models_pvc}/"}],
                    "ports": [{"name": "http1", "containerPort": kport, "protocol": "TCP"}],
                    "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": kport}, "periodSeconds": 5},
                    "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": kport},
                                      "initialDelaySeconds": 10, "periodSeconds": 10},
                    "resources": resources,
                    "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                        "capabilities": {"drop": ["ALL"]}},
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],
                "volumes": [tmp_volume]}},
        }
        return [pvc, isvc]
    labels = {**label, "app.kubernetes.io/component": "model-server"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": _SERVE, "labels": labels},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": label},
            "template": {
                "metadata": {"labels": labels, "annotations": {"prometheus.io/scrape": "true",
                                                               "prometheus.io/port": str(port),
                                                               "prometheus.io/path": "/metrics"}},
                "spec": {
                    "terminationGracePeriodSeconds": drain_secs + 10,
                    "automountServiceAccountToken": False,
                    "securityContext": {**pod_security, "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": _SERVE, "image": image, "imagePullPolicy": "IfNotPresent",
                        "args": ["--http-port", str(port), "--threads", str(threads), "--model-control", "poll",
                                 "--repository-poll-secs", "30", "--drain-timeout-secs", str(drain_secs),
                                 "--log-format", "json"],
                        "ports": [{"name": "http", "containerPort": port, "protocol": "TCP"}],
                        "startupProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 2,
                                         "failureThreshold": 60},
                        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10,
                                          "timeoutSeconds": 2, "failureThreshold": 3},
                        "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"},
                                           "periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2},
                        "resources": resources,
                        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}},
                        "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True},
                                         {"name": "tmp", "mountPath": "/tmp"}]}],
                    "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": models_pvc,
                                                                             "readOnly": True}},
                                tmp_volume],
                }},
        }}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": _SERVE, "labels": label},
               "spec": {"type": "ClusterIP", "selector": label,
                        "ports": [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]}}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": _SERVE,
                                                                                          "labels": label},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": _SERVE},
                    "minReplicas": replicas, "maxReplicas": max_replicas,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                        "type": "Utilization", "averageUtilization": 70}}}],
                    "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300, "policies": [
                        {"type": "Pods", "value": 1, "periodSeconds": 60}]}}}}
    return [pvc, deployment, service, hpa]


@render.command("serve")
@click.option("--image", default="tessel-serve:0.1.0", show_default=True, help="The serving image (deploy/Dockerfile).")
@click.option("--replicas", type=int, default=2, show_default=True, help="Replicas (and the autoscaler's minimum).")
@click.option("--max-replicas", type=int, default=10, show_default=True, help="The autoscaler's maximum.")
@click.option("--threads", type=int, default=2, show_default=True, help="tessel-serve --threads.")
@click.option("--cpu", default="1", show_default=True, help="CPU request per replica.")
@click.option("--cpu-limit", default="2", show_default=True, help="CPU limit per replica.")
@click.option("--memory", default="512Mi", show_default=True, help="Memory request per replica.")
@click.option("--memory-limit", default="2Gi", show_default=True, help="Memory limit per replica.")
@click.option("--models-pvc", default="tessel-models", show_default=True, help="The model repository's claim.")
@click.option("--storage", default="10Gi", show_default=True, help="Size of that claim.")
@click.option("--port", type=int, default=8000, show_default=True, help="HTTP port.")
@click.option("--kserve", is_flag=True, help="A KServe InferenceService instead of Deployment, Service and HPA.")
def render_serve_command(image, replicas, max_replicas, threads, cpu, cpu_limit, memory, memory_limit, models_pvc,
                         storage, port, kserve):
    """tessel-serve: claim, Deployment, Service, HPA (or a KServe InferenceService); deploy/k8s/*.yaml."""
    docs = render_serve(image, replicas, max_replicas, threads, cpu, cpu_limit, memory, memory_limit, models_pvc,
                        storage, port, kserve=kserve)
    click.echo(to_yaml(docs), nl=False)
