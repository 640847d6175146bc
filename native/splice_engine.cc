// frelay's zero-copy data path: paired TCP sessions moved socket → pipe → socket with splice(2).
//
// One engine per process: a single epoll thread carries every session (not the JS thread, not a
// thread per session). JavaScript hands over two descriptors it has duplicated for the engine
// (add), and from then on the engine owns them: it alone reads, writes, shuts down and closes
// them. It tells JavaScript through one thread-safe function that events are waiting: a
// direction's source reached its end, the session finished (both directions delivered and
// shut), or failed (an errno and which side). Byte counters are atomics that
// JavaScript reads at any time (stats), so logs and metrics see exact live figures. JavaScript
// may also close a session at once (close): reload, revocation, stop, an operator's DELETE.
//
// Linux only (splice, epoll, eventfd). Built against Node-API only, so one binary loads on
// every Node line that offers NAPI_VERSION.

#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace {

// Splices per direction per wake-up before the other sessions get their turn.
constexpr int kTurnsPerWake = 16;
// The byte count one splice from a socket asks for; the pipe bounds what it really takes.
constexpr size_t kSpliceChunk = 1 << 20;
// A direction's pipe starts at the kernel's default (64 KiB, 16 page slots) and grows to this
// the first time it fills: a bulk transfer then moves up to 1 MiB per splice pair and wakes the
// engine far less often, while a session that only ever carries small messages keeps the small
// pipe. This is the bound on what the relay holds per direction. Capped by
// /proc/sys/fs/pipe-max-size and by the per-user pipe budget (bulkPipeBudget); where the
// kernel refuses anyway, the pipe stays as it was.
constexpr int kBulkPipeBytes = 1 << 20;
constexpr unsigned kSpliceFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;
// What a direction without a pipe reads at a time into its held buffer (see pump): the bound on
// what it holds in user space, the same as a default pipe.
constexpr size_t kHeldCopyBytes = 1 << 16;

// kNoPipe: a direction could not get a pipe (errno: EMFILE, ENFILE) and copies through its held
// buffer instead; reported once per direction until a pipe is had again.
enum EventKind : uint32_t { kSourceEnded = 1, kFinished = 2, kFailed = 3, kNoPipe = 4 };

struct Event {
  uint32_t id;
  uint32_t kind;
  int32_t dir;    // kSourceEnded: the direction; kFailed: the side whose call failed (0 = a, 1 = b)
  int32_t error;  // kFailed: errno
  uint64_t aToB;
  uint64_t bToA;
};

struct Direction {
  int src = -1;
  int dst = -1;
  int pipeRead = -1;
  int pipeWrite = -1;
  std::atomic<size_t> inPipe{0};  // read by stats() on the JS thread: bytes held for the destination
  bool pipeGrown = false;  // tried once: a refusal is not retried
  bool pipeBulk = false;   // grown: counted in the engine's budget until the pipe is closed
  // Bytes held in user space, delivered before anything else: those JavaScript read before the
  // hand-off, and those copied by recv while the direction has no pipe (at most kHeldCopyBytes).
  std::string leftover;
  size_t leftoverSent = 0;
  std::atomic<size_t> inHeld{0};  // leftover not yet sent, for stats() like inPipe
  bool noPipeReported = false;
  bool sourceEnded = false;
  bool shut = false;
  std::atomic<uint64_t> bytes{0};
};

struct Session {
  uint32_t id = 0;
  int fd[2] = {-1, -1};
  Direction dir[2];
  // Held by whoever touches the descriptors: the engine thread for one turn, or JavaScript while
  // it closes the session. Once `over`, the descriptors are closed and nobody touches them.
  std::mutex busy;
  bool over = false;
  bool queued = false;
};

enum class Pump { kWait, kMore, kFailed };

class Engine {
 public:
  static Engine& get() {
    static Engine* engine = new Engine();  // lives as long as the process: its thread never stops
    return *engine;
  }

