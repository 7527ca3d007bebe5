#include "training/local_launcher.h"

#include "core/error.h"

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

extern char** environ;

namespace swarm {

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

bool isLaunchVariable(const std::string& entry) {
    for (const char* name : {"RANK=", "WORLD_SIZE=", "LOCAL_RANK=", "LOCAL_WORLD_SIZE=", "GROUP_RANK=", "MASTER_ADDR=",
                             "MASTER_PORT=", "TORCHELASTIC_USE_AGENT_STORE=", "TORCHELASTIC_RESTART_COUNT="})
        if (entry.rfind(name, 0) == 0) return true;
    return false;
}

// A rank ends normally when it finishes (0) or stops on a forwarded Ctrl-C / SIGTERM (130).
bool endedNormally(int status) { return WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 130); }

std::string describeEnd(int rank, pid_t pid, int status) {
    const std::string who = "rank " + std::to_string(rank) + " (pid " + std::to_string(pid) + ")";
    if (WIFSIGNALED(status))
        return who + " was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
    return who + " failed with exit status " + std::to_string(WEXITSTATUS(status));
}

} // namespace

LocalRanks::LocalRanks(const Spec& spec) : graceSeconds_(spec.graceSeconds) {
    if (spec.worldSize < 1 || spec.firstRank < 0 || spec.firstRank > spec.worldSize)
        throw Error("local launcher: ranks " + std::to_string(spec.firstRank) + ".." + std::to_string(spec.worldSize - 1) +
                    " do not fit a job of " + std::to_string(spec.worldSize));
    if (::access(spec.executable.c_str(), X_OK) != 0)
        throw Error("local launcher: cannot run " + spec.executable + ": " + std::strerror(errno));
    std::vector<std::string> inherited;
    for (char** e = environ; *e; ++e)
        if (!isLaunchVariable(*e)) inherited.emplace_back(*e);
    for (int r = spec.firstRank; r < spec.worldSize; ++r) {
        // Everything the child needs is built before fork(): after it, only async-signal-safe calls.
        std::vector<std::string> env = inherited;
        env.push_back("RANK=" + std::to_string(r));
        env.push_back("LOCAL_RANK=" + std::to_string(r));
        env.push_back("GROUP_RANK=0");
        env.push_back("WORLD_SIZE=" + std::to_string(spec.worldSize));
        env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(spec.worldSize));
        env.push_back("MASTER_ADDR=127.0.0.1");
        env.push_back("MASTER_PORT=" + std::to_string(spec.masterPort));
        std::vector<char*> envp, argv;
        for (std::string& s : env) envp.push_back(s.data());
        envp.push_back(nullptr);
        std::string exe = spec.executable;
        std::vector<std::string> args = spec.args;
        argv.push_back(exe.data());
        for (std::string& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = ::getpid();
        const int devNull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        // Signals stay blocked across fork() until the child has dropped this process's handlers:
        // a SIGTERM that arrives before its exec must end it, not run our handler in the copy.
        sigset_t all, previous;
        sigfillset(&all);
        ::pthread_sigmask(SIG_SETMASK, &all, &previous);
        const pid_t pid = ::fork();
        if (pid == 0) {
            for (int s = 1; s < NSIG; ++s) ::signal(s, SIG_DFL);
            ::setpgid(0, 0);                          // Ctrl-C reaches the launcher, which forwards it once
            ::prctl(PR_SET_PDEATHSIG, SIGTERM);       // a launcher that dies takes its ranks with it
            if (::getppid() != parent) ::_exit(1);    // it died before the line above
            if (devNull >= 0) ::dup2(devNull, 0);
            ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
            ::execve(exe.c_str(), argv.data(), envp.data());
            ::_exit(127);
        }
        const int forkErrno = errno;
        ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
        if (pid < 0) {
            if (devNull >= 0) ::close(devNull);
            throw Error("local launcher: cannot start rank " + std::to_string(r) + ": " + std::strerror(forkErrno));
        }
        if (devNull >= 0) ::close(devNull);
        ranks_.push_back(Rank{r, pid, true, 0});
    }
}

LocalRanks::~LocalRanks() {
    bool running = false;
    for (const Rank& r : ranks_) running = running || r.running;
    if (!running) return;
    signalAll(SIGTERM);
    const double deadline = now() + graceSeconds_;
    while (!poll() && now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    signalAll(SIGKILL);
    for (Rank& r : ranks_)
        if (r.running) {
            ::waitpid(r.pid, &r.status, 0);
            r.running = false;
        }
}

void LocalRanks::signalAll(int signal) {
    for (const Rank& r : ranks_)
        if (r.running) ::kill(r.pid, signal);
}

bool LocalRanks::poll() {
    bool anyRunning = false;
    for (Rank& r : ranks_) {
        if (!r.running) continue;
        int status = 0;
        const pid_t got = ::waitpid(r.pid, &status, WNOHANG);
        if (got == 0) {
            anyRunning = true;
            continue;
        }
        r.running = false;
        r.status = got == r.pid ? status : (1 << 8);    // lost (reaped elsewhere): count it as a failure
        if (!endedNormally(r.status) && failure_.empty()) {
            failure_ = describeEnd(r.rank, r.pid, r.status);
            stopDeadline_ = now() + graceSeconds_;
            signalAll(SIGTERM);
        }
    }
    if (anyRunning && !failure_.empty() && now() > stopDeadline_) signalAll(SIGKILL);
    return !anyRunning;
}

int LocalRanks::wait(std::atomic<int>* forward) {
    while (!poll()) {
        if (forward) {
            const int signal = forward->exchange(0);
            if (signal != 0) signalAll(signal);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return exitCode();
}

int LocalRanks::exitCode() const {
    if (!failure_.empty()) return 1;
    for (const Rank& r : ranks_)
        if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 130) return 130;
    return 0;
}

int LocalRanks::freePort() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw Error(std::string("cannot open a socket to find a free port: ") + std::strerror(errno));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
                    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
    ::close(fd);
    if (!ok) throw Error(std::string("cannot find a free port on 127.0.0.1: ") + std::strerror(errno));
    return ntohs(addr.sin_port);
}

LocalJob startLocalJob(const std::string& swarmExecutable, int processes, const std::string& backend,
                       std::chrono::milliseconds timeout) {
    if (processes < 1) throw Error("processes must be at least 1 (got " + std::to_string(processes) + ")");
    LocalJob job;
    LocalRanks::Spec spec;
    spec.executable = swarmExecutable;
    spec.args = {"train", "--join", "--dist-backend", backend, "--dist-timeout",
                 std::to_string(std::max<long long>(1, (long long)(timeout.count() / 1000)))};
    spec.worldSize = processes;
    spec.firstRank = 1;
    spec.masterPort = LocalRanks::freePort();
    job.workers = std::make_unique<LocalRanks>(spec);
    LaunchEnv env;
    env.rank = 0;
    env.worldSize = processes;
    env.localRank = 0;
    env.localWorldSize = processes;
    env.masterAddr = "127.0.0.1";
    env.masterPort = spec.masterPort;
    job.dist = Distributed::connect(env, backend, timeout);
    return job;
}

} // namespace swarm
