// Which threading environment makes LibTorch fastest here? OpenMP (LibTorch's parallel_for) and
// OpenBLAS (its own pthreads) share the cores; an OpenMP worker spin-waiting after a parallel
// region steals a core from a BLAS thread. The environment is read once at load time, so each
// variant runs in a fresh child process of this same binary.
//
//   bench_threading [--preset tiny|eve-272m] [--steps N] [--threads N]
//
// Prints, per variant: training step time (forward + backward, micro-batch 4 x 256) and prefill
// time (forward, 1 x 256, no grad), and the ratio to the variant the product uses (PASSIVE).
#include "model/eve_model.h"
#include "model/runtime.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace swarm;
using Clock = std::chrono::steady_clock;

namespace {

struct Variant {
    const char* name;
    std::vector<std::pair<const char*, const char*>> env;   // nullptr value = unset
};

double seconds(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

int runChild(const std::string& preset, int steps, int threads) {
    applyThreadCount(threads);
    ModelConfig c = ModelConfig::preset(preset);
    EveModel model(c);
    model->initWeights(1);
    torch::manual_seed(2);
    torch::Tensor batch = torch::randint(50257, {4, 256}, torch::kInt64);
    torch::Tensor prompt = torch::randint(50257, {1, 256}, torch::kInt64);
    // Warm-up: first calls allocate and spin up thread pools.
    model->forward(batch, batch).loss.backward();
    model->zero_grad();
    auto t0 = Clock::now();
    for (int i = 0; i < steps; ++i) {
        model->forward(batch, batch).loss.backward();
        model->zero_grad();
    }
    auto t1 = Clock::now();
    double prefill;
    {
        torch::NoGradGuard g;
        model->forward(prompt);
        auto p0 = Clock::now();
        for (int i = 0; i < steps; ++i) model->forward(prompt);
        prefill = seconds(p0, Clock::now()) / steps;
    }
    std::printf("%.6f %.6f\n", seconds(t0, t1) / steps, prefill);
    return 0;
}

bool runVariant(const Variant& v, char** argv, double& train, double& prefill) {
    int pipefd[2];
    if (pipe(pipefd) != 0) return false;
    pid_t pid = fork();
    if (pid == 0) {
        for (auto& [k, val] : v.env) {
            if (val) setenv(k, val, 1);
            else unsetenv(k);
        }
        setenv("SWARM_NO_REEXEC", "1", 1);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        std::vector<char*> args;
        for (char** a = argv; *a; ++a) args.push_back(*a);
        std::string child = "--child";
        args.push_back(child.data());
        args.push_back(nullptr);
        execv("/proc/self/exe", args.data());
        _exit(127);
    }
    close(pipefd[1]);
    char buf[256] = {0};
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    close(pipefd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return n > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && std::sscanf(buf, "%lf %lf", &train, &prefill) == 2;
}

} // namespace

int main(int argc, char** argv) {
    std::string preset = "tiny";
    int steps = 5, threads = 0;
    bool child = false;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--child")) child = true;
        else if (!std::strcmp(argv[i], "--preset") && i + 1 < argc) preset = argv[++i];
        else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
        else if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    }
    if (child) return runChild(preset, steps, threads);

    const std::vector<Variant> variants = {
        {"default (nothing set)", {{"OMP_WAIT_POLICY", nullptr}, {"OPENBLAS_NUM_THREADS", nullptr}}},
        {"OMP_WAIT_POLICY=PASSIVE (product)", {{"OMP_WAIT_POLICY", "PASSIVE"}, {"OPENBLAS_NUM_THREADS", nullptr}}},
        {"OPENBLAS_NUM_THREADS=1", {{"OMP_WAIT_POLICY", nullptr}, {"OPENBLAS_NUM_THREADS", "1"}}},
        {"PASSIVE + OPENBLAS_NUM_THREADS=1", {{"OMP_WAIT_POLICY", "PASSIVE"}, {"OPENBLAS_NUM_THREADS", "1"}}},
    };
    std::printf("preset %s, %d steps, %d threads (0 = all %d cores)\n", preset.c_str(), steps, threads,
                availableCores());
    std::printf("%-36s %14s %14s\n", "variant", "train step s", "prefill s");
    std::vector<std::pair<double, double>> results;
    for (const Variant& v : variants) {
        double train = 0, prefill = 0;
        if (!runVariant(v, argv, train, prefill)) {
            std::printf("%-36s failed\n", v.name);
            results.push_back({0, 0});
            continue;
        }
        results.push_back({train, prefill});
        std::printf("%-36s %14.4f %14.4f\n", v.name, train, prefill);
    }
    const auto& product = results[1];
    if (product.first > 0) {
        std::printf("\nratio to the product's choice (>1 = slower than PASSIVE)\n");
        for (size_t i = 0; i < variants.size(); ++i)
            if (results[i].first > 0)
                std::printf("%-36s %14.2fx %13.2fx\n", variants[i].name, results[i].first / product.first,
                            results[i].second / product.second);
    }
    return 0;
}