  bool start(Napi::ThreadSafeFunction reporter, std::string* why) {
    reporter_ = reporter;
    bulkPipeBytes_ = bulkPipeBytes();
    bulkPipeBudget_ = bulkPipeBudget(bulkPipeBytes_);
    epollFd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epollFd_ < 0) {
      *why = std::string("epoll_create1: ") + strerror(errno);
      return false;
    }
    std::thread([this] { run(); }).detach();
    return true;
  }

  // Takes ownership of fdA and fdB (already duplicated for the engine) on success.
  uint32_t add(int fdA, int fdB, std::string leftoverAToB, std::string leftoverBToA, std::string* why) {
    auto s = std::make_shared<Session>();
    s->fd[0] = fdA;
    s->fd[1] = fdB;
    s->dir[0].src = fdA;
    s->dir[0].dst = fdB;
    s->dir[0].leftover = std::move(leftoverAToB);
    s->dir[0].inHeld = s->dir[0].leftover.size();
    s->dir[1].src = fdB;
    s->dir[1].dst = fdA;
    s->dir[1].leftover = std::move(leftoverBToA);
    s->dir[1].inHeld = s->dir[1].leftover.size();
    // Not served before both descriptors are registered.
    std::lock_guard<std::mutex> adding(s->busy);
    {
      std::lock_guard<std::mutex> lock(mapMutex_);
      s->id = ++lastId_;
      if (s->id == 0) s->id = ++lastId_;
      sessions_[s->id] = s;
    }
    // Edge-triggered: a descriptor that is ready when added reports at once, so the first turn
    // (leftover bytes included) needs no extra kick.
    for (int side = 0; side < 2; side++) {
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
      ev.data.u64 = s->id;
      if (epoll_ctl(epollFd_, EPOLL_CTL_ADD, s->fd[side], &ev) != 0) {
        *why = std::string("epoll_ctl: ") + strerror(errno);
        take(s->id);
        s->over = true;
        // The caller closes the descriptors; Node still holds the sockets, so a registration
        // would outlive that close: take it out of epoll first.
        if (side == 1) epoll_ctl(epollFd_, EPOLL_CTL_DEL, s->fd[0], nullptr);
        return 0;
      }
    }
    return s->id;
  }

  // Closes a session now, from JavaScript: waits for the engine's current turn on it (at most
  // one turn), closes its descriptors and returns its final counts. False if the engine ended
  // it first: then its end event is already queued.
  bool closeNow(uint32_t id, uint64_t* aToB, uint64_t* bToA) {
    std::shared_ptr<Session> s = take(id);
    if (!s) return false;
    std::lock_guard<std::mutex> lock(s->busy);
    if (s->over) return false;
    *aToB = s->dir[0].bytes.load();
    *bToA = s->dir[1].bytes.load();
    release(*s);
    return true;
  }

  // Delivered counts, and what each direction holds (its pipe, its held buffer) for a destination that has not taken it.
  bool stats(uint32_t id, uint64_t* aToB, uint64_t* bToA, uint64_t* heldAToB, uint64_t* heldBToA) {
    std::lock_guard<std::mutex> lock(mapMutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    *aToB = it->second->dir[0].bytes.load(std::memory_order_relaxed);
    *bToA = it->second->dir[1].bytes.load(std::memory_order_relaxed);
    *heldAToB = it->second->dir[0].inPipe.load(std::memory_order_relaxed) + it->second->dir[0].inHeld.load(std::memory_order_relaxed);
    *heldBToA = it->second->dir[1].inPipe.load(std::memory_order_relaxed) + it->second->dir[1].inHeld.load(std::memory_order_relaxed);
    return true;
  }

  std::vector<Event> takeEvents() {
    std::lock_guard<std::mutex> lock(eventsMutex_);
    std::vector<Event> out;
    out.swap(events_);
    reportPending_ = false;
    return out;
  }

 private:
  void run() {
    std::vector<epoll_event> ready(256);
    std::deque<uint32_t> again;  // sessions whose turn ended with work left
    for (;;) {
      int n = epoll_wait(epollFd_, ready.data(), static_cast<int>(ready.size()), again.empty() ? -1 : 0);
      if (n < 0 && errno != EINTR) return;
      for (int i = 0; i < n; i++) serve(static_cast<uint32_t>(ready[i].data.u64), again);
      for (size_t k = again.size(); k > 0; k--) {
        uint32_t id = again.front();
        again.pop_front();
        serve(id, again, true);
      }
      flushEvents();
    }
  }

  std::shared_ptr<Session> find(uint32_t id) {
    std::lock_guard<std::mutex> lock(mapMutex_);
    auto it = sessions_.find(id);
    return it == sessions_.end() ? nullptr : it->second;
  }

  std::shared_ptr<Session> take(uint32_t id) {
    std::lock_guard<std::mutex> lock(mapMutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return nullptr;
    std::shared_ptr<Session> s = std::move(it->second);
    sessions_.erase(it);
    return s;
  }

  void serve(uint32_t id, std::deque<uint32_t>& again, bool requeued = false) {
    std::shared_ptr<Session> s = find(id);
    if (!s) return;  // an event left over from a session that ended earlier
    std::lock_guard<std::mutex> lock(s->busy);
    if (s->over) return;
    if (requeued) s->queued = false;
    bool more = false;
    for (int d = 0; d < 2; d++) {
      Pump r = pump(*s, d);
      if (r == Pump::kFailed) return;
      if (r == Pump::kMore) more = true;
    }
    if (s->dir[0].shut && s->dir[1].shut) {
      end(*s, kFinished, 0, 0);
      return;
    }
    if (more && !s->queued) {
      s->queued = true;
      again.push_back(id);
    }
  }

  // Moves what is ready in one direction until neither end can move more (the source has nothing
  // or the pipe is full, and the destination takes nothing: their EPOLLIN / EPOLLOUT edges resume
  // us), or the turn is used up. The pipe is the only buffer, so a stalled reader holds the
  // sender back through TCP's own flow control once the pipe is full.
  Pump pump(Session& s, int d) {
    Direction& dir = s.dir[d];
    if (dir.shut) return Pump::kWait;
    for (int turn = 0; turn < kTurnsPerWake; turn++) {
      Pump held = sendHeld(s, d);
      if (held != Pump::kMore) return held;
      bool moved = false;
      bool sourceBlocked = dir.sourceEnded;
      if (!dir.sourceEnded) {
        if (dir.pipeRead < 0) {
          // Pipes are made when a direction first has bytes to carry: an idle session holds none.
          char probe;
          ssize_t peeked = recv(dir.src, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
          if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Pump::kWait;
          if (peeked < 0 && errno == EINTR) continue;
          if (peeked < 0) return fail(s, d, errno);
          if (peeked == 0) {
            sourceEnded(s, d);
            continue;
          }
          if (!openPipe(dir)) {
            // No descriptor for a pipe (the open-file limit, reached by the sessions
            // themselves): that is the relay's shortage, not the parties' fault, so the session
            // goes on, its bytes copied through the held buffer; the next burst tries a pipe again.
            int error = errno;
            if (!dir.noPipeReported) {
              dir.noPipeReported = true;
              queueEvent({s.id, kNoPipe, d, error, 0, 0});
            }
            Pump copied = copyToHeld(s, d);
            if (copied != Pump::kMore) return copied;
            continue;
          }
          dir.noPipeReported = false;
        }
        // The pipe is filled from the source also while the destination is full: it is the
        // direction's buffer, and what is in it goes out as soon as the destination has room.
        ssize_t n = splice(dir.src, nullptr, dir.pipeWrite, nullptr, kSpliceChunk, kSpliceFlags);
        if (n == 0) {
          sourceEnded(s, d);
          sourceBlocked = true;
        } else if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) return fail(s, d, errno);
          // Nothing to read now, or the pipe is full: then it grows, once.
          if (dir.inPipe > 0) growPipe(dir);
          sourceBlocked = true;
        } else {
          dir.inPipe += static_cast<size_t>(n);
          moved = true;
          if (dir.inPipe >= kDefaultPipeBytes) growPipe(dir);
        }
      }
      if (dir.inPipe > 0) {
        ssize_t n = splice(dir.pipeRead, nullptr, dir.dst, nullptr, dir.inPipe, kSpliceFlags);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno != EAGAIN) return fail(s, 1 - d, errno);
          // The destination is full: its EPOLLOUT edge resumes us. Until the source is
          // blocked too (EPOLLIN then also resumes us), the pipe goes on filling.
          if (sourceBlocked) return Pump::kWait;
          continue;
        }
        dir.inPipe -= static_cast<size_t>(n);
        dir.bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
        moved = true;
      }
      if (dir.sourceEnded && dir.inPipe == 0) {
        // Everything read is delivered: pass the FIN on; the other direction goes on (half-close).
        if (shutdown(dir.dst, SHUT_WR) != 0 && errno != ENOTCONN) return fail(s, 1 - d, errno);
        dir.shut = true;
        return Pump::kWait;
      }
      if (!moved) return Pump::kWait;  // the source had nothing and the pipe is empty
    }
    return Pump::kMore;
  }

  // Sends what the direction holds in user space. kMore: nothing held (any more), go on; kWait:
  // the destination is full (its EPOLLOUT edge resumes us).
  Pump sendHeld(Session& s, int d) {
    Direction& dir = s.dir[d];
    while (dir.leftoverSent < dir.leftover.size()) {
      ssize_t n = send(dir.dst, dir.leftover.data() + dir.leftoverSent, dir.leftover.size() - dir.leftoverSent, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) return Pump::kWait;
        if (errno == EINTR) continue;
        return fail(s, 1 - d, errno);
      }
      dir.leftoverSent += static_cast<size_t>(n);
      dir.inHeld.store(dir.leftover.size() - dir.leftoverSent, std::memory_order_relaxed);
      dir.bytes.fetch_add(static_cast<uint64_t>(n), std::memory_order_relaxed);
    }
    if (!dir.leftover.empty()) {
      std::string().swap(dir.leftover);  // an idle direction holds no buffer
      dir.leftoverSent = 0;
    }
    return Pump::kMore;
  }

  // Reads up to kHeldCopyBytes from the source into the (empty) held buffer, for sendHeld.
  // kMore: something was read, or the FIN; kWait: nothing to read now.
  Pump copyToHeld(Session& s, int d) {
    Direction& dir = s.dir[d];
    dir.leftover.resize(kHeldCopyBytes);
    ssize_t n;
    do n = recv(dir.src, &dir.leftover[0], kHeldCopyBytes, MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    dir.leftover.resize(n > 0 ? static_cast<size_t>(n) : 0);
    dir.inHeld.store(dir.leftover.size(), std::memory_order_relaxed);
    if (n > 0) return Pump::kMore;
    std::string().swap(dir.leftover);
    if (n == 0) {
      sourceEnded(s, d);
      return Pump::kMore;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Pump::kWait;
    return fail(s, d, errno);
  }

  // The source's FIN is read (by the probe or by splice): JavaScript starts the flush grace once
  // both have; the FIN itself is passed on when the pipe is empty.
  void sourceEnded(Session& s, int d) {
    s.dir[d].sourceEnded = true;
    queueEvent({s.id, kSourceEnded, d, 0, 0, 0});
  }

  void growPipe(Direction& dir) {
    if (dir.pipeGrown) return;
    dir.pipeGrown = true;
    if (bulkPipeBytes_ <= kDefaultPipeBytes) return;
    if (bulkPipes_.fetch_add(1) >= bulkPipeBudget_) {
      bulkPipes_.fetch_sub(1);
      return;
    }
    if (fcntl(dir.pipeWrite, F_SETPIPE_SZ, bulkPipeBytes_) < 0) bulkPipes_.fetch_sub(1);
    else dir.pipeBulk = true;
  }

  // How many pipes may be grown at once. The kernel counts every pipe's size against its
  // user (/proc/sys/fs/pipe-user-pages-soft, 64 MiB by default); past that, an unprivileged
  // user's new pipes get 2 pages. Grown pipes may use half of it, so that new sessions always
  // get full default pipes; root (which the limit does not bind) has no such budget.
  static int bulkPipeBudget(int bulkBytes) {
    if (geteuid() == 0) return INT32_MAX;
    long soft = 0;
    if (FILE* f = fopen("/proc/sys/fs/pipe-user-pages-soft", "r")) {
      if (fscanf(f, "%ld", &soft) != 1) soft = 0;
      fclose(f);
    }
    if (soft <= 0) return INT32_MAX;  // no limit set
    long pages = bulkBytes / sysconf(_SC_PAGESIZE);
    return static_cast<int>(soft / 2 / (pages > 0 ? pages : 1));
  }

  // The bulk pipe size this kernel allows an unprivileged process: kBulkPipeBytes, or less.
  static int bulkPipeBytes() {
    int max = kBulkPipeBytes;
    if (FILE* f = fopen("/proc/sys/fs/pipe-max-size", "r")) {
      int v = 0;
      if (fscanf(f, "%d", &v) == 1 && v > 0 && v < max) max = v;
      fclose(f);
    }
    return max;
  }

  static bool openPipe(Direction& dir) {
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) return false;
    dir.pipeRead = p[0];
    dir.pipeWrite = p[1];
    return true;
  }

  Pump fail(Session& s, int side, int error) {
    end(s, kFailed, side, error);
    return Pump::kFailed;
  }

  // The engine ends a session (with `busy` held): the event is queued before the session leaves
  // the table, so JavaScript, not finding it, knows its end is already on the way.
  void end(Session& s, EventKind kind, int side, int error) {
    queueEvent({s.id, kind, side, error, s.dir[0].bytes.load(), s.dir[1].bytes.load()});
    take(s.id);
    release(s);
  }

  // Closes everything the session holds. close() also takes the descriptors out of epoll: the
  // engine holds the only references to these sockets.
  void release(Session& s) {
    s.over = true;
    for (int i = 0; i < 2; i++) {
      Direction& dir = s.dir[i];
      if (dir.pipeBulk) bulkPipes_.fetch_sub(1);
      dir.pipeBulk = false;
      if (dir.pipeRead >= 0) close(dir.pipeRead);
      if (dir.pipeWrite >= 0) close(dir.pipeWrite);
      dir.pipeRead = dir.pipeWrite = -1;
      close(s.fd[i]);
      s.fd[i] = -1;
    }
  }

  void queueEvent(const Event& e) {
    std::lock_guard<std::mutex> lock(eventsMutex_);
    events_.push_back(e);
  }

  // One call into JavaScript per batch of events; none while one is still pending.
  void flushEvents() {
    {
      std::lock_guard<std::mutex> lock(eventsMutex_);
      if (events_.empty() || reportPending_) return;
      reportPending_ = true;
    }
    reporter_.NonBlockingCall();
  }

  static constexpr int kDefaultPipeBytes = 1 << 16;
  int bulkPipeBytes_ = kBulkPipeBytes;
  int bulkPipeBudget_ = INT32_MAX;
  std::atomic<int> bulkPipes_{0};
  int epollFd_ = -1;
  std::mutex mapMutex_;
  std::unordered_map<uint32_t, std::shared_ptr<Session>> sessions_;
  uint32_t lastId_ = 0;
  std::mutex eventsMutex_;
  std::vector<Event> events_;
  bool reportPending_ = false;
  Napi::ThreadSafeFunction reporter_;
};

