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
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common.h"

namespace vroom {
namespace {

constexpr int kSocketBuffer = 4 << 20;

class UdpSocket : public Napi::ObjectWrap<UdpSocket>, public Readable {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "UdpSocket",
                       {
                           InstanceMethod<&UdpSocket::OnReadable>("onReadable"),
                           InstanceMethod<&UdpSocket::Receive>("receive"),
                           InstanceMethod<&UdpSocket::Send>("send"),
                           InstanceMethod<&UdpSocket::GetStats>("stats"),
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
    Grow(b.count);
    for (uint32_t i = 0; i < b.count; i++) {
      iov_[i].iov_base = b.data + size_t(i) * b.stride;
      iov_[i].iov_len = b.stride;
      struct msghdr& h = msgs_[i].msg_hdr;
      memset(&h, 0, sizeof h);
      h.msg_name = &addrs_[i];
      h.msg_namelen = sizeof addrs_[i];
      h.msg_iov = &iov_[i];
      h.msg_iovlen = 1;
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
    // Holes (length 0) are skipped: `from_[m]` is the batch index of message m.
    uint32_t m = 0;
    for (uint32_t i = 0; i < b.count; i++) {
      if (b.lengths[i] == 0) continue;
      from_[m] = i;
      iov_[m].iov_base = b.data + size_t(i) * b.stride;
      iov_[m].iov_len = b.lengths[i];
      struct msghdr& h = msgs_[m].msg_hdr;
      memset(&h, 0, sizeof h);
      memset(&addrs_[m], 0, sizeof addrs_[m]);
      if (v6_) {
        auto* a = reinterpret_cast<struct sockaddr_in6*>(&addrs_[m]);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(ports[i]);
        uint32_t w[4];
        for (int k = 0; k < 4; k++) w[k] = htonl(addrs[size_t(i) * 4 + k]);
        memcpy(&a->sin6_addr, w, 16);
        h.msg_namelen = sizeof *a;
      } else {
        auto* a = reinterpret_cast<struct sockaddr_in*>(&addrs_[m]);
        a->sin_family = AF_INET;
        a->sin_port = htons(ports[i]);
        a->sin_addr.s_addr = htonl(addrs[i]);
        h.msg_namelen = sizeof *a;
      }
      h.msg_name = &addrs_[m];
      h.msg_iov = &iov_[m];
      h.msg_iovlen = 1;
      m++;
    }
    uint32_t sent = 0;
    while (sent < m) {
      int r = sendmmsg(fd_, msgs_.data() + sent, m - sent, MSG_DONTWAIT);
      if (r > 0) {
        for (uint32_t k = sent; k < sent + static_cast<uint32_t>(r); k++)
          stats_.txBytes += msgs_[k].msg_len;
        stats_.txPackets += r;
        sent += static_cast<uint32_t>(r);
      } else if (r < 0 && (errno == EAGAIN || errno == ENOBUFS)) {
        break;
      } else if (r < 0 && errno == EINTR) {
        continue;
      } else {
        stats_.txErrors++;  // this one packet failed (EMSGSIZE, ENETUNREACH, ...)
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
  Stats stats_;
};

}  // namespace

void InitUdpSocket(Napi::Env env, Napi::Object exports) {
  exports.Set("UdpSocket", UdpSocket::Define(env));
}

}  // namespace vroom
