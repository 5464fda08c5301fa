// Bindings for tessel::audio (tessel._C._audio): option structs with fields,
// and the functions taking them; python/tessel/audio builds them from keyword
// arguments and presets. File I/O and decoding run without the GIL.
#include <pybind11/stl.h>

#include "python/src/convert.h"
#include "tessel/data/audio.h"
#include "tessel/io.h"

namespace tessel::python {

void init_audio(py::module_& m) {
  using namespace audio;
  auto a = m.def_submodule("_audio", "tessel::audio (libsndfile files, spectral features)");
  a.def("available", &available);

  py::class_<Info>(a, "Info")
      .def_readonly("sample_rate", &Info::sample_rate)
      .def_readonly("num_frames", &Info::frames)
      .def_readonly("num_channels", &Info::channels)
      .def_readonly("format", &Info::format)
      .def_readonly("subtype", &Info::subtype)
      .def_property_readonly("duration", &Info::duration)
      .def("__repr__", [](const Info& i) {
        return detail::cat("AudioInfo(sample_rate=", i.sample_rate, ", num_frames=", i.frames,
                           ", num_channels=", i.channels, ", format='", i.format, "', subtype='", i.subtype, "')");
      });
  py::class_<LoadOptions>(a, "LoadOptions")
      .def(py::init<>())
      .def_readwrite("frame_offset", &LoadOptions::frame_offset)
      .def_readwrite("num_frames", &LoadOptions::num_frames)
      .def_readwrite("normalize", &LoadOptions::normalize)
      .def_readwrite("mono", &LoadOptions::mono)
      .def_readwrite("channels_first", &LoadOptions::channels_first);

  a.def("info", [](const std::string& path) { return without_gil([&] { return info(path); }); });
  a.def("info_bytes", [](const py::bytes& b) {
    std::string s = b;
    return without_gil([&] { return info_bytes(s); });
  });
  a.def("load", [](const std::string& path, const LoadOptions& o) {
    auto r = without_gil([&] { return load(path, o); });
    return py::make_tuple(r.waveform, r.sample_rate);
  });
  a.def("load_bytes", [](const py::bytes& b, const LoadOptions& o) {
    std::string s = b;
    auto r = without_gil([&] { return load_bytes(s, o); });
    return py::make_tuple(r.waveform, r.sample_rate);
  });
  a.def("save", [](const std::string& path, const Tensor& w, int64_t sr, const std::string& format,
                   const std::string& subtype, bool channels_first) {
    without_gil([&] {
      save(path, w, sr, format, subtype, channels_first);
      return 0;
    });
  });
  a.def("save_bytes", [](const Tensor& w, int64_t sr, const std::string& format, const std::string& subtype,
                         bool channels_first) {
    std::string s = without_gil([&] { return save_bytes(w, sr, format, subtype, channels_first); });
    return py::bytes(s);
  });

  a.def("window", &window, py::arg("name"), py::arg("length"), py::arg("periodic") = true, py::arg("beta") = 12.0,
        py::arg("dtype") = DType::Float32);

  py::class_<StftOptions>(a, "StftOptions")
      .def(py::init<>())
      .def_readwrite("n_fft", &StftOptions::n_fft)
      .def_readwrite("hop_length", &StftOptions::hop_length)
      .def_readwrite("win_length", &StftOptions::win_length)
      .def_readwrite("window", &StftOptions::window)
      .def_readwrite("center", &StftOptions::center)
      .def_readwrite("pad_mode", &StftOptions::pad_mode)
      .def_readwrite("normalized", &StftOptions::normalized)
      .def_readwrite("onesided", &StftOptions::onesided);
  py::class_<MelOptions>(a, "MelOptions")
      .def(py::init<>())
      .def_static("preset", &MelOptions::preset)
      .def_readwrite("sample_rate", &MelOptions::sample_rate)
      .def_readwrite("stft", &MelOptions::stft)
      .def_readwrite("power", &MelOptions::power)
      .def_readwrite("n_mels", &MelOptions::n_mels)
      .def_readwrite("f_min", &MelOptions::f_min)
      .def_readwrite("f_max", &MelOptions::f_max)
      .def_readwrite("norm", &MelOptions::norm)
      .def_readwrite("mel_scale", &MelOptions::mel_scale)
      .def_readwrite("hop_divisor", &MelOptions::hop_divisor)
      .def_readwrite("rfft_freqs", &MelOptions::rfft_freqs);
  py::class_<MfccOptions>(a, "MfccOptions")
      .def(py::init<>())
      .def_static("preset", &MfccOptions::preset)
      .def_readwrite("mel", &MfccOptions::mel)
      .def_readwrite("n_mfcc", &MfccOptions::n_mfcc)
      .def_readwrite("dct_norm", &MfccOptions::dct_norm)
      .def_readwrite("log_mels", &MfccOptions::log_mels)
      .def_readwrite("top_db", &MfccOptions::top_db);
  py::class_<ResampleOptions>(a, "ResampleOptions")
      .def(py::init<>())
      .def_static("quality", &ResampleOptions::quality)
      .def_readwrite("lowpass_filter_width", &ResampleOptions::lowpass_filter_width)
      .def_readwrite("rolloff", &ResampleOptions::rolloff)
      .def_readwrite("method", &ResampleOptions::method)
      .def_readwrite("beta", &ResampleOptions::beta)
      .def_readwrite("exact_length", &ResampleOptions::exact_length);

  a.def("stft", &stft);
  a.def("istft", &istft);
  a.def("spectrogram", &spectrogram);
  a.def("mel_filterbank", &mel_filterbank);
  a.def("hz_to_mel", &hz_to_mel);
  a.def("mel_to_hz", &mel_to_hz);
  a.def("mel_spectrogram", &mel_spectrogram);
  a.def("amplitude_to_db", &amplitude_to_db);
  a.def("dct_matrix", &dct_matrix);
  a.def("mfcc", &mfcc);
  a.def("resample", &resample);

  // Transforms for ts.data loaders; data::Transform (with __call__) is bound in data.cpp.
  py::class_<Resample, data::Transform, std::shared_ptr<Resample>>(a, "Resample")
      .def(py::init<int64_t, int64_t, ResampleOptions>());
  py::class_<FixLength, data::Transform, std::shared_ptr<FixLength>>(a, "FixLength").def(py::init<int64_t, bool>());
  py::class_<MelSpectrogram, data::Transform, std::shared_ptr<MelSpectrogram>>(a, "MelSpectrogram")
      .def(py::init<MelOptions, bool, std::optional<double>>());
  py::class_<MFCC, data::Transform, std::shared_ptr<MFCC>>(a, "MFCC").def(py::init<MfccOptions>());
  py::class_<AxisMasking, data::Transform, std::shared_ptr<AxisMasking>>(a, "AxisMasking")
      .def(py::init<bool, int64_t, bool, double, std::optional<double>>());
}

}  // namespace tessel::python
