#include "core/gguf_format.h"

#include "core/error.h"
#include "core/half.h"

#include <cmath>
#include <string>

namespace swarm::gguf {

bool isValueType(uint32_t id) { return id <= uint32_t(ValueType::Float64); }

const char* valueTypeName(ValueType t) {
    switch (t) {
    case ValueType::UInt8: return "UINT8";
    case ValueType::Int8: return "INT8";
    case ValueType::UInt16: return "UINT16";
    case ValueType::Int16: return "INT16";
    case ValueType::UInt32: return "UINT32";
    case ValueType::Int32: return "INT32";
    case ValueType::Float32: return "FLOAT32";
    case ValueType::Bool: return "BOOL";
    case ValueType::String: return "STRING";
    case ValueType::Array: return "ARRAY";
    case ValueType::UInt64: return "UINT64";
    case ValueType::Int64: return "INT64";
    case ValueType::Float64: return "FLOAT64";
    }
    return "?";
}

uint64_t scalarBytes(ValueType t) {
    switch (t) {
    case ValueType::UInt8:
    case ValueType::Int8:
    case ValueType::Bool: return 1;
    case ValueType::UInt16:
    case ValueType::Int16: return 2;
    case ValueType::UInt32:
    case ValueType::Int32:
    case ValueType::Float32: return 4;
    case ValueType::UInt64:
    case ValueType::Int64:
    case ValueType::Float64: return 8;
    case ValueType::String:
    case ValueType::Array: return 0;
    }
    return 0;
}

namespace {

constexpr TensorTypeInfo kTensorTypes[] = {
    {TensorType::F32, "F32", 1, 4},
    {TensorType::F16, "F16", 1, 2},
    {TensorType::Q4_0, "Q4_0", kBlockElements, sizeof(BlockQ4_0)},
    {TensorType::Q8_0, "Q8_0", kBlockElements, sizeof(BlockQ8_0)},
    {TensorType::BF16, "BF16", 1, 2},
};

} // namespace

const TensorTypeInfo* findTensorType(uint32_t id) {
    for (const TensorTypeInfo& t : kTensorTypes)
        if (uint32_t(t.type) == id) return &t;
    return nullptr;
}

const char* tensorTypeName(TensorType t) {
    const TensorTypeInfo* info = findTensorType(uint32_t(t));
    return info ? info->name : "?";
}

uint64_t rowBytes(TensorType t, uint64_t rowLength) {
    const TensorTypeInfo* found = findTensorType(uint32_t(t));
    if (!found) throw Error("ggml tensor type " + std::to_string(uint32_t(t)) + " is not handled here");
    const TensorTypeInfo& info = *found;
    if (rowLength % info.blockElements != 0)
        throw Error("rows of " + std::to_string(rowLength) + " values cannot be stored as " + info.name +
                    " (a multiple of " + std::to_string(info.blockElements) + " is needed)");
    return rowLength / info.blockElements * info.blockBytes;
}

uint64_t tensorBytes(TensorType t, uint64_t rowLength, uint64_t nelements) {
    const uint64_t perRow = rowBytes(t, rowLength);
    return rowLength == 0 ? 0 : nelements / rowLength * perRow;
}

uint32_t fileTypeOf(TensorType t) {
    switch (t) {
    case TensorType::F32: return 0;
    case TensorType::F16: return 1;
    case TensorType::Q4_0: return 2;
    case TensorType::Q8_0: return 7;
    case TensorType::BF16: return 32;
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Codecs

void quantizeRowQ8_0(const float* x, BlockQ8_0* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        float amax = 0.0f;
        for (int i = 0; i < kBlockElements; ++i) amax = std::fmax(amax, std::fabs(xb[i]));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        for (int i = 0; i < kBlockElements; ++i) {
            const float q = std::round(xb[i] * id);
            y[b].qs[i] = int8_t(std::fmax(-127.0f, std::fmin(127.0f, q)));
        }
    }
}

void dequantizeRowQ8_0(const BlockQ8_0* x, float* y, int64_t n) {
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        for (int i = 0; i < kBlockElements; ++i) y[b * kBlockElements + i] = d * float(x[b].qs[i]);
    }
}

void quantizeRowQ4_0(const float* x, BlockQ4_0* y, int64_t n) {
    constexpr int kHalf = kBlockElements / 2;
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float* xb = x + b * kBlockElements;
        float amax = 0.0f, m = 0.0f;
        for (int i = 0; i < kBlockElements; ++i)
            if (std::fabs(xb[i]) > amax) {
                amax = std::fabs(xb[i]);
                m = xb[i];
            }
        const float d = m / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = floatToF16(d);
        auto nibble = [id](float v) {
            const float f = std::floor(v * id + 8.5f);
            return uint8_t(f < 0.0f ? 0 : (f > 15.0f ? 15 : int(f)));
        };
        for (int i = 0; i < kHalf; ++i) y[b].qs[i] = uint8_t(nibble(xb[i]) | (nibble(xb[i + kHalf]) << 4));
    }
}

void dequantizeRowQ4_0(const BlockQ4_0* x, float* y, int64_t n) {
    constexpr int kHalf = kBlockElements / 2;
    for (int64_t b = 0; b < n / kBlockElements; ++b) {
        const float d = f16ToFloat(x[b].d);
        for (int i = 0; i < kHalf; ++i) {
            y[b * kBlockElements + i] = d * float(int(x[b].qs[i] & 0x0f) - 8);
            y[b * kBlockElements + i + kHalf] = d * float(int(x[b].qs[i] >> 4) - 8);
        }
    }
}

} // namespace swarm::gguf
