// UdpSocket: batched UDP for VXLAN (RFC 7348) and other tunnels.
//
// A non-blocking datagram socket (IPv4, or IPv6 when the bind address has a
// colon) with SO_REUSEADDR and 4 MiB socket buffers. receive() is one
// recvmmsg(MSG_DONTWAIT) and send() is sendmmsg(MSG_DONTWAIT) calls, both
// straight between the socket and the caller's batch: the iovecs point into
// the JS-owned buffer at i * stride, so there is no copy on our side and no
// allocation per packet (the mmsghdr arrays grow only when a larger batch than
// ever before arrives). Addresses travel in typed arrays next to the batch:
// an IPv4 address is one uint32 in host order (198.18.0.1 = 0xc6120001); an
// IPv6 address is four, each the host-order value of 4 address bytes. A
// datagram larger than the stride is dropped and counted (rxErrors); a send
// that would block refuses the rest of the batch (txDropped), one that fails
// for a single packet (no route, too big) counts it (txErrors) and goes on.
// onReadable watches the socket with uv_poll.
//
// Segmentation offloads (Linux, udp(7)):
// - UDP GSO on send (UDP_SEGMENT, 4.18+): consecutive datagrams of a batch to
//   one destination, all of the first one's length except a shorter last one,
//   become one sendmmsg entry (one iovec a datagram, still no copy) with a
//   UDP_SEGMENT cmsg giving that length, at most 64 datagrams and 64 KiB: the
//   kernel routes and builds them once and cuts them into the same datagrams
//   on the wire. Counters and the accepted count stay per datagram (a refused
//   or failed entry counts all its datagrams). If the kernel refuses GSO
//   (EINVAL, EIO) the socket remembers it and sends one datagram an entry;
//   a run it refuses as too big for the path MTU (EMSGSIZE) is sent again one
//   datagram an entry (so it is fragmented, like any datagram that large).
// - UDP GRO on receive (UDP_GRO, 5.0+; enableGro()): the kernel may deliver
//   several same-size datagrams as one, its UDP_GRO cmsg giving their size.
//   A batch slot (the stride) cannot hold such a 64 KiB datagram, and the
//   split datagrams outnumber the slots read into, so with GRO on recvmmsg
//   fills 64 KiB buffers of the socket's own and every datagram is copied
//   once into its slot; what does not fit the batch waits there (pending())
//   for the next receive, which reads the socket again only once it is out.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "common.h"

namespace vroom {
namespace {

constexpr int kSocketBuffer = 4 << 20;
// UDP GSO limits: segments a message (the kernel's UDP_MAX_SEGMENTS) and
// payload bytes a message (an IPv4 datagram's 65,535 less its headers).
constexpr uint32_t kMaxSegments = 64;
constexpr uint32_t kMaxGsoBytes = 65535 - 20 - 8;
// A receive buffer of the GRO path: the largest coalesced datagram.
constexpr uint32_t kGroBuffer = 65536;

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif
#ifndef SOL_UDP
#define SOL_UDP 17
#endif

// Sets `h` up to receive one datagram into `buf` (`len` bytes), its source
// into `from`, and its ancillary data into `ctrl` (none when null).
static void ReceiveInto(struct msghdr& h, struct sockaddr_storage* from, struct iovec* iov,
                        void* buf, size_t len, void* ctrl, size_t ctrlLen) {
  iov->iov_base = buf;
  iov->iov_len = len;
  memset(&h, 0, sizeof h);
  h.msg_name = from;
  h.msg_namelen = sizeof *from;
  h.msg_iov = iov;
  h.msg_iovlen = 1;
  h.msg_control = ctrl;
  h.msg_controllen = ctrlLen;
}

// Room for one cmsg carrying a uint16 (UDP_SEGMENT) or an int (UDP_GRO).
struct Control {
  alignas(struct cmsghdr) char bytes[CMSG_SPACE(sizeof(int))];
};

class UdpSocket : public Napi::ObjectWrap<UdpSocket>, public Readable {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpSocket",
                       {
                           InstanceMethod<&UdpSocket::OnReadable>("onReadable"),
                           InstanceMethod<&UdpSocket::Receive>("receive"),
                           InstanceMethod<&UdpSocket::Send>("send"),
                           InstanceMethod<&UdpSocket::GetStats>("stats"),
                           InstanceMethod<&UdpSocket::GetOffloads>("offloads"),
                           InstanceMethod<&UdpSocket::EnableGro>("enableGro"),
                           InstanceMethod<&UdpSocket::Pending>("pending"),
                           InstanceMethod<&UdpSocket::Close>("close"),
                           InstanceMethod<&UdpSocket::LocalPort>("localPort"),
                           InstanceMethod<&UdpSocket::Family>("family"),
                           InstanceMethod<&UdpSocket::RefHandle>("ref"),
                           InstanceMethod<&UdpSocket::UnrefHandle>("unref"),
                       });
  }

