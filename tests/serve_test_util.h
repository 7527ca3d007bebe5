#pragma once
// Helpers for the server tests (torch-free, no Qt): a gate that holds requests at a worker,
// waiting for a condition, raw HTTP exchanges on a loopback socket, SSE payloads, key files.
#include <arpa/inet.h>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <functional>
#include <mutex>
#include <netinet/in.h>
#include <poll.h>
#include <string>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace servetest {

// Holds every request that reaches a worker until open() (or while closed).
class Gate {
public:
    void close() {
        std::lock_guard<std::mutex> l(m_);
        open_ = false;
    }
    void open() {
        {
            std::lock_guard<std::mutex> l(m_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void pass() {
        std::unique_lock<std::mutex> l(m_);
        cv_.wait(l, [&] { return open_; });
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool open_ = true;
};

// Polls cond every 5 ms for up to 10 s.
inline bool waitFor(const std::function<bool()>& cond) {
    for (int i = 0; i < 2000; ++i) {
        if (cond()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
}

// A connected loopback socket (-1 when the connection fails).
inline int connectLoopback(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

inline bool sendAll(int fd, const std::string& bytes) {
    size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return false;
        sent += size_t(n);
    }
    return true;
}

// Everything the peer sends until it closes the connection, or timeoutMs passes without data.
inline std::string readUntilClosed(int fd, int timeoutMs = 20000) {
    std::string got;
    char buf[4096];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeoutMs) <= 0) break;
        const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        got.append(buf, size_t(n));
    }
    return got;
}

// Sends bytes as they are on a new connection and returns all of the answer.
inline std::string rawExchange(int port, const std::string& bytes) {
    const int fd = connectLoopback(port);
    if (fd < 0) return "";
    std::string got;
    if (sendAll(fd, bytes)) got = readUntilClosed(fd);
    ::close(fd);
    return got;
}

// A POST with Connection: close (headers: extra lines, each ending in \r\n).
inline std::string rawPost(int port, const std::string& path, const std::string& body, const std::string& headers = "") {
    return rawExchange(port, "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers +
                                 "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                                 "\r\n\r\n" + body);
}

inline int statusOf(const std::string& response) {
    if (response.rfind("HTTP/1.1 ", 0) != 0 || response.size() < 12) return -1;
    return std::atoi(response.c_str() + 9);
}

inline std::string bodyOf(const std::string& response) {
    const size_t at = response.find("\r\n\r\n");
    return at == std::string::npos ? "" : response.substr(at + 4);
}

// The "data: ..." payloads of an SSE body, in order.
inline std::vector<std::string> events(const std::string& body) {
    std::vector<std::string> out;
    size_t pos = 0;
    while ((pos = body.find("data: ", pos)) != std::string::npos) {
        const size_t end = body.find("\n\n", pos);
        out.push_back(body.substr(pos + 6, end - pos - 6));
        pos = end;
    }
    return out;
}

inline constexpr const char* kAliceKey = "sk-test-alice-0123456789abcdef";
inline constexpr const char* kBobKey = "sk-test-bob-fedcba9876543210";

// dir/keys.txt with alice's and bob's keys; returns the path.
inline std::string writeKeyFile(const std::string& dir) {
    const std::string path = dir + "/keys.txt";
    std::ofstream(path) << "# test keys\n" << kAliceKey << " alice\n\n" << kBobKey << "   bob\n";
    return path;
}

} // namespace servetest
