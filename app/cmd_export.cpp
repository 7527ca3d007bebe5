// `swarm export`: a model, run or checkpoint to a Hugging Face folder or a GGUF file, re-checked
// through the CPU engine (export/).
#include "app/cli_args.h"
#include "app/commands.h"

#include "export/export.h"

#include "core/error.h"
#include "export/gguf_writer.h"

#include <atomic>
#include <csignal>
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
    "Ctrl-C leaves nothing behind.\n";

std::atomic<bool> gCancel{false};
void onExportInterrupt(int) { gCancel.store(true); }

} // namespace

int runExport(const Argv& argv) {
    Args args(argv, {"format", "out", "dtype", "project", "threads"}, {"no-recheck"});
    if (args.help()) {
        std::cout << kExportHelp;
        return 0;
    }
    if (args.positionals().size() != 1)
        throw Error(args.positionals().empty() ? "export: expected a MODEL (see --help)"
                                               : "export: unexpected argument '" + args.positionals()[1] + "'");
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
        return 0;
    } catch (...) {
        ::sigaction(SIGINT, &old, nullptr);
        throw;
    }
}

} // namespace swarm::cli