bool started = false;
Napi::ThreadSafeFunction reporter;

// start(onEvents): starts the engine thread once; onEvents() is called (no arguments) when
// events are waiting, and reads them with takeEvents().
Napi::Value Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (started) return env.Undefined();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onEvents)");
  reporter = Napi::ThreadSafeFunction::New(env, info[0].As<Napi::Function>(), "frelay-splice", 0, 1);
  reporter.Unref(env);  // only open sessions keep the process alive (see ref)
  std::string why;
  if (!Engine::get().start(reporter, &why)) throw Napi::Error::New(env, why);
  started = true;
  return env.Undefined();
}

// takeEvents() → Float64Array of 6 numbers per event: id, kind, direction or side, errno,
// bytes a→b, bytes b→a.
Napi::Value TakeEvents(const Napi::CallbackInfo& info) {
  std::vector<Event> events = Engine::get().takeEvents();
  Napi::Float64Array flat = Napi::Float64Array::New(info.Env(), events.size() * 6);
  for (size_t i = 0; i < events.size(); i++) {
    const Event& e = events[i];
    double* row = flat.Data() + i * 6;
    row[0] = e.id;
    row[1] = e.kind;
    row[2] = e.dir;
    row[3] = e.error;
    row[4] = static_cast<double>(e.aToB);
    row[5] = static_cast<double>(e.bToA);
  }
  return flat;
}

