"""`tessel info`: what this tessel is built with and what it runs on (as
PyTorch's collect_env). Library versions come from the shared objects loaded
into the process; oneDNN's ISA from its own verbose report in a child process."""
import importlib.metadata
import os
import platform
import re
import subprocess
import sys

import click

from .. import _omp_wait
from ._base import emit_json, json_option

# Environment variables that change what tessel or its libraries do.
_ENV_PREFIXES = ("TESSEL_", "OMP_", "KMP_", "GOMP_", "ONEDNN_", "DNNL_", "MKL_", "OPENBLAS_", "CUDA_", "NCCL_",
                 "OMPI_", "MPI_", "PYTHONPATH")
_SECRET = re.compile(r"(PASSWORD|TOKEN|SECRET|KEY)", re.I)
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx512_bf16", "avx512_fp16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8", "neon", "asimd", "sve")
_LIBS = {"oneDNN": r"libdnnl\.so\.([\d.]+)", "OpenCV": r"libopencv_core\.so\.([\d.]+)",
         "ICU": r"libicuuc\.so\.([\d.]+)", "libsndfile": r"libsndfile\.so\.([\d.]+)",
         "protobuf": r"libprotobuf\.so\.([\d.]+)", "OpenMP (GNU)": r"libgomp\.so\.([\d.]+)",
         "CUDA runtime": r"libcudart\.so\.([\d.]+)", "cuDNN": r"libcudnn\.so\.([\d.]+)",
         "MPI": r"lib(?:mpi|mpich)\.so\.([\d.]+)"}


def _loaded_libraries():
    """{name: version} of the libraries mapped into this process (Linux)."""
    found = {}
    try:
        with open("/proc/self/maps") as f:
            maps = f.read()
    except OSError:
        return found
    for name, pattern in _LIBS.items():
        m = re.search(pattern, maps)
        if m:
            found[name] = m.group(1)
    return found


def _onednn_report():
    """oneDNN's version, CPU runtime and ISA as it reports them itself."""
    code = "import tessel as ts; a = ts.ones(256, 256); a @ a"  # big enough for a primitive (small ones call sgemm)
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    info = {}
    for line in out.splitlines():
        if not line.startswith("onednn_verbose,info,"):
            continue
        rest = line[len("onednn_verbose,info,"):]
        if rest.startswith("oneDNN v"):
            info["version"] = rest.split()[1].lstrip("v")
        elif rest.startswith("cpu,isa:"):
            info["isa"] = rest[len("cpu,isa:"):]
        elif rest.startswith("cpu,runtime:"):
            info["runtime"] = rest[len("cpu,runtime:"):]
    return info


