// The CPU engine's speed and memory on a random eve-272m (or tiny) model, with the LibTorch model
// as the baseline in the same run.
//
//   bench_engine [--preset eve-272m|tiny] [--dir DIR] [--dtypes f32,bf16,q8_0] [--threads 1,0]
//                [--gguf A.gguf,B.gguf] [--prompt 256] [--decode 128] [--batch 8] [--context 2048]
//                [--torch-decode 8] [--no-torch] [--repeat N]
//
// --dtypes takes any engine type (q4_0, q5_0, q5_1, q4_k, q5_k, q6_k too: quantised on load from
// the BF16 folder, k-quants falling back on 1408-wide rows as llama.cpp does); --gguf adds GGUF
// files used as stored, in place from their mapping (e.g. llama-quantize's Q4_K_M of the same
// model, see tools/llama-quantize.c). Either may carry load options after '+': q8_0+head=q4_k
// (LM head type), x.gguf+kv=f32 (KV cache type; default as the engine resolves it), or both;
// `--dtypes ''` runs the GGUF files alone (no folders needed, so bench_engine_cpu can drive).
// Every configuration also prints a per-op profile of decode (ms per token: attention, expert
// products, router, LM head, sampling, thread sync).
//
// For each weight type and thread count (0 = all cores) it prints prefill tokens/s (one prompt),
// decode tokens/s (one token at a time after it, KV cache), batched decode tokens/s (several
// sequences decoded together), and peak RSS; each configuration runs in a fresh child process
// (bench_engine_cpu, built without LibTorch, so that the RSS is the engine's alone). F32 and BF16
// read the weights in place from an F32 resp. BF16 folder; Q8_0 converts the BF16 folder on load.
// It measures the memory copy bandwidth and prints the decode bound (weight bytes read per token /
// bandwidth) and how close decode comes. The LibTorch model (f32 and bf16) runs prefill and
// decode (its reference path has no KV cache: each new token re-runs the whole sequence) in
// child processes too, and the engine/torch ratios are printed.
//
// On a machine shared with other work, figures move with its load: --repeat N keeps the best of N.
#include "engine/engine.h"
#include "engine/perf.h"
#include "core/thread_pool.h"

#ifdef SWARM_BENCH_TORCH
#include "model/eve_model.h"
#include "model/model_io.h"
#include "model/runtime.h"
#endif

#include "core/error.h"
#include "core/system.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace swarm;
namespace fs = std::filesystem;

namespace {

struct Options {
    std::string preset = "eve-272m";
    std::string dir;
    std::vector<std::string> dtypes = {"f32", "bf16", "q8_0"};
    std::vector<int> threads = {1, 0};
    std::vector<std::string> ggufs;
    int prompt = 256, decode = 128, batch = 8, context = 2048, torchDecode = 8, repeat = 1;
    bool torch = true;
    // child modes
    std::string child, childModel, childDtype;
    int childThreads = 0;
};

std::vector<std::string> split(const std::string& s, char sep = ',') {
    std::vector<std::string> out;
    std::stringstream ss(s);
    std::string item;
    while (std::getline(ss, item, sep)) if (!item.empty()) out.push_back(item);
    return out;
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) throw Error("option " + a + " needs a value");
            return argv[++i];
        };
        if (a == "--preset") o.preset = next();
        else if (a == "--dir") o.dir = next();
        else if (a == "--dtypes") o.dtypes = split(next());
        else if (a == "--gguf") o.ggufs = split(next());
        else if (a == "--threads") {
            o.threads.clear();
            for (const std::string& t : split(next())) o.threads.push_back(std::atoi(t.c_str()));
        } else if (a == "--prompt") o.prompt = std::atoi(next().c_str());
        else if (a == "--decode") o.decode = std::atoi(next().c_str());
        else if (a == "--batch") o.batch = std::atoi(next().c_str());
        else if (a == "--context") o.context = std::atoi(next().c_str());
        else if (a == "--torch-decode") o.torchDecode = std::atoi(next().c_str());
        else if (a == "--repeat") o.repeat = std::max(1, std::atoi(next().c_str()));
        else if (a == "--no-torch") o.torch = false;
        else if (a == "--child") { o.child = next(); o.childModel = next(); o.childDtype = next(); o.childThreads = std::atoi(next().c_str()); }
        else throw Error("unknown option " + a);
    }
    return o;
}

