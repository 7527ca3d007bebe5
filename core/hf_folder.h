#pragma once
// Hugging Face model folders: config.json + model.safetensors (or shards listed in
// model.safetensors.index.json) + tokenizer.json or vocab.json/merges.txt.
// This layer knows file layout and tensor inventory only; the torch and engine loaders sit on it.
#include "core/model_config.h"
#include "core/safetensors.h"

#include <memory>
#include <string>
#include <vector>

namespace swarm {

struct HfModelFiles {
    std::string dir;
    std::string configPath;
    std::vector<std::string> weightFiles;   // one file, or the shards in index order
    std::string tokenizerJsonPath;          // empty when absent
    std::string vocabJsonPath;              // empty when absent
    std::string mergesTxtPath;              // empty when absent
    bool hasTokenizer() const { return !tokenizerJsonPath.empty() || (!vocabJsonPath.empty() && !mergesTxtPath.empty()); }
};

// Throws swarm::Error naming the folder and what is missing.
HfModelFiles locateHfModel(const std::string& dir);

struct ExpectedTensor {
    std::string name;
    std::vector<int64_t> shape;
};

// The canonical tensor list for a config, in model order. The tied head appears once, as
// "transformer.wte.weight"; "lm_head.weight" is accepted in its place (see HfWeights).
std::vector<ExpectedTensor> expectedTensors(const ModelConfig& config);

constexpr const char* kEmbeddingName = "transformer.wte.weight";
constexpr const char* kLmHeadName = "lm_head.weight";

// All weight files of a folder opened (memory-mapped) and checked against the config.
class HfWeights {
public:
    // Throws swarm::Error listing every missing, unexpected and mismatched tensor by name.
    static HfWeights open(const HfModelFiles& files, const ModelConfig& config);

    struct Entry {
        const SafetensorsReader* file = nullptr;
        const TensorInfo* info = nullptr;
        const uint8_t* data() const { return file->data(*info); }
    };
    // Canonical name -> where it is stored ("transformer.wte.weight" resolves to lm_head.weight
    // when only the head is stored).
    Entry get(const std::string& canonicalName) const;
    const std::vector<std::string>& warnings() const { return warnings_; }
    uint64_t totalBytes() const;
    std::vector<DType> storedDTypes() const;   // distinct, in order of first appearance

    // Reads one tensor converted to float32 (F16/BF16 widened exactly).
    std::vector<float> readFloat(const std::string& canonicalName) const;

private:
    std::vector<std::unique_ptr<SafetensorsReader>> files_;
    std::vector<std::pair<std::string, Entry>> entries_;
    std::vector<std::string> warnings_;
};

// Converts `count` elements of `type` at `src` to float32.
void convertToFloat(DType type, const uint8_t* src, float* dst, size_t count);

// Writes config.json, model.safetensors, tokenizer.json and generation_config.json into dir
// (created if needed), each file atomically. `tensors` use canonical names; the tied embedding is
// stored as "lm_head.weight" as the published files do.
struct TensorData {
    std::string name;
    DType dtype = DType::F32;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};
class Gpt2Tokenizer;
// The folder's tokenizer (tokenizer.json, else vocab.json + merges.txt), else the bundled GPT-2 one.
Gpt2Tokenizer loadTokenizerFor(const HfModelFiles& files);
void saveHfModel(const std::string& dir, const ModelConfig& config, const std::vector<TensorData>& tensors,
                 const Gpt2Tokenizer* tokenizer);

} // namespace swarm
