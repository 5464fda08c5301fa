"""ONNX export of the FFTs and of complex values, which travel as (re, im) pairs
in a trailing dim of 2 (ONNX's DFT convention; its other ops have no complex
arithmetic). Each export passes onnx's full checker, and onnxruntime and
tessel's importer give eager tessel's result (complex results as pairs)."""
import io

import numpy as np
import pytest

import tessel as ts

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

pytestmark = pytest.mark.skipif(not ts.onnx.available(), reason="tessel built with TESSEL_WITH_ONNX=OFF")
fft = ts.fft


def as_pairs(a):
    a = np.asarray(a)
    return np.stack([a.real, a.imag], -1) if np.iscomplexobj(a) else a


def check(fn, args, opset=20, dynamic=None, feeds=(), rtol=1e-4, atol=1e-4):
    args = args if isinstance(args, tuple) else (args,)
    names = [f"in{k}" for k in range(len(args))]
    buf = io.BytesIO()
    ts.onnx.export(fn, args, buf, input_names=names, opset_version=opset, dynamic_axes=dynamic)
    data = buf.getvalue()
    model = onnx.load_from_string(data)
    onnx.checker.check_model(model, full_check=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    mine = ts.onnx.InferenceSession(data)
    for feed in [args, *feeds]:
        want = fn(*feed)
        want = [as_pairs(w.numpy()) for w in (want if isinstance(want, (tuple, list)) else [want])]
        np_feed = {n: as_pairs(a.numpy()) for n, a in zip(names, feed)}
        for who, got in (("onnxruntime", sess.run(None, np_feed)), ("tessel", mine.run(None, np_feed))):
            assert len(got) == len(want)
            for g, w in zip(got, want):
                assert g.shape == w.shape and g.dtype == w.dtype, (who, g.shape, w.shape, g.dtype, w.dtype)
                np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=who)
    return model


def x(*shape, dtype=ts.float32, seed=0):
    return ts.tensor(np.random.default_rng(seed).standard_normal(shape)).to(dtype)


