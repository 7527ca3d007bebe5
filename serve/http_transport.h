#pragma once
// The server's connection loop: cpp-httplib's Server with its per-connection loop replaced, so
// that a request must arrive whole (request line, headers and body) within a time limit of its
// first byte. cpp-httplib's own loop only limits each read, so a client trickling one byte every
// few seconds (slowloris) could hold an HTTP thread forever; here it is cut off and counted.
//
// Otherwise the loop is cpp-httplib's: keep-alive up to keep_alive_max_count requests, idle
// connections closed after the keep-alive timeout, a stop() ends it between requests. Closing
// is graceful: our side is shut down first and the client's remaining bytes drained briefly.
// Internal to serve/ (server.cpp); the public header stays free of httplib.
#include <httplib.h>

#include <atomic>

namespace swarm {

class HttpTransport : public httplib::Server {
public:
    explicit HttpTransport(int requestReadSeconds) : requestReadSeconds_(requestReadSeconds) {}

    // From a handler, which runs on its connection's thread: close the connection once this
    // answer is written (a request refused before its body was read: what follows is not a
    // request). Before closing, what the client still sends is read for a moment, so that it
    // reads the answer rather than a connection reset.
    static void closeAfterResponse();

    // cpp-httplib listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed in Debian's
    // library): more clients connecting at once would wait for SYN retransmits. Call after bind.
    void widenListenBacklog(int backlog);

    long long connections() const { return connections_.load(); }
    // Connections closed because a request did not arrive within requestReadSeconds.
    long long slowRequestsDropped() const { return slowDropped_.load(); }

private:
    // cpp-httplib calls this (virtual) on an HTTP thread for every accepted connection.
    bool process_and_close_socket(socket_t sock) override;

    const int requestReadSeconds_;
    std::atomic<long long> connections_{0}, slowDropped_{0};
};

} // namespace swarm
