// Audio files through libsndfile: WAV, FLAC, OGG/Vorbis, MP3 (libsndfile >= 1.1)
// and the rest of its formats, from paths or from bytes (virtual I/O). Every
// input is untrusted: libsndfile's failures become ValueError naming the source.
#include <sndfile.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "tessel/data/audio.h"
#include "tessel/io.h"
#include "tessel/ops.h"

namespace tessel::audio {
namespace {

// In-memory file for sf_open_virtual: reads from `data`, or appends to it.
struct Memory {
  std::string data;
  sf_count_t pos = 0;
};
sf_count_t mem_len(void* u) { return static_cast<sf_count_t>(static_cast<Memory*>(u)->data.size()); }
sf_count_t mem_seek(sf_count_t off, int whence, void* u) {
  auto* m = static_cast<Memory*>(u);
  const sf_count_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? sf_count_t(m->data.size()) : 0;
  const sf_count_t p = base + off;
  if (p < 0) return -1;
  m->pos = p;
  return p;
}
sf_count_t mem_read(void* ptr, sf_count_t n, void* u) {
  auto* m = static_cast<Memory*>(u);
  const sf_count_t size = sf_count_t(m->data.size());
  const sf_count_t k = std::max<sf_count_t>(0, std::min(n, size - m->pos));
  if (k > 0) std::memcpy(ptr, m->data.data() + m->pos, size_t(k));
  m->pos += k;
  return k;
}
sf_count_t mem_write(const void* ptr, sf_count_t n, void* u) {
  auto* m = static_cast<Memory*>(u);
  if (sf_count_t(m->data.size()) < m->pos + n) m->data.resize(size_t(m->pos + n));
  std::memcpy(m->data.data() + m->pos, ptr, size_t(n));
  m->pos += n;
  return n;
}
sf_count_t mem_tell(void* u) { return static_cast<Memory*>(u)->pos; }
SF_VIRTUAL_IO kMemoryIO{mem_len, mem_seek, mem_read, mem_write, mem_tell};

struct Closer {
  void operator()(SNDFILE* f) const { sf_close(f); }
};
using File = std::unique_ptr<SNDFILE, Closer>;

// An open file and where it came from ("file 'x.wav'" or "bytes"), for messages.
struct Source {
  File file;
  SF_INFO info{};
  std::string name;
  std::unique_ptr<Memory> memory;
};

Source open_path(const char* op, const std::string& path) {
  if (FILE* probe = std::fopen(path.c_str(), "rb")) {
    std::fclose(probe);
  } else {
    const int e = errno;
    throw FileError(detail::cat("[", op, "] cannot open '", path, "': ", std::strerror(e)), e);
  }
  Source s;
  s.name = "'" + path + "'";
  s.file.reset(sf_open(path.c_str(), SFM_READ, &s.info));
  if (!s.file) fail<ValueError>(op, "cannot decode ", s.name, ": ", sf_strerror(nullptr));
  return s;
}

Source open_bytes(const char* op, const std::string& bytes) {
  Source s;
  s.name = "bytes";
  s.memory = std::make_unique<Memory>();
  s.memory->data = bytes;
  TS_CHECK(!bytes.empty(), ValueError, op, "cannot decode empty bytes");
  s.file.reset(sf_open_virtual(&kMemoryIO, SFM_READ, &s.info, s.memory.get()));
  if (!s.file) fail<ValueError>(op, "cannot decode bytes (", bytes.size(), " bytes): ", sf_strerror(nullptr));
  return s;
}

// Every major format and subtype libsndfile 1.2 defines, named as soundfile
// names them (info reports them; save accepts them).
struct Named {
  const char* name;
  int code;
};
constexpr Named kSubtypes[] = {
    {"PCM_S8", SF_FORMAT_PCM_S8},
    {"PCM_16", SF_FORMAT_PCM_16},
    {"PCM_24", SF_FORMAT_PCM_24},
    {"PCM_32", SF_FORMAT_PCM_32},
    {"PCM_U8", SF_FORMAT_PCM_U8},
    {"FLOAT", SF_FORMAT_FLOAT},
    {"DOUBLE", SF_FORMAT_DOUBLE},
    {"ULAW", SF_FORMAT_ULAW},
    {"ALAW", SF_FORMAT_ALAW},
    {"IMA_ADPCM", SF_FORMAT_IMA_ADPCM},
    {"MS_ADPCM", SF_FORMAT_MS_ADPCM},
    {"GSM610", SF_FORMAT_GSM610},
    {"VOX_ADPCM", SF_FORMAT_VOX_ADPCM},
    {"NMS_ADPCM_16", SF_FORMAT_NMS_ADPCM_16},
    {"NMS_ADPCM_24", SF_FORMAT_NMS_ADPCM_24},
    {"NMS_ADPCM_32", SF_FORMAT_NMS_ADPCM_32},
    {"G721_32", SF_FORMAT_G721_32},
    {"G723_24", SF_FORMAT_G723_24},
    {"G723_40", SF_FORMAT_G723_40},
    {"DWVW_12", SF_FORMAT_DWVW_12},
    {"DWVW_16", SF_FORMAT_DWVW_16},
    {"DWVW_24", SF_FORMAT_DWVW_24},
    {"DWVW_N", SF_FORMAT_DWVW_N},
    {"DPCM_8", SF_FORMAT_DPCM_8},
    {"DPCM_16", SF_FORMAT_DPCM_16},
    {"VORBIS", SF_FORMAT_VORBIS},
    {"OPUS", SF_FORMAT_OPUS},
    {"ALAC_16", SF_FORMAT_ALAC_16},
    {"ALAC_20", SF_FORMAT_ALAC_20},
    {"ALAC_24", SF_FORMAT_ALAC_24},
    {"ALAC_32", SF_FORMAT_ALAC_32},
    {"MPEG_LAYER_I", SF_FORMAT_MPEG_LAYER_I},
    {"MPEG_LAYER_II", SF_FORMAT_MPEG_LAYER_II},
    {"MPEG_LAYER_III", SF_FORMAT_MPEG_LAYER_III},
};
constexpr Named kFormats[] = {
    {"WAV", SF_FORMAT_WAV},     {"AIFF", SF_FORMAT_AIFF},   {"AU", SF_FORMAT_AU},     {"RAW", SF_FORMAT_RAW},
    {"PAF", SF_FORMAT_PAF},     {"SVX", SF_FORMAT_SVX},     {"NIST", SF_FORMAT_NIST}, {"VOC", SF_FORMAT_VOC},
    {"IRCAM", SF_FORMAT_IRCAM}, {"W64", SF_FORMAT_W64},     {"MAT4", SF_FORMAT_MAT4}, {"MAT5", SF_FORMAT_MAT5},
    {"PVF", SF_FORMAT_PVF},     {"XI", SF_FORMAT_XI},       {"HTK", SF_FORMAT_HTK},   {"SDS", SF_FORMAT_SDS},
    {"AVR", SF_FORMAT_AVR},     {"WAVEX", SF_FORMAT_WAVEX}, {"SD2", SF_FORMAT_SD2},   {"FLAC", SF_FORMAT_FLAC},
    {"CAF", SF_FORMAT_CAF},     {"WVE", SF_FORMAT_WVE},     {"OGG", SF_FORMAT_OGG},   {"MPC2K", SF_FORMAT_MPC2K},
    {"RF64", SF_FORMAT_RF64},   {"MP3", SF_FORMAT_MPEG},
};

std::string subtype_name(int format) {
  for (const auto& s : kSubtypes)
    if ((format & SF_FORMAT_SUBMASK) == s.code) return s.name;
  return "unknown";
}
std::string major_name(int format) {
  for (const auto& f : kFormats)
    if ((format & SF_FORMAT_TYPEMASK) == f.code) return f.name;
  return "unknown";
}

// Whether the header states the length: a cut Ogg stream reports SF_COUNT_MAX.
bool frames_known(const SF_INFO& i) { return i.frames >= 0 && i.frames < (int64_t(1) << 40); }

Info to_info(const SF_INFO& i) {
  return {i.samplerate, frames_known(i) ? int64_t(i.frames) : -1, i.channels, major_name(i.format),
          subtype_name(i.format)};
}

Audio read(const char* op, Source& s, const LoadOptions& o) {
  const SF_INFO& i = s.info;
  TS_CHECK(i.channels > 0 && i.samplerate > 0, ValueError, op, s.name, " has ", i.channels, " channels at ",
           i.samplerate, " Hz");
  TS_CHECK(o.frame_offset >= 0, ValueError, op, "frame_offset must be non-negative, got ", o.frame_offset);
  TS_CHECK(o.num_frames >= -1, ValueError, op, "num_frames must be -1 (to the end) or non-negative, got ",
           o.num_frames);
  // A header may lie (truncated files) or not know the length (a cut Ogg stream
  // reports SF_COUNT_MAX): read in chunks until the end, never trusting the count.
  const bool known = frames_known(i);
  const int64_t total = known ? i.frames : std::numeric_limits<int64_t>::max();
  const int64_t start = std::min<int64_t>(o.frame_offset, total);
  const int64_t want = o.num_frames < 0 ? total - start : std::min<int64_t>(o.num_frames, total - start);
  if (start > 0 && sf_seek(s.file.get(), start, SEEK_SET) < 0)
    fail<ValueError>(op, "cannot seek to frame ", start, " in ", s.name, ": ", sf_strerror(s.file.get()));
  const int sub = i.format & SF_FORMAT_SUBMASK;
  const bool pcm16 = sub == SF_FORMAT_PCM_16 || sub == SF_FORMAT_PCM_S8 || sub == SF_FORMAT_PCM_U8;
  const bool pcm32 = sub == SF_FORMAT_PCM_24 || sub == SF_FORMAT_PCM_32;
  DType dt = DType::Float32;
  if (!o.normalize && pcm16) dt = DType::Int16;
  if (!o.normalize && pcm32) dt = DType::Int32;
  const int64_t C = i.channels;
  const size_t frame_bytes = static_cast<size_t>(C) * itemsize(dt);
  std::vector<char> data;
  int64_t got = 0;
  while (got < want) {
    const int64_t chunk = std::min<int64_t>(want - got, 65536);
    data.resize(static_cast<size_t>(got + chunk) * frame_bytes);
    void* at = data.data() + static_cast<size_t>(got) * frame_bytes;
    sf_count_t n = 0;
    if (dt == DType::Int16) n = sf_readf_short(s.file.get(), static_cast<short*>(at), chunk);
    else if (dt == DType::Int32) n = sf_readf_int(s.file.get(), static_cast<int*>(at), chunk);
    else n = sf_readf_float(s.file.get(), static_cast<float*>(at), chunk);
    if (n <= 0) break;
    got += n;
  }
  Tensor inter = empty({got, C}, dt);  // libsndfile reads frames interleaved
  if (got > 0) std::memcpy(inter.data_ptr(), data.data(), static_cast<size_t>(got) * frame_bytes);
  const int err = sf_error(s.file.get());
  TS_CHECK(err == SF_ERR_NO_ERROR, ValueError, op, "cannot decode ", s.name, ": ", sf_strerror(s.file.get()));
  // Fewer frames than the header promised: the stream is truncated. Say so rather
  // than return a silently shorter signal.
  TS_CHECK(!known || got == want, ValueError, op, "cannot decode ", s.name, ": truncated, the header promises ",
           want, " frames from frame ", start, ", the stream holds ", got);
  Tensor w = inter;
  if (o.mono && C > 1) {
    w = mean(w.to(DType::Float32), {1}, true);
  }
  w = o.channels_first ? w.t().contiguous() : w.contiguous();
  return {w, i.samplerate};
}

int parse_named(const char* op, const char* what, const std::string& name, const Named* table, size_t n) {
  std::string up;
  for (char c : name) up += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "OGA" || up == "OPUS") up = "OGG";
  for (size_t k = 0; k < n; ++k)
    if (up == table[k].name) return table[k].code;
  fail<ValueError>(op, "unknown ", what, " \"", name, "\"");
}

SF_INFO write_info(const char* op, const Tensor& w, int64_t sample_rate, const std::string& format,
                   const std::string& subtype, bool channels_first) {
  TS_CHECK(w.dim() == 1 || w.dim() == 2, ValueError, op, "expects a waveform [channels, samples] (or 1-d), got shape ",
           w.shape());
  TS_CHECK(sample_rate > 0, ValueError, op, "sample_rate must be positive, got ", sample_rate);
  const int fmt = parse_named(op, "format", format, kFormats, std::size(kFormats));
  int sub = 0;
  if (!subtype.empty()) sub = parse_named(op, "subtype", subtype, kSubtypes, std::size(kSubtypes));
  else if (fmt == SF_FORMAT_OGG) sub = SF_FORMAT_VORBIS;
  else if (fmt == SF_FORMAT_MPEG) sub = SF_FORMAT_MPEG_LAYER_III;
  else sub = SF_FORMAT_PCM_16;
  SF_INFO info{};
  info.samplerate = static_cast<int>(sample_rate);
  info.channels = static_cast<int>(w.dim() == 1 ? 1 : (channels_first ? w.size(0) : w.size(1)));
  info.format = fmt | sub;
  TS_CHECK(info.channels >= 1, ValueError, op, "expects at least one channel, got shape ", w.shape());
  TS_CHECK(sf_format_check(&info), ValueError, op, "libsndfile cannot write ", format, " with subtype ",
           subtype_name(info.format), " and ", info.channels, " channels at ", sample_rate, " Hz");
  return info;
}

void write(const char* op, SNDFILE* f, const std::string& name, const Tensor& wav, bool channels_first) {
  const Tensor w2 = wav.dim() == 1 ? wav.unsqueeze(channels_first ? 0 : 1) : wav;
  const Tensor inter = (channels_first ? w2.t() : w2).contiguous();  // [samples, channels]
  const int64_t frames = inter.size(0);
  sf_command(f, SFC_SET_CLIPPING, nullptr, SF_TRUE);
  sf_count_t put = 0;
  switch (inter.dtype()) {
    case DType::Int16: put = sf_writef_short(f, inter.data<int16_t>(), frames); break;
    case DType::Int32: put = sf_writef_int(f, inter.data<int32_t>(), frames); break;
    case DType::Float64: put = sf_writef_double(f, inter.data<double>(), frames); break;
    default: {
      TS_CHECK(is_floating(inter.dtype()), TypeError, op, "expects a float, int16 or int32 waveform, got ",
               inter.dtype());
      const Tensor fl = inter.to(DType::Float32);
      put = sf_writef_float(f, fl.data<float>(), frames);
    }
  }
  TS_CHECK(put == frames, ValueError, op, "writing ", name, " failed after ", put, " of ", frames,
           " frames: ", sf_strerror(f));
}

std::string extension_format(const std::string& path) {
  const auto dot = path.find_last_of('.');
  const auto slash = path.find_last_of('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return path.substr(dot + 1);
}

}  // namespace

bool available() { return true; }

Info info(const std::string& path) {
  Source s = open_path("audio.info", path);
  return to_info(s.info);
}
Info info_bytes(const std::string& bytes) {
  Source s = open_bytes("audio.info", bytes);
  return to_info(s.info);
}
Audio load(const std::string& path, const LoadOptions& o) {
  Source s = open_path("audio.load", path);
  return read("audio.load", s, o);
}
Audio load_bytes(const std::string& bytes, const LoadOptions& o) {
  Source s = open_bytes("audio.load", bytes);
  return read("audio.load", s, o);
}

void save(const std::string& path, const Tensor& waveform, int64_t sample_rate, const std::string& format,
          const std::string& subtype, bool channels_first) {
  const std::string fmt = format.empty() ? extension_format(path) : format;
  TS_CHECK(!fmt.empty(), ValueError, "audio.save", "cannot tell the format of '", path,
           "' from its extension: pass format=");
  SF_INFO info = write_info("audio.save", waveform, sample_rate, fmt, subtype, channels_first);
  File f(sf_open(path.c_str(), SFM_WRITE, &info));
  if (!f) {
    const int e = errno;
    throw FileError(detail::cat("[audio.save] cannot write '", path, "': ", sf_strerror(nullptr)), e);
  }
  write("audio.save", f.get(), "'" + path + "'", waveform, channels_first);
}

std::string save_bytes(const Tensor& waveform, int64_t sample_rate, const std::string& format,
                       const std::string& subtype, bool channels_first) {
  SF_INFO info = write_info("audio.save", waveform, sample_rate, format, subtype, channels_first);
  Memory m;
  {
    File f(sf_open_virtual(&kMemoryIO, SFM_WRITE, &info, &m));
    if (!f) fail<ValueError>("audio.save", "cannot encode ", format, ": ", sf_strerror(nullptr));
    write("audio.save", f.get(), "bytes", waveform, channels_first);
  }
  return m.data;
}

}  // namespace tessel::audio
