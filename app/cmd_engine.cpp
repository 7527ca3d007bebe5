// The CPU inference engine from the command line: `swarm generate --engine cpu` (the default) and
// `swarm bench`. The engine itself lives in engine/ (no LibTorch).
#include "app/cli_args.h"
#include "app/commands.h"

#include "engine/engine.h"
#include "engine/perf.h"

#include "core/error.h"
#include "datasets/prompt_template.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>

namespace swarm::cli {

namespace {

engine::LoadOptions loadOptions(const Args& args) {
    engine::LoadOptions o;
    const std::string dtype = args.value("dtype");
    if (!dtype.empty() && dtype != "auto") {
        engine::WType t;
        if (!engine::parseWType(dtype, t))
            throw Error("unknown --dtype '" + dtype + "' (expected f32, bf16, f16, q8_0, q4_0, q5_0, q5_1, q4_k, q5_k, q6_k or auto)");
        o.dtype = t;
    }
    const std::string head = args.value("head-dtype");
    if (!head.empty() && head != "auto") {
        engine::WType t;
        if (!engine::parseWType(head, t))
            throw Error("unknown --head-dtype '" + head + "' (expected a --dtype type or auto)");
        o.headType = t;
    }
    const std::string kv = args.value("kv-dtype");
    if (!kv.empty() && kv != "auto") {
        engine::WType t;
        if (!engine::parseWType(kv, t) || !engine::kvTypeSupported(t, 32))
            throw Error("unknown --kv-dtype '" + kv + "' (expected f32, f16, q8_0 or auto)");
        o.kvType = t;
    }
    o.threads = int(args.integer("threads", 0, 0, 4096));
    return o;
}


std::string describe(const engine::Model& m) {
    return std::string("cpu engine (") + engine::isaName(m.isa()) + ", " + std::to_string(m.threads()) + " threads, " +
           engine::wtypeName(m.weightType()) + (m.quantizedActivations() ? " x q8 activations" : "") + ", " +
           engine::wtypeName(m.kvType()) + " KV cache)";
}

} // namespace

int runGenerateCpu(const Args& args) {
    const std::string path = args.positionals()[0];
    const long long maxTokens = args.integer("max-tokens", 64, 1, 1 << 20);
    engine::SamplingOptions so;
    so.maxTokens = int(maxTokens);
    so.temperature = float(args.number("temperature", 0, 0, 100));
    so.topK = int(args.integer("top-k", 0, 0, 1 << 20));
    so.topP = float(args.number("top-p", 1, 0, 1));
    so.repetitionPenalty = float(args.number("repetition-penalty", 1, 0.01, 100));
    so.seed = uint64_t(args.integer("seed", 0, 0, (1LL << 62)));
    if (args.has("stop")) so.stop.push_back(args.value("stop"));
    so.truncatePrompt = args.flag("truncate");
    engine::validateSamplingOptions(so);

    engine::Model model = engine::Model::load(path, loadOptions(args));
    for (const std::string& w : model.warnings()) std::cerr << "warning: " << w << "\n";
    const Gpt2Tokenizer& tok = model.tokenizer();
    const std::string prompt = args.required("prompt");
    const std::string text = args.flag("raw") ? prompt : ChatFormat().promptText(prompt);
    const std::vector<int32_t> ids = tok.encode(text);
    if (ids.empty()) throw Error("generate: the prompt is empty");

    engine::SessionOptions sess;
    sess.context = int(args.integer("context", 0, 0, model.config().block_size));
    engine::Session session(model, sess);
    const bool stream = args.flag("stream");
    const bool showExperts = args.flag("experts");
    engine::GenerateResult r = engine::generate(session, ids, so, [&](const engine::TokenEvent& e) {
        if (stream && !e.text.empty()) {
            std::cout << e.text;
            std::cout.flush();
        }
        if (showExperts) {
            std::string line = std::to_string(e.token) + "\t";
            for (int l = 0; l < e.nLayer; ++l) {
                line += (l ? " " : "") + std::to_string(l) + ":";
                for (int j = 0; j < e.topK; ++j) line += (j ? "," : "") + std::to_string(e.experts[l * e.topK + j]);
            }
            std::cerr << line << "\n";
        }
        return true;
    });
    if (stream) std::cout << "\n";
    else std::cout << r.text << "\n";
    if (r.truncatedTokens > 0) std::cerr << "note: dropped the first " << r.truncatedTokens << " prompt tokens to fit the context\n";
    const double decodeRate = r.tokens.size() > 1 && r.decodeSeconds > 0 ? double(r.tokens.size() - 1) / r.decodeSeconds : 0;
    char buf[256];
    std::snprintf(buf, sizeof buf, "%zu tokens in %.3f s (prompt %d tokens, %.1f tok/s; decode %.1f tok/s; stop: %s) on ",
                  r.tokens.size(), r.prefillSeconds + r.decodeSeconds, r.promptTokens,
                  r.prefillSeconds > 0 ? r.promptTokens / r.prefillSeconds : 0.0, decodeRate, engine::finishReasonName(r.finish));
    std::cerr << buf << describe(model) << "\n";
    return 0;
}

int runBench(const Argv& argv) {
    Args args(argv, {"dtype", "head-dtype", "kv-dtype", "threads", "prompt-tokens", "decode-tokens", "batch", "context"}, {"no-bandwidth"});
    if (args.help()) {
        std::cout << "usage: swarm bench MODEL [--dtype TYPE] [--head-dtype TYPE] [--kv-dtype TYPE] [--threads N] [--prompt-tokens 256]\n"
                     "                   [--decode-tokens 128] [--batch 8] [--context 2048] [--no-bandwidth]\n"
                     "Measures the CPU engine on MODEL (a model folder or .gguf file): prefill and decode tokens/s,\n"
                     "batched decode of several sequences, peak resident memory, and the memory-bandwidth bound on\n"
                     "decode (weight bytes read per token / measured copy bandwidth). Token ids are pseudo-random.\n"
                     "  --dtype      weight type in memory: f32, bf16, f16, q8_0, q4_0, q5_0, q5_1, q4_k, q5_k, q6_k\n"
                     "               (default: as stored, used in place from the file)\n"
                     "  --head-dtype type of the LM head (default: as stored)\n"
                     "  --kv-dtype   KV cache: f32 (exact), f16 or q8_0 (default: q8_0 with quantised activations, else f32)\n"
                     "  --threads N  engine threads (default 0: all cores)\n";
        return 0;
    }
    if (args.positionals().size() != 1) throw Error("bench: expected one MODEL (see --help)");
    engine::Model model = engine::Model::load(args.positionals()[0], loadOptions(args));
    engine::PerfOptions po;
    po.promptTokens = int(args.integer("prompt-tokens", 256, 1, 1 << 20));
    po.decodeTokens = int(args.integer("decode-tokens", 128, 1, 1 << 20));
    po.batch = int(args.integer("batch", 8, 1, 4096));
    po.context = int(args.integer("context", std::min<int64_t>(2048, model.config().block_size), 2, model.config().block_size));
    const engine::ModelStats& st = model.stats();
    std::printf("model      %s (%s, stored %s), loaded in %.2f s\n", args.positionals()[0].c_str(), st.format.c_str(),
                st.storedTypes.empty() ? "?" : st.storedTypes[0].c_str(), st.loadSeconds);
    std::printf("engine     %s\n", describe(model).c_str());
    std::printf("weights    %.1f MiB mapped from the file, %.1f MiB converted; %.1f MiB read per decoded token\n",
                double(st.mappedBytes) / 1048576.0, double(st.ownedBytes) / 1048576.0,
                double(st.decodeBytesPerToken) / 1048576.0);
    std::fflush(stdout);
    engine::PerfResult r = engine::measurePerf(model, po);
    std::printf("prefill    %8.1f tok/s  (%d-token prompt)\n", r.prefillTokPerS, po.promptTokens);
    std::printf("decode     %8.1f tok/s  (%d tokens after it)\n", r.decodeTokPerS, po.decodeTokens);
    std::printf("batched    %8.1f tok/s  (%d sequences decoded together)\n", r.batchTokPerS, po.batch);
    std::printf("peak RSS   %8.1f MiB (model + one %d-token session), %.1f MiB overall\n", r.peakRssSingleMiB,
                po.context, r.peakRssMiB);
    // 64 greedy tokens after a 64-token prompt, fewer where the model's block_size is smaller.
    const int pn = int(std::min<int64_t>(64, (model.config().block_size - 1) / 2));
    const engine::OpProfile prof = engine::profileDecode(model, pn, pn);
    std::printf("profile    ms per decoded token (%d greedy tokens):", pn);
    for (int op = 0; op < int(engine::Op::Count); ++op)
        std::printf(" %s %.3f,", engine::opName(engine::Op(op)), 1e3 * prof.seconds[op] / double(pn));
    std::printf(" thread sync %.3f (inside the products)\n", 1e3 * prof.syncSeconds / double(pn));
    if (!args.flag("no-bandwidth")) {
        const double bw = engine::measureCopyBandwidth(model.threads());
        const double rbw = engine::measureReadBandwidth(model.threads());
        const double bound = bw / double(st.decodeBytesPerToken), readBound = rbw / double(st.decodeBytesPerToken);
        std::printf("bandwidth  %8.2f GB/s copy (read + write, %d threads): decode bound %.1f tok/s, reached %.0f%%\n",
                    bw / 1e9, model.threads(), bound, 100.0 * r.decodeTokPerS / bound);
        std::printf("           %8.2f GB/s in a plain read loop (decode's prefetching kernels may beat it): %.1f tok/s, "
                    "reached %.0f%%\n", rbw / 1e9, readBound, 100.0 * r.decodeTokPerS / readBound);
    }
    return 0;
}

} // namespace swarm::cli
