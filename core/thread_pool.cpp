#include "core/thread_pool.h"

#include "core/system.h"


#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define SW_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define SW_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define SW_CPU_RELAX() ((void)0)
#endif

namespace swarm {

namespace {
// About 0.1-0.3 ms of spinning before a worker sleeps (pause is ~40-140 cycles).
constexpr int kSpinBeforeSleep = 2000;
constexpr int kSpinBeforeYield = 1000;
} // namespace

ThreadPool::ThreadPool(int threads) {
    if (threads <= 0) threads = availableCores();
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

void ThreadPool::work(uint32_t gen, int thread) {
    Slot& slot = slots_[gen & 1];
    uint64_t t = ticket_.load(std::memory_order_acquire);
    for (;;) {
        if (uint32_t(t >> 32) != gen) return;                     // a newer run: this one is over
        const uint32_t task = uint32_t(t);
        if (int64_t(task) >= slot.tasks.load(std::memory_order_relaxed)) return;
        if (!ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
        // The task is ours; its run cannot end before it is done, so the slot is stable.
        slot.fn.load(std::memory_order_relaxed)(slot.ctx.load(std::memory_order_relaxed), int(task), thread);
        slot.done.fetch_add(1, std::memory_order_acq_rel);
        t = ticket_.load(std::memory_order_acquire);
    }
}

void ThreadPool::workerLoop(int thread) {
    uint32_t seen = 0;
    for (;;) {
        int spins = 0;
        for (;;) {
            if (stop_.load(std::memory_order_relaxed)) return;
            if (uint32_t(ticket_.load(std::memory_order_acquire) >> 32) != seen) break;
            if (++spins < kSpinBeforeSleep) {
                SW_CPU_RELAX();
                continue;
            }
            std::unique_lock<std::mutex> lock(wakeMutex_);
            sleepers_.fetch_add(1);                                 // seq_cst: pairs with run()
            wake_.wait(lock, [&] {
                return stop_.load() || uint32_t(ticket_.load() >> 32) != seen;
            });
            sleepers_.fetch_sub(1);
            spins = 0;
        }
        seen = uint32_t(ticket_.load(std::memory_order_acquire) >> 32);
        work(seen, thread);
    }
}

void ThreadPool::run(int tasks, TaskFn fn, void* ctx) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1) {
        for (int t = 0; t < tasks; ++t) fn(ctx, t, 0);
        return;
    }
    std::lock_guard<std::mutex> runLock(runMutex_);
    const uint32_t gen = ++generation_;
    Slot& slot = slots_[gen & 1];
    slot.fn.store(fn, std::memory_order_relaxed);
    slot.ctx.store(ctx, std::memory_order_relaxed);
    slot.tasks.store(tasks, std::memory_order_relaxed);
    slot.done.store(0, std::memory_order_relaxed);
    ticket_.store(uint64_t(gen) << 32);                             // seq_cst: publishes the slot
    if (sleepers_.load() > 0) {
        std::lock_guard<std::mutex> lock(wakeMutex_);
        wake_.notify_all();
    }
    work(gen, 0);
    int spins = 0;
    while (slot.done.load(std::memory_order_acquire) < tasks) {
        if (++spins < kSpinBeforeYield) SW_CPU_RELAX();
        else std::this_thread::yield();
    }
}

} // namespace swarm
