#include "core/model_config.h"

#include "core/atomic_file.h"
#include "core/error.h"

#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace swarm {

using nlohmann::json;

std::vector<std::string> ModelConfig::presetNames() { return {"eve-272m", "tiny"}; }

ModelConfig ModelConfig::preset(const std::string& name) {
    ModelConfig c;   // the defaults are the published 272M sizes
    if (name == "eve-272m") return c;
    if (name == "tiny") {
        // Same vocabulary and structure, small enough to train in seconds in tests and the demo:
        // 4 layers, hidden 128, 8 experts top-2: 10,245,248 parameters, most of them the embedding.
        c.n_layer = 4;
        c.n_embd = 128;
        c.n_head = 4;
        c.head_dim = 32;
        c.block_size = 1024;
        c.expert_intermediate_size = 256;
        c.shared_expert_intermediate_size = 256;
        return c;
    }
    std::string known;
    for (const auto& n : presetNames()) known += (known.empty() ? "" : ", ") + n;
    throw Error("unknown model preset '" + name + "' (known: " + known + ")");
}

namespace {

// A value for an error message. Containers are only named: dump() recurses once per nesting
// level, and a hostile config.json of a few hundred thousand '[' would overflow the stack.
std::string describe(const json& v) {
    if (v.is_array()) return "an array";
    if (v.is_object()) return "an object";
    std::string s = v.dump();
    return s.size() > 80 ? s.substr(0, 80) + "..." : s;
}

int64_t requiredInt(const json& j, const char* field, const std::string& source) {
    auto it = j.find(field);
    if (it == j.end()) throw Error(source + ": required field '" + field + "' is missing");
    if (it->is_number_unsigned()) {
        // get<int64_t>() would wrap values above INT64_MAX to negative numbers.
        if (it->get<uint64_t>() > uint64_t(INT64_MAX))
            throw Error(source + ": field '" + field + "' is out of range, got " + describe(*it));
        return it->get<int64_t>();
    }
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_number_float()) {
        double d = it->get<double>();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return int64_t(d);
    }
    throw Error(source + ": field '" + field + "' must be an integer, got " + describe(*it));
}

int64_t optionalInt(const json& j, const char* field, int64_t fallback, const std::string& source) {
    return j.contains(field) && !j.at(field).is_null() ? requiredInt(j, field, source) : fallback;
}

double optionalNumber(const json& j, const char* field, double fallback, const std::string& source) {
    auto it = j.find(field);
    if (it == j.end() || it->is_null()) return fallback;
    if (!it->is_number()) throw Error(source + ": field '" + field + "' must be a number, got " + describe(*it));
    return it->get<double>();
}

} // namespace

ModelConfig ModelConfig::fromJson(const json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + ": config must be a JSON object");
    ModelConfig c;
    c.vocab_size = requiredInt(j, "vocab_size", source);
    c.n_layer = requiredInt(j, "n_layer", source);
    c.n_embd = requiredInt(j, "n_embd", source);
    c.n_head = requiredInt(j, "n_head", source);
    // head_dim is implied by n_embd / n_head when absent; present, it must agree (validate()).
    c.head_dim = optionalInt(j, "head_dim", c.n_head > 0 ? c.n_embd / c.n_head : 0, source);
    c.block_size = requiredInt(j, "block_size", source);
    c.num_experts = requiredInt(j, "num_experts", source);
    c.top_k = requiredInt(j, "top_k", source);
    c.expert_intermediate_size = requiredInt(j, "expert_intermediate_size", source);
    c.shared_expert_intermediate_size = requiredInt(j, "shared_expert_intermediate_size", source);
    c.rope_theta = optionalNumber(j, "rope_theta", 10000.0, source);
    c.router_aux_loss_coef = optionalNumber(j, "router_aux_loss_coef", 0.01, source);
    for (const char* key : {"dtype", "torch_dtype"}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        if (!it->is_string()) throw Error(source + ": field '" + key + "' must be a string, got " + describe(*it));
        auto t = parseConfigDType(it->get<std::string>());
        if (!t) throw Error(source + ": field '" + key + "' names an unsupported dtype '" + it->get<std::string>() + "'");
        c.dtype = *t;
        break;
    }
    // Architecture tags: accept the known spellings; refuse a file that says it is something else.
    if (auto it = j.find("model_type"); it != j.end() && it->is_string()) {
        std::string mt = it->get<std::string>();
        if (mt != "eve_moe" && mt != "eve-moe" && mt != "eve")
            throw Error(source + ": model_type '" + mt + "' is not an Eve MoE model (expected eve_moe)");
    }
    c.validate(source);
    return c;
}

