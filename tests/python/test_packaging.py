"""The installed package serves C++ users and plugins: find_package(tessel)
against `python -m tessel --cmake-dir`, and plugin libraries built outside the
core that register ops, devices and kernels."""
import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import tessel as ts

ROOT = pathlib.Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(shutil.which("cmake") is None, reason="cmake is not installed")


def cmake_build(src, build):
    cfg = ["cmake", "-S", str(src), "-B", str(build), f"-Dtessel_DIR={ts.cmake_dir()}"]
    if shutil.which("ninja"):
        cfg += ["-G", "Ninja"]
    subprocess.run(cfg, check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True)


def test_module_prints_its_cmake_dir():
    out = subprocess.run([sys.executable, "-m", "tessel", "--cmake-dir"], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert os.path.isfile(os.path.join(out, "tesselConfig.cmake"))
    assert os.path.isfile(os.path.join(ts.include_dir(), "tessel", "tessel.h"))


def test_find_package_consumer_builds_and_runs(tmp_path):
    cmake_build(ROOT / "examples" / "cpp" / "consumer", tmp_path)
    out = subprocess.run([str(tmp_path / "consumer")], check=True, capture_output=True, text=True).stdout
    assert "sum=44" in out
    assert "[matmul] shapes [2, 3] and [2, 3] cannot be multiplied (3 != 2)" in out


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    build = tmp_path_factory.mktemp("plugin")
    cmake_build(ROOT / "tests" / "plugin", build)
    path = build / "libtessel_test_plugin.so"
    ts.load_library(str(path))
    return path


def test_plugin_adds_a_new_op(plugin):
    x = ts.tensor([1.0, -2.0, 3.0])
    assert ts.ops.plugin_square(x).tolist() == [1.0, 4.0, 9.0]
    assert ts.ops.plugin_square(x.double()).dtype == ts.float64
    assert set(ts.registry.coverage("plugin_square")["cpu"]) == {ts.float32, ts.float64}
    with pytest.raises(NotImplementedError, match=r"\[plugin_square\] not implemented for cpu/int64"):
        ts.ops.plugin_square(ts.tensor([1, 2]))


def test_plugin_adds_a_device_with_kernels_for_existing_ops(plugin):
    x = ts.ones(2, 3, device="plugdev")  # fill kernel on plugdev
    assert str(x.device) == "plugdev:0"
    y = x + x  # add kernel on plugdev
    assert str(y.device) == "plugdev:0"
    assert y.cpu().tolist() == [[2.0] * 3] * 2
    z = ts.tensor([[1.0, 2.0], [3.0, 4.0]]).to("plugdev").t()  # strided views move back via contiguous copies
    assert z.cpu().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    with pytest.raises(NotImplementedError, match=r"\[mul\] not implemented for plugdev/float32"):
        x * x
    with pytest.raises(ValueError, match="device"):
        x + ts.ones(2, 3)  # cross-device arithmetic is an error, never a silent copy
    assert ("add", "plugdev", ts.float32, "test_plugin") in ts.registry()


def test_python_callable_as_kernel(plugin):
    calls = []

    def cube(inputs, outputs):
        calls.append(len(inputs))
        return inputs[0] * inputs[0] * inputs[0]

    ts.register_kernel("py_cube", "cpu", ts.float32, cube)
    assert ts.ops.py_cube(ts.tensor([2.0, -1.0])).tolist() == [8.0, -1.0]
    assert calls == [1]

    # A Python kernel for an existing op on the plugin's device: it fills the given output.
    def mul_on_plugdev(inputs, outputs):
        outputs[0].copy_(inputs[0].cpu() * inputs[1].cpu())

    ts.register_kernel("mul", "plugdev", ts.float32, mul_on_plugdev)
    x = ts.tensor([1.0, 2.0, 3.0]).to("plugdev")
    assert (x * x).cpu().tolist() == [1.0, 4.0, 9.0]
    assert ("mul", "plugdev", ts.float32, "python") in ts.registry()

    def broken(inputs, outputs):
        raise ValueError("kernel failed on purpose")

    ts.register_kernel("py_broken", "cpu", ts.float32, broken)
    with pytest.raises(ValueError, match="on purpose"):
        ts.ops.py_broken(ts.ones(1))


@pytest.mark.skipif(not os.environ.get("TESSEL_BUILD_DIR"), reason="TESSEL_BUILD_DIR (the CMake build tree) not set; "
                    "`make test` sets it")
def test_cmake_install_serves_find_package(tmp_path):
    prefix = tmp_path / "prefix"
    subprocess.run(["cmake", "--install", os.environ["TESSEL_BUILD_DIR"], "--prefix", str(prefix)], check=True,
                   capture_output=True, text=True)
    assert (prefix / "include" / "tessel" / "tessel.h").is_file()
    build = tmp_path / "build"
    cfg = ["cmake", "-S", str(ROOT / "examples" / "cpp" / "consumer"), "-B", str(build),
           f"-Dtessel_DIR={prefix / 'lib' / 'cmake' / 'tessel'}"]
    subprocess.run(cfg, check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True)
    out = subprocess.run([str(build / "consumer")], check=True, capture_output=True, text=True).stdout
    assert "sum=44" in out