// The socket must be a connected TCP socket whose two ends are the ports JavaScript sees.
bool isTheSocket(int fd, int localPort, int remotePort) {
  sockaddr_storage local{}, remote{};
  socklen_t ll = sizeof local, rl = sizeof remote;
  int type = 0;
  socklen_t tl = sizeof type;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 || type != SOCK_STREAM) return false;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &ll) != 0) return false;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&remote), &rl) != 0) return false;
  auto port = [](const sockaddr_storage& a) -> int {
    if (a.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in&>(a).sin_port);
    if (a.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6&>(a).sin6_port);
    return -1;
  };
  return port(local) == localPort && port(remote) == remotePort;
}

std::string bytesOf(const Napi::Value& v) {
  if (!v.IsBuffer()) return std::string();
  Napi::Buffer<char> b = v.As<Napi::Buffer<char>>();
  return std::string(b.Data(), b.Length());
}

// add(fdA, localPortA, remotePortA, fdB, localPortB, remotePortB, leftoverAToB, leftoverBToA)
// → session id. Checks that each descriptor is the socket JavaScript means, duplicates both
// (the engine's own references), and starts moving bytes. Throws, owning nothing, on failure.
Napi::Value Add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!started) throw Napi::Error::New(env, "engine not started");
  int dup[2] = {-1, -1};
  for (int side = 0; side < 2; side++) {
    int fd = info[side * 3].As<Napi::Number>().Int32Value();
    int lp = info[side * 3 + 1].As<Napi::Number>().Int32Value();
    int rp = info[side * 3 + 2].As<Napi::Number>().Int32Value();
    if (fd < 0 || !isTheSocket(fd, lp, rp)) {
      if (dup[0] >= 0) close(dup[0]);
      throw Napi::Error::New(env, "descriptor does not match the socket");
    }
    dup[side] = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dup[side] < 0) {
      std::string why = std::string("dup: ") + strerror(errno);
      if (dup[0] >= 0) close(dup[0]);
      throw Napi::Error::New(env, why);
    }
  }
  std::string why;
  uint32_t id = Engine::get().add(dup[0], dup[1], bytesOf(info[6]), bytesOf(info[7]), &why);
  if (id == 0) {
    close(dup[0]);
    close(dup[1]);
    throw Napi::Error::New(env, why);
  }
  return Napi::Number::New(env, id);
}

