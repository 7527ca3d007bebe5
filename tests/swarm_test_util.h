#pragma once
// Helpers shared by the swarm tests (torch-free): a folder of small random models (a router and
// specialists) and a swarm definition over them.
#include "test_engine_util.h"

#include "serve/swarm.h"

#include <fstream>
#include <string>
#include <vector>

namespace swarmtest {

inline swarm::ModelConfig config() {
    swarm::ModelConfig c = enginetest::smallConfig();
    c.block_size = 128;
    return c;
}

// Writes <dir>/<name> as a random model (seeded) with its tokenizer; returns the path.
inline std::string writeModel(const std::string& dir, const std::string& name, uint64_t seed) {
    const std::string path = dir + "/" + name;
    enginetest::saveModel(path, config(), enginetest::randomWeights(config(), seed), swarm::DType::F32, true);
    return path;
}

// Router "router/", specialists "sql/", "intent/", "pii/" and fallback "general/" under dir, and
// the definition written to dir/swarm.json with relative paths. Returns the JSON.
inline nlohmann::json writeSwarm(const std::string& dir, int maxTokens = 8) {
    writeModel(dir, "router", 11);
    writeModel(dir, "sql", 21);
    writeModel(dir, "intent", 22);
    writeModel(dir, "pii", 23);
    writeModel(dir, "general", 24);
    auto spec = [&](const std::string& model) {
        return nlohmann::json{{"model", model}, {"prompt", "User: {input}\nAssistant:"}, {"max_tokens", maxTokens}};
    };
    nlohmann::json j;
    j["name"] = "test-swarm";
    j["router"] = {{"model", "router"}, {"prompt", "Route: {input}\nLabel:"}};
    j["specialists"] = {{"sql", spec("sql")}, {"intent", spec("intent")}, {"pii", spec("pii")}};
    j["fallback"] = spec("general");
    j["threads"] = 1;
    std::ofstream(dir + "/swarm.json") << j.dump(2);
    return j;
}

} // namespace swarmtest
