#pragma once
// Small generic helpers shared by the tests (header-only, no Qt).
#include "core/error.h"
#include "core/model_config.h"

#include <fstream>
#include <functional>
#include <string>

namespace swarm::test {

// The message of the swarm::Error that fn throws; empty when it throws none.
inline std::string errorOf(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

// Writes `bytes` to `path` as they are (binary), replacing the file.
inline void writeFile(const std::string& path, const std::string& bytes) {
    std::ofstream f(path, std::ios::binary);
    f.write(bytes.data(), std::streamsize(bytes.size()));
}

// A small model with Eve's full structure for fast tests: 2 layers, 64 wide (4 heads of 16),
// 4 experts top-2, the GPT-2 vocabulary (validate() insists on it).
inline ModelConfig smallConfig(int64_t expertWidth = 64, int64_t sharedWidth = 64, int64_t blockSize = 64) {
    ModelConfig c = ModelConfig::preset("tiny");
    c.n_layer = 2;
    c.n_embd = 64;
    c.n_head = 4;
    c.head_dim = 16;
    c.num_experts = 4;
    c.top_k = 2;
    c.expert_intermediate_size = expertWidth;
    c.shared_expert_intermediate_size = sharedWidth;
    c.block_size = blockSize;
    return c;
}

} // namespace swarm::test
