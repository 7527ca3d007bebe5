#pragma once
// Continuous batching: generations started on many threads decode together, one
// Model::decodeBatch per model per step, on the decoder's own thread. Each step reads a model's
// weights once for every sequence of that model, so n concurrent requests cost far less than n
// times one. A sequence joins the batch at the next step and leaves when it ends: a short answer
// never waits for a long one.
//
//   engine::BatchDecoder decoder;                 // one per process (or per swarm)
//   // on any thread, concurrently:
//   GenerateResult r = decoder.generate(model, prompt, sampling, callback);
//
// The prompt is prefilled on the calling thread (the model's forward lock interleaves it with the
// batched steps); the callback runs on the decoder's thread, so it must be quick and thread-safe:
// a slow callback holds up every sequence in the batch.
#include "engine/engine.h"

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace swarm::engine {

class BatchDecoder {
public:
    explicit BatchDecoder(int maxBatch = 32);   // sequences of one model decoded in one pass at most
    ~BatchDecoder();                            // waits for the generations in flight
    BatchDecoder(const BatchDecoder&) = delete;
    BatchDecoder& operator=(const BatchDecoder&) = delete;

    // As engine::generate(), with a session made here (session.maxBatch is raised to maxBatch).
    // Blocks until the generation ends. Throws what generate() throws, and swarm::Error when the
    // decoder is shutting down.
    GenerateResult generate(std::shared_ptr<const Model> model, const std::vector<int32_t>& prompt,
                            const SamplingOptions& options, const TokenCallback& callback = {},
                            SessionOptions sessionOptions = {});

    struct Stats {
        long long steps = 0;      // forward passes the decoder ran
        long long tokens = 0;     // tokens they decoded (tokens / steps: the mean batch)
        int widest = 0;           // most sequences in one pass
    };
    Stats stats() const;
    int maxBatch() const { return maxBatch_; }

private:
    struct Job;
    void loop();
    void step(std::vector<Job*>& active);

    const int maxBatch_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;     // the decoder: jobs arrived or stopping
    std::condition_variable finished_; // the callers: a job ended
    std::vector<Job*> pending_;
    bool stopping_ = false;
    Stats stats_;
    std::vector<Session*> stepSessions_;   // the decoder thread's scratch for step()
    std::vector<int32_t> stepTokens_;
    std::thread thread_;
};

} // namespace swarm::engine
