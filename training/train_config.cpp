#include "training/train_config.h"

#include "core/atomic_file.h"
#include "core/error.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;
using nlohmann::json;

namespace swarm {

std::vector<std::string> TrainConfig::builtinPresetNames() { return {"specialist", "quick-test", "pretrain"}; }

TrainConfig TrainConfig::preset(const std::string& name) {
    TrainConfig c;
    if (name == "specialist") return c;           // the published recipe
    if (name == "quick-test") {
        // Minutes on a laptop CPU: enough to see the loss fall and the charts move.
        c.epochs = 1;
        c.peakLr = 1e-3;
        c.globalBatch = 8;
        c.microBatch = 8;
        c.warmupFraction = 0.05;
        c.checkpointEvery = 25;
        c.evalEvery = 10;
        c.maxValidationExamples = 64;
        return c;
    }
    if (name == "pretrain") {
        // The seed's base pre-training schedule (batch 128 x 2048, AdamW 0.9/0.95, wd 0.1,
        // 200 warm-up steps, cosine 5e-4 -> 5e-5, clip 1.0); the micro-batch is the machine's.
        c.epochs = 1;
        c.peakLr = 5e-4;
        c.minLrRatio = 0.1;
        c.warmupSteps = 200;
        c.globalBatch = 128;
        c.microBatch = 8;
        c.weightDecay = 0.1;
        c.beta1 = 0.9;
        c.beta2 = 0.95;
        c.gradClip = 1.0;
        c.context = 2048;
        c.checkpointEvery = 500;
        c.evalEvery = 250;
        c.maxValidationExamples = 64;   // windows of the context
        return c;
    }
    throw Error("unknown training preset '" + name + "' (built in: specialist, quick-test, pretrain)");
}

json TrainConfig::toJson() const {
    return json{{"epochs", epochs},
                {"peak_lr", peakLr},
                {"min_lr_ratio", minLrRatio},
                {"warmup_fraction", warmupFraction},
                {"warmup_steps", warmupSteps},
                {"global_batch", globalBatch},
                {"micro_batch", microBatch},
                {"weight_decay", weightDecay},
                {"beta1", beta1},
                {"beta2", beta2},
                {"adam_eps", adamEps},
                {"grad_clip", gradClip},
                {"aux_loss_coef", auxLossCoef},
                {"max_steps", maxSteps},
                {"seed", seed},
                {"context", context},
                {"device", device},
                {"threads", threads},
                {"precision", precision},
                {"checkpoint_every", checkpointEvery},
                {"keep_checkpoints", keepCheckpoints},
                {"eval_every", evalEvery},
                {"max_validation_examples", maxValidationExamples},
                {"expert_warmup_steps", expertWarmupSteps}};
}

namespace {

template <typename T>
void read(const json& j, const char* key, T& out, const std::string& source) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return;
    try {
        if constexpr (std::is_same_v<T, std::string>) {
            if (!it->is_string()) throw std::invalid_argument("not a string");
        } else if constexpr (std::is_integral_v<T>) {
            if (!it->is_number_integer() && !it->is_number_unsigned()) throw std::invalid_argument("not an integer");
        } else {
            if (!it->is_number()) throw std::invalid_argument("not a number");
        }
        out = it->get<T>();
    } catch (const std::exception&) {
        throw Error(source + ": field '" + key + "' has the wrong type: " + it->dump());
    }
}

} // namespace

TrainConfig TrainConfig::fromJson(const json& j, const std::string& source) {
    if (!j.is_object()) throw Error(source + ": a training config must be a JSON object");
    TrainConfig c;
    read(j, "epochs", c.epochs, source);
    read(j, "peak_lr", c.peakLr, source);
    read(j, "min_lr_ratio", c.minLrRatio, source);
    read(j, "warmup_fraction", c.warmupFraction, source);
    read(j, "warmup_steps", c.warmupSteps, source);
    read(j, "global_batch", c.globalBatch, source);
    read(j, "micro_batch", c.microBatch, source);
    read(j, "weight_decay", c.weightDecay, source);
    read(j, "beta1", c.beta1, source);
    read(j, "beta2", c.beta2, source);
    read(j, "adam_eps", c.adamEps, source);
    read(j, "grad_clip", c.gradClip, source);
    read(j, "aux_loss_coef", c.auxLossCoef, source);
    read(j, "max_steps", c.maxSteps, source);
    read(j, "seed", c.seed, source);
    read(j, "context", c.context, source);
    read(j, "device", c.device, source);
    read(j, "threads", c.threads, source);
    read(j, "precision", c.precision, source);
    read(j, "checkpoint_every", c.checkpointEvery, source);
    read(j, "keep_checkpoints", c.keepCheckpoints, source);
    read(j, "eval_every", c.evalEvery, source);
    read(j, "max_validation_examples", c.maxValidationExamples, source);
    read(j, "expert_warmup_steps", c.expertWarmupSteps, source);
    c.validate(source);
    return c;
}

