#include "model/model_io.h"

#include "core/error.h"
#include "core/tokenizer.h"

#include <cstring>

namespace swarm {

torch::ScalarType toTorchDType(DType t) {
    switch (t) {
    case DType::F32: return torch::kFloat32;
    case DType::F16: return torch::kFloat16;
    case DType::BF16: return torch::kBFloat16;
    }
    return torch::kFloat32;
}

DType fromTorchDType(torch::ScalarType t) {
    if (t == torch::kFloat32) return DType::F32;
    if (t == torch::kFloat16) return DType::F16;
    if (t == torch::kBFloat16) return DType::BF16;
    throw Error(std::string("tensor type ") + c10::toString(t) + " cannot be stored (F32, F16 or BF16 only)");
}

LoadedModel loadEveModel(const std::string& dir, const torch::Device& device, torch::ScalarType dtype) {
    LoadedModel out;
    out.files = locateHfModel(dir);
    out.config = ModelConfig::load(out.files.configPath);
    HfWeights weights = HfWeights::open(out.files, out.config);
    out.warnings = weights.warnings();
    out.storedDTypes = weights.storedDTypes();
    out.storedBytes = weights.totalBytes();

    out.model = EveModel(out.config);
    torch::NoGradGuard noGrad;
    for (auto& [name, param] : out.model->namedWeights()) {
        HfWeights::Entry e = weights.get(name);
        // Copy through an aligned buffer: offsets in a safetensors file need not be aligned.
        torch::Tensor staged = torch::empty(e.info->shape, toTorchDType(e.info->dtype));
        std::memcpy(staged.data_ptr(), e.data(), e.info->nbytes());
        param.copy_(staged);
    }
    out.model->to(device, dtype);
    return out;
}

std::vector<TensorData> modelTensors(const EveModel& model, DType storage) {
    std::vector<TensorData> out;
    torch::NoGradGuard noGrad;
    for (auto& [name, param] : model->namedWeights()) {
        torch::Tensor t = param.detach().to(torch::kCPU).to(toTorchDType(storage)).contiguous();
        TensorData d;
        d.name = name;
        d.dtype = storage;
        d.shape = t.sizes().vec();
        d.bytes.resize(t.nbytes());
        std::memcpy(d.bytes.data(), t.data_ptr(), t.nbytes());
        out.push_back(std::move(d));
    }
    return out;
}

void saveEveModel(const std::string& dir, const EveModel& model, DType storage, const Gpt2Tokenizer* tokenizer) {
    ModelConfig config = model->config();
    config.dtype = storage;
    saveHfModel(dir, config, modelTensors(model, storage), tokenizer);
}

} // namespace swarm
