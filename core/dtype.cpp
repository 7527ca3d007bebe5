#include "core/dtype.h"

namespace swarm {

size_t dtypeSize(DType t) { return t == DType::F32 ? 4 : 2; }

const char* dtypeName(DType t) {
    switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    }
    return "?";
}

std::optional<DType> parseSafetensorsDType(const std::string& s) {
    if (s == "F32") return DType::F32;
    if (s == "F16") return DType::F16;
    if (s == "BF16") return DType::BF16;
    return std::nullopt;
}

std::optional<DType> parseConfigDType(const std::string& s) {
    if (s == "float32" || s == "fp32" || s == "f32") return DType::F32;
    if (s == "float16" || s == "fp16" || s == "f16" || s == "half") return DType::F16;
    if (s == "bfloat16" || s == "bf16") return DType::BF16;
    return parseSafetensorsDType(s);
}

const char* configDTypeName(DType t) {
    switch (t) {
    case DType::F32: return "float32";
    case DType::F16: return "float16";
    case DType::BF16: return "bfloat16";
    }
    return "?";
}

} // namespace swarm
