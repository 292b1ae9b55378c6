// A one-thread HTTP server on 127.0.0.1 for the transport tests: it reads each request and
// answers with whatever the test's handler writes, hostile answers included.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>

class TestServer {
public:
    // The connection, for the handler: send() reports whether the peer still reads.
    struct Conn {
        int fd;
        std::atomic<size_t> *sent;
        bool send(const std::string &data) const {
            size_t off = 0;
            while (off < data.size()) {
                ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
                if (n <= 0) return false;
                off += static_cast<size_t>(n);
                *sent += static_cast<size_t>(n);
            }
            return true;
        }
    };
    using Handler = std::function<void(const Conn &, const std::string &request)>;

    explicit TestServer(Handler handler) : handler_(std::move(handler)) {
        listener_ = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(listener_, reinterpret_cast<sockaddr *>(&addr), sizeof addr);
        listen(listener_, 16);
        socklen_t len = sizeof addr;
        getsockname(listener_, reinterpret_cast<sockaddr *>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }

    ~TestServer() {
        stop_ = true;
        thread_.join();
        close(listener_);
    }

    int port() const { return port_; }
    std::string url(const std::string &scheme = "http", const std::string &host = "127.0.0.1") const {
        return scheme + "://" + host + ":" + std::to_string(port_) + "/";
    }
    int connections() const { return connections_; }
    int requests() const { return requests_; }
    size_t sent() const { return sent_; }

private:
    void serve() {
        while (!stop_) {
            pollfd p{listener_, POLLIN, 0};
            if (poll(&p, 1, 50) <= 0) continue;
            int fd = accept(listener_, nullptr, nullptr);
            if (fd < 0) continue;
            connections_++;
            // One request per connection is all these tests need.
            std::string request;
            char buf[4096];
            while (request.find("\r\n\r\n") == std::string::npos) {
                pollfd c{fd, POLLIN, 0};
                if (poll(&c, 1, 2000) <= 0) break;
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                request.append(buf, static_cast<size_t>(n));
            }
            // And the body, so closing the socket does not reset the connection under the answer.
            size_t head = request.find("\r\n\r\n");
            size_t length = 0;
            size_t at = request.find("Content-Length: ");
            if (at != std::string::npos && at < head) length = std::stoul(request.substr(at + 16));
            while (head != std::string::npos && request.size() < head + 4 + length) {
                pollfd c{fd, POLLIN, 0};
                if (poll(&c, 1, 2000) <= 0) break;
                ssize_t n = recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                request.append(buf, static_cast<size_t>(n));
            }
            if (!request.empty()) {
                requests_++;
                handler_(Conn{fd, &sent_}, request);
            }
            shutdown(fd, SHUT_WR);
            close(fd);
        }
    }

    Handler handler_;
    int listener_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    std::atomic<int> connections_{0};
    std::atomic<int> requests_{0};
    std::atomic<size_t> sent_{0};
};
