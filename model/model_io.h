#pragma once
// Loading and saving the LibTorch Eve model from and to Hugging Face model folders.
#include "model/eve_model.h"
#include "core/hf_folder.h"

#include <string>
#include <vector>

namespace swarm {

class Gpt2Tokenizer;

torch::ScalarType toTorchDType(DType t);
DType fromTorchDType(torch::ScalarType t);   // throws swarm::Error for types files cannot hold

struct LoadedModel {
    ModelConfig config;
    EveModel model{nullptr};
    HfModelFiles files;
    std::vector<DType> storedDTypes;
    uint64_t storedBytes = 0;
    std::vector<std::string> warnings;
};

// Loads a folder onto `device` with parameters of `dtype` (F16/BF16 files are converted).
// Throws swarm::Error naming the folder and every missing, unexpected or mismatched tensor.
LoadedModel loadEveModel(const std::string& dir, const torch::Device& device = torch::kCPU,
                         torch::ScalarType dtype = torch::kFloat32);

// The model's weights as plain bytes in `storage` type, canonical names.
std::vector<TensorData> modelTensors(const EveModel& model, DType storage);

// Saves config.json, model.safetensors (with {"format": "pt"}), generation_config.json and,
// with a tokenizer, tokenizer.json; each file atomically.
void saveEveModel(const std::string& dir, const EveModel& model, DType storage, const Gpt2Tokenizer* tokenizer);

} // namespace swarm