def z(*shape, seed=1):
    rng = np.random.default_rng(seed)
    return ts.tensor((rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(np.complex64))


NORMS = ["backward", "ortho", "forward"]


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("n", [None, 6, 12])  # the input's, cut, zero-padded
def test_rfft_irfft(norm, n):
    check(lambda a: fft.rfft(a, n=n, dim=1, norm=norm), x(2, 9, 3))
    check(lambda a: fft.irfft(a, n=n, dim=1, norm=norm), z(2, 5, 3))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("op", ["fft", "ifft", "hfft", "ihfft"])
def test_one_dim_transforms(op, norm):
    f = getattr(fft, op)
    real_in = op == "ihfft"
    check(lambda a: f(a, norm=norm), x(3, 8) if real_in else z(3, 5))
    check(lambda a: f(a, n=7, dim=0, norm=norm), x(4, 3) if real_in else z(4, 3))
    if op in ("fft", "ifft", "hfft"):  # real input: zero imaginary parts
        check(lambda a: f(a, norm=norm), x(3, 6))


@pytest.mark.parametrize("op", ["fftn", "ifftn", "rfftn", "irfftn", "fft2", "irfft2", "hfft2", "ihfft2"])
def test_n_dim_transforms(op):
    f = getattr(fft, op)
    inp = x(2, 6, 5) if op in ("rfftn", "ihfft2") else z(2, 6, 5)
    check(lambda a: f(a), inp)
    check(lambda a: f(a, s=(4, 6), dim=(0, 2), norm="ortho"), inp)


def test_float64_and_integer_inputs():
    check(lambda a: fft.rfft(a), x(3, 10, dtype=ts.float64))
    check(lambda a: fft.fft(a), ts.arange(12).reshape(3, 4))


def test_real_pair_forms():
    check(lambda a: fft.rfft_real(a, n=10, norm="ortho"), x(3, 8))
    check(lambda a: fft.irfft_real(a, 9), x(3, 4, 2))
    check(lambda a: fft.irfft_real(a, 10, norm="forward"), x(3, 7, 2))  # bins past n / 2 + 1 are cut
    check(lambda a: fft.fft_real(a, dim=0), x(5, 3, 2))
    check(lambda a: fft.ifft_real(a, n=6, norm="ortho"), x(2, 4, 2))


def test_spectrum_arithmetic():
    # power spectrum, magnitude in dB, the parts
    check(lambda a: fft.rfft(a).abs() ** 2, x(2, 16))
    check(lambda a: 10 * ts.log10(fft.rfft(a, norm="ortho").abs() + 1e-6), x(2, 16))
    check(lambda a: ts.view_as_real(fft.fft(a)), x(3, 8))
    check(lambda a: ts.real(fft.fft(a)) + ts.imag(fft.fft(a)), x(3, 8))
    # FFT convolution: a complex product, then back
    check(lambda a, k: fft.irfft(fft.rfft(a, n=16) * fft.rfft(k, n=16), n=16), (x(2, 9), x(2, 8, seed=3)))
    # complex with complex, real and constant operands
    check(lambda u, v: (u * v - u / v + u.conj() + (-v)) / 2 + (u + 1.5), (z(3, 4), z(3, 4, seed=5)))
    check(lambda u, r: u * r + r / u - r, (z(3, 4), x(4)))
    w = z(4, seed=9)
    check(lambda u: u * w, z(3, 4))  # a complex constant
    # a slice of the spectrum, flipped, joined, transformed back
    check(lambda a: fft.ifft(ts.cat([fft.fft(a)[:, :3], fft.fft(a)[:, 3:].flip(1)], 1)), x(2, 8))
    check(lambda a: fft.fft(a)[1], x(2, 8))


def test_shape_ops_and_reductions_on_complex_values():
    def f(a):
        z = fft.fft(a)                                   # [B, 4, 6] complex
        return (z.flatten(1), z.reshape(-1, 2, 6), z.permute(2, 0, 1), z.transpose(0, 1), z.unsqueeze(1).squeeze(1), z.sum(-1), z.mean(),
                z.sum((0, 2), keepdim=True), z[:, :1].expand(-1, 3, -1))

    check(f, x(2, 4, 6), dynamic={"in0": {0: "batch"}}, feeds=[(x(5, 4, 6, seed=3),)])


def test_dynamic_complex_input():
    check(lambda u: fft.ifft(u * 2).abs(), z(3, 4), dynamic={"in0": {0: "batch"}}, feeds=[(z(6, 4, seed=2),)])


def test_complex_inputs_and_outputs_are_pairs():
    m = check(lambda u: fft.ifft(u), z(3, 4))
    assert [n.op_type for n in m.graph.node if n.op_type == "DFT"] == ["DFT"]
    (i,), (o,) = m.graph.input, m.graph.output
    dims = lambda v: [d.dim_value for d in v.type.tensor_type.shape.dim]
    assert dims(i) == [3, 4, 2] and dims(o) == [3, 4, 2]
    assert i.type.tensor_type.elem_type == onnx.TensorProto.FLOAT


def test_module_with_spectral_front_end():
    class Spectral(ts.nn.Module):
        def __init__(self):
            super().__init__()
            self.head = ts.nn.Linear(17, 3)
            self.window = ts.tensor(np.hanning(32).astype(np.float32))

        def forward(self, wave):
            mag = fft.rfft(wave * self.window, norm="ortho").abs()
            return self.head(ts.log(mag + 1e-3))

    m = Spectral()
    m.eval()
    check(m, x(4, 32), dynamic={"in0": {0: "batch"}}, feeds=[(x(7, 32, seed=2),)])


@pytest.mark.parametrize("opset", [17, 18, 20, 23])
def test_opsets(opset):
    check(lambda a: fft.irfft(fft.rfft(a).abs() * fft.rfft(a), n=12), x(2, 12), opset=opset)
    check(lambda a: fft.fft(a, norm="ortho"), z(2, 6), opset=opset)
    # axes other than DFT-17's default 1 (the attribute must be written)
    check(lambda a: fft.fftn(a, dim=(0, 2)), z(3, 4, 5), opset=opset)
    check(lambda a: fft.irfft(fft.rfft(a, dim=0), n=6, dim=0), x(6, 2, 3), opset=opset)


def test_dynamic_axes():
    check(lambda a: fft.rfft(a, norm="forward"), x(2, 16), dynamic={"in0": {0: "batch"}},
          feeds=[(x(5, 16, seed=4),)])
    check(lambda a: fft.irfft(fft.rfft(a)), x(2, 16), dynamic={"in0": {1: "time"}},
          feeds=[(x(2, 24, seed=4),)])
    with pytest.raises(NotImplementedError, match="norm \"ortho\" over a dim whose size depends on a dynamic axis"):
        ts.onnx.export(lambda a: fft.rfft(a, norm="ortho"), (x(2, 16),), io.BytesIO(), input_names=["a"],
                       dynamic_axes={"a": {1: "time"}})


def test_complex_constants_and_views_written_in_place():
    w = ts.tensor(np.array([1 + 2j, -0.5j, 3.0, 1 - 1j], np.complex64))
    check(lambda a: fft.fft(a) * w + ts.tensor(np.array([0.5j], np.complex64)), x(3, 4))

    def write_through_view(a):
        s = fft.fft(a)
        s[:, :2].mul_(2)
        return s

    with pytest.raises(NotImplementedError, match="view of a complex value"):
        ts.onnx.export(write_through_view, (x(3, 4),), io.BytesIO())


def test_errors():
    with pytest.raises(NotImplementedError, match=r"FFTs need opset_version >= 17"):
        ts.onnx.export(lambda a: fft.rfft(a), (x(2, 8),), io.BytesIO(), opset_version=16)
    with pytest.raises(NotImplementedError, match=r"op 'exp' on complex values has no ONNX export mapping"):
        ts.onnx.export(lambda a: ts.exp(fft.fft(a)), (x(2, 8),), io.BytesIO())
    with pytest.raises(NotImplementedError, match=r"cat of complex values with real ones"):
        ts.onnx.export(lambda a: ts.cat([fft.fft(a), a], 0), (x(2, 8),), io.BytesIO())
    check(lambda a: ts.cat([fft.fft(a), a.to(ts.complex64)], 0), x(2, 8))  # a cast makes it complex


def test_audio_front_ends():
    # The fused spectrogram kernel gives way to its ops while export traces (pad,
    # unfold, rfft, power, mel projection), so feature extraction ships inside the model.
    from tessel import audio

    wave = x(2, 4000, seed=7)
    check(audio.MelSpectrogram(), wave, rtol=1e-3, atol=1e-3, dynamic={"in0": {0: "batch"}},
          feeds=[(x(3, 4000, seed=8),)])
    # MFCCs sum 128 dB values of magnitude ~100 with +-1 weights: float32 leaves ~1e-2 absolute
    check(audio.MFCC(n_mfcc=13), wave, rtol=1e-3, atol=5e-2)
    check(lambda a: audio.amplitude_to_db(audio.spectrogram(a, n_fft=256, power=1.0)), wave, rtol=1e-3, atol=2e-3)
    check(lambda a: audio.stft(a, n_fft=128, hop_length=32, return_complex=True), wave)
    check(lambda a: audio.spectrogram(a, n_fft=64, center=False, pad_mode="constant"), x(1, 500))


def test_untraced_kernel_outputs_are_not_confused_with_later_tensors():
    # A kernel output freed during the trace used to leave its address behind:
    # a later tensor at that address was refused as "computed by" that kernel.
    def f(a):
        for _ in range(20):
            ts.randint(0, 5, (400,))  # untraced kernels whose outputs die at once
        w = ts.empty(400, dtype=ts.float64)  # filled without a kernel, as the audio windows are
        w.numpy()[:] = np.hanning(400)
        return a * w.to(ts.float32) * ts.tensor(np.hanning(400))

    check(f, x(2, 400))
