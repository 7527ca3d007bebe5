#include "engine.h"

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

GenerateResult generate(Session& session, const std::vector<int32_t>& prompt, const SamplingOptions& options,
                        const TokenCallback& callback) {
    using Clock = std::chrono::steady_clock;
    validateSamplingOptions(options);
    if (prompt.empty()) throw Error("generate: the prompt is empty");
    const ModelConfig& config = session.config();
    const Gpt2Tokenizer& tokenizer = session.tokenizer();
    const int ctx = session.context();
    const int maxTokens = options.maxTokens;

    GenerateResult result;
    size_t first = 0;
    // The last sampled token is never fed back, so prompt + maxTokens - 1 positions are needed.
    const size_t room = size_t(ctx) - std::min<size_t>(size_t(ctx), size_t(maxTokens) - 1);
    if (prompt.size() > size_t(ctx) || (options.truncatePrompt && prompt.size() > room)) {
        if (!options.truncatePrompt)
            throw Error("generate: the prompt has " + std::to_string(prompt.size()) + " tokens, the context holds " +
                        std::to_string(ctx) + " (shorten it, or truncate the prompt)");
        first = prompt.size() - std::max<size_t>(1, room);
    }
    result.truncatedTokens = int(first);
    result.promptTokens = int(prompt.size() - first);

    std::vector<int32_t> history(prompt.begin() + long(first), prompt.end());
    history.reserve(history.size() + size_t(maxTokens));
    result.tokens.reserve(size_t(maxTokens));
    const int nLayer = int(config.n_layer), topK = int(config.top_k);
    std::vector<int32_t> experts(size_t(nLayer * topK));
    Sampler sampler(options, int(config.vocab_size));

    const auto t0 = Clock::now();
    session.reset();
    session.prefill(history);
    const auto t1 = Clock::now();
    result.prefillSeconds = std::chrono::duration<double>(t1 - t0).count();

    std::string& text = result.text;
    size_t emitted = 0;
    bool done = false;
    for (int step = 0; !done; ++step) {
        const int32_t tok = sampler.sample(session.logits(), history.data(), history.size());
        std::copy(session.chosenExperts(), session.chosenExperts() + experts.size(), experts.begin());
        result.tokens.push_back(tok);
        if (tok == kEndOfText) {
            result.finish = FinishReason::Eos;
            done = true;
        } else {
            const size_t before = text.size();
            text += tokenizer.tokenBytes(tok);
            if (!options.stop.empty()) {
                size_t at = findStop(text, options.stop, before);
                if (at != std::string::npos) {
                    text.resize(std::max(at, emitted));
                    result.finish = FinishReason::Stop;
                    done = true;
                }
            }
        }
        if (!done && step + 1 >= maxTokens) {
            result.finish = FinishReason::MaxTokens;
            done = true;
        }
        if (!done && session.position() >= ctx) {
            result.finish = FinishReason::ContextFull;
            done = true;
        }
        size_t release = text.size();
        if (!done) release -= std::min(text.size() - emitted, holdBackBytes(text, options.stop));
        if (callback) {
            TokenEvent ev;
            ev.token = tok;
            ev.index = step;
            ev.text = std::string_view(text).substr(emitted, release - emitted);
            ev.experts = experts.data();
            ev.nLayer = nLayer;
            ev.topK = topK;
            emitted = release;
            if (!callback(ev) && !done) {
                result.finish = FinishReason::Callback;
                done = true;
                text.resize(emitted);   // held-back bytes were never shown: the result ends where the pieces do
            }
        } else {
            emitted = release;
        }
        if (done) break;
        history.push_back(tok);
        session.decode(tok);
    }
    result.decodeSeconds = std::chrono::duration<double>(Clock::now() - t1).count();
    return result;
}

} // namespace swarm::engine