ModelConfig ModelConfig::fromJsonText(const std::string& text, const std::string& source) {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw Error(source + ": not valid JSON");
    return fromJson(j, source);
}

ModelConfig ModelConfig::load(const std::string& path) {
    return fromJsonText(readTextFile(path, size_t(1) << 20), path);
}

json ModelConfig::toJson() const {
    json j;
    j["architectures"] = json::array({"DeepSeekMoE"});
    j["model_type"] = "eve_moe";
    j["vocab_size"] = vocab_size;
    j["n_layer"] = n_layer;
    j["n_embd"] = n_embd;
    j["n_head"] = n_head;
    j["head_dim"] = head_dim;
    j["block_size"] = block_size;
    j["num_experts"] = num_experts;
    j["top_k"] = top_k;
    j["expert_intermediate_size"] = expert_intermediate_size;
    j["shared_expert_intermediate_size"] = shared_expert_intermediate_size;
    j["rope_theta"] = rope_theta;
    j["router_aux_loss_coef"] = router_aux_loss_coef;
    j["dtype"] = configDTypeName(dtype);
    j["tie_word_embeddings"] = true;
    return j;
}

void ModelConfig::save(const std::string& path) const {
    writeFileAtomically(path, toJson().dump(2) + "\n");
}

void ModelConfig::validate(const std::string& source) const {
    auto fail = [&](const std::string& field, const std::string& why) {
        throw Error(source + ": field '" + field + "' " + why);
    };
    auto positive = [&](const char* field, int64_t v, int64_t max) {
        if (v <= 0) fail(field, "must be positive, got " + std::to_string(v));
        if (v > max) fail(field, "is implausibly large (" + std::to_string(v) + " > " + std::to_string(max) + ")");
    };
    positive("vocab_size", vocab_size, 1 << 22);
    positive("n_layer", n_layer, 1024);
    positive("n_embd", n_embd, 1 << 16);
    positive("n_head", n_head, 1024);
    positive("head_dim", head_dim, 4096);
    positive("block_size", block_size, 1 << 20);
    positive("num_experts", num_experts, 1024);
    positive("top_k", top_k, 1024);
    positive("expert_intermediate_size", expert_intermediate_size, 1 << 18);
    positive("shared_expert_intermediate_size", shared_expert_intermediate_size, 1 << 18);
    if (n_head * head_dim != n_embd)
        fail("head_dim", "is inconsistent: n_head * head_dim = " + std::to_string(n_head) + " * " +
                             std::to_string(head_dim) + " != n_embd = " + std::to_string(n_embd));
    if (head_dim % 2 != 0) fail("head_dim", "must be even for rotary embeddings, got " + std::to_string(head_dim));
    if (top_k > num_experts)
        fail("top_k", "exceeds num_experts (" + std::to_string(top_k) + " > " + std::to_string(num_experts) + ")");
    if (vocab_size < 50257)
        fail("vocab_size", "must hold the GPT-2 vocabulary (50257 tokens), got " + std::to_string(vocab_size));
    if (!(rope_theta > 1.0) || !std::isfinite(rope_theta)) fail("rope_theta", "must be a finite number > 1");
    if (!(router_aux_loss_coef >= 0.0) || !std::isfinite(router_aux_loss_coef))
        fail("router_aux_loss_coef", "must be a finite number >= 0");
}

int64_t ModelConfig::parametersPerExpert() const { return 3 * expert_intermediate_size * n_embd; }

int64_t ModelConfig::parametersPerLayer() const {
    int64_t norms = 2 * n_embd;
    int64_t attention = 3 * n_embd * n_embd + n_embd * n_embd;
    int64_t router = num_experts * n_embd;
    int64_t shared = 3 * shared_expert_intermediate_size * n_embd;
    return norms + attention + router + shared + num_experts * parametersPerExpert();
}

int64_t ModelConfig::totalParameters() const {
    return vocab_size * n_embd + n_layer * parametersPerLayer() + n_embd;
}

int64_t ModelConfig::activeParametersPerToken() const {
    return totalParameters() - n_layer * (num_experts - top_k) * parametersPerExpert();
}

bool ModelConfig::operator==(const ModelConfig& o) const {
    return vocab_size == o.vocab_size && n_layer == o.n_layer && n_embd == o.n_embd && n_head == o.n_head &&
           head_dim == o.head_dim && block_size == o.block_size && num_experts == o.num_experts &&
           top_k == o.top_k && expert_intermediate_size == o.expert_intermediate_size &&
           shared_expert_intermediate_size == o.shared_expert_intermediate_size && rope_theta == o.rope_theta &&
           router_aux_loss_coef == o.router_aux_loss_coef && dtype == o.dtype;
}

} // namespace swarm