// "key=value key=value" -> map
std::map<std::string, double> parseResult(const std::string& line) {
    std::map<std::string, double> out;
    std::stringstream ss(line);
    std::string kv;
    while (ss >> kv) {
        const size_t eq = kv.find('=');
        if (eq != std::string::npos) out[kv.substr(0, eq)] = std::atof(kv.c_str() + eq + 1);
    }
    return out;
}

// Runs `exe args...` and returns its last stdout line starting with "RESULT".
std::string runChild(const std::string& exe, const std::vector<std::string>& args) {
    int fds[2];
    if (pipe(fds) != 0) throw Error("pipe failed");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        setenv("SWARM_NO_REEXEC", "1", 1);
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        std::vector<char*> argv;
        argv.push_back(const_cast<char*>(exe.c_str()));
        for (const std::string& s : args) argv.push_back(const_cast<char*>(s.c_str()));
        argv.push_back(nullptr);
        execv(exe.c_str(), argv.data());
        _exit(127);
    }
    close(fds[1]);
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) out.append(buf, size_t(n));
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    std::string result;
    std::stringstream ss(out);
    std::string line;
    while (std::getline(ss, line))
        if (line.rfind("RESULT", 0) == 0) result = line;
    if (result.empty()) throw Error(exe + " " + (args.empty() ? "" : args[0]) + " failed (status " + std::to_string(status) + ")");
    return result;
}

// ---------------------------------------------------------------------------------------------
// Children

// "TYPE[+head=T][+kv=T]" (TYPE "auto": as stored) into load options.
engine::LoadOptions variantOptions(const std::string& variant) {
    engine::LoadOptions lo;
    const std::vector<std::string> parts = split(variant, '+');
    auto type = [&](const std::string& name) {
        engine::WType t;
        if (!engine::parseWType(name, t)) throw Error("bad type '" + name + "' in '" + variant + "'");
        return t;
    };
    if (parts.empty()) throw Error("empty configuration");
    if (parts[0] != "auto") lo.dtype = type(parts[0]);
    for (size_t i = 1; i < parts.size(); ++i) {
        if (parts[i].rfind("head=", 0) == 0) lo.headType = type(parts[i].substr(5));
        else if (parts[i].rfind("kv=", 0) == 0) lo.kvType = type(parts[i].substr(3));
        else throw Error("unknown option '" + parts[i] + "' in '" + variant + "' (head=TYPE, kv=TYPE)");
    }
    return lo;
}

int engineChild(const Options& o) {
    engine::LoadOptions lo = variantOptions(o.childDtype);
    lo.threads = o.childThreads;
    const double rss0 = double(peakRssBytes()) / (1024.0 * 1024.0);
    engine::Model m = engine::Model::load(o.childModel, lo);
    engine::PerfOptions po;
    po.promptTokens = o.prompt;
    po.decodeTokens = o.decode;
    po.batch = o.batch;
    po.context = o.context;
    engine::PerfResult best;
    for (int r = 0; r < o.repeat; ++r) {
        engine::PerfResult pr = engine::measurePerf(m, po);
        best.prefillTokPerS = std::max(best.prefillTokPerS, pr.prefillTokPerS);
        best.decodeTokPerS = std::max(best.decodeTokPerS, pr.decodeTokPerS);
        best.batchTokPerS = std::max(best.batchTokPerS, pr.batchTokPerS);
        if (r == 0) {
            best.peakRssSingleMiB = pr.peakRssSingleMiB;
            best.peakRssMiB = pr.peakRssMiB;
        }
    }
    // Where decode's time goes (measured after the speed runs, so that timing adds nothing to them).
    const engine::OpProfile prof = engine::profileDecode(m, 64, 64);
    std::string profile;
    for (int op = 0; op < int(engine::Op::Count); ++op)
        profile += " p" + std::to_string(op) + "=" + std::to_string(1e3 * prof.seconds[op] / 64.0);
    profile += " psync=" + std::to_string(1e3 * prof.syncSeconds / 64.0);
    std::printf("RESULT prefill=%.3f decode=%.3f batch=%.3f rss1=%.1f rss=%.1f rss0=%.1f bytes=%llu mapped=%llu owned=%llu "
                "load=%.3f threads=%d isa=%d kv=%d head=%d%s\n",
                best.prefillTokPerS, best.decodeTokPerS, best.batchTokPerS, best.peakRssSingleMiB, best.peakRssMiB, rss0,
                (unsigned long long)m.stats().decodeBytesPerToken, (unsigned long long)m.stats().mappedBytes,
                (unsigned long long)m.stats().ownedBytes, m.stats().loadSeconds, m.threads(), int(m.isa()), int(m.kvType()),
                int(m.headType()), profile.c_str());
    return 0;
}

