#include "app/cli_args.h"
#include "app/commands.h"

#include "core/error.h"
#include "core/hf_folder.h"
#include "model/model_io.h"
#include "model/runtime.h"
#include "core/tokenizer.h"
#include "datasets/prompt_template.h"

#include <chrono>
#include <iostream>
#include <iterator>

namespace swarm::cli {

namespace {

std::string readAllStdin() {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

// The byte-level token as a readable cell: control bytes and spaces made visible.
std::string printableToken(const std::string& bytes) {
    std::string out;
    for (unsigned char ch : bytes) {
        if (ch == '\n') out += "\\n";
        else if (ch == '\t') out += "\\t";
        else if (ch == '\r') out += "\\r";
        else if (ch < 0x20 || ch == 0x7f) { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", ch); out += buf; }
        else out += char(ch);
    }
    return out;
}

} // namespace

int runTokenize(const Argv& argv) {
    Args args(argv, {"tokenizer"}, {"ids", "no-special"});
    if (args.help()) {
        std::cout << "usage: swarm tokenize [--ids] [--no-special] [--tokenizer MODEL_DIR] TEXT|-\n"
                     "Encodes TEXT (or standard input with -) with the GPT-2 BPE tokenizer.\n"
                     "  --ids          print only the ids, space-separated\n"
                     "  --no-special   treat <|endoftext|> as plain text\n"
                     "  --tokenizer    use a model folder's tokenizer instead of the bundled one\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("tokenize: expected one TEXT argument, or - for standard input");
    std::string text = args.positionals()[0] == "-" ? readAllStdin() : args.positionals()[0];
    Gpt2Tokenizer tok = args.has("tokenizer") ? loadTokenizerFor(locateHfModel(args.value("tokenizer")))
                                              : Gpt2Tokenizer::bundled();
    std::vector<int32_t> ids = tok.encode(text, !args.flag("no-special"));
    if (args.flag("ids")) {
        for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
        std::cout << "\n";
        return 0;
    }
    for (int32_t id : ids) std::cout << id << "\t" << printableToken(tok.tokenBytes(id)) << "\n";
    std::cout << ids.size() << " tokens, " << text.size() << " bytes\n";
    return 0;
}

int runGenerate(const Argv& argv) {
    Args args(argv,
              {"prompt", "max-tokens", "threads", "device", "dtype", "engine", "temperature", "top-k", "top-p",
               "repetition-penalty", "seed", "stop", "context"},
              {"raw", "stream", "truncate", "experts"});
    if (args.help()) {
        std::cout << "usage: swarm generate MODEL --prompt TEXT [--max-tokens N] [--raw] [--engine cpu|torch]\n"
                     "                      [--dtype f32|bf16|f16|q8_0] [--threads N] [--temperature T] [--top-k K]\n"
                     "                      [--top-p P] [--repetition-penalty R] [--seed N] [--stop STR] [--stream]\n"
                     "                      [--context N] [--truncate] [--experts] [--device cpu|cuda|cuda:N|auto]\n"
                     "Generates a reply. MODEL is a model folder, or a .gguf file (CPU engine only).\n"
                     "The prompt is wrapped as \"User: TEXT\\nAssistant:\" unless --raw is given.\n"
                     "  --engine cpu     the CPU inference engine with a KV cache (default)\n"
                     "  --engine torch   the LibTorch reference model: greedy only, no KV cache; the default\n"
                     "                   when --device names a GPU\n"
                     "  --dtype          weights in memory: cpu f32|bf16|f16|q8_0 (default: as stored);\n"
                     "                   torch f32|bf16 (default f32)\n"
                     "  --max-tokens N   new tokens at most (default 64); stops earlier at <|endoftext|>\n"
                     "  --temperature T  0 = greedy (default); with T > 0 sampling, shaped by --top-k K\n"
                     "                   (0 = off), --top-p P (1 = off) and reproducible with --seed N\n"
                     "  --repetition-penalty R  > 1 discourages tokens already in the prompt or reply\n"
                     "  --stop STR       end the reply where STR appears (STR is not printed)\n"
                     "  --stream         print tokens as they are generated\n"
                     "  --context N      KV cache length (default: the model's block_size); a longer prompt\n"
                     "                   is an error unless --truncate drops its oldest tokens\n"
                     "  --experts        print each token's chosen experts per layer on standard error\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("generate: expected one MODEL (see --help)");
    const std::string deviceName = args.value("device", "cpu");
    const std::string engineName = args.value("engine", deviceName == "cpu" ? "cpu" : "torch");
    if (engineName == "cpu") {
        if (deviceName != "cpu") throw Error("--device " + deviceName + " needs --engine torch (the CPU engine runs on the CPU)");
        args.integer("max-tokens", 64, 1, 1 << 20);
        return runGenerateCpu(args);
    }
    if (engineName != "torch") throw Error("unknown --engine '" + engineName + "' (expected cpu or torch)");
    for (const char* opt : {"temperature", "top-k", "top-p", "repetition-penalty", "seed", "stop", "context"})
        if (args.has(opt)) throw Error(std::string("--") + opt + " needs --engine cpu (the torch path decodes greedily)");
    for (const char* opt : {"stream", "truncate", "experts"})
        if (args.flag(opt)) throw Error(std::string("--") + opt + " needs --engine cpu");
    const long long maxTokens = args.integer("max-tokens", 64, 1, 1 << 20);
    applyThreadsOption(args.value("threads"));
    DeviceChoice device = selectDevice(deviceName);
    std::string dtypeName = args.value("dtype", "f32");
    torch::ScalarType dtype = torch::kFloat32;
    if (dtypeName == "bf16") dtype = torch::kBFloat16;
    else if (dtypeName != "f32") throw Error("unknown --dtype '" + dtypeName + "' (expected f32 or bf16)");

    LoadedModel loaded = loadEveModel(args.positionals()[0], device.device, dtype);
    for (const std::string& w : loaded.warnings) std::cerr << "warning: " << w << "\n";
    Gpt2Tokenizer tok = loadTokenizerFor(loaded.files);
    const std::string prompt = args.required("prompt");
    const std::string text = args.flag("raw") ? prompt : ChatFormat().promptText(prompt);
    std::vector<int32_t> ids = tok.encode(text);
    if (ids.empty()) throw Error("generate: the prompt is empty");
    if ((long long)ids.size() >= loaded.config.block_size)
        throw Error("generate: the prompt has " + std::to_string(ids.size()) + " tokens, the model's context is " +
                    std::to_string(loaded.config.block_size));

    auto t0 = std::chrono::steady_clock::now();
    std::vector<int64_t> out = greedyGenerate(loaded.model, std::vector<int64_t>(ids.begin(), ids.end()),
                                              maxTokens, device.device);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<int32_t> newIds;
    for (int64_t id : out)
        if (id != Gpt2Tokenizer::kEndOfText) newIds.push_back(int32_t(id));
    std::cout << tok.decode(newIds) << "\n";
    std::cerr << out.size() << " tokens in " << seconds << " s on " << device.description << "\n";
    return 0;
}

} // namespace swarm::cli
