#pragma once
// The built-in launcher for one machine (what `swarm train --nproc N` and the Train page's
// "processes" setting use): starts ranks of a data-parallel job as child processes with
// torchrun's launch variables set (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT), watches them, and when one dies stops the others
// (SIGTERM, then SIGKILL after a grace period) and says which rank died and how.
//
// The ranks run in their own process group, so a terminal's Ctrl-C reaches the launcher alone
// and is forwarded once (signalAll); a launcher that is itself killed takes them with it
// (PR_SET_PDEATHSIG: create LocalRanks on a thread that outlives the job).
#include "training/distributed.h"

#include <atomic>
#include <memory>
#include <string>
#include <sys/types.h>
#include <vector>

namespace swarm {

class LocalRanks {
public:
    struct Spec {
        std::string executable;              // usually the swarm binary
        std::vector<std::string> args;       // its arguments (without argv[0])
        int worldSize = 1;
        int firstRank = 0;                   // 1 when this process is rank 0 itself
        int masterPort = 0;
        int graceSeconds = 10;               // after one rank failed, how long the others get to exit
    };
    explicit LocalRanks(const Spec& spec);   // starts the ranks; throws swarm::Error when one cannot start
    ~LocalRanks();                           // stops (SIGTERM, then SIGKILL) and reaps ranks still running

    void signalAll(int signal);
    // Reaps ranks that exited, without blocking. Once one has failed it stops the others.
    // Returns true when no rank is running any more.
    bool poll();
    // Polls until every rank has exited, forwarding *forward (then clearing it) whenever it is
    // set to a signal number. Returns exitCode().
    int wait(std::atomic<int>* forward = nullptr);

    // "" while no rank failed; else one line: "rank 1 (pid 4242) was killed by signal 9 (Killed)".
    const std::string& failure() const { return failure_; }
    // 0: every rank finished; 130: every rank stopped on a signal (a cancelled run); 1: a failure.
    int exitCode() const;

    // A TCP port that is free on 127.0.0.1 now (the kernel's pick).
    static int freePort();

private:
    struct Rank {
        int rank = 0;
        pid_t pid = -1;
        bool running = false;
        int status = 0;
    };
    std::vector<Rank> ranks_;
    std::string failure_;
    int graceSeconds_ = 10;
    double stopDeadline_ = 0;                // when SIGKILL follows the SIGTERM of a failed job
};

// The Train page's "processes" setting: this process becomes rank 0 of an N-process job on this
// machine; ranks 1..N-1 run `swarmExecutable train --join` and take the job (run folder, base
// model, project, dataset, config) from rank 0. Pass `dist` to Trainer::create or
// Trainer::resume, run the trainer, then workers->wait(). Call it on the training thread.
struct LocalJob {
    std::unique_ptr<LocalRanks> workers;
    std::unique_ptr<Distributed> dist;
};
LocalJob startLocalJob(const std::string& swarmExecutable, int processes, const std::string& backend = "auto",
                       std::chrono::milliseconds timeout = std::chrono::minutes(5));

} // namespace swarm