void TrainConfig::validate(const std::string& source) const {
    auto fail = [&](const char* field, const std::string& why) { throw Error(source + ": " + field + " " + why); };
    if (epochs < 1 || epochs > 1000) fail("epochs", "must be between 1 and 1000");
    if (!(peakLr > 0) || !(peakLr < 1)) fail("peak_lr", "must be in (0, 1)");
    if (!(minLrRatio >= 0) || minLrRatio > 1) fail("min_lr_ratio", "must be in [0, 1]");
    if (!(warmupFraction >= 0) || warmupFraction >= 1) fail("warmup_fraction", "must be in [0, 1)");
    if (warmupSteps < -1) fail("warmup_steps", "must be >= 0 (or -1: use warmup_fraction)");
    if (context < 0 || context > (1 << 20)) fail("context", "must be between 0 (the model's) and 1048576");
    if (globalBatch < 1 || globalBatch > 65536) fail("global_batch", "must be between 1 and 65536");
    if (microBatch < 1 || microBatch > globalBatch) fail("micro_batch", "must be between 1 and global_batch");
    if (!(weightDecay >= 0)) fail("weight_decay", "must be >= 0");
    if (!(beta1 >= 0 && beta1 < 1)) fail("beta1", "must be in [0, 1)");
    if (!(beta2 >= 0 && beta2 < 1)) fail("beta2", "must be in [0, 1)");
    if (!(adamEps > 0)) fail("adam_eps", "must be > 0");
    if (!(gradClip >= 0)) fail("grad_clip", "must be >= 0");
    if (maxSteps < 0) fail("max_steps", "must be >= 0");
    if (threads < 0) fail("threads", "must be >= 0");
    if (precision != "f32" && precision != "bf16") fail("precision", "must be f32 or bf16");
    if (checkpointEvery < 0) fail("checkpoint_every", "must be >= 0");
    if (keepCheckpoints < 1) fail("keep_checkpoints", "must be >= 1");
    if (evalEvery < 0) fail("eval_every", "must be >= 0");
    if (maxValidationExamples < 1) fail("max_validation_examples", "must be >= 1");
}

std::string defaultUserPresetFolder() {
    const char* xdg = std::getenv("XDG_CONFIG_HOME");
    const char* home = std::getenv("HOME");
    fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home ? home : ".") / ".config";
    return (base / "swarm-workbench" / "presets").string();
}

static fs::path presetPath(const std::string& folder, const std::string& name) {
    if (name.empty() || name.find_first_of("/\\") != std::string::npos || name[0] == '.')
        throw Error("preset name '" + name + "' is not usable as a file name");
    return fs::path(folder) / (name + ".json");
}

std::vector<std::string> listUserPresets(const std::string& folder) {
    std::vector<std::string> names;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(folder, ec))
        if (e.path().extension() == ".json") names.push_back(e.path().stem().string());
    std::sort(names.begin(), names.end());
    return names;
}

void saveUserPreset(const std::string& folder, const std::string& name, const TrainConfig& config) {
    for (const std::string& builtin : TrainConfig::builtinPresetNames())
        if (name == builtin) throw Error("'" + name + "' is a built-in preset; choose another name");
    std::error_code ec;
    fs::create_directories(folder, ec);
    if (ec) throw Error(folder + ": cannot create the presets folder: " + ec.message());
    writeFileAtomically(presetPath(folder, name).string(), config.toJson().dump(2) + "\n");
}

TrainConfig loadUserPreset(const std::string& folder, const std::string& name) {
    const std::string path = presetPath(folder, name).string();
    json j = json::parse(readTextFile(path, 1 << 20), nullptr, false);
    if (j.is_discarded()) throw Error(path + ": not valid JSON");
    return TrainConfig::fromJson(j, path);
}

double learningRateAt(const TrainConfig& c, int64_t step, int64_t totalSteps) {
    totalSteps = std::max<int64_t>(totalSteps, 1);
    const int64_t warmup = c.warmupSteps >= 0 ? int64_t(c.warmupSteps) : int64_t(std::llround(c.warmupFraction * double(totalSteps)));
    const double minLr = c.peakLr * c.minLrRatio;
    if (step < warmup) return c.peakLr * double(step + 1) / double(warmup);
    const int64_t decaySteps = std::max<int64_t>(totalSteps - warmup - 1, 1);
    const double progress = std::min(1.0, double(step - warmup) / double(decaySteps));
    return minLr + 0.5 * (c.peakLr - minLr) * (1.0 + std::cos(M_PI * progress));
}

} // namespace swarm
