// The TCP communicator (CPU buffers), for processes started without an MPI launcher:
// torchrun, or anything that sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT.
//
// Rendezvous: rank 0 listens at MASTER_ADDR:MASTER_PORT (127.0.0.1:29500 by default:
// loopback only; MASTER_PORT + 1 under torchrun, whose agent holds MASTER_PORT); every other rank connects there and reports the address of its own
// listening socket; rank 0 sends everyone the table. Then each rank connects to the
// next one and accepts the previous one: a ring. all_reduce is a ring reduce-scatter
// followed by a ring all-gather (every rank ends with the same bytes); broadcast is a
// pipelined chain from the root. All socket I/O runs on the communication thread.
// A peer that exits closes its sockets: its neighbours' next collective raises (EOF,
// ECONNRESET or EPIPE) naming the rank, and no wait lasts longer than the timeout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "src/distributed/internal.h"
#include "tessel/error.h"

namespace tessel::distributed::detail {
namespace {

constexpr uint32_t kMagic = 0x7e55e1;  // "tessel": the first word of every handshake
using Clock = std::chrono::steady_clock;

std::string errno_text(int e) { return std::strerror(e); }

// A deadline's remaining milliseconds for poll() (0 once passed).
int remaining_ms(Clock::time_point deadline) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, 1 << 30));
}

struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd = o.fd;
      o.fd = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL, 0) | O_NONBLOCK); }

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

sockaddr_in resolve(const std::string& host, int port) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  TS_CHECK(rc == 0 && res != nullptr, ValueError, "init_process_group", "MASTER_ADDR='", host,
           "' does not resolve to an IPv4 address: ", ::gai_strerror(rc));
  sockaddr_in a = *reinterpret_cast<sockaddr_in*>(res->ai_addr);
  ::freeaddrinfo(res);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

std::string addr_text(const sockaddr_in& a) {
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(a.sin_port));
}

// A listening socket on `addr` (port 0: any free port); the address it got.
Fd listen_on(sockaddr_in& addr, int backlog, const char* what) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  TS_CHECK(s.fd >= 0, Error, "init_process_group", "socket(): ", errno_text(errno));
  int one = 1;
  ::setsockopt(s.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    fail<Error>("init_process_group", "cannot listen for ", what, " at ", addr_text(addr), ": ", errno_text(e),
                e == EADDRINUSE ? " (another job uses the port: pick another MASTER_PORT, or set TESSEL_MASTER_PORT)" : "");
  }
  TS_CHECK(::listen(s.fd, backlog) == 0, Error, "init_process_group", "listen(): ", errno_text(errno));
  socklen_t len = sizeof(addr);
  ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len);
  return s;
}

// Connects to `addr`, retrying while nobody listens yet, until the deadline.
Fd connect_to(const sockaddr_in& addr, Clock::time_point deadline, const std::string& what) {
  for (;;) {
    Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    TS_CHECK(s.fd >= 0, Error, "init_process_group", "socket(): ", errno_text(errno));
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
      set_nodelay(s.fd);
      return s;
    }
    const int e = errno;
    TS_CHECK(e == ECONNREFUSED || e == ETIMEDOUT || e == ENETUNREACH || e == EHOSTUNREACH || e == EINTR, Error,
             "init_process_group", "cannot connect to ", what, " at ", addr_text(addr), ": ", errno_text(e));
    TS_CHECK(Clock::now() < deadline, Error, "init_process_group", "timed out connecting to ", what, " at ",
             addr_text(addr), " (", errno_text(e), "): is every rank started, with the same MASTER_ADDR and MASTER_PORT?");
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

// Accepts one connection before the deadline.
Fd accept_from(int listener, Clock::time_point deadline, const std::string& waiting_for) {
  pollfd p{listener, POLLIN, 0};
  for (;;) {
    const int rc = ::poll(&p, 1, remaining_ms(deadline));
    if (rc < 0 && errno == EINTR) continue;
    TS_CHECK(rc > 0, Error, "init_process_group", "timed out waiting for ", waiting_for);
    Fd s(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (s.fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
    TS_CHECK(s.fd >= 0, Error, "init_process_group", "accept(): ", errno_text(errno));
    set_nodelay(s.fd);
    return s;
  }
}

// Blocking exact reads and writes with a deadline (sockets are non-blocking).
void write_all(int fd, const void* buf, size_t n, Clock::time_point deadline, const std::string& peer) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w > 0) {
      p += w;
      n -= static_cast<size_t>(w);
      continue;
    }
    if (w < 0 && errno == EINTR) continue;
    TS_CHECK(w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK), Error, "distributed", "sending to ", peer,
             " failed: ", errno_text(errno), " (did it exit?)");
    pollfd pf{fd, POLLOUT, 0};
    TS_CHECK(::poll(&pf, 1, remaining_ms(deadline)) != 0, Error, "distributed", "timed out sending to ", peer);
  }
}

