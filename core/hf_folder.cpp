#include "core/hf_folder.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/half.h"
#include "core/tokenizer.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

namespace {

bool isFile(const fs::path& p) {
    std::error_code ec;
    return fs::is_regular_file(p, ec);
}

std::vector<std::string> readShardIndex(const fs::path& indexPath, const fs::path& dir) {
    std::string text = readTextFile(indexPath.string(), size_t(64) << 20);
    json j = json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
        throw Error(indexPath.string() + ": not a safetensors index (expected an object with \"weight_map\")");
    std::vector<std::string> shards;
    std::set<std::string> seen;
    for (auto& [tensor, file] : j["weight_map"].items()) {
        if (!file.is_string()) throw Error(indexPath.string() + ": weight_map entry '" + tensor + "' is not a file name");
        std::string name = file.get<std::string>();
        if (name.find('/') != std::string::npos || name == ".." || name.empty())
            throw Error(indexPath.string() + ": weight_map entry '" + tensor + "' names a file outside the folder: " + name);
        if (seen.insert(name).second) {
            fs::path shard = dir / name;
            if (!isFile(shard)) throw Error(indexPath.string() + ": shard '" + name + "' (for tensor '" + tensor + "') is missing");
            shards.push_back(shard.string());
        }
    }
    if (shards.empty()) throw Error(indexPath.string() + ": weight_map lists no tensors");
    return shards;
}

} // namespace

HfModelFiles locateHfModel(const std::string& dirIn) {
    fs::path dir(dirIn);
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) throw Error(dirIn + ": not a model folder (no such directory)");
    HfModelFiles f;
    f.dir = dir.string();
    fs::path config = dir / "config.json";
    if (!isFile(config)) throw Error(dirIn + ": config.json is missing");
    f.configPath = config.string();
    fs::path single = dir / "model.safetensors";
    fs::path index = dir / "model.safetensors.index.json";
    if (isFile(single)) {
        f.weightFiles.push_back(single.string());
    } else if (isFile(index)) {
        f.weightFiles = readShardIndex(index, dir);
    } else {
        throw Error(dirIn + ": no weights (model.safetensors or model.safetensors.index.json)");
    }
    if (isFile(dir / "tokenizer.json")) f.tokenizerJsonPath = (dir / "tokenizer.json").string();
    if (isFile(dir / "vocab.json")) f.vocabJsonPath = (dir / "vocab.json").string();
    if (isFile(dir / "merges.txt")) f.mergesTxtPath = (dir / "merges.txt").string();
    return f;
}

std::vector<ExpectedTensor> expectedTensors(const ModelConfig& c) {
    std::vector<ExpectedTensor> t;
    const int64_t E = c.n_embd;
    t.push_back({kEmbeddingName, {c.vocab_size, E}});
    auto expert = [&](const std::string& prefix, int64_t ff) {
        t.push_back({prefix + ".w1.weight", {ff, E}});
        t.push_back({prefix + ".w2.weight", {ff, E}});
        t.push_back({prefix + ".c_proj.weight", {E, ff}});
    };
    for (int64_t i = 0; i < c.n_layer; ++i) {
        const std::string h = "transformer.h." + std::to_string(i);
        t.push_back({h + ".ln_1.weight", {E}});
        t.push_back({h + ".attn.c_attn.weight", {3 * E, E}});
        t.push_back({h + ".attn.c_proj.weight", {E, E}});
        t.push_back({h + ".ln_2.weight", {E}});
        t.push_back({h + ".mlp.router.weight", {c.num_experts, E}});
        expert(h + ".mlp.shared_expert", c.shared_expert_intermediate_size);
        for (int64_t e = 0; e < c.num_experts; ++e)
            expert(h + ".mlp.experts." + std::to_string(e), c.expert_intermediate_size);
    }
    t.push_back({"transformer.ln_f.weight", {E}});
    return t;
}

HfWeights HfWeights::open(const HfModelFiles& files, const ModelConfig& config) {
    HfWeights w;
    std::map<std::string, Entry> stored;
    for (const std::string& path : files.weightFiles) {
        w.files_.push_back(std::make_unique<SafetensorsReader>(path));
        const SafetensorsReader* r = w.files_.back().get();
        for (const TensorInfo& info : r->tensors()) {
            if (stored.count(info.name))
                throw Error(path + ": tensor '" + info.name + "' is stored twice (also in " + stored[info.name].file->path() + ")");
            stored[info.name] = Entry{r, &info};
        }
    }

    // The tied head: either name may carry it.
    auto head = stored.find(kLmHeadName);
    auto embed = stored.find(kEmbeddingName);
    if (head != stored.end() && embed != stored.end()) {
        const TensorInfo& a = *head->second.info;
        const TensorInfo& b = *embed->second.info;
        bool same = a.dtype == b.dtype && a.shape == b.shape &&
                    std::memcmp(head->second.data(), embed->second.data(), a.nbytes()) == 0;
        if (!same)
            w.warnings_.push_back(std::string(kLmHeadName) + " and " + kEmbeddingName +
                                  " differ; the model ties them, so " + kEmbeddingName + " is used for both");
        stored.erase(head);
    } else if (head != stored.end()) {
        stored[kEmbeddingName] = head->second;
        stored.erase(kLmHeadName);
    }

    std::vector<std::string> missing, mismatched;
    for (const ExpectedTensor& e : expectedTensors(config)) {
        auto it = stored.find(e.name);
        if (it == stored.end()) {
            missing.push_back(e.name == kEmbeddingName ? std::string(kEmbeddingName) + " (or " + kLmHeadName + ")" : e.name);
            continue;
        }
        if (it->second.info->shape != e.shape)
            mismatched.push_back(e.name + " is " + shapeToString(it->second.info->shape) + ", config needs " +
                                 shapeToString(e.shape));
        w.entries_.emplace_back(e.name, it->second);
        stored.erase(it);
    }
    std::vector<std::string> unexpected;
    for (auto& [name, entry] : stored) unexpected.push_back(name);

    if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
        std::string msg = files.dir + ": weights do not match config.json";
        auto list = [&](const char* what, const std::vector<std::string>& names) {
            if (names.empty()) return;
            msg += std::string("; ") + std::to_string(names.size()) + " " + what + ": ";
            for (size_t i = 0; i < names.size(); ++i) {
                if (i == 12) { msg += ", ... (" + std::to_string(names.size() - 12) + " more)"; break; }
                msg += (i ? ", " : "") + names[i];
            }
        };
        list("missing", missing);
        list("with wrong shape", mismatched);
        list("unexpected", unexpected);
        throw Error(msg);
    }
    return w;
}

