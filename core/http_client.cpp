#include "core/http_client.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <curl/curl.h>
#include <fcntl.h>
#include <memory>
#include <mutex>
#include <unistd.h>

namespace swarm::http {

namespace {

std::once_flag gCurlInit;

std::string lower(std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && (s[a] == ' ' || s[a] == '\t')) ++a;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '\t' || s[b - 1] == '\r' || s[b - 1] == '\n')) --b;
    return s.substr(a, b - a);
}

// Everything the curl callbacks share for one request.
struct Exchange {
    const Request* request = nullptr;
    const Transfer* transfer = nullptr;
    Response response;
    bool is2xx = false;
    std::string stopReason;             // why a callback stopped the transfer
    int bodyFd = -1;                    // request body from a file
    uint64_t bodyLeft = 0;
};

size_t onHeader(char* data, size_t size, size_t n, void* user) {
    Exchange& x = *static_cast<Exchange*>(user);
    const std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
        // A new response in a redirect chain (or after 100 Continue): its headers replace the last.
        x.response.headers.clear();
        const size_t sp = line.find(' ');
        x.response.status = sp == std::string::npos ? 0 : std::strtol(line.c_str() + sp + 1, nullptr, 10);
        x.is2xx = x.response.status >= 200 && x.response.status < 300;
        return size * n;
    }
    const size_t colon = line.find(':');
    if (colon != std::string::npos) x.response.headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    return size * n;
}

size_t onBody(char* data, size_t size, size_t n, void* user) {
    Exchange& x = *static_cast<Exchange*>(user);
    const size_t len = size * n;
    if (x.transfer->sink && x.is2xx) {
        if (!x.transfer->sink(x.response, data, len)) {
            x.stopReason = "sink";
            return 0;
        }
        return len;
    }
    if (x.response.body.size() + len > x.transfer->maxBodyInMemory) {
        x.stopReason = "the response from " + hostOf(x.request->url) + " is larger than " +
                       std::to_string(x.transfer->maxBodyInMemory) + " bytes";
        return 0;
    }
    x.response.body.append(data, len);
    return len;
}

size_t onReadBody(char* buffer, size_t size, size_t n, void* user) {
    Exchange& x = *static_cast<Exchange*>(user);
    size_t want = size * n;
    if (uint64_t(want) > x.bodyLeft) want = size_t(x.bodyLeft);
    if (want == 0) return 0;
    for (;;) {
        const ssize_t r = ::read(x.bodyFd, buffer, want);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            x.stopReason = "cannot read " + x.request->bodyFile + (r < 0 ? ": " + std::string(std::strerror(errno)) : ": it got shorter");
            return CURL_READFUNC_ABORT;
        }
        x.bodyLeft -= uint64_t(r);
        return size_t(r);
    }
}

int onProgress(void* user, curl_off_t dlTotal, curl_off_t dlNow, curl_off_t, curl_off_t) {
    Exchange& x = *static_cast<Exchange*>(user);
    if (x.transfer->cancel && x.transfer->cancel->load()) {
        x.stopReason = "cancelled";
        return 1;
    }
    if (x.transfer->progress && x.is2xx) x.transfer->progress(uint64_t(dlNow), uint64_t(dlTotal));
    return 0;
}

struct CurlHandle {
    CURL* h = curl_easy_init();
    curl_slist* headers = nullptr;
    ~CurlHandle() {
        if (headers) curl_slist_free_all(headers);
        if (h) curl_easy_cleanup(h);
    }
};

} // namespace

std::string Response::header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
}

std::string hostOf(const std::string& url) {
    size_t start = url.find("://");
    start = start == std::string::npos ? 0 : start + 3;
    const size_t end = url.find_first_of("/?#", start);
    std::string host = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t at = host.rfind('@');   // never show credentials embedded in a URL
    return at == std::string::npos ? host : host.substr(at + 1);
}

std::string urlEncode(const std::string& s, bool keepSlash) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keepSlash && c == '/')) {
            out += char(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

Response send(const Request& request, const Transfer& transfer) {
    std::call_once(gCurlInit, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    CurlHandle c;
    if (!c.h) throw Error("cannot start an HTTP request (libcurl)");
    Exchange x;
    x.request = &request;
    x.transfer = &transfer;
    CURL* h = c.h;
    curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, request.followRedirects ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, request.connectTimeoutSeconds);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, request.stallSeconds);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "swarm-workbench/1 (libcurl)");
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    // Only the Hub's own protocols: never file://, ftp:// and the like from a redirect.
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    for (const auto& [name, value] : request.headers) c.headers = curl_slist_append(c.headers, (name + ": " + value).c_str());
    // No "Expect: 100-continue" round trip before a body.
    c.headers = curl_slist_append(c.headers, "Expect:");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c.headers);

    std::unique_ptr<int, void (*)(int*)> fdGuard(&x.bodyFd, [](int* fd) {
        if (*fd >= 0) ::close(*fd);
    });
    if (request.method == "HEAD") {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (request.method == "POST" || request.method == "PUT") {
        if (!request.bodyFile.empty()) {
            x.bodyFd = ::open(request.bodyFile.c_str(), O_RDONLY | O_CLOEXEC);
            if (x.bodyFd < 0) throw Error("cannot open " + request.bodyFile + ": " + std::strerror(errno));
            if (::lseek(x.bodyFd, off_t(request.bodyFileOffset), SEEK_SET) < 0)
                throw Error("cannot read " + request.bodyFile + ": " + std::strerror(errno));
            x.bodyLeft = request.bodyFileLength;
            curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
            curl_easy_setopt(h, CURLOPT_READFUNCTION, onReadBody);
            curl_easy_setopt(h, CURLOPT_READDATA, &x);
            curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(request.bodyFileLength));
            if (request.method == "POST") curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "POST");
        } else if (request.method == "POST") {
            curl_easy_setopt(h, CURLOPT_POST, 1L);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.size()));
        } else {
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.size()));
        }
    } else if (request.method != "GET") {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    }

    const CURLcode rc = curl_easy_perform(h);
    char* effective = nullptr;
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &effective);
    x.response.url = effective ? effective : request.url;
    if (rc == CURLE_OK) return std::move(x.response);
    if (x.stopReason == "sink") throw Error("stopped by the sink");
    if (x.stopReason == "cancelled") throw Error("cancelled");
    if (!x.stopReason.empty()) throw Error(x.stopReason);
    const std::string host = hostOf(request.url);
    switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
        throw TransportError("cannot reach " + host + ": the host name does not resolve (is the network down?)");
    case CURLE_COULDNT_CONNECT:
        throw TransportError("cannot reach " + host + ": the connection was refused or the network is down");
    case CURLE_OPERATION_TIMEDOUT:
        throw TransportError("the connection to " + host + " timed out");
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
        throw TransportError("the connection to " + host + " was cut (" + curl_easy_strerror(rc) + ")");
    default:
        throw TransportError("the request to " + host + " failed: " + curl_easy_strerror(rc));
    }
}

} // namespace swarm::http