void read_all(int fd, void* buf, size_t n, Clock::time_point deadline, const std::string& peer) {
  char* p = static_cast<char*>(buf);
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r > 0) {
      p += r;
      n -= static_cast<size_t>(r);
      continue;
    }
    TS_CHECK(r != 0, Error, "distributed", peer, " closed the connection (it exited or failed)");
    if (errno == EINTR) continue;
    TS_CHECK(errno == EAGAIN || errno == EWOULDBLOCK, Error, "distributed", "receiving from ", peer, " failed: ",
             errno_text(errno), " (did it exit?)");
    pollfd pf{fd, POLLIN, 0};
    TS_CHECK(::poll(&pf, 1, remaining_ms(deadline)) != 0, Error, "distributed", "timed out waiting for ", peer);
  }
}

// inout[i] = op(inout[i], in[i]) in the dtype's own arithmetic (bool: or / and).
void reduce_into(void* inout, const void* in, int64_t n, DType dtype, ReduceOp op) {
  visit_dtype(dtype, [&]<class T>(std::type_identity<T>) {
    T* a = static_cast<T*>(inout);
    const T* b = static_cast<const T*>(in);
    if constexpr (std::is_same_v<T, bool>) {
      const bool any = op == ReduceOp::Sum || op == ReduceOp::Max || op == ReduceOp::Avg;
      for (int64_t i = 0; i < n; ++i) a[i] = any ? (a[i] || b[i]) : (a[i] && b[i]);
    } else if constexpr (is_reduced_float_v<T>) {
      combine(b, a, n, op);
    } else if constexpr (is_complex_v<T>) {
      for (int64_t i = 0; i < n; ++i) a[i] = op == ReduceOp::Product ? a[i] * b[i] : a[i] + b[i];
    } else {
      for (int64_t i = 0; i < n; ++i) {
        switch (op) {
          case ReduceOp::Sum:
          case ReduceOp::Avg: a[i] = static_cast<T>(a[i] + b[i]); break;  // -fwrapv: integers wrap
          case ReduceOp::Product: a[i] = static_cast<T>(a[i] * b[i]); break;
          case ReduceOp::Min: a[i] = (b[i] < a[i] || b[i] != b[i]) ? b[i] : a[i]; break;  // NaN wins
          case ReduceOp::Max: a[i] = (b[i] > a[i] || b[i] != b[i]) ? b[i] : a[i]; break;
        }
      }
    }
  });
}

class TcpCommunicator final : public Communicator {
 public:
  TcpCommunicator(const LaunchInfo& info, double timeout_s) : timeout_(timeout_s) {
    rank_ = info.rank;
    world_size_ = info.world_size;
    local_rank_ = info.local_rank;
    const char* addr = std::getenv("MASTER_ADDR");
    host_ = addr && *addr ? addr : "127.0.0.1";
    // torchrun's agent serves its own store at MASTER_PORT (it says so with
    // TORCHELASTIC_USE_AGENT_STORE): tessel then meets at the next port. TESSEL_MASTER_PORT wins.
    const char* agent = std::getenv("TORCHELASTIC_USE_AGENT_STORE");
    const bool agent_store = agent && (std::string(agent) == "True" || std::string(agent) == "1");
    if (!read_port("TESSEL_MASTER_PORT", port_)) {
      port_ = 29500;
      read_port("MASTER_PORT", port_);
      if (agent_store) ++port_;
    }
    TS_CHECK(port_ < 65536, ValueError, "init_process_group", "MASTER_PORT + 1 (torchrun's agent holds MASTER_PORT) is ",
             port_, ": set TESSEL_MASTER_PORT to a free port");
    start_thread([this] { rendezvous(); });
  }
  ~TcpCommunicator() override { shutdown(); }
  std::string backend() const override { return "tcp"; }

