#include "engine/engine.h"

#include "core/error.h"

#include <chrono>

namespace swarm::engine {

const char* finishReasonName(FinishReason r) {
    switch (r) {
    case FinishReason::Eos: return "eos";
    case FinishReason::Stop: return "stop";
    case FinishReason::MaxTokens: return "max_tokens";
    case FinishReason::ContextFull: return "context_full";
    case FinishReason::Callback: return "callback";
    }
    return "?";
}

namespace {

const SamplingOptions& validated(const SamplingOptions& options) {
    validateSamplingOptions(options);
    return options;
}

} // namespace

Generation::Generation(Session& session, const std::vector<int32_t>& prompt, const SamplingOptions& options,
                       TokenCallback callback)
    : session_(session), options_(validated(options)), callback_(std::move(callback)),
      sampler_(options_, int(session.config().vocab_size)) {
    if (prompt.empty()) throw Error("generate: the prompt is empty");
    const int ctx = session.context();
    const int maxTokens = options_.maxTokens;
    size_t first = 0;
    // The last sampled token is never fed back, so prompt + maxTokens - 1 positions are needed.
    const size_t room = size_t(ctx) - std::min<size_t>(size_t(ctx), size_t(maxTokens) - 1);
    if (prompt.size() > size_t(ctx) || (options_.truncatePrompt && prompt.size() > room)) {
        if (!options_.truncatePrompt)
            throw Error("generate: the prompt has " + std::to_string(prompt.size()) + " tokens, the context holds " +
                        std::to_string(ctx) + " (shorten it, or truncate the prompt)");
        first = prompt.size() - std::max<size_t>(1, room);
    }
    result_.truncatedTokens = int(first);
    result_.promptTokens = int(prompt.size() - first);

    history_.assign(prompt.begin() + long(first), prompt.end());
    history_.reserve(history_.size() + size_t(maxTokens));
    result_.tokens.reserve(size_t(maxTokens));
    experts_.resize(size_t(session.config().n_layer * session.config().top_k));

    const auto t0 = Clock::now();
    session_.reset();
    session_.prefill(history_);
    decodeStart_ = Clock::now();
    result_.prefillSeconds = std::chrono::duration<double>(decodeStart_ - t0).count();
    accept(sampler_.sample(session_.logits(), history_.data(), history_.size()));
}

void Generation::advance() {
    if (done_) throw Error("generate: advance() after the generation ended");
    accept(sampler_.sample(session_.logits(), history_.data(), history_.size()));
}

void Generation::accept(int32_t tok) {
    const Gpt2Tokenizer& tokenizer = session_.tokenizer();
    std::copy(session_.chosenExperts(), session_.chosenExperts() + experts_.size(), experts_.begin());
    result_.tokens.push_back(tok);
    std::string& text = result_.text;
    if (tok == kEndOfText) {
        result_.finish = FinishReason::Eos;
        done_ = true;
    } else {
        const size_t before = text.size();
        text += tokenizer.tokenBytes(tok);
        if (!options_.stop.empty()) {
            size_t at = findStop(text, options_.stop, before);
            if (at != std::string::npos) {
                text.resize(std::max(at, emitted_));
                result_.finish = FinishReason::Stop;
                done_ = true;
            }
        }
    }
    if (!done_ && step_ + 1 >= options_.maxTokens) {
        result_.finish = FinishReason::MaxTokens;
        done_ = true;
    }
    if (!done_ && session_.position() >= session_.context()) {
        result_.finish = FinishReason::ContextFull;
        done_ = true;
    }
    size_t release = text.size();
    if (!done_) release -= std::min(text.size() - emitted_, holdBackBytes(text, options_.stop));
    if (callback_) {
        TokenEvent ev;
        ev.token = tok;
        ev.index = step_;
        ev.text = std::string_view(text).substr(emitted_, release - emitted_);
        ev.experts = experts_.data();
        ev.nLayer = int(session_.config().n_layer);
        ev.topK = int(session_.config().top_k);
        emitted_ = release;
        if (!callback_(ev) && !done_) {
            result_.finish = FinishReason::Callback;
            done_ = true;
            text.resize(emitted_);   // held-back bytes were never shown: the result ends where the pieces do
        }
    } else {
        emitted_ = release;
    }
    ++step_;
    if (done_) result_.decodeSeconds = std::chrono::duration<double>(Clock::now() - decodeStart_).count();
    else history_.push_back(tok);
}

GenerateResult Generation::take() {
    if (!done_) throw Error("generate: take() before the generation ended");
    return std::move(result_);
}

GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const SamplingOptions& options,
                        const TokenCallback& callback) {
    Generation g(session, prompt, options, callback);
    while (!g.done()) {
        session.decode(g.nextInput());
        g.advance();
    }
    return g.take();
}

} // namespace swarm::engine
