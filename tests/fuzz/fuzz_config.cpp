// libFuzzer target for ModelConfig::fromJsonText (built with -DSWARM_BUILD_FUZZERS=ON and clang).
// Every input must parse to a valid config that survives toJson/fromJson, or throw swarm::Error.
#include "core/error.h"
#include "core/model_config.h"

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const swarm::ModelConfig c = swarm::ModelConfig::fromJsonText(text, "fuzz.json");
        c.validate("fuzz.json");
        if (swarm::ModelConfig::fromJsonText(c.toJson().dump(), "again") != c ||
            c.totalParameters() <= 0 || c.activeParametersPerToken() <= 0) {
            std::fprintf(stderr, "fuzz_config: round trip or parameter count broken\n");
            std::abort();
        }
    } catch (const swarm::Error&) {
    }
    return 0;
}
