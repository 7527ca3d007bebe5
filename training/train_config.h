#pragma once
// Everything that defines a training run; saved with the run (run_config.json) and in the project.
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace swarm {

struct TrainConfig {
    // Recipe (defaults: the published specialist fine-tuning recipe).
    int epochs = 2;
    double peakLr = 5e-5;
    double minLrRatio = 0.1;          // cosine decays to peakLr * minLrRatio
    double warmupFraction = 0.03;     // share of all optimiser steps spent in linear warm-up
    int warmupSteps = -1;             // >= 0: this many warm-up steps instead of warmupFraction
    int globalBatch = 128;            // sequences per optimiser step
    int microBatch = 8;               // sequences per forward/backward; accumulation = ceil(global / micro)
    double weightDecay = 0.1;         // not applied to norm weights
    double beta1 = 0.9;
    double beta2 = 0.95;
    double adamEps = 1e-8;
    double gradClip = 1.0;            // max global gradient norm; 0 disables
    double auxLossCoef = -1.0;        // < 0: the model config's router_aux_loss_coef
    int maxSteps = 0;                 // > 0: stop after this many optimiser steps (quick tests)
    uint64_t seed = 0;
    int context = 0;                  // pre-training: the packed window length; 0 = the model's block_size

    // Machine.
    std::string device = "cpu";       // cpu, cuda, cuda:N, auto
    int threads = 0;                  // 0 = all cores
    std::string precision = "f32";    // f32, or bf16 (autocast-style: bf16 weights copy for compute on CUDA)

    // Bookkeeping.
    int checkpointEvery = 50;         // optimiser steps; 0 = only at the end and on cancel
    int keepCheckpoints = 3;
    int evalEvery = 25;               // validation every N steps (and at each epoch end); 0 = epoch ends only
    int maxValidationExamples = 256;  // validation loss over at most this many examples
    int expertWarmupSteps = -1;       // no expert-utilisation warnings before this step; < 0: automatic

    static std::vector<std::string> builtinPresetNames();   // "specialist", "quick-test", "pretrain"
    static TrainConfig preset(const std::string& name);      // throws swarm::Error for unknown names

    nlohmann::json toJson() const;
    // Missing fields keep their defaults; wrong types or out-of-range values throw naming the field.
    static TrainConfig fromJson(const nlohmann::json& j, const std::string& source);
    void validate(const std::string& source = "training config") const;

    int accumulationSteps() const { return (globalBatch + microBatch - 1) / microBatch; }
};

// User presets: JSON files in a folder; the CLI and the GUI share
// $XDG_CONFIG_HOME/swarm-workbench/presets (~/.config/... when unset).
std::string defaultUserPresetFolder();
std::vector<std::string> listUserPresets(const std::string& folder);
void saveUserPreset(const std::string& folder, const std::string& name, const TrainConfig& config);
TrainConfig loadUserPreset(const std::string& folder, const std::string& name);

// Cosine schedule with linear warm-up: step in [0, totalSteps).
double learningRateAt(const TrainConfig& c, int64_t step, int64_t totalSteps);

} // namespace swarm
