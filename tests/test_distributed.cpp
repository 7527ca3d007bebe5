// The data-parallel building blocks in one process: the launch variables, backend choice, the
// shares of a global batch, and two ranks over Gloo on 127.0.0.1 (one thread each) for the
// rendezvous checks and the gradient all-reduce's "has gradient" rule. Every wait is bounded:
// the timeouts here are seconds, and ports are picked free.
#include "training/batch_plan.h"
#include "training/distributed.h"
#include "training/local_launcher.h"

#include "test_util.h"

#include <QtTest>

#include <arpa/inet.h>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <future>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace swarm;
using swarm::test::errorOf;
using Clock = std::chrono::steady_clock;

namespace {

const std::vector<const char*> kLaunchVariables = {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                                                   "MASTER_PORT", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"};

void setLaunchVariables(const std::vector<std::pair<const char*, const char*>>& values) {
    for (const char* name : kLaunchVariables) ::unsetenv(name);
    for (auto& [name, value] : values) ::setenv(name, value, 1);
}

LaunchEnv localEnv(int rank, int worldSize, int port) {
    LaunchEnv env;
    env.rank = rank;
    env.worldSize = worldSize;
    env.localRank = rank;
    env.localWorldSize = worldSize;
    env.masterAddr = "127.0.0.1";
    env.masterPort = port;
    return env;
}

double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Runs fn(rank) for ranks 0..n-1 on their own threads; returns each one's error ("" when none).
std::vector<std::string> onRanks(int n, const std::function<void(int)>& fn) {
    std::vector<std::future<std::string>> results;
    for (int r = 0; r < n; ++r) results.push_back(std::async(std::launch::async, [&, r] { return errorOf([&] { fn(r); }); }));
    std::vector<std::string> errors;
    for (auto& f : results) errors.push_back(f.get());
    return errors;
}

const auto kShort = std::chrono::milliseconds(3000);

// The tests that start ranks need the Gloo backend, compiled in when libgloo-dev is installed.
#define REQUIRE_GLOO() \
    if (!glooCompiledIn()) QSKIP("this build has no Gloo backend: install libgloo-dev and rebuild")

} // namespace

class TestDistributed : public QObject {
    Q_OBJECT

private slots:
    void cleanup() { setLaunchVariables({}); }

    void launchVariables() {
        setLaunchVariables({});
        QVERIFY(!launchEnvFromEnvironment());

        setLaunchVariables({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "10.0.0.5"}, {"MASTER_PORT", "29500"}});
        std::optional<LaunchEnv> env = launchEnvFromEnvironment();
        QVERIFY(env);
        QCOMPARE(env->rank, 1);
        QCOMPARE(env->worldSize, 4);
        QCOMPARE(env->localRank, 1);
        QCOMPARE(env->localWorldSize, 2);
        QCOMPARE(env->masterAddr, std::string("10.0.0.5"));
        QCOMPARE(env->masterPort, 29500);
        QVERIFY(!env->agentStore);

        // A Kubernetes PyTorchJob pod: no LOCAL_RANK, one process per machine.
        setLaunchVariables({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "master-0"}, {"MASTER_PORT", "23456"},
                            {"TORCHELASTIC_USE_AGENT_STORE", "True"}});
        env = launchEnvFromEnvironment();
        QCOMPARE(env->localRank, 0);
        QCOMPARE(env->localWorldSize, 1);
        QVERIFY(env->agentStore);

