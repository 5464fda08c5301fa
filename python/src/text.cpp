// Bindings for tessel::text (tessel._C._text); the Python-facing API is
// python/tessel/text. Batch encoding and file loading run without the GIL.
#include <pybind11/stl.h>

#include <optional>

#include "python/src/convert.h"
#include "tessel/data/text.h"
#include "tessel/io.h"

namespace tessel::python {

namespace {

using namespace tessel::text;

// The UTF-8 of a str, or the bytes of a bytes-like object.
std::string_view text_arg(py::handle o, const char* what) {
  if (PyUnicode_Check(o.ptr())) {
    Py_ssize_t n = 0;
    const char* p = PyUnicode_AsUTF8AndSize(o.ptr(), &n);
    if (!p) throw py::error_already_set();
    return {p, static_cast<size_t>(n)};
  }
  if (PyBytes_Check(o.ptr())) return {PyBytes_AS_STRING(o.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(o.ptr()))};
  if (PyByteArray_Check(o.ptr()))
    return {PyByteArray_AS_STRING(o.ptr()), static_cast<size_t>(PyByteArray_GET_SIZE(o.ptr()))};
  throw py::type_error(std::string(what) + " must be str or bytes, got " + type_name(o));
}

std::vector<std::string> text_list(py::handle o, const char* what) {
  if (PyUnicode_Check(o.ptr()) || PyBytes_Check(o.ptr()))
    throw py::type_error(std::string(what) + " must be a list of str, got a single " + type_name(o));
  std::vector<std::string> out;
  for (py::handle item : py::iter(o)) out.emplace_back(text_arg(item, what));
  return out;
}

py::str to_str(const std::string& s) { return py::str(s.data(), s.size()); }
py::bytes to_bytes(const std::string& s) { return py::bytes(s.data(), s.size()); }

// A side left as None keeps the tokenizer's own (tokenizer.json's "direction").
TruncationOptions truncation_arg(const std::optional<std::string>& strategy, std::optional<int64_t> max_length,
                                 const std::optional<std::string>& side, const TruncationOptions& dflt) {
  TruncationOptions o = dflt;
  if (strategy) {
    if (*strategy == "longest_first")
      o.strategy = TruncationStrategy::LongestFirst;
    else if (*strategy == "only_first")
      o.strategy = TruncationStrategy::OnlyFirst;
    else if (*strategy == "only_second")
      o.strategy = TruncationStrategy::OnlySecond;
    else if (*strategy == "do_not_truncate")
      o.strategy = TruncationStrategy::None;
    else
      throw ValueError("[text.encode] truncation must be 'longest_first', 'only_first', 'only_second' or False, got '" +
                       *strategy + "'");
  }
  if (max_length) {
    if (*max_length < 0) throw ValueError("[text.encode] max_length must be >= 0");
    o.max_length = *max_length;
  }
  if (side) {
    if (*side != "right" && *side != "left")
      throw ValueError("[text.encode] truncation_side must be 'right' or 'left', got '" + *side + "'");
    o.left = *side == "left";
  }
  return o;
}

py::object tensor_or_none(const Tensor& t) { return t.defined() ? py::cast(t) : py::none(); }

}  // namespace

void init_text(py::module_& m) {
  auto sub = m.def_submodule("_text", "tessel::text (ICU)");
  sub.def("available", &text::available);

  sub.def(
      "decode_utf8",
      [](py::handle data, const std::string& errors, bool replace_control) {
        std::string_view s = text_arg(data, "input");
        Errors e = parse_errors(errors);
        return decode_utf8(s, e, replace_control);
      },
      py::arg("input"), py::arg("errors") = "strict", py::arg("replace_control_characters") = false);
  sub.def(
      "encode_utf8", [](const Tensor& cps) { return to_bytes(encode_utf8(cps)); }, py::arg("code_points"));
  sub.def(
      "decode_utf8_batch",
      [](py::handle inputs, const std::string& errors, bool replace_control) {
        auto v = text_list(inputs, "inputs");
        Errors e = parse_errors(errors);
        Ragged r = without_gil([&] { return decode_utf8_batch(v, e, replace_control); });
        return py::make_tuple(r.values, r.row_splits);
      },
      py::arg("inputs"), py::arg("errors") = "strict", py::arg("replace_control_characters") = false);
  sub.def(
      "encode_utf8_batch",
      [](const Tensor& values, const Tensor& row_splits) {
        auto out = encode_utf8_batch(Ragged{values, row_splits});
        py::list l;
        for (const auto& s : out) l.append(to_bytes(s));
        return l;
      },
      py::arg("values"), py::arg("row_splits"));
  sub.def(
      "transcode",
      [](py::handle data, const std::string& from, const std::string& to, const std::string& errors) {
        std::string_view s = text_arg(data, "input");
        Errors e = parse_errors(errors);
        return to_bytes(transcode(s, from, to, e));
      },
      py::arg("input"), py::arg("from_encoding"), py::arg("to_encoding"), py::arg("errors") = "strict");

  sub.def(
      "normalize",
      [](py::handle s, const std::string& form) {
        return to_str(normalize(text_arg(s, "text"), parse_normalization_form(form)));
      },
      py::arg("text"), py::arg("form") = "NFC");
  sub.def(
      "case_fold", [](py::handle s) { return to_str(case_fold(text_arg(s, "text"))); }, py::arg("text"));
  sub.def(
      "nfkc_casefold", [](py::handle s) { return to_str(nfkc_casefold(text_arg(s, "text"))); }, py::arg("text"));
  sub.def(
      "lower", [](py::handle s, const std::string& loc) { return to_str(lower(text_arg(s, "text"), loc)); },
      py::arg("text"), py::arg("locale") = "");
  sub.def(
      "upper", [](py::handle s, const std::string& loc) { return to_str(upper(text_arg(s, "text"), loc)); },
      py::arg("text"), py::arg("locale") = "");
  sub.def(
      "segment",
      [](py::handle s, const std::string& unit, const std::string& locale, bool words_only) {
        auto segs = segment(text_arg(s, "text"), parse_segment_unit(unit), locale, words_only);
        py::list out;
        for (const auto& g : segs) out.append(py::make_tuple(g.start, g.end, g.byte_start, g.byte_end, g.rule_status));
        return out;
      },
      py::arg("text"), py::arg("unit") = "word", py::arg("locale") = "en", py::arg("words_only") = false);

  py::class_<Encoding>(sub, "Encoding")
      .def_readonly("ids", &Encoding::ids)
      .def_readonly("type_ids", &Encoding::type_ids)
      .def_readonly("attention_mask", &Encoding::attention_mask)
      .def_readonly("special_tokens_mask", &Encoding::special_tokens_mask)
      .def_readonly("offsets", &Encoding::offsets)
      .def_readonly("byte_offsets", &Encoding::byte_offsets)
      .def_readonly("tokens", &Encoding::tokens)
      .def_property_readonly("word_ids",
                             [](const Encoding& e) {
                               py::list l;
                               for (int64_t w : e.word_ids) l.append(w < 0 ? py::none() : py::cast(w));
                               return l;
                             })
      .def_property_readonly("sequence_ids",
                             [](const Encoding& e) {
                               py::list l;
                               for (int64_t w : e.sequence_ids) l.append(w < 0 ? py::none() : py::cast(w));
                               return l;
                             })
      .def("__len__", [](const Encoding& e) { return e.ids.size(); })
      .def("__repr__", [](const Encoding& e) { return "Encoding(num_tokens=" + std::to_string(e.ids.size()) + ")"; });

  py::class_<Tokenizer>(sub, "Tokenizer")
      .def_static(
          "from_file", [](const std::string& path) { return without_gil([&] { return Tokenizer::from_file(path); }); },
          py::arg("path"))
      .def_static(
          "from_str", [](py::handle json) { return Tokenizer::from_json_string(text_arg(json, "json")); },
          py::arg("json"))
      .def_static(
          "from_wordpiece_vocab",
          [](const std::string& path, bool lowercase, const std::string& unk, int64_t max_chars) {
            return without_gil([&] { return Tokenizer::from_wordpiece_vocab(path, lowercase, unk, max_chars); });
          },
          py::arg("path"), py::arg("lowercase") = true, py::arg("unk_token") = "[UNK]",
          py::arg("max_input_chars_per_word") = 100)
      .def_static(
          "from_wordpiece_vocab_str",
          [](py::handle vocab, bool lowercase, const std::string& unk, int64_t max_chars) {
            return Tokenizer::from_wordpiece_vocab_string(text_arg(vocab, "vocab"), lowercase, unk, max_chars);
          },
          py::arg("vocab"), py::arg("lowercase") = true, py::arg("unk_token") = "[UNK]",
          py::arg("max_input_chars_per_word") = 100)
      .def_static(
          "from_bpe_files",
          [](const std::string& vocab, const std::string& merges, bool add_prefix_space) {
            return without_gil([&] { return Tokenizer::from_bpe_files(vocab, merges, add_prefix_space); });
          },
          py::arg("vocab"), py::arg("merges"), py::arg("add_prefix_space") = false)
      .def(
          "encode",
          [](const Tokenizer& t, py::handle text, py::handle pair, bool add_special, std::optional<std::string> trunc,
             std::optional<int64_t> max_length, const std::optional<std::string>& side) {
            std::string_view a = text_arg(text, "text");
            std::optional<std::string_view> b;
            if (!pair.is_none()) b = text_arg(pair, "text_pair");
            auto o = truncation_arg(trunc, max_length, side, t.default_truncation());
            return t.encode(a, b, add_special, o);
          },
          py::arg("text"), py::arg("text_pair") = py::none(), py::arg("add_special_tokens") = true,
          py::arg("truncation") = py::none(), py::arg("max_length") = py::none(),
          py::arg("truncation_side") = py::none())
      .def(
          "encode_batch",
          [](const Tokenizer& t, py::handle texts, py::handle pairs, bool add_special, std::optional<std::string> trunc,
             std::optional<int64_t> max_length, const std::optional<std::string>& padding,
             std::optional<int64_t> pad_to_multiple_of, const std::optional<std::string>& padding_side,
             std::optional<int64_t> pad_id, const std::optional<std::string>& truncation_side, int num_threads) {
            auto a = text_list(texts, "texts");
            std::vector<std::string> b;
            if (!pairs.is_none()) b = text_list(pairs, "pairs");
            TruncationOptions to = truncation_arg(trunc, max_length, truncation_side, t.default_truncation());
            // None keeps tokenizer.json's padding section; without one, pad to the longest.
            PaddingOptions po = t.default_padding();
            if (!padding) {
              if (po.strategy == PaddingStrategy::None) po.strategy = PaddingStrategy::Longest;
            } else if (*padding == "longest")
              po.strategy = PaddingStrategy::Longest;
            else if (*padding == "max_length")
              po.strategy = PaddingStrategy::MaxLength;
            else if (*padding == "do_not_pad")
              po.strategy = PaddingStrategy::None;
            else
              throw ValueError("[text.encode_batch] padding must be 'longest', 'max_length' or False, got '" +
                               *padding + "'");
            if (po.strategy == PaddingStrategy::MaxLength && max_length) po.max_length = *max_length;
            if (pad_to_multiple_of) po.pad_to_multiple_of = *pad_to_multiple_of;
            if (padding_side) {
              if (*padding_side != "right" && *padding_side != "left")
                throw ValueError("[text.encode_batch] padding_side must be 'right' or 'left', got '" + *padding_side +
                                 "'");
              po.left = *padding_side == "left";
            }
            if (pad_id) po.pad_id = *pad_id;
            BatchEncoding be = without_gil([&] { return t.encode_batch(a, b, add_special, to, po, num_threads); });
            py::dict d;
            d["input_ids"] = tensor_or_none(be.input_ids);
            d["attention_mask"] = tensor_or_none(be.attention_mask);
            d["token_type_ids"] = tensor_or_none(be.token_type_ids);
            d["special_tokens_mask"] = tensor_or_none(be.special_tokens_mask);
            d["offsets"] = tensor_or_none(be.offsets);
            d["byte_offsets"] = tensor_or_none(be.byte_offsets);
            d["word_ids"] = tensor_or_none(be.word_ids);
            d["values"] = be.ids.values;
            d["row_splits"] = be.ids.row_splits;
            return d;
          },
          py::arg("texts"), py::arg("pairs") = py::none(), py::arg("add_special_tokens") = true,
          py::arg("truncation") = py::none(), py::arg("max_length") = py::none(), py::arg("padding") = py::none(),
          py::arg("pad_to_multiple_of") = py::none(), py::arg("padding_side") = py::none(),
          py::arg("pad_id") = py::none(), py::arg("truncation_side") = py::none(), py::arg("num_threads") = 0)
      .def(
          "decode",
          [](const Tokenizer& t, const std::vector<int64_t>& ids, bool skip) { return to_str(t.decode(ids, skip)); },
          py::arg("ids"), py::arg("skip_special_tokens") = true)
      .def(
          "token_to_id", [](const Tokenizer& t, const std::string& tok) { return t.token_to_id(tok); },
          py::arg("token"))
      .def(
          "id_to_token", [](const Tokenizer& t, int64_t id) { return to_str(t.id_to_token(id)); }, py::arg("id"))
      .def_property_readonly("vocab_size", &Tokenizer::vocab_size)
      .def("num_special_tokens_to_add", &Tokenizer::num_special_tokens_to_add, py::arg("pair") = false);

  // The loader's transform: UTF-8 bytes (uint8) -> int64 [2, max_length] (ids, attention mask).
  py::class_<Tokenize, data::Transform, std::shared_ptr<Tokenize>>(sub, "Tokenize")
      .def(py::init<Tokenizer, int64_t, bool>(), py::arg("tokenizer"), py::arg("max_length"),
           py::arg("add_special_tokens") = true);
}

}  // namespace tessel::python
