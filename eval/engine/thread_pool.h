#pragma once
// A fixed pool of worker threads for the engine's parallel loops. run() hands out task indices
// 0..n-1 through an atomic counter (so a core stolen by another process only slows its own
// tasks), the calling thread works too, and run() returns when every task is done.
//
// Waiting: a worker spins briefly (with pause) for the next run, since a forward pass issues
// runs back to back, then sleeps on a condition variable so that an idle engine uses no CPU.
// run() allocates nothing: the task function is a plain pointer plus a context pointer.
// Runs are serialised by a mutex, so several sessions may share one pool from different threads.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace swarm::engine {

// Cores this process may run on (sched_getaffinity), at least 1.
int availableCpuCount();

class ThreadPool {
public:
    using TaskFn = void (*)(void* ctx, int task, int thread);

    // threads <= 0: availableCpuCount(). The pool has threads - 1 workers plus the caller.
    explicit ThreadPool(int threads);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return int(workers_.size()) + 1; }

    // Calls fn(ctx, task, thread) for every task in [0, tasks); thread is in [0, size()).
    void run(int tasks, TaskFn fn, void* ctx);

    // f(task, thread) for a callable f (kept by reference: no allocation).
    template <class F>
    void parallelFor(int tasks, F&& f) {
        using Fn = std::remove_reference_t<F>;
        run(tasks, [](void* c, int task, int thread) { (*static_cast<Fn*>(c))(task, thread); },
            const_cast<void*>(static_cast<const void*>(&f)));
    }

private:
    void workerLoop(int thread);
    void work(int thread);

    std::vector<std::thread> workers_;
    std::mutex runMutex_;                 // one run at a time
    std::mutex wakeMutex_;
    std::condition_variable wake_;
    std::atomic<uint64_t> generation_{0}; // bumped once per run
    std::atomic<int> nextTask_{0};
    std::atomic<int> busyWorkers_{0};
    std::atomic<bool> stop_{false};
    // The current run; written before generation_ is bumped (release) and read after it (acquire).
    TaskFn fn_ = nullptr;
    void* ctx_ = nullptr;
    int tasks_ = 0;
};

} // namespace swarm::engine
