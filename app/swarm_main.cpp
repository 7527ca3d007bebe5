// `swarm`: the headless face of the workbench. Everything the GUI does is reachable from here.
#include "app/commands.h"
#include "app/project_schemas.h"

#include "core/error.h"
#include "core/process_env.h"

#include <cstring>
#include <iostream>

namespace {

const char* kUsage =
    "usage: swarm COMMAND [ARGS]   (swarm COMMAND --help for each command's options)\n"
    "\n"
    "commands:\n"
    "  model init     create a random Eve-2 MoE model folder from a preset (tiny, eve-272m)\n"
    "  model info     print a model folder's config, parameter counts, dtypes and size\n"
    "  tokenize       encode text with the GPT-2 BPE tokenizer\n"
    "  generate       generate text (CPU engine by default; --engine torch for the LibTorch model)\n"
    "  bench          measure the CPU engine: prefill/decode tokens/s, memory, bandwidth bound\n"
    "  train          fine-tune a model on a project dataset (and --resume a run)\n"
    "  project        create a project file, or show its schema and datasets\n"
    "  dataset        import, preview, inspect (stats, mask-preview) and export datasets\n"
    "  corpus         import raw text (files, folders, JSONL/Parquet text fields) for pre-training\n"
    "  export         export a model or run to a Hugging Face folder or GGUF (q8_0, q4_0...), re-checked\n"
    "  eval           evaluate a model on a dataset split (task metrics), or its perplexity on raw text\n"
    "  compare        compare models on a split: metrics with deltas, speed, cost, reports\n"
    "  swarm          check a swarm definition, dispatch a request through it, evaluate it end to end\n"
    "  serve          serve a swarm (router + specialists) over OpenAI-compatible HTTP\n"
    "  distill        build a dataset from a teacher model's answers (any OpenAI-compatible API)\n"
    "\n"
    "Swarm Workbench " SWARM_VERSION ": build, evaluate and export small MoE specialists, offline.\n";

} // namespace

int main(int argc, char** argv) {
    swarm::ensureThreadingEnvironment(argc, argv);
    swarm::registerProjectSchemas();
    if (argc < 2) {
        std::cerr << kUsage;
        return 2;
    }
    const std::string command = argv[1];
    swarm::cli::Argv rest(argv + 2, argv + argc);
    try {
        if (command == "--help" || command == "-h" || command == "help") { std::cout << kUsage; return 0; }
        if (command == "--version") { std::cout << "swarm " SWARM_VERSION "\n"; return 0; }
        if (command == "model") return swarm::cli::runModel(rest);
        if (command == "tokenize") return swarm::cli::runTokenize(rest);
        if (command == "generate") return swarm::cli::runGenerate(rest);
        if (command == "bench") return swarm::cli::runBench(rest);
        if (command == "train") return swarm::cli::runTrain(rest);
        if (command == "project") return swarm::cli::runProject(rest);
        if (command == "dataset") return swarm::cli::runDataset(rest);
        if (command == "corpus") return swarm::cli::runCorpus(rest);
        if (command == "export") return swarm::cli::runExport(rest);
        if (command == "eval") return swarm::cli::runEval(rest);
        if (command == "compare") return swarm::cli::runCompare(rest);
        if (command == "serve") return swarm::cli::runServe(rest);
        if (command == "swarm") return swarm::cli::runSwarm(rest);
        if (command == "distill") return swarm::cli::runDistill(rest);
        std::cerr << "swarm: unknown command '" << command << "' (see swarm --help)\n";
        return 2;
    } catch (const swarm::Error& e) {
        std::cerr << "swarm: " << e.what() << "\n";
        return 1;
    } catch (const c10::Error& e) {
        std::cerr << "swarm: " << e.what_without_backtrace() << "\n";
        return 1;
    } catch (const std::bad_alloc&) {
        std::cerr << "swarm: out of memory\n";
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "swarm: " << e.what() << "\n";
        return 1;
    }
}