  // new UdpSocket(bindAddress, port)
  explicit UdpSocket(const Napi::CallbackInfo& info) : Napi::ObjectWrap<UdpSocket>(info) {
    Napi::Env env = info.Env();
    std::string address = StringArg(info, 0, "bindAddress");
    uint32_t port = UintArg(info, 1, "port", 65535);
    std::string what = address.find(':') != std::string::npos
                           ? "[" + address + "]:" + std::to_string(port)
                           : address + ":" + std::to_string(port);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sslen;
    auto* sin = reinterpret_cast<struct sockaddr_in*>(&ss);
    auto* sin6 = reinterpret_cast<struct sockaddr_in6*>(&ss);
    if (inet_pton(AF_INET, address.c_str(), &sin->sin_addr) == 1) {
      v6_ = false;
      sin->sin_family = AF_INET;
      sin->sin_port = htons(static_cast<uint16_t>(port));
      sslen = sizeof *sin;
    } else if (inet_pton(AF_INET6, address.c_str(), &sin6->sin6_addr) == 1) {
      v6_ = true;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(static_cast<uint16_t>(port));
      sslen = sizeof *sin6;
    } else {
      throw Napi::TypeError::New(env, "UdpSocket " + what + ": not an IPv4 or IPv6 address");
    }
    fd_ = socket(v6_ ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw ErrnoError(env, "UdpSocket", what, errno);
    int one = 1, size = kSocketBuffer;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // The FORCE variants pass the sysctl limits (root); plain ones are capped.
    if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) < 0)
      setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    if (bind(fd_, reinterpret_cast<struct sockaddr*>(&ss), sslen) < 0) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      throw ErrnoError(env, "UdpSocket", what, err);
    }
  }

  ~UdpSocket() override { Shutdown(true); }

 private:
  void Grow(uint32_t n) {
    if (msgs_.size() >= n) return;
    msgs_.resize(n);
    iov_.resize(n);
    addrs_.resize(n);
    from_.resize(n);
    segs_.resize(n);
    ctrl_.resize(n);
  }

  bool Closed(const Napi::Env& env, const char* op) {
    if (fd_ >= 0) return false;
    throw Napi::Error::New(env, std::string("UdpSocket.") + op + ": socket is closed");
  }

  Napi::Value OnReadable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "onReadable");
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      StopNotify();
      return env.Undefined();
    }
    if (!info[0].IsFunction())
      throw Napi::TypeError::New(env, "UdpSocket.onReadable: callback must be a function");
    StartNotify(env, fd_, info[0].As<Napi::Function>(), Value(), "vroom.UdpSocket");
    return env.Undefined();
  }

  bool BeforeCallback() override { return true; }

  void HoldSelf(bool hold) override {
    if (hold)
      Ref();
    else
      Unref();
  }

  Napi::Object Self() override { return Value(); }

  // receive(buf, lengths, stride, max, srcAddrs, srcPorts) -> count
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Batch b = CheckBatch(info, 0, "UdpSocket.receive");
    uint32_t words = v6_ ? 4 : 1;
    uint32_t* addrs =
        Uint32ArrayArg(info, 4, "UdpSocket.receive", "srcAddrs", size_t(b.count) * words);
    uint16_t* ports = Uint16ArrayArg(info, 5, "UdpSocket.receive", "srcPorts", b.count);
    Closed(env, "receive");
    if (b.count == 0) return Napi::Number::New(env, 0);
    if (gro_) return Napi::Number::New(env, ReceiveGro(b, addrs, ports));
    Grow(b.count);
    for (uint32_t i = 0; i < b.count; i++) {
      ReceiveInto(msgs_[i].msg_hdr, &addrs_[i], &iov_[i], b.data + size_t(i) * b.stride, b.stride,
                  nullptr, 0);
    }
    int r = recvmmsg(fd_, msgs_.data(), b.count, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      if (errno != EAGAIN && errno != EINTR) stats_.rxErrors++;
      return Napi::Number::New(env, 0);
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < static_cast<uint32_t>(r); i++) {
      uint32_t len = msgs_[i].msg_len;
      if (msgs_[i].msg_hdr.msg_flags & MSG_TRUNC) {
        stats_.rxErrors++;
        continue;
      }
      if (n != i) memmove(b.data + size_t(n) * b.stride, b.data + size_t(i) * b.stride, len);
      b.lengths[n] = len;
      if (v6_) {
        auto* a = reinterpret_cast<struct sockaddr_in6*>(&addrs_[i]);
        uint32_t w[4];
        memcpy(w, &a->sin6_addr, 16);
        for (int k = 0; k < 4; k++) addrs[size_t(n) * 4 + k] = ntohl(w[k]);
        ports[n] = ntohs(a->sin6_port);
      } else {
        auto* a = reinterpret_cast<struct sockaddr_in*>(&addrs_[i]);
        addrs[n] = ntohl(a->sin_addr.s_addr);
        ports[n] = ntohs(a->sin_port);
      }
      stats_.rxBytes += len;
      n++;
    }
    stats_.rxPackets += n;
    return Napi::Number::New(env, n);
  }

  // The destination of batch entry i, written into addrs_[m].
  socklen_t Destination(uint32_t m, const uint32_t* addrs, const uint16_t* ports, uint32_t i) {
    memset(&addrs_[m], 0, sizeof addrs_[m]);
    if (v6_) {
      auto* a = reinterpret_cast<struct sockaddr_in6*>(&addrs_[m]);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(ports[i]);
      uint32_t w[4];
      for (int k = 0; k < 4; k++) w[k] = htonl(addrs[size_t(i) * 4 + k]);
      memcpy(&a->sin6_addr, w, 16);
      return sizeof *a;
    }
    auto* a = reinterpret_cast<struct sockaddr_in*>(&addrs_[m]);
    a->sin_family = AF_INET;
    a->sin_port = htons(ports[i]);
    a->sin_addr.s_addr = htonl(addrs[i]);
    return sizeof *a;
  }

  bool SameDestination(const uint32_t* addrs, const uint16_t* ports, uint32_t i, uint32_t j) {
    if (ports[i] != ports[j]) return false;
    if (!v6_) return addrs[i] == addrs[j];
    return memcmp(addrs + size_t(i) * 4, addrs + size_t(j) * 4, 16) == 0;
  }

  // Turns batch entries from `first` on into messages: a run of datagrams to
  // one destination, all of the first one's length but the last (which may
  // be shorter), becomes one message with one iovec per datagram and a
  // UDP_SEGMENT cmsg (while GSO is on); everything else one message a
  // datagram. Holes are skipped. Writes messages from index m on (iovecs
  // from index `first` on: never more iovecs than batch entries before them);
  // fills from_/segs_ and returns the message count reached.
  uint32_t Build(const Batch& b, const uint32_t* addrs, const uint16_t* ports, uint32_t first,
                 uint32_t m) {
    uint32_t v = first;
    uint32_t i = first;
    while (i < b.count) {
      if (b.lengths[i] == 0) {
        i++;
        continue;
      }
      uint32_t size = b.lengths[i];
      from_[m] = i;
      struct msghdr& h = msgs_[m].msg_hdr;
      memset(&h, 0, sizeof h);
      h.msg_namelen = Destination(m, addrs, ports, i);
      h.msg_name = &addrs_[m];
      h.msg_iov = &iov_[v];
      uint32_t segs = 0, total = 0, last = size;
      uint32_t j = i;
      while (j < b.count) {
        uint32_t len = b.lengths[j];
        if (len != 0) {
          if (segs > 0 && (!gso_ || i < plainBefore_ || last != size || len > size ||
                           segs == kMaxSegments ||
                           total + len > kMaxGsoBytes ||
                           !SameDestination(addrs, ports, i, j)))
            break;
          iov_[v + segs].iov_base = b.data + size_t(j) * b.stride;
          iov_[v + segs].iov_len = len;
          segs++;
          total += len;
          last = len;
        }
        j++;
      }
      h.msg_iovlen = segs;
      segs_[m] = segs;
      if (segs > 1) {
        h.msg_control = ctrl_[m].bytes;
        h.msg_controllen = CMSG_SPACE(sizeof(uint16_t));
        struct cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t gsoSize = static_cast<uint16_t>(size);
        memcpy(CMSG_DATA(c), &gsoSize, sizeof gsoSize);
      }
      v += segs;
      m++;
      i = j;
    }
    return m;
  }

  void SourceOf(const struct sockaddr_storage& from, uint32_t* addrs, uint16_t* ports,
                uint32_t n) {
    if (v6_) {
      auto* a = reinterpret_cast<const struct sockaddr_in6*>(&from);
      uint32_t w[4];
      memcpy(w, &a->sin6_addr, 16);
      for (int k = 0; k < 4; k++) addrs[size_t(n) * 4 + k] = ntohl(w[k]);
      ports[n] = ntohs(a->sin6_port);
    } else {
      auto* a = reinterpret_cast<const struct sockaddr_in*>(&from);
      addrs[n] = ntohl(a->sin_addr.s_addr);
      ports[n] = ntohs(a->sin_port);
    }
  }

  // enableGro() -> whether the kernel took UDP_GRO (then receive splits
  // coalesced datagrams; once on, it stays on).
  Napi::Value EnableGro(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "enableGro");
    if (!gro_) {
      int one = 1;
      gro_ = setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
    }
    return Napi::Boolean::New(env, gro_);
  }

  // Receive with UDP_GRO on: a datagram may hold several of one size (the
  // UDP_GRO cmsg gives it; the last may be shorter). recvmmsg fills 64 KiB
  // buffers of our own, and each datagram is copied into its slot. What does
  // not fit the batch stays in those buffers (`pending_`) and is handed out
  // first by the next call, which reads the socket only once it is all out.
  uint32_t ReceiveGro(const Batch& b, uint32_t* addrs, uint16_t* ports) {
    uint32_t n = Unload(b, addrs, ports, 0);
    if (n == b.count || pending_ > 0) return n;
    uint32_t want = b.count - n;
    if (rx_.size() < want) {
      rx_.resize(want);
      rxIov_.resize(want);
      rxFrom_.resize(want);
      rxCtrl_.resize(want);
      while (rxBuf_.size() < want) rxBuf_.emplace_back(new uint8_t[kGroBuffer]);
    }
    for (uint32_t i = 0; i < want; i++) {
      ReceiveInto(rx_[i].msg_hdr, &rxFrom_[i], &rxIov_[i], rxBuf_[i].get(), kGroBuffer,
                  rxCtrl_[i].bytes, sizeof rxCtrl_[i].bytes);
    }
    int r = recvmmsg(fd_, rx_.data(), want, MSG_DONTWAIT, nullptr);
    if (r < 0) {
      if (errno != EAGAIN && errno != EINTR) stats_.rxErrors++;
      return n;
    }
    pending_ = static_cast<uint32_t>(r);
    next_ = 0;
    offset_ = 0;
    return Unload(b, addrs, ports, n);
  }

  // Copies pending datagrams into slots n.. of the batch; returns the count reached.
  uint32_t Unload(const Batch& b, uint32_t* addrs, uint16_t* ports, uint32_t n) {
    while (next_ < pending_ && n < b.count) {
      struct msghdr& h = rx_[next_].msg_hdr;
      uint32_t len = rx_[next_].msg_len;
      if (offset_ == 0) {
        if (h.msg_flags & MSG_TRUNC) {
          stats_.rxErrors++;
          next_++;
          continue;
        }
        uint32_t seg = 0;
        for (struct cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
          if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int v;
            memcpy(&v, CMSG_DATA(c), sizeof v);
            seg = v > 0 ? static_cast<uint32_t>(v) : 0;
          }
        }
        segSize_ = seg == 0 || seg >= len ? len : seg;
        if (segSize_ < len) {
          groMessages_++;
          groSegments_ += (len + segSize_ - 1) / segSize_;
        }
        if (len == 0) {  // an empty datagram is one packet of length 0
          b.lengths[n] = 0;
          SourceOf(rxFrom_[next_], addrs, ports, n);
          n++;
          next_++;
          stats_.rxPackets++;
          continue;
        }
      }
      const uint8_t* base = rxBuf_[next_].get();
      while (offset_ < len && n < b.count) {
        uint32_t part = len - offset_ < segSize_ ? len - offset_ : segSize_;
        if (part > b.stride) {
          stats_.rxErrors++;
        } else {
          memcpy(b.data + size_t(n) * b.stride, base + offset_, part);
          b.lengths[n] = part;
          SourceOf(rxFrom_[next_], addrs, ports, n);
          stats_.rxPackets++;
          stats_.rxBytes += part;
          n++;
        }
        offset_ += part;
      }
      if (offset_ >= len) {
        next_++;
        offset_ = 0;
      }
    }
    if (next_ >= pending_) pending_ = next_ = 0;
    return n;
  }

  // pending() -> datagrams already read from the socket, not yet handed out.
  Napi::Value Pending(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), pending_ > 0);
  }

  // send(buf, lengths, stride, count, dstAddrs, dstPorts) -> accepted
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "send");
    Batch b = CheckBatch(info, 0, "UdpSocket.send", true);
    uint32_t words = v6_ ? 4 : 1;
    uint32_t* addrs =
        Uint32ArrayArg(info, 4, "UdpSocket.send", "dstAddrs", size_t(b.count) * words);
    uint16_t* ports = Uint16ArrayArg(info, 5, "UdpSocket.send", "dstPorts", b.count);
    if (b.count == 0) return Napi::Number::New(env, 0);
    Grow(b.count);
    plainBefore_ = 0;
    uint32_t m = Build(b, addrs, ports, 0, 0);
    uint32_t sent = 0;
    while (sent < m) {
      int r = sendmmsg(fd_, msgs_.data() + sent, m - sent, MSG_DONTWAIT);
      if (r > 0) {
        for (uint32_t k = sent; k < sent + static_cast<uint32_t>(r); k++) {
          stats_.txBytes += msgs_[k].msg_len;
          stats_.txPackets += segs_[k];
          if (segs_[k] > 1) {
            gsoMessages_++;
            gsoSegments_ += segs_[k];
          }
        }
        sent += static_cast<uint32_t>(r);
      } else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        break;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else if (r < 0 && segs_[sent] > 1 && (errno == EINVAL || errno == EIO)) {
        // The socket (or the route) refuses UDP_SEGMENT: plain datagrams from here on.
        gso_ = false;
        m = Build(b, addrs, ports, from_[sent], sent);
      } else if (r < 0 && segs_[sent] > 1 && errno == EMSGSIZE) {
        // A segment larger than the path MTU: the kernel would fragment it as
        // a datagram of its own, so this run goes out one datagram a message.
        plainBefore_ = sent + 1 < m ? from_[sent + 1] : b.count;
        m = Build(b, addrs, ports, from_[sent], sent);
      } else {
        stats_.txErrors += segs_[sent];  // this message failed (EMSGSIZE, ENETUNREACH, ...)
        sent++;
      }
    }
    // Accepted: every batch entry before the first message not sent.
    uint32_t accepted = sent == m ? b.count : from_[sent];
    stats_.txDropped += b.count - accepted;
    return Napi::Number::New(env, accepted);
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return StatsObject(env, stats_);
  }

  // offloads() -> { gso, gro, gsoMessages, gsoSegments, groMessages, groSegments }
  Napi::Value GetOffloads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("gso", Napi::Boolean::New(env, gso_));
    o.Set("gro", Napi::Boolean::New(env, gro_));
    o.Set("gsoMessages", Napi::Number::New(env, gsoMessages_));
    o.Set("gsoSegments", Napi::Number::New(env, gsoSegments_));
    o.Set("groMessages", Napi::Number::New(env, groMessages_));
    o.Set("groSegments", Napi::Number::New(env, groSegments_));
    return o;
  }

  Napi::Value LocalPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "localPort");
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd_, reinterpret_cast<struct sockaddr*>(&ss), &len) < 0)
      throw ErrnoError(env, "UdpSocket.localPort", "", errno);
    uint16_t port = ss.ss_family == AF_INET6
                        ? reinterpret_cast<struct sockaddr_in6*>(&ss)->sin6_port
                        : reinterpret_cast<struct sockaddr_in*>(&ss)->sin_port;
    return Napi::Number::New(env, ntohs(port));
  }

  Napi::Value Family(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), v6_ ? 6 : 4);
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Shutdown(false);
    return info.Env().Undefined();
  }

  Napi::Value RefHandle(const Napi::CallbackInfo& info) {
    SetRef(true);
    return info.Env().Undefined();
  }

  Napi::Value UnrefHandle(const Napi::CallbackInfo& info) {
    SetRef(false);
    return info.Env().Undefined();
  }

  void Shutdown(bool finalizing) {
    StopNotify(finalizing);
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  int fd_ = -1;
  bool v6_ = false;
  std::vector<struct mmsghdr> msgs_;
  std::vector<struct iovec> iov_;
  std::vector<struct sockaddr_storage> addrs_;
  std::vector<uint32_t> from_;
  std::vector<uint32_t> segs_;
  std::vector<Control> ctrl_;
  Stats stats_;
  bool gso_ = true;
  // Send: batch entries before this one are not grouped (a run the kernel refused).
  uint32_t plainBefore_ = 0;
  bool gro_ = false;
  // The GRO receive path's own messages and 64 KiB buffers, and what of the
  // last recvmmsg is not handed out yet: messages next_..pending_-1, the
  // first from offset_ (in segments of segSize_).
  std::vector<struct mmsghdr> rx_;
  std::vector<struct iovec> rxIov_;
  std::vector<struct sockaddr_storage> rxFrom_;
  std::vector<Control> rxCtrl_;
  std::vector<std::unique_ptr<uint8_t[]>> rxBuf_;
  uint32_t pending_ = 0, next_ = 0, offset_ = 0, segSize_ = 0;
  double gsoMessages_ = 0, gsoSegments_ = 0, groMessages_ = 0, groSegments_ = 0;
};

}  // namespace

void InitUdpSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", UdpSocket::Define(env));
}

}  // namespace vroom
