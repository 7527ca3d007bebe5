#pragma once
// The OpenAI-compatible wire format of the server: request bodies of /v1/completions and
// /v1/chat/completions parsed into a swarm dispatch, answers and stream chunks built from its
// result, and error bodies {"error": {"message", "type", "param", "code"}} (code: the HTTP status).
// Pure functions over JSON: no sockets, no threads.
#include "serve/swarm.h"

#include <nlohmann/json.hpp>

#include <string>

namespace swarm::openai {

// A request the server refuses, with the status and body it answers.
struct HttpError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;                   // the offending field, "" when none
};

struct CompletionRequest {
    bool chat = false;
    bool stream = false;
    std::string model;                   // "swarm" or a label of the definition
    DispatchRequest dispatch;
};

// Throws HttpError: 400 for a body that is not UTF-8, not JSON, not an object, or a bad field
// (naming it), 404 for a model the definition does not have.
CompletionRequest parseCompletionRequest(const std::string& body, bool chat, const SwarmDefinition& definition,
                                         int maxTokensCap);

// JSON text with invalid UTF-8 replaced by U+FFFD (an answer cut inside a character, a byte in
// an error message), so that building an answer never throws.
std::string dump(const nlohmann::json& j);
nlohmann::json errorJson(int status, const std::string& message, const std::string& type, const std::string& param = "");
std::string errorBody(int status, const std::string& message, const std::string& type, const std::string& param = "");

const char* finishName(engine::FinishReason finish);   // "stop" or "length"

// The whole answer of a non-streamed request.
nlohmann::json completionBody(const std::string& id, bool chat, long long created, const DispatchResult& r);
// A stream chunk carrying one piece of text (finish: null, or a finish reason for the last one).
nlohmann::json streamChunk(const std::string& id, bool chat, long long created, const std::string& piece,
                           const nlohmann::json& finish, bool first);
// The last chunk: empty text, the finish reason, model, usage and the swarm object.
nlohmann::json finalChunk(const std::string& id, bool chat, long long created, const DispatchResult& r, bool first);
std::string sse(const nlohmann::json& j);               // "data: {...}\n\n"
inline constexpr const char* kStreamDone = "data: [DONE]\n\n";

// GET /v1/models: "swarm" (routed), every specialist label and "fallback".
nlohmann::json modelList(const SwarmDefinition& definition);

// The position of the first byte that is not part of valid UTF-8, or npos.
size_t invalidUtf8At(const std::string& text);

} // namespace swarm::openai
