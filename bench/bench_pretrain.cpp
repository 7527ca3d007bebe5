// Pre-training speed against fine-tuning, through the Trainer itself (printed, no pass/fail).
// For each model (`tiny`, `eve-272m`, randomly initialised): optimiser steps of one micro-batch
// of B x T tokens (no accumulation: global batch = micro-batch), AdamW, clipping, F32 or BF16
// autocast, on
//   pretrain  packed windows of T tokens from a corpus imported from --text (default: the
//             license texts in /usr/share/common-licenses), every position a target;
//   finetune  synthetic examples of exactly T tokens whose first half is a masked prompt (the
//             LM head is computed only for labelled positions, so fine-tuning does less work
//             per token).
// tokens/s = real tokens of the timed steps / their step time (forward, backward, optimiser;
// the first --warmup steps, with the allocations and AdamW's state, are not timed; validation,
// checkpoints and the final save happen outside the steps).
//
//   bench_pretrain [--models tiny,eve-272m] [--micro-batch B] [--context T] [--steps N]
//                  [--warmup N] [--threads N] [--precision f32|bf16] [--device D] [--text PATH]
#include "training/trainer.h"

#include "app/project_schemas.h"
#include "core/process_env.h"
#include "core/project_store.h"
#include "core/tokenizer.h"
#include "datasets/corpus_import.h"
#include "model/model_io.h"
#include "model/runtime.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;
using namespace swarm;

namespace {

struct Options {
    std::vector<std::string> models = {"tiny", "eve-272m"};
    int microBatch = 1, context = 512, steps = 4, warmup = 1, threads = 0;
    std::string precision = "f32", device = "cpu", text = "/usr/share/common-licenses";
};

// Times the steps after the warm-up ones from the trainer's own step metrics.
class StepTimer : public TrainingObserver {
public:
    explicit StepTimer(int warmup) : warmup_(warmup) {}
    void onStep(const StepMetrics& s) override {
        if (s.step <= warmup_ || s.tokensPerSecond <= 0) return;
        tokens_ += double(s.tokens);
        seconds_ += double(s.tokens) / s.tokensPerSecond;
        ++timed_;
    }
    double tokensPerSecond() const { return seconds_ > 0 ? tokens_ / seconds_ : 0; }
    double secondsPerStep() const { return timed_ > 0 ? seconds_ / timed_ : 0; }

private:
    int warmup_;
    double tokens_ = 0, seconds_ = 0;
    int timed_ = 0;
};

TrainConfig benchConfig(const Options& o) {
    TrainConfig c = TrainConfig::preset("pretrain");
    c.microBatch = c.globalBatch = o.microBatch;
    c.context = o.context;
    c.maxSteps = o.warmup + o.steps;
    c.checkpointEvery = 0;
    c.evalEvery = 0;
    c.maxValidationExamples = 1;
    c.threads = o.threads;
    c.precision = o.precision;
    c.device = o.device;
    return c;
}

TrainingData syntheticFineTuning(int count, int length) {
    TrainingData d;
    d.datasetName = "synthetic";
    std::mt19937 rng(7);
    for (int i = 0; i < count; ++i) {
        TrainingExample e;
        e.exampleId = i + 1;
        e.promptLen = length / 2;
        for (int t = 0; t < length; ++t) e.ids.push_back(int32_t(rng() % 50000));
        d.train.push_back(std::move(e));
    }
    return d;
}

StepTimer timeRun(const std::string& runDir, const std::string& base, const TrainConfig& config, TrainingData data,
                  int warmup) {
    StepTimer timer(warmup);
    std::unique_ptr<Trainer> trainer = Trainer::create(runDir, base, config, std::move(data));
    const RunResult r = trainer->run(&timer);
    if (r.status != RunResult::Finished) throw Error("the run did not finish: " + r.message);
    return timer;
}

std::vector<std::string> splitList(const std::string& s) {
    std::vector<std::string> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');)
        if (!item.empty()) out.push_back(item);
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw Error(std::string(argv[i]) + " needs a value");
            return argv[++i];
        };
        const std::string a = argv[i];
        if (a == "--models") o.models = splitList(value());
        else if (a == "--micro-batch") o.microBatch = std::atoi(value().c_str());
        else if (a == "--context") o.context = std::atoi(value().c_str());
        else if (a == "--steps") o.steps = std::atoi(value().c_str());
        else if (a == "--warmup") o.warmup = std::atoi(value().c_str());
        else if (a == "--threads") o.threads = std::atoi(value().c_str());
        else if (a == "--precision") o.precision = value();
        else if (a == "--device") o.device = value();
        else if (a == "--text") o.text = value();
        else throw Error("unknown option " + a);
    }
    if (o.microBatch < 1 || o.context < 2 || o.steps < 1 || o.warmup < 0) throw Error("bad sizes");
    return o;
}

} // namespace

int main(int argc, char** argv) {
    ensureThreadingEnvironment(argc, argv);
    try {
        const Options o = parse(argc, argv);
        registerProjectSchemas();
        const fs::path dir = fs::temp_directory_path() / ("bench_pretrain-" + std::to_string(getpid()));
        fs::create_directories(dir);
        const std::string projectPath = (dir / "p.swarm").string();
        {
            ProjectStore project = ProjectStore::create(projectPath);
            CorpusImportOptions imp;
            imp.name = "text";
            imp.inputs = {o.text};
            importCorpus(project, Gpt2Tokenizer::bundled(), imp);
        }
        const TrainingData corpus = loadCorpusData(projectPath, "text");
        std::printf("pre-training vs fine-tuning through the Trainer on %s: %d threads, %s, micro-batch %d x %d tokens "
                    "(global batch = micro-batch), %d timed steps after %d warm-up\n",
                    o.device.c_str(), applyThreadCount(o.threads), o.precision.c_str(), o.microBatch, o.context,
                    o.steps, o.warmup);
        std::printf("corpus: %s, %llu training tokens\n\n", o.text.c_str(), (unsigned long long)corpus.corpus->trainTokens());
        std::printf("%-10s %14s %14s %14s %14s %8s\n", "model", "pretrain s/st", "pretrain tok/s", "finetune s/st",
                    "finetune tok/s", "ratio");
        for (const std::string& name : o.models) {
            const std::string base = (dir / ("base-" + name)).string();
            {
                EveModel model(ModelConfig::preset(name));
                model->initWeights(1);
                saveEveModel(base, model, DType::F32, nullptr);
            }
            const TrainConfig config = benchConfig(o);
            const StepTimer pre = timeRun((dir / ("pretrain-" + name)).string(), base, config, corpus, o.warmup);
            const StepTimer fine = timeRun((dir / ("finetune-" + name)).string(), base, config,
                                           syntheticFineTuning(o.microBatch * config.maxSteps, o.context), o.warmup);
            std::printf("%-10s %14.3f %14.0f %14.3f %14.0f %7.2fx\n", name.c_str(), pre.secondsPerStep(),
                        pre.tokensPerSecond(), fine.secondsPerStep(), fine.tokensPerSecond(),
                        fine.tokensPerSecond() > 0 ? pre.tokensPerSecond() / fine.tokensPerSecond() : 0.0);
            std::fflush(stdout);
            fs::remove_all(dir / ("pretrain-" + name));
            fs::remove_all(dir / ("finetune-" + name));
            fs::remove_all(base);
        }
        fs::remove_all(dir);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_pretrain: %s\n", e.what());
        return 1;
    }
    return 0;
}