def _cpu():
    cpu = {"machine": platform.machine(), "logical_cores": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        cpu["usable_cores"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
        flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
        cores = {(p, c) for p, c in re.findall(r"physical id\s*:\s*(\d+)[\s\S]*?core id\s*:\s*(\d+)", text)}
        if model:
            cpu["model"] = model.group(1).strip()
        if cores:
            cpu["physical_cores"] = len(cores)
        if flags:
            have = set(flags.group(1).split())
            cpu["features"] = [f for f in _CPU_FLAGS if f in have]
    except OSError:
        cpu["model"] = platform.processor() or None
    return cpu


def _version_of(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _serve():
    try:
        from .serve import find_server
        return {"enabled": True, "path": find_server()}
    except FileNotFoundError:
        return {"enabled": False}


def _build(ts):
    """Build options from the binary (tessel::build_info through _C._build_info):
    what was compiled in, and the versions of the libraries it runs with."""
    libs = _loaded_libraries()
    build = {}
    raw = getattr(ts._C, "_build_info", None)
    if raw is not None:
        for name, enabled, version, details in raw():
            entry = {"enabled": bool(enabled), "version": version or None}
            entry.update({k: v for k, v in details.items() if v not in ("", "N/A")})
            build[name] = entry
    else:  # an extension built before _build_info: what the loaded libraries and oneDNN's verbose report say
        dnnl = _onednn_report()
        build = {
            "oneDNN": {"enabled": True, "version": dnnl.get("version") or libs.get("oneDNN"), "isa": dnnl.get("isa"),
                       "cpu_runtime": dnnl.get("runtime")},
            "OpenCV": {"enabled": bool(ts.image.available()), "version": libs.get("OpenCV")},
            "ICU": {"enabled": bool(ts.text.available), "version": libs.get("ICU")},
            "libsndfile": {"enabled": bool(ts.audio.available), "version": libs.get("libsndfile")},
            "ONNX": {"enabled": bool(ts.onnx.available()), "version": None},
            "MPI": {"enabled": "MPI" in libs, "version": libs.get("MPI")},
            "CUDA": {"enabled": bool(getattr(ts.backends.cuda, "is_built", lambda: False)()), "version": None},
            "cuDNN": {"enabled": bool(ts.backends.cudnn.is_available()), "version": libs.get("cuDNN")},
        }
    build["CUDA"]["available"] = bool(ts.cuda.is_available())
    if ts.version.cuda and not build["CUDA"].get("version"):
        build["CUDA"]["version"] = ts.version.cuda
    if libs.get("protobuf"):
        build["ONNX"]["library"] = f"libprotobuf.so.{libs['protobuf']}"
    build["serve"] = _serve()
    return build


def collect():
    """Everything `tessel info` reports, as a dict."""
    import tessel as ts
    build = _build(ts)
    env = {k: ("***" if _SECRET.search(k) else v) for k, v in sorted(os.environ.items()) if k.startswith(_ENV_PREFIXES)}
    return {
        "tessel": {"version": ts.__version__, "location": os.path.dirname(ts.__file__), "debug": ts.version.debug},
        "build": build,
        "cpu": _cpu(),
        "threads": {"intra_op": ts.get_num_threads(), "omp_wait": _omp_wait.decision},
        "python": {"version": platform.python_version(), "implementation": platform.python_implementation(),
                   "executable": sys.executable},
        "platform": platform.platform(),
        "packages": {name: _version_of(name) for name in ("numpy", "onnx", "onnxruntime", "safetensors", "click",
                                                           "SQLAlchemy", "psycopg", "psutil", "PyYAML")},
        "environment": env,
    }


def _print(info):
    def line(k, v):
        click.echo(f"  {k + ':':<22}{v}")

    t = info["tessel"]
    click.echo(f"tessel {t['version']} ({t['location']})")
    click.echo("build:")
    for name, b in info["build"].items():
        extra = ", ".join(f"{k} {v}" for k, v in b.items() if k not in ("enabled",) and v not in (None, False))
        line(name, ("yes" if b["enabled"] else "no") + (f" ({extra})" if extra else ""))
    c = info["cpu"]
    click.echo("cpu:")
    line("model", c.get("model") or c["machine"])
    cores = f"{c.get('logical_cores')} logical"
    if c.get("physical_cores"):
        cores += f", {c['physical_cores']} physical"
    if c.get("usable_cores") is not None:
        cores += f", {c['usable_cores']} usable"
    line("cores", cores)
    line("features", " ".join(c.get("features") or []) or "-")
    line("threads (intra-op)", info["threads"]["intra_op"])
    line("OpenMP wait", info["threads"]["omp_wait"])
    p = info["python"]
    click.echo("python:")
    line("version", f"{p['implementation']} {p['version']} ({p['executable']})")
    line("platform", info["platform"])
    for name, v in info["packages"].items():
        line(name, v or "not installed")
    click.echo("environment:")
    if not info["environment"]:
        click.echo("  (no TESSEL_/OMP_/ONEDNN_/MKL_/CUDA_/MPI_ variables set)")
    for k, v in info["environment"].items():
        line(k, v)


@click.command("info")
@json_option
def info(as_json):
    """Version, build options (oneDNN and its ISA, OpenCV, ICU, libsndfile,
    CUDA, MPI), CPU features and cores, threads, Python, packages and the
    environment variables that matter: what to paste into a bug report."""
    data = collect()
    if as_json:
        emit_json(data)
    else:
        _print(data)