  // The other ranks see this process's sockets close and fail their next collective.
  [[noreturn]] void abort(int code) override { std::_Exit(code); }

 protected:
  void run_all_reduce(void* buf, int64_t count, DType dtype, ReduceOp op) override {
    if (world_size_ > 1 && count > 0) {
      // Chunk c of the buffer: [bounds[c], bounds[c + 1]); rank r ends the reduce-scatter owning chunk r.
      std::vector<int64_t> bounds(world_size_ + 1);
      for (int c = 0; c <= world_size_; ++c) bounds[c] = count * c / world_size_;
      ring_reduce_scatter(static_cast<char*>(buf), bounds, dtype, op);
      ring_all_gather(static_cast<char*>(buf), bounds, itemsize(dtype));
    }
    if (op == ReduceOp::Avg) divide(buf, count, dtype, world_size_);
  }

  void run_broadcast(void* buf, int64_t count, DType dtype, int root) override {
    if (world_size_ == 1 || count == 0) return;
    // A chain root -> root + 1 -> ... in segments, so that forwarding overlaps receiving.
    const size_t bytes = static_cast<size_t>(count) * itemsize(dtype), seg = size_t(1) << 20;
    const int next = (rank_ + 1) % world_size_;
    const auto deadline = Clock::now() + timeout();
    char* p = static_cast<char*>(buf);
    for (size_t off = 0; off < bytes; off += seg) {
      const size_t n = std::min(seg, bytes - off);
      if (rank_ != root) read_all(prev_.fd, p + off, n, deadline, peer(prev_rank()));
      if (next != root) write_all(next_.fd, p + off, n, deadline, peer(next));
    }
  }

  void run_all_gather(const void* send, void* recv, int64_t count, DType dtype) override {
    const size_t item = itemsize(dtype), bytes = static_cast<size_t>(count) * item;
    char* out = static_cast<char*>(recv);
    if (bytes && out + rank_ * bytes != send) std::memmove(out + rank_ * bytes, send, bytes);
    if (world_size_ == 1 || count == 0) return;
    std::vector<int64_t> bounds(world_size_ + 1);
    for (int c = 0; c <= world_size_; ++c) bounds[c] = count * c;
    ring_all_gather(out, bounds, item);
  }

  void run_reduce_scatter(const void* send, void* recv, int64_t count, DType dtype, ReduceOp op) override {
    const size_t item = itemsize(dtype), bytes = static_cast<size_t>(count) * item;
    if (world_size_ > 1 && count > 0) {
      std::vector<char> work(static_cast<const char*>(send),
                             static_cast<const char*>(send) + bytes * static_cast<size_t>(world_size_));
      std::vector<int64_t> bounds(world_size_ + 1);
      for (int c = 0; c <= world_size_; ++c) bounds[c] = count * c;
      ring_reduce_scatter(work.data(), bounds, dtype, op);
      std::memcpy(recv, work.data() + rank_ * bytes, bytes);
    } else if (bytes && send != recv) {
      std::memmove(recv, static_cast<const char*>(send) + rank_ * bytes, bytes);
    }
    if (op == ReduceOp::Avg) divide(recv, count, dtype, world_size_);
  }

  void run_barrier() override {
    // One byte goes round; the buffer is as wide as any dtype so the compiler sees no overflow.
    alignas(16) uint8_t token[16] = {1};
    run_all_reduce(token, 1, DType::UInt8, ReduceOp::Sum);
  }

  void run_shutdown() override {
    next_.reset();
    prev_.reset();
  }

