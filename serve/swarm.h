#pragma once
// The swarm: a router specialist that classifies each request, and a table label -> specialist
// that answers it. Torch-free, on the CPU engine.
//
// Definition (JSON; model paths relative to the file's folder, or Hugging Face repo ids org/name[@rev]):
//   {
//     "name": "support",
//     "router": {"model": "router/", "prompt": "User: {input}\nAssistant:",
//                "labels": ["chitchat"],          // optional extra labels routed to the fallback
//                "label_prefix": " ", "score_eos": true, "min_confidence": 0.0},
//     "specialists": {
//       "sql": {"model": "sql/", "prompt": "User: {input}\nAssistant:", "max_tokens": 128,
//               "temperature": 0, "top_k": 0, "top_p": 1, "repetition_penalty": 1, "seed": 0,
//               "stop": [], "dtype": "q8_0"}
//     },
//     "fallback": {"model": "general/", ...},       // for router labels without a specialist and
//                                                   // routes below min_confidence
//     "memory_budget_mb": 1024,                    // loaded specialists (0: unlimited)
//     "threads": 0
//   }
//
// Routing is constrained: each label's tokens (label_prefix + label, then <|endoftext|> when
// score_eos) are scored as a continuation of the router prompt (sum of log-probabilities), and the
// most likely label wins, so the router can never answer outside the set. Confidence is the
// softmax of the label scores.
#include "engine/batch_decoder.h"
#include "engine/engine.h"

#include "datasets/prompt_template.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace swarm {

// The prompt a specialist was trained on: the default chat format's prompt part around {input}.
inline std::string defaultSwarmPrompt() { return ChatFormat().promptText("{input}"); }

struct SpecialistDef {
    std::string label;                      // "fallback" for the fallback
    std::string model;                      // resolved path (HF folder or .gguf)
    std::string prompt = defaultSwarmPrompt();
    engine::SamplingOptions sampling;       // maxTokens: the default and the cap per request
    std::string dtype;                      // "" = stored type
};

struct RouterDef {
    std::string model;
    std::string prompt = defaultSwarmPrompt();
    std::vector<std::string> extraLabels;   // labels without a specialist (-> fallback)
    std::string labelPrefix = " ";
    bool scoreEos = true;
    double minConfidence = 0.0;
    std::string dtype;
};

struct SwarmDefinition {
    std::string name = "swarm";
    RouterDef router;
    std::vector<SpecialistDef> specialists; // sorted by label (JSON object order)
    std::optional<SpecialistDef> fallback;
    uint64_t memoryBudgetBytes = 0;         // 0: unlimited
    int threads = 0;

    // Throws swarm::Error "<where>: field 'specialists.sql.max_tokens': ..." naming the field.
    // baseDir: relative model paths are resolved against it ("" leaves them as they are).
    static SwarmDefinition fromJson(const nlohmann::json& j, const std::string& baseDir = "",
                                    const std::string& where = "swarm definition");
    static SwarmDefinition load(const std::string& path);   // reads and parses the file
    nlohmann::json toJson() const;

    std::vector<std::string> routeLabels() const;            // specialists, then extra labels
    const SpecialistDef* specialist(const std::string& label) const;   // nullptr when none
};

struct RouteResult {
    std::string label;                      // always one of routeLabels()
    double confidence = 0;                  // softmax probability of label
    std::vector<std::pair<std::string, double>> probabilities;   // every label, in routeLabels() order
    std::vector<double> scores;             // sum of log-probabilities per label
    double ms = 0;
};

struct DispatchRequest {
    std::string input;                      // rendered into the prompt template as {input}
    std::string label;                      // "" routes; otherwise a specialist label or "fallback"
    int maxTokens = 0;                      // 0: the specialist's; always capped by it
    std::optional<float> temperature;
    std::vector<std::string> stop;          // added to the specialist's
    // Called once the router has chosen (routed requests only), on the calling thread, before the
    // specialist answers: a playground shows the route while the answer streams.
    std::function<void(const RouteResult&)> onRouted;
    // Streaming (optional). Runs on the swarm's decoding thread, not the caller's: keep it quick
    // and thread-safe (hand the piece over, do not write to a slow socket from it).
    engine::TokenCallback onToken;
};

struct DispatchResult {
    bool routed = false;
    RouteResult route;                      // when routed
    std::string specialist;                 // the label that answered ("fallback" for the fallback)
    std::string answer;
    engine::FinishReason finish = engine::FinishReason::MaxTokens;
    int promptTokens = 0;
    int completionTokens = 0;
    double routerMs = 0;
    double specialistMs = 0;
};

class Swarm {
public:
    explicit Swarm(SwarmDefinition def);    // loads the router now; specialists lazily
    const SwarmDefinition& definition() const { return def_; }

    RouteResult route(const std::string& input) const;
    // Thread-safe: concurrent dispatches to the same specialist decode together in one batch.
    DispatchResult dispatch(const DispatchRequest& request);
    engine::BatchDecoder::Stats decoderStats() const { return decoder_.stats(); }

    // The loaded specialist for a label ("fallback" for the fallback), loading it (and unloading
    // the least recently used others beyond the memory budget) when needed. Throws for unknown labels.
    std::shared_ptr<const engine::Model> specialistModel(const std::string& label);

    // Loads the specialists `previous` has in memory that this swarm has too, least recently used
    // first so that the LRU order carries over (within this swarm's budget): a swarm reloaded on
    // SIGHUP answers at once. Returns the labels loaded.
    std::vector<std::string> warmFrom(const Swarm& previous);

    std::vector<std::string> loadedSpecialists() const;   // most recently used first
    uint64_t loadedBytes() const;
    int loads() const;                                     // specialist loads so far
    static uint64_t modelBytes(const engine::Model& m);   // mapped + owned weight bytes

private:
    const SpecialistDef& specialistDef(const std::string& label) const;

    SwarmDefinition def_;
    engine::Model router_;
    TextTemplate routerPrompt_;
    std::vector<std::string> labels_;
    std::vector<std::vector<int32_t>> labelTokens_;

    struct Loaded {
        std::string label;
        std::shared_ptr<const engine::Model> model;
        uint64_t bytes = 0;
    };
    mutable std::mutex mutex_;
    std::vector<Loaded> lru_;               // most recently used first
    int loads_ = 0;
    engine::BatchDecoder decoder_;          // last: it stops (finishing its jobs) before the models go
};

} // namespace swarm