#ifdef SWARM_BENCH_TORCH
int torchChild(const Options& o) {
    const int threads = applyThreadCount(o.childThreads);
    const torch::ScalarType dtype = o.childDtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
    LoadedModel lm = loadEveModel(o.childModel, torch::kCPU, dtype);
    torch::NoGradGuard g;
    lm.model->eval();
    torch::manual_seed(1);
    torch::Tensor prompt = torch::randint(50256, {1, o.prompt}, torch::kInt64);
    lm.model->forward(prompt.narrow(1, 0, 8), {}, true);        // warm-up
    using Clock = std::chrono::steady_clock;
    double prefill = 0, decode = 0;
    for (int r = 0; r < o.repeat; ++r) {
        auto t0 = Clock::now();
        lm.model->forward(prompt, {}, true);
        prefill = std::max(prefill, o.prompt / std::chrono::duration<double>(Clock::now() - t0).count());
        // The reference path's decode: every new token re-runs the whole sequence (no KV cache).
        torch::Tensor seq = prompt;
        t0 = Clock::now();
        for (int i = 0; i < o.torchDecode; ++i) {
            torch::Tensor logits = lm.model->forward(seq, {}, true).logits;
            torch::Tensor next = logits.reshape({-1}).narrow(0, 0, 50257).argmax().view({1, 1});
            seq = torch::cat({seq, next}, 1);
        }
        decode = std::max(decode, o.torchDecode / std::chrono::duration<double>(Clock::now() - t0).count());
    }
    std::printf("RESULT prefill=%.3f decode=%.3f rss=%.1f threads=%d\n", prefill, decode, double(peakRssBytes()) / (1024.0 * 1024.0), threads);
    return 0;
}
#endif

// ---------------------------------------------------------------------------------------------
// Driver

std::string selfDir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

// The first three fields of /proc/loadavg: how busy the machine was (other work skews timings).
std::string loadAverage() {
    FILE* f = std::fopen("/proc/loadavg", "r");
    if (!f) return "?";
    char buf[128] = {};
    const size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    std::string s(buf, n);
    size_t cut = 0;
    for (int i = 0; i < 3 && cut != std::string::npos; ++i) cut = s.find(' ', cut + (i ? 1 : 0));
    return s.substr(0, cut);
}

