#include "thread_pool.h"

#include <sched.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SW_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SW_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SW_CPU_RELAX() ((void)0)
#endif

namespace swarm::engine {

namespace {
// About 0.1-0.3 ms of spinning before a worker sleeps (pause is ~40-140 cycles).
constexpr int kSpinBeforeSleep = 2000;
constexpr int kSpinBeforeYield = 4000;
} // namespace

int availableCpuCount() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    unsigned hw = std::thread::hardware_concurrency();
    return hw > 0 ? int(hw) : 1;
}

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = availableCpuCount();
    workers_.reserve(size_t(threads - 1));
    for (int t = 1; t < threads; ++t) workers_.emplace_back([this, t] { workerLoop(t); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(wakeMutex_);
        stop_.store(true);
    }
    wake_.notify_all();
    for (std::thread& w : workers_) w.join();
}

void ThreadPool::work(int thread) {
    for (;;) {
        const int task = nextTask_.fetch_add(1, std::memory_order_relaxed);
        if (task >= tasks_) break;
        fn_(ctx_, task, thread);
    }
}

void ThreadPool::workerLoop(int thread) {
    uint64_t seen = 0;
    for (;;) {
        int spins = 0;
        while (generation_.load(std::memory_order_acquire) == seen) {
            if (stop_.load(std::memory_order_relaxed)) return;
            if (++spins < kSpinBeforeSleep) {
                SW_CPU_RELAX();
                continue;
            }
            std::unique_lock<std::mutex> lock(wakeMutex_);
            wake_.wait(lock, [&] {
                return stop_.load(std::memory_order_relaxed) || generation_.load(std::memory_order_acquire) != seen;
            });
        }
        seen = generation_.load(std::memory_order_acquire);
        work(thread);
        busyWorkers_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void ThreadPool::run(int tasks, TaskFn fn, void* ctx) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1) {
        for (int t = 0; t < tasks; ++t) fn(ctx, t, 0);
        return;
    }
    std::lock_guard<std::mutex> runLock(runMutex_);
    fn_ = fn;
    ctx_ = ctx;
    tasks_ = tasks;
    nextTask_.store(0, std::memory_order_relaxed);
    busyWorkers_.store(int(workers_.size()), std::memory_order_relaxed);
    {
        // Under the mutex, so that a worker about to sleep cannot miss the bump.
        std::lock_guard<std::mutex> lock(wakeMutex_);
        generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work(0);
    int spins = 0;
    while (busyWorkers_.load(std::memory_order_acquire) != 0) {
        if (++spins < kSpinBeforeYield) SW_CPU_RELAX();
        else std::this_thread::yield();
    }
}

} // namespace swarm::engine
