// TUN/TAP devices and link settings, without spawning `ip`.
//
// openTun opens /dev/net/tun and attaches it with TUNSETIFF (IFF_TUN or
// IFF_TAP, always IFF_NO_PI: packets are bare IP packets or Ethernet frames).
// The fd is non-blocking and close-on-exec; a device the call created is
// removed by the kernel when its last fd closes (closeFd, or process exit), a
// persistent one (`ip tuntap add`) stays. Link settings use the classic
// SIOCxIFxxx ioctls on a throw-away AF_INET datagram socket, so they act on
// the network namespace the process was started in (a device moved to another
// namespace with `ip link set dev X netns NS` keeps working through its fd but
// is configured from inside that namespace).
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_arp.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.h"

namespace vroom {
namespace {

// Copies a device name into ifr_name or throws (names are at most 15 bytes).
void SetName(Napi::Env env, const char* op, const std::string& name, struct ifreq* ifr) {
  if (name.size() >= IFNAMSIZ || name.find('/') != std::string::npos)
    throw ErrnoError(env, op, name.empty() ? "(any)" : name, EINVAL);
  memset(ifr, 0, sizeof *ifr);
  memcpy(ifr->ifr_name, name.data(), name.size());
}

// Runs one SIOC ioctl on a control socket; throws "<op> <name>: ERRNO" on failure.
void LinkIoctl(Napi::Env env, const char* op, const std::string& name, unsigned long req,
               struct ifreq* ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) throw ErrnoError(env, op, name, errno);
  int rc = ioctl(s, req, ifr);
  int err = errno;
  close(s);
  if (rc < 0) throw ErrnoError(env, op, name, err);
}

Napi::Value OpenTun(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  std::string kind = StringArg(info, 1, "kind");
  if (kind != "tun" && kind != "tap")
    throw Napi::TypeError::New(env, "openTun: kind must be \"tun\" or \"tap\"");
  struct ifreq ifr;
  SetName(env, "openTun", name, &ifr);
  ifr.ifr_flags = static_cast<short>((kind == "tun" ? IFF_TUN : IFF_TAP) | IFF_NO_PI);
  const std::string what = name.empty() ? "(any)" : name;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw ErrnoError(env, "openTun", what, errno);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int err = errno;
    close(fd);
    throw ErrnoError(env, "openTun", what, err);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("fd", Napi::Number::New(env, fd));
  result.Set("name", Napi::String::New(env, ifr.ifr_name));
  return result;
}

Napi::Value CloseFd(const Napi::CallbackInfo& info) {
  uint32_t fd = UintArg(info, 0, "fd", INT32_MAX);
  if (close(static_cast<int>(fd)) < 0 && errno != EINTR)
    throw ErrnoError(info.Env(), "closeFd", std::to_string(fd), errno);
  return info.Env().Undefined();
}

Napi::Value SetLinkUp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  if (info.Length() < 2 || !info[1].IsBoolean())
    throw Napi::TypeError::New(env, "setLinkUp: up must be a boolean");
  bool up = info[1].As<Napi::Boolean>().Value();
  struct ifreq ifr;
  SetName(env, "setLinkUp", name, &ifr);
  LinkIoctl(env, "setLinkUp", name, SIOCGIFFLAGS, &ifr);
  if (up)
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  else
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags & ~IFF_UP);
  LinkIoctl(env, "setLinkUp", name, SIOCSIFFLAGS, &ifr);
  return env.Undefined();
}

Napi::Value SetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  uint32_t mtu = UintArg(info, 1, "mtu", INT32_MAX);
  struct ifreq ifr;
  SetName(env, "setMtu", name, &ifr);
  ifr.ifr_mtu = static_cast<int>(mtu);
  LinkIoctl(env, "setMtu", name, SIOCSIFMTU, &ifr);
  return env.Undefined();
}

Napi::Value GetMtu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  struct ifreq ifr;
  SetName(env, "getMtu", name, &ifr);
  LinkIoctl(env, "getMtu", name, SIOCGIFMTU, &ifr);
  return Napi::Number::New(env, ifr.ifr_mtu);
}

Napi::Value SetTxQueueLen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  uint32_t len = UintArg(info, 1, "len", INT32_MAX);
  struct ifreq ifr;
  SetName(env, "setTxQueueLen", name, &ifr);
  ifr.ifr_qlen = static_cast<int>(len);
  LinkIoctl(env, "setTxQueueLen", name, SIOCSIFTXQLEN, &ifr);
  return env.Undefined();
}

Napi::Value GetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  struct ifreq ifr;
  SetName(env, "getMac", name, &ifr);
  LinkIoctl(env, "getMac", name, SIOCGIFHWADDR, &ifr);
  Napi::Uint8Array mac = Napi::Uint8Array::New(env, 6);
  memcpy(mac.Data(), ifr.ifr_hwaddr.sa_data, 6);
  return mac;
}

Napi::Value SetMac(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  if (info.Length() < 2 || !info[1].IsTypedArray() ||
      info[1].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[1].As<Napi::Uint8Array>().ElementLength() != 6)
    throw Napi::TypeError::New(env, "setMac: mac must be a Uint8Array of 6 bytes");
  struct ifreq ifr;
  SetName(env, "setMac", name, &ifr);
  ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
  memcpy(ifr.ifr_hwaddr.sa_data, info[1].As<Napi::Uint8Array>().Data(), 6);
  LinkIoctl(env, "setMac", name, SIOCSIFHWADDR, &ifr);
  return env.Undefined();
}

Napi::Value IfIndex(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = StringArg(info, 0, "name");
  struct ifreq ifr;
  SetName(env, "ifIndex", name, &ifr);
  LinkIoctl(env, "ifIndex", name, SIOCGIFINDEX, &ifr);
  return Napi::Number::New(env, ifr.ifr_ifindex);
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("openTun", Napi::Function::New(env, OpenTun, "openTun"));
  exports.Set("closeFd", Napi::Function::New(env, CloseFd, "closeFd"));
  exports.Set("setLinkUp", Napi::Function::New(env, SetLinkUp, "setLinkUp"));
  exports.Set("setMtu", Napi::Function::New(env, SetMtu, "setMtu"));
  exports.Set("getMtu", Napi::Function::New(env, GetMtu, "getMtu"));
  exports.Set("setTxQueueLen", Napi::Function::New(env, SetTxQueueLen, "setTxQueueLen"));
  exports.Set("getMac", Napi::Function::New(env, GetMac, "getMac"));
  exports.Set("setMac", Napi::Function::New(env, SetMac, "setMac"));
  exports.Set("ifIndex", Napi::Function::New(env, IfIndex, "ifIndex"));
}

}  // namespace vroom