// close(id) → [a→b, b→a] once closed, or undefined if the session had already ended (its end
// event is then waiting in takeEvents()).
Napi::Value Close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t aToB = 0, bToA = 0;
  if (!Engine::get().closeNow(info[0].As<Napi::Number>().Uint32Value(), &aToB, &bToA)) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, static_cast<double>(aToB)));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(bToA)));
  return out;
}

// stats(id) → [a→b, b→a, held a→b, held b→a], or undefined once the session is over.
Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t figures[4] = {0, 0, 0, 0};
  if (!Engine::get().stats(info[0].As<Napi::Number>().Uint32Value(), &figures[0], &figures[1], &figures[2], &figures[3])) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, 4);
  for (uint32_t i = 0; i < 4; i++) out.Set(i, Napi::Number::New(env, static_cast<double>(figures[i])));
  return out;
}

// While sessions are open the engine keeps the event loop alive, so their events are heard.
Napi::Value Ref(const Napi::CallbackInfo& info) {
  if (started) {
    if (info[0].ToBoolean().Value()) reporter.Ref(info.Env());
    else reporter.Unref(info.Env());
  }
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("start", Napi::Function::New(env, Start));
  exports.Set("add", Napi::Function::New(env, Add));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("takeEvents", Napi::Function::New(env, TakeEvents));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("ref", Napi::Function::New(env, Ref));
  return exports;
}

}  // namespace

NODE_API_MODULE(frelay_splice, Init)