int driver(const Options& o) {
    const std::string cpuExe = selfDir() + "/bench_engine_cpu";
    if (!fs::exists(cpuExe)) throw Error(cpuExe + " is missing (build the bench_engine_cpu target)");
    std::string dir = o.dir;
    if (dir.empty()) dir = (fs::temp_directory_path() / ("swarm-bench-" + o.preset)).string();
    const std::string f32Dir = dir + "/f32", bf16Dir = dir + "/bf16";
#ifdef SWARM_BENCH_TORCH
    const bool needFolders = !o.dtypes.empty() || o.torch;
#else
    const bool needFolders = !o.dtypes.empty();
#endif
    if (needFolders && (!fs::exists(f32Dir + "/config.json") || !fs::exists(bf16Dir + "/config.json"))) {
#ifdef SWARM_BENCH_TORCH
        std::printf("creating random %s folders in %s ...\n", o.preset.c_str(), dir.c_str());
        std::fflush(stdout);
        applyThreadCount(0);
        EveModel model(ModelConfig::preset(o.preset));
        model->initWeights(1);
        Gpt2Tokenizer tok = Gpt2Tokenizer::bundled();
        saveEveModel(f32Dir, model, DType::F32, &tok);
        saveEveModel(bf16Dir, model, DType::BF16, &tok);
#else
        throw Error("no model in " + dir + " (bench_engine, built with LibTorch, creates it)");
#endif
    }
    const int cores = availableCores();
    std::printf("model %s (%s), %d cores, prompt %d, decode %d, batch %d x %d steps, context %d, best of %d\n",
                o.preset.c_str(), dir.c_str(), cores, o.prompt, o.decode, o.batch, engine::PerfOptions{}.batchSteps,
                o.context, o.repeat);
    std::printf("load average at start: %s (other processes on this machine skew the timings)\n", loadAverage().c_str());
    std::map<int, double> bandwidth, readBandwidth;
    for (int t : o.threads) {
        const int n = t > 0 ? t : cores;
        if (bandwidth.count(n)) continue;
        bandwidth[n] = engine::measureCopyBandwidth(n, size_t(1) << 30);
        readBandwidth[n] = engine::measureReadBandwidth(n, size_t(1) << 30);
        std::printf("memory bandwidth, %d thread(s): copy %.2f GB/s (bytes read + written, 2 x 1 GiB); a plain read loop "
                    "%.2f GB/s\n", n, bandwidth[n] / 1e9, readBandwidth[n] / 1e9);
    }
    std::fflush(stdout);

    // The torch baseline first: its figures are the ratios' denominators.
    std::map<std::pair<std::string, int>, std::map<std::string, double>> torchRes;
#ifdef SWARM_BENCH_TORCH
    if (o.torch) {
        for (const std::string td : {"f32", "bf16"})
            for (int t : o.threads) {
                const std::string line = runChild(selfDir() + "/bench_engine",
                                                  {"--child", "torch", f32Dir, td, std::to_string(t), "--prompt",
                                                   std::to_string(o.prompt), "--torch-decode", std::to_string(o.torchDecode),
                                                   "--repeat", std::to_string(o.repeat)});
                torchRes[{td, t > 0 ? t : cores}] = parseResult(line);
            }
    }
#endif

    std::printf("\n%-7s %3s %10s %9s %9s %8s %8s %9s %8s %9s %9s  %s\n", "weights", "thr", "prefill/s", "decode/s",
                "batch8/s", "RSS MiB", "RSS all", "bound/s", "of bound", "x torch P", "x torch D", "(per token; head, KV cache)");
    std::vector<std::pair<std::string, std::string>> configs;   // (label / dtype+options, model path)
    for (const std::string& d : o.dtypes) configs.emplace_back(d, d.rfind("f32", 0) == 0 ? f32Dir : bf16Dir);
    for (const std::string& g : o.ggufs) {
        const size_t plus = g.find('+');
        const std::string file = g.substr(0, plus), extra = plus == std::string::npos ? "" : g.substr(plus);
        configs.emplace_back("gguf:" + fs::path(file).stem().string() + extra, file);
    }
    std::vector<std::pair<std::string, std::map<std::string, double>>> profiles;
    for (const auto& [d, model] : configs) {
        for (int t : o.threads) {
            const bool isGguf = d.rfind("gguf:", 0) == 0;
            const std::string variant = isGguf ? "auto" + (d.find('+') == std::string::npos ? "" : d.substr(d.find('+'))) : d;
            std::map<std::string, double> r;
            try {
                r = parseResult(runChild(cpuExe, {"--child", "engine", model, variant, std::to_string(t), "--prompt",
                                                  std::to_string(o.prompt), "--decode", std::to_string(o.decode), "--batch",
                                                  std::to_string(o.batch), "--context", std::to_string(o.context),
                                                  "--repeat", std::to_string(o.repeat)}));
            } catch (const Error& e) {
                std::printf("%-7s %3d failed: %s\n", d.c_str(), t, e.what());
                continue;
            }
            const int n = int(r["threads"]);
            const double bw = bandwidth.count(n) ? bandwidth[n] : engine::measureCopyBandwidth(n, size_t(1) << 30);
            const double bound = bw / r["bytes"];
            // Ratio against LibTorch in the same precision where it has one (q8_0 vs its f32).
            static const std::map<std::string, double> kNone;
            const auto found = torchRes.find({d == "bf16" ? "bf16" : "f32", n});
            const auto& tr = found == torchRes.end() ? kNone : found->second;   // no entry made for a missing baseline
            auto ratio = [&](const char* key, const char* tkey) {
                return tr.count(tkey) && tr.at(tkey) > 0 ? r[key] / tr.at(tkey) : 0.0;
            };
            std::printf("%-7s %3d %10.1f %9.1f %9.1f %8.1f %8.1f %9.1f %7.0f%% %8.1fx %8.1fx  (%.1f MiB; head %s, KV %s)\n", d.c_str(),
                        n, r["prefill"], r["decode"], r["batch"], r["rss1"], r["rss"], bound, 100.0 * r["decode"] / bound,
                        ratio("prefill", "prefill"), ratio("decode", "decode"), r["bytes"] / 1048576.0,
                        engine::wtypeName(engine::WType(int(r["head"]))), engine::wtypeName(engine::WType(int(r["kv"]))));
            std::fflush(stdout);
            profiles.emplace_back(d + " " + std::to_string(n) + "t", r);
        }
    }
    std::printf("load average at end: %s\n", loadAverage().c_str());
    std::printf("\nDecode profile, ms per token (64 greedy tokens after a 64-token prompt; matrix products as the wall time\n"
                "of their parallel region, 'sync' the part of those regions threads spent idle):\n%-22s", "");
    for (int op = 0; op < int(engine::Op::Count); ++op) std::printf(" %8.8s", engine::opName(engine::Op(op)));
    std::printf(" %8s %8s\n", "sync", "total");
    for (auto& [label, r] : profiles) {
        std::printf("%-22s", label.c_str());
        double total = 0;
        for (int op = 0; op < int(engine::Op::Count); ++op) {
            const double v = r["p" + std::to_string(op)];
            total += v;
            std::printf(" %8.3f", v);
        }
        std::printf(" %8.3f %8.3f\n", r["psync"], total);
    }
    std::printf("\nRSS MiB: peak resident set of the engine's process after load + one %d-token session (prefill + decode,\n"
                "then the rest of its context filled);\n"
                "RSS all: after the batched run too (%d more sessions). bound/s: decode bound = copy bandwidth / weight\n"
                "bytes read per decoded token (attention, router, shared expert, top-k experts, LM head). The copy\n"
                "bandwidth counts bytes read plus bytes written (STREAM convention); a core streaming reads alone\n"
                "reaches about half of it here, so 50%% of this bound is near what one core can read.\n",
                o.context, o.batch);
    if (!torchRes.empty()) {
        std::printf("\nLibTorch reference model (same weights; decode re-runs the sequence per token, no KV cache):\n");
        std::printf("%-7s %3s %11s %11s %9s\n", "dtype", "thr", "prefill/s", "decode/s", "RSS MiB");
        for (auto& [k, v] : torchRes)
            std::printf("%-7s %3d %11.1f %11.2f %9.1f\n", k.first.c_str(), k.second, v["prefill"], v["decode"], v["rss"]);
        std::printf("x torch P / D: engine prefill / decode tokens/s over LibTorch's with the same threads (q8_0 and f32\n"
                    "against LibTorch f32, bf16 against LibTorch bf16).\n");
    }
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    try {
        Options o = parse(argc, argv);
        if (o.child == "engine") return engineChild(o);
#ifdef SWARM_BENCH_TORCH
        if (o.child == "torch") return torchChild(o);
#endif
        if (!o.child.empty()) throw Error("unknown child mode " + o.child);
        return driver(o);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_engine: %s\n", e.what());
        return 1;
    }
}
