#include "serve/http_transport.h"

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace swarm {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool tlsCloseAfterResponse = false;

int waitFor(int sock, short events, long long timeoutMs);

// Shut our side, then read (and drop) what the client still sends until it closes, for at most
// lingerMs: closing with unread bytes would send a reset that can destroy our answer in transit.
void closeGracefully(int sock, long long lingerMs) {
    ::shutdown(sock, SHUT_WR);
    const auto end = Clock::now() + std::chrono::milliseconds(lingerMs);
    char buf[4096];
    for (;;) {
        const long long left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0 || waitFor(sock, POLLIN, left) <= 0) break;
        const ssize_t n = ::recv(sock, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
    }
    ::close(sock);
}

// poll() one socket for `events`, for up to timeoutMs; > 0 when ready.
int waitFor(int sock, short events, long long timeoutMs) {
    pollfd p{sock, events, 0};
    int r;
    do {
        r = ::poll(&p, 1, int(std::max(0LL, std::min(timeoutMs, 1LL << 30))));
    } while (r < 0 && errno == EINTR);
    if (r > 0 && (p.revents & (POLLERR | POLLNVAL)) && !(p.revents & events)) return -1;
    return r;
}

void peerOrLocal(int sock, bool peer, std::string& ip, int& port) {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int r = peer ? ::getpeername(sock, reinterpret_cast<sockaddr*>(&addr), &len)
                       : ::getsockname(sock, reinterpret_cast<sockaddr*>(&addr), &len);
    if (r != 0) return;
    char host[NI_MAXHOST];
    char service[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, service, sizeof service,
                      NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
        ip = host;
        port = std::atoi(service);
    }
}

// A socket stream (as cpp-httplib's SocketStream: per-read timeouts, a read buffer) whose reads
// also stop at a deadline while one is armed: the time a request has to arrive whole.
class DeadlineSocketStream : public httplib::Stream {
public:
    DeadlineSocketStream(int sock, long long readTimeoutMs, long long writeTimeoutMs)
        : sock_(sock), readTimeoutMs_(readTimeoutMs), writeTimeoutMs_(writeTimeoutMs) {}

    void armDeadline(int seconds) {
        armed_ = true;
        deadline_ = Clock::now() + std::chrono::seconds(seconds);
    }
    void disarm() { armed_ = false; }
    bool deadlinePassed() const { return deadlinePassed_; }
    bool buffered() const { return bufferOffset_ < bufferSize_; }

    // Waits up to timeoutMs for the next request's first byte; false when idle, closed or stopping.
    bool waitForRequest(long long timeoutMs, const std::atomic<socket_t>& listening) {
        if (buffered()) return true;
        const auto end = Clock::now() + std::chrono::milliseconds(timeoutMs);
        while (listening != INVALID_SOCKET) {
            const long long left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
            if (left <= 0) return false;
            const int r = waitFor(sock_, POLLIN, std::min(left, 50LL));   // wakes to see a stop()
            if (r != 0) return r > 0;
        }
        return false;
    }

    bool is_readable() const override {
        if (buffered()) return true;
        long long timeout = readTimeoutMs_;
        bool untilDeadline = false;    // the wait ends at the deadline rather than at the read timeout
        if (armed_) {
            const long long left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now()).count();
            if (left <= 0) {
                deadlinePassed_ = true;
                return false;
            }
            untilDeadline = left <= timeout;
            timeout = std::min(timeout, left);
        }
        const bool ready = waitFor(sock_, POLLIN, timeout) > 0;
        if (!ready && untilDeadline) deadlinePassed_ = true;
        return ready;
    }

    bool is_writable() const override {
        if (waitFor(sock_, POLLOUT, writeTimeoutMs_) <= 0) return false;
        // A peer that has closed reads as end-of-file: writing to it is pointless.
        if (waitFor(sock_, POLLIN, 0) > 0) {
            char c;
            const ssize_t n = ::recv(sock_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
            if (n == 0) return false;
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) return false;
        }
        return true;
    }

    ssize_t read(char* ptr, size_t size) override {
        if (!buffered()) {
            if (!is_readable()) return -1;
            ssize_t n;
            do {
                n = ::recv(sock_, buffer_, sizeof buffer_, 0);
            } while (n < 0 && errno == EINTR);
            if (n <= 0) return n;
            bufferOffset_ = 0;
            bufferSize_ = size_t(n);
        }
        const size_t n = std::min(size, bufferSize_ - bufferOffset_);
        std::copy(buffer_ + bufferOffset_, buffer_ + bufferOffset_ + n, ptr);
        bufferOffset_ += n;
        return ssize_t(n);
    }

    ssize_t write(const char* ptr, size_t size) override {
        if (!is_writable()) return -1;
        ssize_t n;
        do {
            n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        return n;
    }

    void get_remote_ip_and_port(std::string& ip, int& port) const override { peerOrLocal(sock_, true, ip, port); }
    void get_local_ip_and_port(std::string& ip, int& port) const override { peerOrLocal(sock_, false, ip, port); }
    socket_t socket() const override { return sock_; }

private:
    const int sock_;
    const long long readTimeoutMs_, writeTimeoutMs_;
    bool armed_ = false;
    mutable bool deadlinePassed_ = false;
    Clock::time_point deadline_;
    char buffer_[4096];
    size_t bufferOffset_ = 0, bufferSize_ = 0;
};

} // namespace

void HttpTransport::closeAfterResponse() { tlsCloseAfterResponse = true; }

void HttpTransport::widenListenBacklog(int backlog) {
    // listen() on a listening socket only changes its backlog.
    if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, backlog);
}

bool HttpTransport::process_and_close_socket(socket_t sock) {
    ++connections_;
    const int one = 1;
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);   // stream chunks leave at once
    DeadlineSocketStream stream(sock, read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000,
                                write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
    bool ok = false;
    for (size_t left = keep_alive_max_count_; left > 0 && svr_sock_ != INVALID_SOCKET; --left) {
        if (!stream.waitForRequest(keep_alive_timeout_sec_ * 1000, svr_sock_)) break;
        stream.armDeadline(requestReadSeconds_);
        bool closed = false;
        tlsCloseAfterResponse = false;
        ok = process_request(stream, left == 1, closed, nullptr);
        stream.disarm();
        if (stream.deadlinePassed()) {
            ++slowDropped_;
            break;
        }
        if (!ok || closed || tlsCloseAfterResponse) break;
    }
    closeGracefully(sock, 250);
    return ok;
}

} // namespace swarm