 private:
  static bool read_port(const char* name, int& out) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return false;
    char* end = nullptr;
    const long p = std::strtol(v, &end, 10);
    TS_CHECK(end != v && *end == '\0' && p > 0 && p < 65536, ValueError, "init_process_group", "environment variable ",
             name, "='", v, "' is not a port number (1-65535)");
    out = static_cast<int>(p);
    return true;
  }

  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<long long>(timeout_ * 1000));
  }
  int prev_rank() const { return (rank_ + world_size_ - 1) % world_size_; }
  static std::string peer(int r) { return "rank " + std::to_string(r); }

  // Sends `out` to the next rank while receiving `in` from the previous one (both at once:
  // in a ring every rank sends and receives together, and blocking on either would deadlock).
  void exchange(const char* out, size_t out_n, char* in, size_t in_n, Clock::time_point deadline) {
    const std::string to = peer((rank_ + 1) % world_size_), from = peer(prev_rank());
    while (out_n > 0 || in_n > 0) {
      // A finished direction is left out (fd -1): a peer's hang-up there must not wake poll in a loop.
      pollfd pf[2] = {{out_n ? next_.fd : -1, POLLOUT, 0}, {in_n ? prev_.fd : -1, POLLIN, 0}};
      const int rc = ::poll(pf, 2, remaining_ms(deadline));
      if (rc < 0 && errno == EINTR) continue;
      TS_CHECK(rc != 0, Error, "distributed", "timed out after ", timeout_, " s exchanging data with ", from, " and ",
               to, " (a rank is stuck or gone)");
      if (out_n && (pf[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
        const ssize_t w = ::send(next_.fd, out, out_n, MSG_NOSIGNAL);
        if (w > 0) {
          out += w;
          out_n -= static_cast<size_t>(w);
        } else {
          TS_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, Error, "distributed", "sending to ", to,
                   " failed: ", errno_text(errno), " (it exited or failed)");
        }
      }
      if (in_n && (pf[1].revents & (POLLIN | POLLERR | POLLHUP))) {
        const ssize_t r = ::recv(prev_.fd, in, in_n, 0);
        TS_CHECK(r != 0, Error, "distributed", from, " closed the connection (it exited or failed)");
        if (r > 0) {
          in += r;
          in_n -= static_cast<size_t>(r);
        } else {
          TS_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR, Error, "distributed", "receiving from ",
                   from, " failed: ", errno_text(errno), " (it exited or failed)");
        }
      }
    }
  }

  // After world - 1 steps rank r holds chunk r reduced over every rank: at step s it sends
  // chunk r - s - 1 (its partial sum) and adds the received chunk r - s - 2 into its own.
  void ring_reduce_scatter(char* buf, const std::vector<int64_t>& bounds, DType dtype, ReduceOp op) {
    const int w = world_size_;
    const size_t item = itemsize(dtype);
    int64_t largest = 0;
    for (int c = 0; c < w; ++c) largest = std::max(largest, bounds[c + 1] - bounds[c]);
    scratch_.resize(static_cast<size_t>(largest) * item);
    const auto deadline = Clock::now() + timeout();
    for (int s = 0; s < w - 1; ++s) {
      const int out = ((rank_ - s - 1) % w + w) % w, in = ((rank_ - s - 2) % w + w) % w;
      const int64_t in_n = bounds[in + 1] - bounds[in];
      exchange(buf + bounds[out] * item, static_cast<size_t>(bounds[out + 1] - bounds[out]) * item, scratch_.data(),
               static_cast<size_t>(in_n) * item, deadline);
      reduce_into(buf + bounds[in] * item, scratch_.data(), in_n, dtype, op);
    }
  }

  // Rank r starts with chunk r; at step s it passes on chunk r - s and receives chunk r - s - 1.
  void ring_all_gather(char* buf, const std::vector<int64_t>& bounds, size_t item) {
    const int w = world_size_;
    const auto deadline = Clock::now() + timeout();
    for (int s = 0; s < w - 1; ++s) {
      const int out = ((rank_ - s) % w + w) % w, in = ((rank_ - s - 1) % w + w) % w;
      exchange(buf + bounds[out] * item, static_cast<size_t>(bounds[out + 1] - bounds[out]) * item,
               buf + bounds[in] * item, static_cast<size_t>(bounds[in + 1] - bounds[in]) * item, deadline);
    }
  }

  void rendezvous() {
    if (world_size_ == 1) return;
    const auto deadline = Clock::now() + timeout();
    const std::string where = host_ + ":" + std::to_string(port_);
    sockaddr_in master = resolve(host_, port_);
    // Each rank's ring listener: on rank 0 the master's interface; elsewhere the interface
    // that reaches the master (what getsockname says of the connection to it).
    struct Entry {
      uint32_t ip = 0;  // network order
      uint16_t port = 0;
    };
    std::vector<Entry> table(world_size_);
    Fd ring_listener;
    if (rank_ == 0) {
      Fd store = listen_on(master, world_size_, "the rendezvous (MASTER_ADDR:MASTER_PORT)");
      sockaddr_in mine = master;
      mine.sin_port = 0;
      ring_listener = listen_on(mine, 2, "the ring");
      table[0] = {mine.sin_addr.s_addr, mine.sin_port};
      std::vector<Fd> joined(world_size_);
      for (int k = 1; k < world_size_; ++k) {
        Fd c = accept_from(store.fd, deadline, "the other ranks at " + where + ": " + std::to_string(k - 1) + " of " +
                                                   std::to_string(world_size_ - 1) + " joined");
        set_nonblocking(c.fd);
        uint32_t hello[4];  // magic, world size, rank, ring port (network order in the low 16 bits)
        read_all(c.fd, hello, sizeof(hello), deadline, "a rank joining at " + where);
        TS_CHECK(hello[0] == kMagic, Error, "init_process_group", "something that is not a tessel rank connected to ",
                 where);
        TS_CHECK(static_cast<int>(hello[1]) == world_size_, Error, "init_process_group", "a rank joined ", where,
                 " with WORLD_SIZE=", hello[1], " but rank 0 has ", world_size_);
        const int r = static_cast<int>(hello[2]);
        TS_CHECK(r > 0 && r < world_size_ && joined[r].fd < 0, Error, "init_process_group", "rank ", r,
                 " joined twice or is out of range (WORLD_SIZE=", world_size_, ")");
        sockaddr_in from{};
        socklen_t len = sizeof(from);
        ::getpeername(c.fd, reinterpret_cast<sockaddr*>(&from), &len);
        table[r] = {from.sin_addr.s_addr, static_cast<uint16_t>(hello[3])};
        joined[r] = std::move(c);
      }
      for (int r = 1; r < world_size_; ++r)
        write_all(joined[r].fd, table.data(), table.size() * sizeof(Entry), deadline, peer(r));
    } else {
      Fd c = connect_to(master, deadline, "rank 0's rendezvous (MASTER_ADDR:MASTER_PORT)");
      sockaddr_in mine{};
      socklen_t len = sizeof(mine);
      ::getsockname(c.fd, reinterpret_cast<sockaddr*>(&mine), &len);
      mine.sin_port = 0;
      ring_listener = listen_on(mine, 2, "the ring");
      set_nonblocking(c.fd);
      const uint32_t hello[4] = {kMagic, static_cast<uint32_t>(world_size_), static_cast<uint32_t>(rank_),
                                 mine.sin_port};
      write_all(c.fd, hello, sizeof(hello), deadline, "rank 0");
      read_all(c.fd, table.data(), table.size() * sizeof(Entry), deadline, "rank 0");
    }
    // The ring: connect to the next rank, accept the previous one (each says who it is).
    const int next = (rank_ + 1) % world_size_;
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_addr.s_addr = table[next].ip;
    to.sin_port = table[next].port;
    next_ = connect_to(to, deadline, peer(next));
    set_nonblocking(next_.fd);
    const uint32_t me[2] = {kMagic, static_cast<uint32_t>(rank_)};
    write_all(next_.fd, me, sizeof(me), deadline, peer(next));
    prev_ = accept_from(ring_listener.fd, deadline, peer(prev_rank()) + " to connect");
    set_nonblocking(prev_.fd);
    uint32_t them[2];
    read_all(prev_.fd, them, sizeof(them), deadline, peer(prev_rank()));
    TS_CHECK(them[0] == kMagic && static_cast<int>(them[1]) == prev_rank(), Error, "init_process_group",
             "rank ", rank_, " expected rank ", prev_rank(), " on its ring socket, got a connection from ",
             them[0] == kMagic ? "rank " + std::to_string(them[1]) : std::string("something else"));
    // Everyone is connected before anyone's first collective.
    run_barrier();
  }

  double timeout_;
  std::string host_;
  int port_ = 29500;
  Fd next_, prev_;
  std::vector<char> scratch_;
};

}  // namespace

std::unique_ptr<Communicator> make_tcp(const LaunchInfo& info, double timeout_s) {
  return std::make_unique<TcpCommunicator>(info, timeout_s);
}

}  // namespace tessel::distributed::detail
