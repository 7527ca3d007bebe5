#pragma once
// The run folder: the one description of its layout, read by the trainer, the evaluation
// harness, export, the CLI and the Train page. Torch-free (library swarm_runs).
//
//   RUN/run.json                    the manifest: {"format": "swarm-run", "version": 1, config,
//                                   model_config, dataset {name, id, project, fingerprint...},
//                                   status, steps_done, total_steps, losses, final_model...}
//   RUN/metrics.csv                 one row per step and per validation
//   RUN/checkpoints/step-00000050/  a Hugging Face model folder plus optimizer.pt, rng_cpu.bin and
//                                   trainer_state.json (written last: its presence marks a
//                                   complete checkpoint); temporary folders start with ".tmp-"
//   RUN/final/                      the finished model (a Hugging Face model folder)
//
// As a model, a run is named after its folder ("sql-run") and a checkpoint "sql-run@step-50".
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace swarm::run_folder {

constexpr const char* kManifestFile = "run.json";
constexpr const char* kMetricsFile = "metrics.csv";
constexpr const char* kFinalDir = "final";
constexpr const char* kCheckpointsDir = "checkpoints";
constexpr const char* kCheckpointStateFile = "trainer_state.json";
constexpr const char* kTemporaryPrefix = ".tmp-";
constexpr const char* kManifestFormat = "swarm-run";

std::string manifestPath(const std::string& runDir);
std::string metricsPath(const std::string& runDir);
std::string finalModelDir(const std::string& runDir);
std::string checkpointsDir(const std::string& runDir);
std::string checkpointDirName(int64_t step);                       // "step-00000050"
// True for "step-<digits>" (any width), with the step.
bool parseCheckpointDirName(const std::string& name, int64_t& step);

bool isRunFolder(const std::string& dir);                          // holds run.json
// Reads and checks run.json; throws swarm::Error naming the file when it is missing or not a manifest.
nlohmann::json readManifest(const std::string& runDir);
void writeManifest(const std::string& runDir, const nlohmann::json& manifest);   // atomically

struct Checkpoint {
    int64_t step = 0;
    std::string path;
};
// Complete checkpoints (trainer_state.json present), oldest first.
std::vector<Checkpoint> listCheckpoints(const std::string& runDir);

// "run" for the final model (step < 0), "run@step-50" for a checkpoint.
std::string modelName(const std::string& runName, int64_t step = -1);

// What a path given where a model is expected names.
struct ModelLocation {
    enum class Kind { HfFolder, RunFinal, Checkpoint, Gguf };
    Kind kind = Kind::HfFolder;
    std::string modelPath;          // the model folder, or the .gguf file
    std::string runDir;             // the run it belongs to, or empty
    int64_t step = -1;              // checkpoints
    std::string name;               // display name (see modelName)
};
const char* kindName(ModelLocation::Kind k);   // "hf", "run", "checkpoint", "gguf"

enum class WithoutFinal { Refuse, UseLatestCheckpoint };
// Accepts a Hugging Face model folder (config.json), a Hugging Face repo id "org/name[@revision]"
// when no such path exists (core/hf_hub.h: the standard cache, downloading only what it lacks),
// a .gguf file, a run folder (its final/, or
// with UseLatestCheckpoint its newest checkpoint while the run has no final model), RUN/final and
// RUN/checkpoints/step-N. Throws swarm::Error naming the path and what it lacks.
ModelLocation locateModel(const std::string& path, WithoutFinal withoutFinal);

} // namespace swarm::run_folder
