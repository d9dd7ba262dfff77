// ddpm::Precision by name (backend.h), for the CPU and CUDA backends alike.
#include "ddpm/backend.h"

namespace ddpm {

Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::kFp32;
  if (name == "tf32") return Precision::kTf32;
  if (name == "bf16") return Precision::kBf16;
  throw Error("precision: '" + name + "' is not one of fp32, tf32, bf16");
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32: return "fp32";
    case Precision::kTf32: return "tf32";
    case Precision::kBf16: return "bf16";
  }
  return "?";
}

}  // namespace ddpm
