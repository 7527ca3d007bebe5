#include "app/cli_args.h"
#include "app/commands.h"

#include "core/error.h"
#include "core/hf_folder.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "core/tokenizer.h"
#include "core/format.h"

#include <cstdio>
#include <filesystem>
#include <iostream>

namespace fs = std::filesystem;

namespace swarm::cli {


int applyThreadsOption(const std::string& value) {
    int threads = 0;
    if (!value.empty()) {
        Args parsed({"--threads", value}, {"threads"}, {});
        threads = int(parsed.integer("threads", 0, 0, 4096));
    }
    return applyThreadCount(threads);
}

namespace {

const char* kModelHelp =
    "usage: swarm model init --preset tiny|eve-272m --out DIR [--seed N] [--dtype f32|bf16]\n"
    "       swarm model info DIR\n"
    "\n"
    "init   writes a randomly initialised Eve-2 MoE model as a Hugging Face folder\n"
    "       (config.json, model.safetensors, tokenizer.json, generation_config.json).\n"
    "       --preset   eve-272m: the published 272M sizes; tiny: same structure, ~10M parameters\n"
    "       --seed N   initialisation seed (default 0); the same seed gives the same bytes\n"
    "       --dtype    storage type of the weights (default f32)\n"
    "info   prints the config, total and active parameters, stored dtypes and size on disk.\n";

DType parseStorageDType(const std::string& s) {
    if (s == "f32" || s == "float32") return DType::F32;
    if (s == "bf16" || s == "bfloat16") return DType::BF16;
    if (s == "f16" || s == "float16") return DType::F16;
    throw Error("unknown --dtype '" + s + "' (expected f32, bf16 or f16)");
}

int modelInit(const Argv& argv) {
    Args args(argv, {"preset", "out", "seed", "dtype", "threads"}, {});
    if (args.help()) { std::cout << kModelHelp; return 0; }
    if (!args.positionals().empty()) throw Error("model init: unexpected argument '" + args.positionals()[0] + "'");
    ModelConfig config = ModelConfig::preset(args.required("preset"));
    const std::string out = args.required("out");
    const long long seed = args.integer("seed", 0, 0, (1LL << 62));
    const DType storage = parseStorageDType(args.value("dtype", "f32"));
    applyThreadsOption(args.value("threads"));

    EveModel model(config);
    model->initWeights(uint64_t(seed));
    Gpt2Tokenizer tokenizer = Gpt2Tokenizer::bundled();
    saveEveModel(out, model, storage, &tokenizer);
    std::cout << "wrote " << out << ": " << withThousands(config.totalParameters()) << " parameters ("
              << dtypeName(storage) << ", seed " << seed << ")\n";
    return 0;
}

long long folderBytes(const fs::path& dir) {
    long long total = 0;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(dir, ec))
        if (entry.is_regular_file(ec)) total += (long long)entry.file_size(ec);
    return total;
}


int modelInfo(const Argv& argv) {
    Args args(argv, {}, {});
    if (args.help()) { std::cout << kModelHelp; return 0; }
    if (args.positionals().size() != 1) throw Error("model info: expected one model folder (see --help)");
    const std::string dir = args.positionals()[0];
    HfModelFiles files = locateHfModel(dir);
    ModelConfig c = ModelConfig::load(files.configPath);
    HfWeights weights = HfWeights::open(files, c);

    std::string dtypes;
    for (DType t : weights.storedDTypes()) dtypes += (dtypes.empty() ? "" : ", ") + std::string(dtypeName(t));
    const long long total = c.totalParameters();
    const long long active = c.activeParametersPerToken();
    const long long embedding = c.vocab_size * c.n_embd;
    std::cout << "model folder      " << dir << "\n"
              << "layers            " << c.n_layer << "\n"
              << "hidden size       " << c.n_embd << " (" << c.n_head << " heads x " << c.head_dim << ")\n"
              << "experts           " << c.num_experts << " routed (top-" << c.top_k << ", width "
              << c.expert_intermediate_size << ") + 1 shared (width " << c.shared_expert_intermediate_size << ")\n"
              << "vocabulary        " << c.vocab_size << "\n"
              << "context           " << c.block_size << " tokens (RoPE theta " << c.rope_theta << ")\n"
              << "aux loss coef     " << c.router_aux_loss_coef << "\n"
              << "parameters        " << withThousands(total) << " total (LM head tied to the embedding)\n"
              << "active per token  " << withThousands(active) << " (" << withThousands(active - embedding)
              << " excluding the embedding)\n"
              << "stored dtypes     " << dtypes << "\n"
              << "weights           " << formatBytes(weights.totalBytes()) << " in "
              << files.weightFiles.size() << " file(s)\n"
              << "size on disk      " << formatBytes(uint64_t(folderBytes(dir))) << "\n"
              << "tokenizer         "
              << (!files.tokenizerJsonPath.empty() ? "tokenizer.json"
                                                   : files.hasTokenizer() ? "vocab.json + merges.txt" : "none (the bundled GPT-2 tokenizer is used)")
              << "\n";
    for (const std::string& w : weights.warnings()) std::cout << "warning           " << w << "\n";
    return 0;
}

} // namespace

int runModel(const Argv& argv) {
    if (argv.empty() || argv[0] == "--help" || argv[0] == "-h") {
        std::cout << kModelHelp;
        return argv.empty() ? 2 : 0;
    }
    Argv rest(argv.begin() + 1, argv.end());
    if (argv[0] == "init") return modelInit(rest);
    if (argv[0] == "info") return modelInfo(rest);
    throw Error("unknown command 'model " + argv[0] + "' (expected init or info)");
}

} // namespace swarm::cli
