#include "serve/openai_protocol.h"

#include <algorithm>

namespace swarm::openai {

using nlohmann::json;

namespace {

[[noreturn]] void badField(const std::string& param, const std::string& message) {
    throw HttpError{400, message, "invalid_request_error", param};
}

json parseObject(const std::string& body) {
    if (const size_t at = invalidUtf8At(body); at != std::string::npos)
        throw HttpError{400, "the request body is not valid UTF-8 (byte " + std::to_string(at) + ")",
                        "invalid_request_error", ""};
    json j;
    try {
        j = json::parse(body);
    } catch (const json::parse_error& e) {
        throw HttpError{400, std::string("malformed JSON: ") + e.what(), "invalid_request_error", ""};
    }
    if (!j.is_object()) throw HttpError{400, "the request body must be a JSON object", "invalid_request_error", ""};
    return j;
}

std::string readModel(const json& j, const SwarmDefinition& definition) {
    auto it = j.find("model");
    if (it == j.end() || !it->is_string()) badField("model", "field 'model' is required: \"swarm\" or a specialist label");
    const std::string model = it->get<std::string>();
    if (model != "swarm" && !definition.specialist(model))
        throw HttpError{404, "unknown model '" + model + "': use \"swarm\" or one of GET /v1/models", "not_found_error",
                        "model"};
    return model;
}

// Chat: the last message with role "user" is the input.
std::string readChatInput(const json& j) {
    auto it = j.find("messages");
    if (it == j.end() || !it->is_array() || it->empty()) badField("messages", "field 'messages' must be a non-empty list");
    std::string input;
    bool found = false;
    for (size_t i = 0; i < it->size(); ++i) {
        const json& m = (*it)[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string())
            badField("messages", "field 'messages[" + std::to_string(i) + "]' must have string 'role' and 'content'");
        if (m["role"] == "user") {
            input = m["content"].get<std::string>();
            found = true;
        }
    }
    if (!found) badField("messages", "field 'messages' has no message with role 'user'");
    return input;
}

std::string readPrompt(const json& j) {
    auto it = j.find("prompt");
    if (it == j.end()) badField("prompt", "field 'prompt' is required");
    if (it->is_array() && it->size() == 1 && (*it)[0].is_string()) return (*it)[0].get<std::string>();
    if (it->is_string()) return it->get<std::string>();
    badField("prompt", "field 'prompt' must be a string");
}

void readSampling(const json& j, int maxTokensCap, DispatchRequest& d) {
    auto it = j.find("max_tokens");
    if (it != j.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > (1 << 20))
            badField("max_tokens", "field 'max_tokens' must be a positive integer");
        d.maxTokens = int(it->get<long long>());
    }
    if (maxTokensCap > 0) d.maxTokens = d.maxTokens > 0 ? std::min(d.maxTokens, maxTokensCap) : maxTokensCap;
    it = j.find("temperature");
    if (it != j.end() && !it->is_null()) {
        if (!it->is_number() || it->get<double>() < 0 || it->get<double>() > 100)
            badField("temperature", "field 'temperature' must be a number between 0 and 100");
        d.temperature = it->get<float>();
    }
    it = j.find("stop");
    if (it != j.end() && !it->is_null()) {
        if (it->is_string()) {
            d.stop.push_back(it->get<std::string>());
        } else if (it->is_array()) {
            for (const json& s : *it) {
                if (!s.is_string()) badField("stop", "field 'stop' must be a string or a list of strings");
                d.stop.push_back(s.get<std::string>());
            }
        } else {
            badField("stop", "field 'stop' must be a string or a list of strings");
        }
    }
}

bool readStream(const json& j) {
    auto it = j.find("stream");
    if (it == j.end() || it->is_null()) return false;
    if (!it->is_boolean()) badField("stream", "field 'stream' must be true or false");
    return it->get<bool>();
}

json swarmInfo(const DispatchResult& r) {
    json o{{"routed", r.routed}, {"specialist", r.specialist}, {"router_ms", r.routerMs}, {"specialist_ms", r.specialistMs}};
    if (r.routed) {
        o["label"] = r.route.label;
        o["confidence"] = r.route.confidence;
    }
    return o;
}

json usage(const DispatchResult& r) {
    return json{{"prompt_tokens", r.promptTokens}, {"completion_tokens", r.completionTokens},
                {"total_tokens", r.promptTokens + r.completionTokens}};
}

} // namespace

