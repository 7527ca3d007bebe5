#pragma once
// Eve-2 MoE hyper-parameters as published in config.json (see shared/docs/eve-architecture.md).
#include "core/dtype.h"

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace swarm {

struct ModelConfig {
    int64_t vocab_size = 50304;
    int64_t n_layer = 12;
    int64_t n_embd = 512;
    int64_t n_head = 8;
    int64_t head_dim = 64;
    int64_t block_size = 2048;
    int64_t num_experts = 8;
    int64_t top_k = 2;
    int64_t expert_intermediate_size = 1408;
    int64_t shared_expert_intermediate_size = 1408;
    double rope_theta = 10000.0;
    double router_aux_loss_coef = 0.01;
    DType dtype = DType::F32;            // the "dtype" / "torch_dtype" field: how weights are stored

    static std::vector<std::string> presetNames();    // "eve-272m", "tiny"
    static ModelConfig preset(const std::string& name); // throws swarm::Error for an unknown name

    // Parses any published variant; `source` names the file in error messages.
    static ModelConfig fromJson(const nlohmann::json& j, const std::string& source);
    static ModelConfig fromJsonText(const std::string& text, const std::string& source);
    static ModelConfig load(const std::string& configJsonPath);
    nlohmann::json toJson() const;       // the published layout ("architectures": ["DeepSeekMoE"], ...)
    void save(const std::string& configJsonPath) const;  // atomic

    // Throws swarm::Error naming the first inconsistent field (source prefixes the message).
    void validate(const std::string& source = "config") const;

    // Parameter counts with the LM head tied to the embedding.
    int64_t parametersPerLayer() const;
    int64_t parametersPerExpert() const;
    int64_t totalParameters() const;
    int64_t activeParametersPerToken() const;   // only top_k of num_experts routed experts count

    bool operator==(const ModelConfig& o) const;
    bool operator!=(const ModelConfig& o) const { return !(*this == o); }
};

} // namespace swarm
