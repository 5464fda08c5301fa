"""tessel::build_info() (ts._C._build_info) and `tessel info`'s build section,
checked against what the libraries report through other paths: their own C
functions called with ctypes, the file names of the loaded libraries, and
oneDNN's verbose output in a child process."""
import ctypes
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

import tessel as ts
from tessel.cli import main


def _info():
    return {name: (enabled, version, details) for name, enabled, version, details in ts._C._build_info()}


def _maps():
    with open("/proc/self/maps") as f:
        return f.read()


linux = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/maps")


def test_components_and_enabled_flags():
    info = _info()
    assert {"oneDNN", "OpenMP", "OpenCV", "ICU", "libsndfile", "ONNX", "MPI", "NCCL", "CUDA", "cuDNN",
            "compiler"} <= set(info)
    assert info["OpenCV"][0] == ts.image.available()
    assert info["ICU"][0] == ts.text.available
    assert info["libsndfile"][0] == ts.audio.available
    assert info["ONNX"][0] == ts.onnx.available()
    assert info["MPI"][0] == ts.distributed.is_mpi_available()
    assert info["CUDA"][0] == (ts.version.cuda is not None)
    assert info["OpenMP"][2]["max_threads"] == str(ts.get_num_threads())
    assert info["compiler"][1]


@linux
def test_onednn_matches_its_verbose_report():
    # 256 x 256: products up to 128^3 multiply-adds call dnnl_sgemm, which creates no primitive and prints nothing
    code = "import tessel as ts; a = ts.ones(256, 256); a @ a"
    env = dict(os.environ, ONEDNN_VERBOSE="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env).stdout
    m = re.search(r"^onednn_verbose,info,oneDNN v(\d+\.\d+\.\d+)", out, re.M)
    assert m, out[:500]
    enabled, version, details = _info()["oneDNN"]
    assert enabled and version == m.group(1)
    runtime = re.search(r"^onednn_verbose,info,cpu,runtime:([^,\s]+)", out, re.M).group(1)
    assert runtime == details["cpu_runtime"]
    isa = re.search(r"^onednn_verbose,info,cpu,isa:(.+)$", out, re.M).group(1)
    name = details["isa"]
    # oneDNN's own words for the ISA it dispatches to, against the name build_info gives.
    assert ("AMX" in isa) == ("amx" in name)
    assert ("AVX-512" in isa) == ("avx512" in name)
    # the fallback for extensions without _build_info asks oneDNN the same way
    from tessel.cli import info as cli_info
    report = cli_info._onednn_report()
    assert report.get("version") == m.group(1) and report.get("runtime", "").startswith(runtime)


@linux
def test_library_versions_match_the_loaded_libraries():
    info = _info()
    maps = _maps()
    if info["OpenCV"][0]:
        assert re.search(r"libopencv_core\.so\." + re.escape(info["OpenCV"][1]) + r"\b", maps)
    if info["ICU"][0]:
        assert re.search(r"libicuuc\.so\." + re.escape(info["ICU"][1]) + r"\b", maps)
    if info["libsndfile"][0]:
        path = re.search(r"(/\S*libsndfile\.so\.[\d.]+)", maps).group(1)
        lib = ctypes.CDLL(path)
        lib.sf_version_string.restype = ctypes.c_char_p
        assert lib.sf_version_string().decode() == "libsndfile-" + info["libsndfile"][1]
    if info["MPI"][0]:
        path = re.search(r"(/\S*libmpi\.so\.[\d.]+)", maps).group(1)
        lib = ctypes.CDLL(path)
        buf, n = ctypes.create_string_buffer(8192), ctypes.c_int(0)
        assert lib.MPI_Get_library_version(buf, ctypes.byref(n)) == 0
        assert buf.value.decode().startswith(info["MPI"][1])
    if info["ONNX"][0]:
        assert re.fullmatch(r"\d+\.\d+\.\d+", info["ONNX"][2]["protobuf"])


def test_tessel_info_json_build_section(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(main, ["info", "--json"], prog_name="tessel", catch_exceptions=False)
    assert r.exit_code == 0, r.output
    build = json.loads(r.stdout)["build"]
    info = _info()
    for name, (enabled, version, details) in info.items():
        assert build[name]["enabled"] == enabled
        assert build[name]["version"] == (version or None)
    assert build["oneDNN"]["isa"] == info["oneDNN"][2]["isa"]
    assert "available" in build["CUDA"] and "enabled" in build["serve"]
    from tessel.cli.serve import find_server
    try:
        assert build["serve"] == {"enabled": True, "path": find_server()}
    except FileNotFoundError:
        assert build["serve"] == {"enabled": False}
    r = CliRunner().invoke(main, ["info"], prog_name="tessel", catch_exceptions=False)
    assert f"isa {info['oneDNN'][2]['isa']}" in r.stdout and "serve:" in r.stdout