HfWeights::Entry HfWeights::get(const std::string& name) const {
    for (const auto& [n, e] : entries_)
        if (n == name) return e;
    throw Error("no tensor named '" + name + "' in the model");
}

uint64_t HfWeights::totalBytes() const {
    uint64_t total = 0;
    for (const auto& [n, e] : entries_) total += e.info->nbytes();
    return total;
}

std::vector<DType> HfWeights::storedDTypes() const {
    std::vector<DType> types;
    for (const auto& [n, e] : entries_)
        if (std::find(types.begin(), types.end(), e.info->dtype) == types.end()) types.push_back(e.info->dtype);
    return types;
}

void convertToFloat(DType type, const uint8_t* src, float* dst, size_t count) {
    switch (type) {
    case DType::F32:
        std::memcpy(dst, src, count * 4);
        return;
    case DType::BF16:
        for (size_t i = 0; i < count; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = bf16ToFloat(h);
        }
        return;
    case DType::F16:
        for (size_t i = 0; i < count; ++i) {
            uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            dst[i] = f16ToFloat(h);
        }
        return;
    }
}

std::vector<float> HfWeights::readFloat(const std::string& name) const {
    Entry e = get(name);
    std::vector<float> out(size_t(e.info->numel()));
    convertToFloat(e.info->dtype, e.data(), out.data(), out.size());
    return out;
}

Gpt2Tokenizer loadTokenizerFor(const HfModelFiles& files) {
    if (!files.tokenizerJsonPath.empty()) return Gpt2Tokenizer::fromTokenizerJson(files.tokenizerJsonPath);
    if (!files.vocabJsonPath.empty() && !files.mergesTxtPath.empty())
        return Gpt2Tokenizer::fromVocabAndMerges(files.vocabJsonPath, files.mergesTxtPath);
    return Gpt2Tokenizer::bundled();
}

void saveHfModel(const std::string& dirIn, const ModelConfig& config, const std::vector<TensorData>& tensors,
                 const Gpt2Tokenizer* tokenizer) {
    fs::path dir(dirIn);
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) throw Error(dirIn + ": cannot create the model folder: " + ec.message());

    // Refuse to write a folder that would not load back.
    std::map<std::string, const TensorData*> byName;
    for (const TensorData& t : tensors) byName[t.name] = &t;
    std::vector<TensorView> views;
    for (const ExpectedTensor& e : expectedTensors(config)) {
        auto it = byName.find(e.name);
        if (it == byName.end()) throw Error(dirIn + ": cannot save: tensor '" + e.name + "' is missing");
        const TensorData& t = *it->second;
        if (t.shape != e.shape)
            throw Error(dirIn + ": cannot save: tensor '" + e.name + "' is " + shapeToString(t.shape) +
                        ", config needs " + shapeToString(e.shape));
        std::string storedName = e.name == kEmbeddingName ? kLmHeadName : e.name;
        views.push_back(TensorView{storedName, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
    }
    if (byName.size() != views.size()) throw Error(dirIn + ": cannot save: tensors not in the config were given");

    ModelConfig stored = config;
    stored.dtype = tensors.empty() ? config.dtype : tensors.front().dtype;
    writeSafetensors((dir / "model.safetensors").string(), views, {{"format", "pt"}});
    stored.save((dir / "config.json").string());
    json gen = {{"bos_token_id", Gpt2Tokenizer::kEndOfText},
                {"eos_token_id", Gpt2Tokenizer::kEndOfText},
                {"pad_token_id", Gpt2Tokenizer::kEndOfText}};
    writeFileAtomically((dir / "generation_config.json").string(), gen.dump(2) + "\n");
    if (tokenizer) writeFileAtomically((dir / "tokenizer.json").string(), tokenizer->toTokenizerJson());
    // A stale index next to a fresh single file would be ambiguous for other loaders.
    fs::remove(dir / "model.safetensors.index.json", ec);
}

} // namespace swarm