CompletionRequest parseCompletionRequest(const std::string& body, bool chat, const SwarmDefinition& definition,
                                         int maxTokensCap) {
    const json j = parseObject(body);
    CompletionRequest p;
    p.chat = chat;
    p.model = readModel(j, definition);
    p.dispatch.label = p.model == "swarm" ? "" : p.model;
    p.dispatch.input = chat ? readChatInput(j) : readPrompt(j);
    readSampling(j, maxTokensCap, p.dispatch);
    p.stream = readStream(j);
    return p;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json errorJson(int status, const std::string& message, const std::string& type, const std::string& param) {
    return json{{"error",
                 {{"message", message}, {"type", type}, {"param", param.empty() ? json(nullptr) : json(param)}, {"code", status}}}};
}

std::string errorBody(int status, const std::string& message, const std::string& type, const std::string& param) {
    return dump(errorJson(status, message, type, param));
}

const char* finishName(engine::FinishReason f) {
    switch (f) {
    case engine::FinishReason::MaxTokens:
    case engine::FinishReason::ContextFull: return "length";
    default: return "stop";
    }
}

json completionBody(const std::string& id, bool chat, long long created, const DispatchResult& r) {
    json choice{{"index", 0}, {"finish_reason", finishName(r.finish)}};
    if (chat) choice["message"] = {{"role", "assistant"}, {"content", r.answer}};
    else choice["text"] = r.answer;
    return json{{"id", id}, {"object", chat ? "chat.completion" : "text_completion"}, {"created", created},
                {"model", r.specialist}, {"choices", json::array({choice})}, {"usage", usage(r)}, {"swarm", swarmInfo(r)}};
}

json streamChunk(const std::string& id, bool chat, long long created, const std::string& piece, const json& finish,
                 bool first) {
    json choice{{"index", 0}, {"finish_reason", finish}};
    if (chat) {
        json delta = {{"content", piece}};
        if (first) delta["role"] = "assistant";
        choice["delta"] = delta;
    } else {
        choice["text"] = piece;
    }
    return json{{"id", id}, {"object", chat ? "chat.completion.chunk" : "text_completion"}, {"created", created},
                {"choices", json::array({choice})}};
}

json finalChunk(const std::string& id, bool chat, long long created, const DispatchResult& r, bool first) {
    json last = streamChunk(id, chat, created, "", finishName(r.finish), first);
    last["model"] = r.specialist;
    last["usage"] = usage(r);
    last["swarm"] = swarmInfo(r);
    return last;
}

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

json modelList(const SwarmDefinition& definition) {
    json data = json::array();
    auto add = [&](const std::string& id, const std::string& role) {
        data.push_back(json{{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", definition.name}, {"swarm_role", role}});
    };
    add("swarm", "router");
    for (const SpecialistDef& s : definition.specialists) add(s.label, "specialist");
    if (definition.fallback) add("fallback", "fallback");
    return json{{"object", "list"}, {"data", data}};
}

size_t invalidUtf8At(const std::string& text) {
    const auto* s = reinterpret_cast<const unsigned char*>(text.data());
    const size_t n = text.size();
    size_t i = 0;
    while (i < n) {
        const unsigned char c = s[i];
        size_t len = 0;
        uint32_t cp = 0;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return i;
        if (i + len > n) return i;
        for (size_t k = 1; k < len; ++k) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += len;
    }
    return std::string::npos;
}

} // namespace swarm::openai
