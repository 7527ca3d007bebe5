#pragma once
// The `swarm` subcommands. Each takes the arguments after its name, prints its own --help,
// and returns the process exit code; failures throw swarm::Error (printed by main as one line).
#include <string>
#include <vector>

namespace swarm::cli {

using Argv = std::vector<std::string>;

int runModel(const Argv& args);      // model init | model info
int runTokenize(const Argv& args);
int runGenerate(const Argv& args);
int runTrain(const Argv& args);      // train | train --resume
int runProject(const Argv& args);    // project create | info
int runDataset(const Argv& args);    // dataset import | preview | list | stats | mask-preview | export | ...
int runCorpus(const Argv& args);     // corpus import | list | info | delete: raw text for pre-training (cmd_corpus.cpp)
int runBench(const Argv& args);      // the CPU engine's speed and memory (cmd_engine.cpp)
int runExport(const Argv& args);     // export to a HF folder or GGUF, re-checked (cmd_export.cpp)
int runEval(const Argv& args);       // evaluate a model on a dataset split (cmd_eval.cpp)
int runCompare(const Argv& args);    // compare models on a split, with cost and reports (cmd_eval.cpp)
int runServe(const Argv& args);      // serve a swarm over OpenAI-compatible HTTP (cmd_serve.cpp)
int runSwarm(const Argv& args);      // swarm check | run | eval (cmd_swarm.cpp)
int runDistill(const Argv& args);    // distill a dataset from a teacher model, status, rejected, compare (cmd_distill.cpp)

class Args;
// `swarm generate --engine cpu` (cmd_engine.cpp); args are runGenerate's, already parsed.
int runGenerateCpu(const Args& args);

// "271970816" -> "271,970,816"
// Applies --threads (0 = all cores) to LibTorch; returns the count in effect.
int applyThreadsOption(const std::string& value);

} // namespace swarm::cli
