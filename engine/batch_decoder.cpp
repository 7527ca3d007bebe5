#include "engine/batch_decoder.h"

#include "core/error.h"

#include <algorithm>
#include <exception>

namespace swarm::engine {

struct BatchDecoder::Job {
    std::shared_ptr<const Model> model;
    Session session;
    Generation generation;
    std::exception_ptr error;
    bool finished = false;   // guarded by the decoder's mutex

    Job(std::shared_ptr<const Model> m, const SessionOptions& so, const std::vector<int32_t>& prompt,
        const SamplingOptions& options, const TokenCallback& callback)
        : model(std::move(m)), session(*model, so), generation(session, prompt, options, callback) {}
};

BatchDecoder::BatchDecoder(int maxBatch) : maxBatch_(std::max(1, maxBatch)) {
    thread_ = std::thread([this] { loop(); });
}

BatchDecoder::~BatchDecoder() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

BatchDecoder::Stats BatchDecoder::stats() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
}

GenerateResult BatchDecoder::generate(std::shared_ptr<const Model> model, const std::vector<int32_t>& prompt,
                                      const SamplingOptions& options, const TokenCallback& callback,
                                      SessionOptions sessionOptions) {
    if (!model || !model->loaded()) throw Error("engine: BatchDecoder::generate got no model");
    sessionOptions.maxBatch = std::max(sessionOptions.maxBatch, maxBatch_);
    // Prefill and the first token here: a request that ends at once never touches the decoder.
    Job job(std::move(model), sessionOptions, prompt, options, callback);
    if (job.generation.done()) return job.generation.take();

    std::unique_lock<std::mutex> lock(mutex_);
    if (stopping_) throw Error("engine: the batch decoder is shutting down");
    pending_.push_back(&job);
    wake_.notify_all();
    finished_.wait(lock, [&] { return job.finished; });
    lock.unlock();
    if (job.error) std::rethrow_exception(job.error);
    return job.generation.take();
}

void BatchDecoder::loop() {
    std::vector<Job*> active, ended;
    for (;;) {
        {
            std::unique_lock<std::mutex> lock(mutex_);
            wake_.wait(lock, [&] { return !pending_.empty() || !active.empty() || stopping_; });
            if (pending_.empty() && active.empty()) return;   // stopping, nothing in flight
            active.insert(active.end(), pending_.begin(), pending_.end());
            pending_.clear();
        }
        step(active);
        // Hand back the jobs that ended (their callers own them).
        auto split = std::stable_partition(active.begin(), active.end(),
                                           [](Job* j) { return !j->generation.done() && !j->error; });
        ended.assign(split, active.end());
        active.erase(split, active.end());
        if (!ended.empty()) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                for (Job* j : ended) j->finished = true;
            }
            finished_.notify_all();
        }
    }
}

// One token for every active sequence: the sequences of each model in passes of at most maxBatch.
void BatchDecoder::step(std::vector<Job*>& active) {
    std::stable_sort(active.begin(), active.end(), [](Job* a, Job* b) { return a->model.get() < b->model.get(); });
    std::vector<Session*>& sessions = stepSessions_;   // reused: a step allocates nothing once warm
    std::vector<int32_t>& tokens = stepTokens_;
    long long decoded = 0;
    int widest = 0, passes = 0;
    for (size_t begin = 0; begin < active.size();) {
        size_t end = begin;
        while (end < active.size() && active[end]->model == active[begin]->model && end - begin < size_t(maxBatch_)) ++end;
        sessions.clear();
        tokens.clear();
        for (size_t i = begin; i < end; ++i) {
            sessions.push_back(&active[i]->session);
            tokens.push_back(active[i]->generation.nextInput());
        }
        try {
            if (sessions.size() == 1) sessions[0]->decode(tokens[0]);
            else active[begin]->model->decodeBatch(sessions.data(), tokens.data(), int(sessions.size()));
            decoded += (long long)sessions.size();
            widest = std::max(widest, int(sessions.size()));
            ++passes;
            for (size_t i = begin; i < end; ++i) {
                try {
                    active[i]->generation.advance();
                } catch (...) {
                    active[i]->error = std::current_exception();   // a throwing callback ends its own job only
                }
            }
        } catch (...) {
            for (size_t i = begin; i < end; ++i) active[i]->error = std::current_exception();
        }
        begin = end;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.steps += passes;
    stats_.tokens += decoded;
    stats_.widest = std::max(stats_.widest, widest);
}

} // namespace swarm::engine