        setLaunchVariables({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
        std::string e = errorOf([] { launchEnvFromEnvironment(); });
        QVERIFY2(e.find("MASTER_ADDR is not set") != std::string::npos, e.c_str());
        setLaunchVariables({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
        e = errorOf([] { launchEnvFromEnvironment(); });
        QVERIFY2(e.find("RANK=2 is outside the job: WORLD_SIZE=2") != std::string::npos, e.c_str());
        setLaunchVariables({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "http"}});
        e = errorOf([] { launchEnvFromEnvironment(); });
        QVERIFY2(e.find("MASTER_PORT='http'") != std::string::npos, e.c_str());
        setLaunchVariables({{"RANK", "0"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "2"}, {"LOCAL_WORLD_SIZE", "2"},
                            {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
        e = errorOf([] { launchEnvFromEnvironment(); });
        QVERIFY2(e.find("LOCAL_RANK=2 is not below LOCAL_WORLD_SIZE=2") != std::string::npos, e.c_str());
    }

    void backendAndDevice() {
        QCOMPARE(chooseBackend("auto", "cpu"), std::string("gloo"));
        QCOMPARE(chooseBackend("gloo", "cpu"), std::string("gloo"));
        std::string e = errorOf([] { chooseBackend("mpi", "cpu"); });
        QVERIFY2(e.find("unknown distributed backend 'mpi'") != std::string::npos, e.c_str());
        e = errorOf([] { chooseBackend("nccl", "cpu"); });
        if (ncclCompiledIn()) QVERIFY2(e.find("runs on CUDA devices only") != std::string::npos, e.c_str());
        else QVERIFY2(e.find("CPU-only LibTorch: use --dist-backend gloo") != std::string::npos, e.c_str());
        LaunchEnv env = localEnv(5, 8, 1);
        env.localRank = 3;
        QCOMPARE(rankDeviceSpec("cuda", env), std::string("cuda:3"));
        QCOMPARE(rankDeviceSpec("cuda:0", env), std::string("cuda:3"));
        QCOMPARE(rankDeviceSpec("cpu", env), std::string("cpu"));
    }

    // Every micro-batch goes to exactly one rank, for any world size; the plan itself is unchanged.
    void sharesCoverEachGlobalBatchOnce() {
        std::vector<int32_t> lengths;
        for (int i = 0; i < 53; ++i) lengths.push_back(5 + (i * 7) % 40);
        const std::vector<GlobalBatch> plan = planEpoch(lengths, 16, 3, 11, 0);
        for (int world : {1, 2, 3, 4, 7, 9}) {
            for (const GlobalBatch& batch : plan) {
                std::vector<int> owner(batch.size(), -1);
                for (int r = 0; r < world; ++r) {
                    const GlobalBatch share = rankShare(batch, r, world);
                    size_t k = 0;
                    for (size_t i = 0; i < batch.size(); ++i) {
                        if (int(i % size_t(world)) != r) continue;
                        QVERIFY(k < share.size());
                        QCOMPARE(share[k++], batch[i]);
                        QCOMPARE(owner[i], -1);
                        owner[i] = r;
                    }
                    QCOMPARE(k, share.size());
                }
                for (int o : owner) QVERIFY(o >= 0);
            }
        }
    }

    // Two ranks agree, sum a tensor, and apply the gradient rule: summed where any rank has a
    // gradient (zeros elsewhere), still none where no rank has one.
    void gradientAllReduceKeepsTheNoGradientRule() {
        REQUIRE_GLOO();
        const int port = LocalRanks::freePort();
        std::vector<std::vector<at::Tensor>> results(2);
        std::vector<int64_t> bytes(2);
        const auto errors = onRanks(2, [&](int r) {
            auto dist = Distributed::connect(localEnv(r, 2, port), "auto", kShort);
            dist->agree(nlohmann::json{{"training config", {{"peak_lr", 1e-3}}}}, "cpu");
            // (no QVERIFY on these threads: a failure is thrown and reported by onRanks)
            if (dist->backend() != "gloo") throw Error("backend " + dist->backend());
            at::Tensor x = at::full({3}, double(r + 1), at::kDouble);
            dist->allReduceSum(x, "test sum");
            if (x[2].item<double>() != 3.0) throw Error("sum " + std::to_string(x[2].item<double>()));

            // p0: a gradient on both ranks; p1: on rank 0 only; p2: on neither; p3: on rank 1 only.
            std::vector<at::Tensor> params;
            for (int64_t n : {5, 7, 3, 4}) params.push_back(at::zeros({n}, at::kFloat).set_requires_grad(true));
            params[0].mutable_grad() = at::full({5}, float(r + 1));
            if (r == 0) params[1].mutable_grad() = at::arange(7, at::kFloat);
            if (r == 1) params[3].mutable_grad() = at::full({4}, 2.5f);
            GradientAllReduce reduce(params, *dist, /*bucketBytes=*/24);    // several buckets
            if (reduce.bucketCount() < 2) throw Error("one bucket");
            reduce.run("test gradient all-reduce");
            results[size_t(r)] = params;
            bytes[size_t(r)] = reduce.bytesPerStep();
        });
        QVERIFY2(errors[0].empty() && errors[1].empty(), (errors[0] + " | " + errors[1]).c_str());
        for (int r = 0; r < 2; ++r) {
            const std::vector<at::Tensor>& p = results[size_t(r)];
            QVERIFY(at::equal(p[0].grad(), at::full({5}, 3.0f)));
            QVERIFY(at::equal(p[1].grad(), at::arange(7, at::kFloat)));
            QVERIFY(!p[2].grad().defined());
            QVERIFY(at::equal(p[3].grad(), at::full({4}, 2.5f)));
            QCOMPARE(bytes[size_t(r)], int64_t((5 + 7 + 3 + 4 + 4) * 4));     // gradients plus one flag each
        }
    }

    void differingFactsNameTheDifference() {
        REQUIRE_GLOO();
        const int port = LocalRanks::freePort();
        const auto errors = onRanks(2, [&](int r) {
            auto dist = Distributed::connect(localEnv(r, 2, port), "auto", kShort);
            dist->agree(nlohmann::json{{"dataset", {{"name", "nl2sql"}, {"fingerprint", r == 0 ? "111" : "222"}}},
                                       {"training config", {{"epochs", 2}}}},
                        "cpu");
        });
        for (const std::string& e : errors)
            QVERIFY2(e == "rank 1's dataset differs from rank 0's: fingerprint \"222\" vs \"111\"", e.c_str());
    }

    // A rank whose set-up failed says so at once: the others do not wait for their timeout.
    void aSetupFailureReachesEveryRank() {
        REQUIRE_GLOO();
        const int port = LocalRanks::freePort();
        const auto start = Clock::now();
        const auto errors = onRanks(2, [&](int r) {
            auto dist = Distributed::connect(localEnv(r, 2, port), "auto", std::chrono::seconds(60));
            if (r == 1) {
                dist->failSetup("p.swarm: dataset 'sql' not found");
                return;
            }
            dist->agree(nlohmann::json{{"run", "create"}}, "cpu");
        });
        QVERIFY2(errors[0] == "rank 1: p.swarm: dataset 'sql' not found", errors[0].c_str());
        QVERIFY(secondsSince(start) < 30);
    }

    void worldSizesMustAgree() {
        REQUIRE_GLOO();
        const int port = LocalRanks::freePort();
        const auto errors = onRanks(2, [&](int r) { Distributed::connect(localEnv(r, r == 0 ? 2 : 3, port), "auto", kShort); });
        for (const std::string& e : errors)
            QVERIFY2(e == "WORLD_SIZE is 3 on rank 1 but 2 on rank 0: every rank must be started with the same WORLD_SIZE", e.c_str());
    }

    void aMissingRankIsNamed() {
        REQUIRE_GLOO();
        const auto start = Clock::now();
        const std::string e = errorOf([&] { Distributed::connect(localEnv(0, 3, LocalRanks::freePort()), "auto", kShort); });
        QVERIFY2(e.find("rank(s) 1, 2 of 3 did not join within 3 s") != std::string::npos, e.c_str());
        QVERIFY(secondsSince(start) < 20);
    }

    void anUnreachableMasterIsNamed() {
        REQUIRE_GLOO();
        const int port = LocalRanks::freePort();
        const auto start = Clock::now();
        const std::string e = errorOf([&] { Distributed::connect(localEnv(1, 2, port), "auto", kShort); });
        const std::string want = "rank 1 cannot reach the master at 127.0.0.1:" + std::to_string(port) + " within 3 s";
        QVERIFY2(e.find(want) != std::string::npos, e.c_str());
        QVERIFY(secondsSince(start) < 20);
    }

    void aPortInUseIsNamed() {
        REQUIRE_GLOO();
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_ANY);
        addr.sin_port = 0;
        socklen_t len = sizeof addr;
        QVERIFY(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::listen(fd, 4) == 0);
        QVERIFY(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        const int port = ntohs(addr.sin_port);
        const std::string e = errorOf([&] { Distributed::connect(localEnv(0, 2, port), "auto", kShort); });
        ::close(fd);
        QVERIFY2(e.find("MASTER_PORT " + std::to_string(port) + " is already in use on this machine") != std::string::npos, e.c_str());
    }

    // The launcher says which rank died and how, and stops the others.
    void theLauncherNamesTheRankThatDied() {
        LocalRanks::Spec spec;
        spec.executable = "/bin/sh";
        spec.args = {"-c", "if [ \"$RANK\" = 1 ]; then kill -9 $$; fi; sleep 30"};
        spec.worldSize = 3;
        spec.masterPort = 1;
        spec.graceSeconds = 2;
        const auto start = Clock::now();
        LocalRanks ranks(spec);
        QCOMPARE(ranks.wait(), 1);
        QVERIFY2(ranks.failure().rfind("rank 1 (pid ", 0) == 0 && ranks.failure().find("was killed by signal 9") != std::string::npos,
                 ranks.failure().c_str());
        QVERIFY(secondsSince(start) < 15);

        spec.args = {"-c", "test \"$WORLD_SIZE $LOCAL_WORLD_SIZE $MASTER_ADDR $MASTER_PORT\" = \"2 2 127.0.0.1 4321\" && exit $((RANK * 130))"};
        spec.worldSize = 2;
        spec.masterPort = 4321;
        LocalRanks stopped(spec);
        QCOMPARE(stopped.wait(), 130);       // rank 0 finished, rank 1 stopped on a signal: a cancelled job
        QVERIFY(stopped.failure().empty());
    }
};

QTEST_GUILESS_MAIN(TestDistributed)
#include "test_distributed.moc"
