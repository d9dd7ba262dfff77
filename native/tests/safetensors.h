// A minimal safetensors reader for the golden-file tests: an 8-byte little-
// endian header length, a JSON header mapping names to {dtype, shape,
// data_offsets} (plus "__metadata__" of strings), then the raw data.
// Supports F32, I32 and I64 tensors; throws std::runtime_error on anything else.
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace ddpm {
namespace testing {

struct StTensor {
  std::string dtype;
  std::vector<int64_t> shape;
  std::vector<float> f32;    // F32 tensors
  std::vector<int64_t> ints;  // I32 / I64 tensors
  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

class SafeTensors {
 public:
  explicit SafeTensors(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open " + path);
    uint64_t header_len = 0;
    in.read(reinterpret_cast<char*>(&header_len), 8);
    if (!in || header_len > (1u << 26)) throw std::runtime_error(path + ": bad safetensors header length");
    std::string header(header_len, '\0');
    in.read(&header[0], static_cast<std::streamsize>(header_len));
    std::vector<char> data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    pos_ = 0;
    text_ = &header;
    parse_header(data, path);
  }

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const StTensor& at(const std::string& name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) throw std::runtime_error("golden file lacks tensor " + name);
    return it->second;
  }
  const std::map<std::string, std::string>& metadata() const { return meta_; }
  int meta_int(const std::string& key) const {
    auto it = meta_.find(key);
    if (it == meta_.end()) throw std::runtime_error("golden file lacks metadata " + key);
    return std::stoi(it->second);
  }

 private:
  std::map<std::string, StTensor> tensors_;
  std::map<std::string, std::string> meta_;
  const std::string* text_ = nullptr;
  size_t pos_ = 0;

  void ws() {
    while (pos_ < text_->size() && std::isspace(static_cast<unsigned char>((*text_)[pos_]))) ++pos_;
  }
  void expect(char c) {
    ws();
    if (pos_ >= text_->size() || (*text_)[pos_] != c)
      throw std::runtime_error(std::string("safetensors header: expected '") + c + "'");
    ++pos_;
  }
  bool peek(char c) {
    ws();
    return pos_ < text_->size() && (*text_)[pos_] == c;
  }
  std::string str() {
    expect('"');
    std::string s;
    while (pos_ < text_->size() && (*text_)[pos_] != '"') {
      if ((*text_)[pos_] == '\\') ++pos_;
      s += (*text_)[pos_++];
    }
    ++pos_;
    return s;
  }
  int64_t integer() {
    ws();
    size_t end = pos_;
    while (end < text_->size() && (std::isdigit(static_cast<unsigned char>((*text_)[end])) || (*text_)[end] == '-')) ++end;
    int64_t v = std::stoll(text_->substr(pos_, end - pos_));
    pos_ = end;
    return v;
  }
  std::vector<int64_t> int_list() {
    std::vector<int64_t> v;
    expect('[');
    if (peek(']')) {
      ++pos_;
      return v;
    }
    for (;;) {
      v.push_back(integer());
      if (peek(',')) {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  void parse_header(const std::vector<char>& data, const std::string& path) {
    expect('{');
    while (!peek('}')) {
      std::string name = str();
      expect(':');
      expect('{');
      if (name == "__metadata__") {
        while (!peek('}')) {
          std::string k = str();
          expect(':');
          meta_[k] = str();
          if (peek(',')) ++pos_;
        }
        expect('}');
      } else {
        StTensor t;
        int64_t begin = 0, end = 0;
        while (!peek('}')) {
          std::string k = str();
          expect(':');
          if (k == "dtype") t.dtype = str();
          else if (k == "shape") t.shape = int_list();
          else if (k == "data_offsets") {
            auto o = int_list();
            begin = o.at(0);
            end = o.at(1);
          } else throw std::runtime_error(path + ": unexpected key " + k);
          if (peek(',')) ++pos_;
        }
        expect('}');
        if (end > static_cast<int64_t>(data.size()) || begin > end) throw std::runtime_error(path + ": " + name + " out of range");
        const char* p = data.data() + begin;
        const int64_t n = t.numel();
        if (t.dtype == "F32") {
          if (end - begin != n * 4) throw std::runtime_error(path + ": " + name + " size mismatch");
          t.f32.resize(n);
          std::memcpy(t.f32.data(), p, n * 4);
        } else if (t.dtype == "I32" || t.dtype == "I64") {
          const int w = t.dtype == "I32" ? 4 : 8;
          if (end - begin != n * w) throw std::runtime_error(path + ": " + name + " size mismatch");
          t.ints.resize(n);
          for (int64_t i = 0; i < n; ++i) {
            if (w == 4) {
              int32_t v;
              std::memcpy(&v, p + 4 * i, 4);
              t.ints[i] = v;
            } else {
              std::memcpy(&t.ints[i], p + 8 * i, 8);
            }
          }
        } else {
          throw std::runtime_error(path + ": " + name + " has unsupported dtype " + t.dtype);
        }
        tensors_[name] = std::move(t);
      }
      if (peek(',')) ++pos_;
    }
    expect('}');
  }
};

}  // namespace testing
}  // namespace ddpm
