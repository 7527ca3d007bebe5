#pragma once
// Storage element types of model files. Only what Eve checkpoints use is supported.
#include <cstddef>
#include <optional>
#include <string>

namespace swarm {

enum class DType { F32, F16, BF16 };

size_t dtypeSize(DType t);
const char* dtypeName(DType t);                            // safetensors spelling: "F32", "F16", "BF16"
std::optional<DType> parseSafetensorsDType(const std::string& s);
// config.json spelling ("float32", "bfloat16", "float16"); also accepts the safetensors names.
std::optional<DType> parseConfigDType(const std::string& s);
const char* configDTypeName(DType t);

} // namespace swarm
