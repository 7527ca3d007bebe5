// `swarm export`: a model, run or checkpoint to a Hugging Face folder or a GGUF file, re-checked
// through the CPU engine (export/).
#include "app/cli_args.h"
#include "app/commands.h"

#include "export/export.h"

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/hf_hub.h"
#include "core/hf_upload.h"
#include "core/model_config.h"
#include "export/gguf_writer.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <unistd.h>

namespace swarm::cli {

namespace {

const char* kExportHelp =
    "usage: swarm export MODEL --format hf|gguf --out PATH [--dtype f32|bf16|f16|q8_0|q4_0|q4_k] [--project P]\n"
    "                    [--threads N] [--no-recheck]\n"
    "\n"
    "Exports MODEL (a Hugging Face model folder, a run folder (its final/ model), or a checkpoint folder\n"
    "RUN/checkpoints/step-N) for deployment, then loads the export back with the CPU engine and compares\n"
    "its logits with the source on a fixed prompt set (printed: max/mean logit difference, top-1\n"
    "agreement, file size).\n"
    "  --format hf    a Hugging Face folder: config.json, model.safetensors (f32, bf16 or f16),\n"
    "                 tokenizer.json, generation_config.json and a README.md model card\n"
    "  --format gguf  one GGUF file (granitemoe) for llama.cpp 2026 builds; f32, f16, bf16, q8_0, q4_0\n"
    "                 or q4_k (norms and router stay f32; q4_0 keeps the tied embedding at q8_0; q4_k\n"
    "                 writes llama-quantize's Q4_K_M mix: Q4_K where rows allow, Q6_K embedding,\n"
    "                 Q8_0 attn_k/attn_v, Q5_K attn_output, and for the 1408-wide ffn_down rows the\n"
    "                 fallback llama.cpp uses (Q5_0, or Q8_0 where it wanted Q6_K); printed as\n"
    "                 'tensor types')\n"
    "  --dtype        weight type (default f32)\n"
    "  --project P    the project file, for the dataset's size and evaluation results in the model card\n"
    "                 (default: the project recorded in the run)\n"
    "  --threads N    re-check threads (default 0: all cores)\n"
    "The export is written under a temporary name beside PATH and renamed when complete: a failure or\n"
    "Ctrl-C leaves nothing behind.\n"
    "Publishing (Hugging Face Hub, through its commit API; needs a write token):\n"
    "  --push org/name[@branch]  after the export, create or update that model repo with the exported\n"
    "                 files (hf: the folder with its model card; gguf: the file and a README.md card)\n"
    "  --token T      the write token (default $HF_TOKEN)    --commit-message M  the commit's summary\n"
    "  ($HF_ENDPOINT picks the server, default huggingface.co)\n";

// --push: the exported files (and for GGUF a model card) committed to a model repo.
void pushExport(const Args& args, const exporter::ExportOptions& o, const exporter::ExportResult& r) {
    namespace fs = std::filesystem;
    const hub::RepoId repo = hub::parseRepoId(args.value("push"), hub::RepoType::Model);
    hub::setProcessHubOverrides(args.value("token"), false);
    const hub::HubOptions hubOptions = hub::hubOptionsFromEnvironment();
    std::vector<hub::UploadFile> files;
    std::string cardPath;
    if (r.format == exporter::Format::Hf) {
        std::vector<std::string> names;
        for (const auto& e : fs::directory_iterator(r.path))
            if (e.is_regular_file()) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        for (const std::string& n : names) files.push_back({(fs::path(r.path) / n).string(), n});
    } else {
        files.push_back({r.path, fs::path(r.path).filename().string()});
        // A GGUF file carries no card: write the one an HF export would have, beside it, for the push.
        const exporter::ModelSource src = exporter::resolveSource(o.source);
        const ModelConfig config = ModelConfig::load((fs::path(src.modelDir) / "config.json").string());
        cardPath = r.path + ".README.md";
        writeFileAtomically(cardPath, exporter::modelCard(src, config, o, r.rechecked ? &r.recheck : nullptr));
        files.push_back({cardPath, "README.md"});
    }
    const std::string summary =
        args.value("commit-message", "Upload " + fs::path(r.path).filename().string() + " (exported by Swarm Workbench)");
    std::cerr << "pushing " << files.size() << " files to " << hubOptions.endpoint << "/" << repo.id << "...\n";
    hub::PushResult pushed;
    try {
        pushed = hub::pushFiles(repo, files, summary, "", hubOptions);
    } catch (...) {
        if (!cardPath.empty()) fs::remove(cardPath);
        throw;
    }
    if (!cardPath.empty()) fs::remove(cardPath);
    std::cout << "pushed to " << repo.id << (pushed.createdRepo ? " (new repo)" : "") << ": commit " << pushed.commit << ", "
              << pushed.inlineFiles.size() << " files in the commit, " << pushed.lfsUploaded.size() << " uploaded through LFS"
              << (pushed.lfsAlreadyThere.empty() ? "" : ", " + std::to_string(pushed.lfsAlreadyThere.size()) + " already on the Hub")
              << (pushed.commitUrl.empty() ? "" : "\n  " + pushed.commitUrl) << "\n";
}

std::atomic<bool> gCancel{false};
void onExportInterrupt(int) { gCancel.store(true); }

} // namespace

int runExport(const Argv& argv) {
    Args args(argv, {"format", "out", "dtype", "project", "threads", "push", "token", "commit-message"}, {"no-recheck"});
    if (args.help()) {
        std::cout << kExportHelp;
        return 0;
    }
    if (args.positionals().size() != 1)
        throw Error(args.positionals().empty() ? "export: expected a MODEL (see --help)"
                                               : "export: unexpected argument '" + args.positionals()[1] + "'");
    if (args.has("push")) {
        // Checked before the export, not after minutes of it.
        hub::parseRepoId(args.value("push"), hub::RepoType::Model);
        hub::setProcessHubOverrides(args.value("token"), false);
        const hub::HubOptions h = hub::hubOptionsFromEnvironment();
        if (h.offline) throw Error("--push " + args.value("push") + ": offline mode is on (HF_HUB_OFFLINE=1)");
        if (h.token.empty()) throw Error("--push " + args.value("push") + " needs a write token: set HF_TOKEN or give --token");
    }
    exporter::ExportOptions o;
    o.source = args.positionals()[0];
    const std::string format = args.required("format");
    if (!exporter::parseFormat(format, o.format)) throw Error("unknown --format '" + format + "' (expected hf or gguf)");
    o.out = args.required("out");
    const std::string dtype = args.value("dtype", "f32");
    if (!exporter::parseExportDType(dtype, o.dtype))
        throw Error("unknown --dtype '" + dtype + "' (expected f32, bf16, f16, q8_0, q4_0 or q4_k)");
    o.project = args.value("project");
    o.threads = int(args.integer("threads", 0, 0, 4096));
    o.recheck = !args.flag("no-recheck");
    o.cancel = &gCancel;
    const bool tty = ::isatty(2) != 0;
    std::string lastStage;
    o.progress = [&](const exporter::ExportProgress& p) {
        if (p.stage != lastStage && p.stage != "done") std::cerr << p.stage << "...\n";
        else if (tty && p.stage == "writing") std::cerr << "\rwriting " << int(p.fraction * 100) << "%   " << std::flush;
        lastStage = p.stage;
    };
    struct sigaction sa {}, old {};
    sa.sa_handler = onExportInterrupt;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, &old);
    try {
        exporter::ExportResult r = exporter::exportModel(o);
        ::sigaction(SIGINT, &old, nullptr);
        if (tty) std::cerr << "\n";
        std::cout << exporter::describe(r);
        if (args.has("push")) pushExport(args, o, r);
        return 0;
    } catch (...) {
        ::sigaction(SIGINT, &old, nullptr);
        throw;
    }
}

} // namespace swarm::cli
