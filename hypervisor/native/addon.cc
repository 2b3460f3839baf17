// vroom_native: the substrate links of the hypervisor, in C++.
//
// Node has no TUN/TAP devices, no io_uring and no recvmmsg/sendmmsg; this
// addon gives the hypervisor those, batch-oriented: device setup (device.cc),
// io_uring packet queues over TUN/TAP fds (packet_queue.cc) and batched UDP
// sockets for VXLAN (udp_socket.cc). The typed TypeScript face is
// hypervisor/native.ts; nothing else should load this module.
#include "common.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  vroom::InitDevice(env, exports);
  vroom::InitPacketQueue(env, exports);
  vroom::InitUdpSocket(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(vroom_native, Init)
