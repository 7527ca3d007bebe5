// Data-parallel training speed on this machine (CPU, Gloo over 127.0.0.1), printed (no pass/fail):
// the same `swarm train` run (a model preset, the NL->SQL sample, global batch 16 in micro-batches
// of 4) on one process and on `--nproc N` ranks, each rank with cores/N threads:
//   - tokens/s: the median step (the first, with its allocations, left out);
//   - the share of step time spent in the all-reduces (gradients and step statistics; it includes
//     waiting for the slowest rank), and the bytes each rank all-reduces per step.
//
//   bench_distributed [--ranks N] [--steps N] [--preset tiny|eve-272m] [--keep]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

std::string g_work;

// Runs the swarm binary with `args`; its stderr goes to `errFile` (when given). Exits on failure.
void swarm(const std::string& args, const std::string& errFile = "") {
    const std::string cmd = std::string(SWARM_CLI) + " " + args + " > /dev/null 2> " +
                            (errFile.empty() ? g_work + "/last.err" : errFile);
    if (std::system(cmd.c_str()) != 0) {
        std::fprintf(stderr, "bench_distributed: failed: %s (see %s)\n", cmd.c_str(),
                     (errFile.empty() ? g_work + "/last.err" : errFile).c_str());
        std::exit(1);
    }
}

std::string readFile(const std::string& path) {
    std::ifstream f(path);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

struct Measured {
    double tokensPerSecond = 0;
    double secondsPerStep = 0;
    std::string dataParallelLine;       // the CLI's summary: all-reduce share and bytes per step
};

Measured trainOn(int ranks, int steps) {
    const std::string run = g_work + "/run-" + std::to_string(ranks);
    const std::string err = run + ".err";
    std::string args = "train --project " + g_work + "/p.swarm --dataset nl2sql --base " + g_work +
                       "/base --out " + run + " --preset quick-test --global-batch 16 --micro-batch 4 --epochs 1 --max-steps " +
                       std::to_string(steps) + " --checkpoint-every 0 --eval-every 0 --seed 1";
    if (ranks > 1) args += " --nproc " + std::to_string(ranks);
    swarm(args, err);
    Measured m;
    std::vector<double> tps, sps;
    std::istringstream csv(readFile(run + "/metrics.csv"));
    std::string line;
    while (std::getline(csv, line)) {
        if (line.rfind("train,", 0) != 0) continue;
        std::vector<std::string> cells;
        std::stringstream cellStream(line);
        for (std::string c; std::getline(cellStream, c, ',');) cells.push_back(c);
        if (cells.size() < 9 || cells[1] == "1") continue;        // step 1 warms up
        const double t = std::atof(cells[8].c_str()), tokens = std::atof(cells[7].c_str());
        tps.push_back(t);
        if (t > 0) sps.push_back(tokens / t);
    }
    m.tokensPerSecond = median(tps);
    m.secondsPerStep = median(sps);
    std::istringstream errLines(readFile(err));
    while (std::getline(errLines, line))
        if (line.rfind("data parallel:", 0) == 0) m.dataParallelLine = line;
    return m;
}

} // namespace

int main(int argc, char** argv) {
    int ranks = 2, steps = 8;
    std::string preset = "tiny";
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--ranks") && i + 1 < argc) ranks = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!std::strcmp(argv[i], "--keep")) keep = true;
        else {
            std::fprintf(stderr, "usage: bench_distributed [--ranks N] [--steps N] [--preset tiny|eve-272m] [--keep]\n");
            return 2;
        }
    }
    char pattern[] = "/tmp/bench_distributed-XXXXXX";
    if (!mkdtemp(pattern)) return 1;
    g_work = pattern;
    swarm("project create " + g_work + "/p.swarm");
    swarm("dataset samples --out " + g_work + "/samples --count 400");
    swarm("dataset import " + g_work + "/samples/nl2sql.jsonl --project " + g_work +
          "/p.swarm --name nl2sql --max-len 128 --split 0.98,0.02,0 --quiet");
    swarm("model init --preset " + preset + " --out " + g_work + "/base --seed 1");

    std::printf("data-parallel training on CPU over Gloo (127.0.0.1): %s, global batch 16 = micro-batches of 4, "
                "%d steps, median step\n", preset.c_str(), steps);
    const Measured one = trainOn(1, steps);
    std::printf("  1 process        %9.0f tokens/s  %7.3f s/step\n", one.tokensPerSecond, one.secondsPerStep);
    const Measured many = trainOn(ranks, steps);
    std::printf("  %d ranks          %9.0f tokens/s  %7.3f s/step  (%.2fx)\n", ranks, many.tokensPerSecond,
                many.secondsPerStep, one.tokensPerSecond > 0 ? many.tokensPerSecond / one.tokensPerSecond : 0.0);
    std::printf("  %s\n", many.dataParallelLine.empty() ? "(no data-parallel summary line)" : many.dataParallelLine.c_str());
    if (!keep) fs::remove_all(g_work);
    else std::printf("  runs kept in %s\n", g_work.c_str());
    return 0;
}
