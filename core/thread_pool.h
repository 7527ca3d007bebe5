#pragma once
// A fixed pool of worker threads for the engine's parallel loops. run() hands out task indices
// 0..n-1 through one atomic ticket, the calling thread works too, and run() returns when every
// task is done.
//
// Built for a machine shared with other work: run() waits for the tasks, never for the workers.
// A worker that the OS has descheduled simply misses the run (the others, and the caller, take its
// share); only a task already claimed is waited for. The ticket packs the run's generation with
// the next task index, so a late worker can never claim a task of a run it did not see start.
//
// Waiting: a worker spins briefly (with pause) for the next run, since a forward pass issues runs
// back to back, then sleeps on a condition variable so that an idle engine uses no CPU.
// run() allocates nothing: the task function is a plain pointer plus a context pointer.
// Runs are serialised by a mutex, so several sessions may share one pool from different threads.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace swarm {

class ThreadPool {
public:
    using TaskFn = void (*)(void* ctx, int task, int thread);

    // threads <= 0: availableCores(). The pool has threads - 1 workers plus the caller.
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

    // parallelFor for tasks that may throw: after the first exception the tasks not yet started
    // are skipped, and that exception is rethrown here once the running ones have ended.
    template <class F>
    void parallelForRethrowing(int tasks, F&& f) {
        std::mutex errorMutex;
        std::exception_ptr error;
        std::atomic<bool> failed{false};
        parallelFor(tasks, [&](int task, int thread) {
            if (failed.load(std::memory_order_relaxed)) return;
            try {
                f(task, thread);
            } catch (...) {
                std::lock_guard<std::mutex> lock(errorMutex);
                if (!error) error = std::current_exception();
                failed.store(true, std::memory_order_relaxed);
            }
        });
        if (error) std::rethrow_exception(error);
    }

private:
    // A run's parameters: two slots, so that setting up run g + 1 never writes what a worker of
    // run g may still read (a run ends only when all its tasks are done).
    struct Slot {
        std::atomic<TaskFn> fn{nullptr};
        std::atomic<void*> ctx{nullptr};
        std::atomic<int> tasks{0};
        std::atomic<int> done{0};
    };

    void workerLoop(int thread);
    // Claims and runs tasks of generation `gen` until none is left or a newer run started.
    void work(uint32_t gen, int thread);

    std::vector<std::thread> workers_;
    std::mutex runMutex_;                 // one run at a time
    uint32_t generation_ = 0;             // the current run (written under runMutex_)
    Slot slots_[2];
    std::atomic<uint64_t> ticket_{0};     // (generation << 32) | next task index
    std::mutex wakeMutex_;
    std::condition_variable wake_;
    std::atomic<int> sleepers_{0};
    std::atomic<bool> stop_{false};
};

} // namespace swarm
