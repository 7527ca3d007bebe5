#pragma once
// A blocking HTTP(S) client over libcurl (Debian's libcurl4-openssl-dev), for the Hugging Face
// Hub: requests with headers and a body from memory or a file range, responses kept in memory or
// streamed to a sink, redirects followed or not, progress and cancel. Only the Hub module calls
// it; nothing in the product opens a connection on its own.
#include "core/error.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace swarm::http {

// The connection failed or was cut (no complete HTTP response): DNS, refused, reset, timeout.
class TransportError : public Error {
public:
    explicit TransportError(const std::string& message) : Error(message) {}
};

struct Request {
    std::string method = "GET";                 // GET, HEAD, POST, PUT
    std::string url;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;                           // POST/PUT body from memory
    std::string bodyFile;                       // or: PUT/POST bodyFileLength bytes of this file
    uint64_t bodyFileOffset = 0, bodyFileLength = 0;
    bool followRedirects = true;                // false: a 3xx is returned as it is
    long connectTimeoutSeconds = 20;
    long stallSeconds = 60;                     // abort when no byte moved for this long
};

struct Response {
    long status = 0;
    std::map<std::string, std::string> headers;   // names in lower case, of the last response
    std::string body;                             // empty when the body was streamed
    std::string url;                              // after redirects
    // The header's value, or "" (name in lower case).
    std::string header(const std::string& name) const;
};

struct Transfer {
    // Called with each chunk of a 2xx body and the response's status and headers (its body
    // empty); returns false to stop: send() then throws swarm::Error("stopped by the sink"), and
    // the caller reports the cause it kept.
    std::function<bool(const Response& head, const char* data, size_t size)> sink;
    // Bytes of the body received so far and the total announced (0 when unknown).
    std::function<void(uint64_t done, uint64_t total)> progress;
    const std::atomic<bool>* cancel = nullptr;
    size_t maxBodyInMemory = size_t(64) << 20;    // without a sink
};

// Sends the request and returns the response (any status). Throws TransportError when no
// response came, swarm::Error when the sink or cancel stopped it.
Response send(const Request& request, const Transfer& transfer = {});

// "http://127.0.0.1:8080/a/b?c" -> "127.0.0.1:8080".
std::string hostOf(const std::string& url);
// Percent-encodes everything outside RFC 3986's unreserved set; keepSlash leaves '/' as it is.
std::string urlEncode(const std::string& s, bool keepSlash = false);

} // namespace swarm::http
