// Shared pieces of the vroom native addon (substrate links).
//
// - Errors: every failed system call becomes a JS Error whose message names
//   the operation, the object (device name, address) and the errno by name,
//   e.g. "openTun vr0: EPERM (Operation not permitted)", with `code`, `errno`
//   and `syscall` properties like Node's own system errors.
// - Batches: a JS-owned Uint8Array holds packet i at [i * stride, i * stride +
//   lengths[i]); CheckBatch validates the views once per call, so the per-packet
//   loops do no checks and no allocation.
// - Readable: the notification half shared by PacketQueue and UdpSocket. A
//   uv_poll_t on one fd (the device, the socket, or the io_uring eventfd) calls
//   the JS callback registered with onReadable on the main thread, through
//   napi_make_callback so microtasks and async hooks behave as for any Node I/O.
//   While a callback is registered the handle keeps the event loop alive (like a
//   listening socket) unless unref() was called; close() stops and frees it, so
//   a closed object never keeps the process alive. The uv handle is allocated
//   apart from the object and freed in its close callback, so the object can be
//   collected at any time.
#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <string>

namespace vroom {

// A JS Error "<op> <what>: ENAME (description)" with code/errno/syscall set.
Napi::Error ErrnoError(Napi::Env env, const std::string& op, const std::string& what, int err);

// Throws a TypeError unless `v` is a string; returns it.
std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name);
// Throws a TypeError unless `v` is a number that is a non-negative integer <= max.
uint32_t UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t max);

// A validated batch: `count` packets of `stride` bytes in `data`.
struct Batch {
  uint8_t* data;
  size_t byteLength;
  uint32_t* lengths;
  uint32_t stride;
  uint32_t count;
};

// Reads (buf: Uint8Array, lengths: Uint32Array, stride, count) starting at
// argument `first`, and checks count <= lengths.length and count * stride <=
// buf.byteLength. Throws TypeError/RangeError naming `op` otherwise.
// `sending`: the batch is read, not filled, so only each packet's own bytes
// must lie inside buf (a last slot may be short), and packets of length 0
// (holes) are allowed.
// Packet and byte counters of a queue or socket (doubles: they never wrap
// in JS), and their JS form.
struct Stats {
  double rxPackets = 0, rxBytes = 0, txPackets = 0, txBytes = 0;
  double txDropped = 0, rxErrors = 0, txErrors = 0;
};
Napi::Object StatsObject(Napi::Env env, const Stats& s);

Batch CheckBatch(const Napi::CallbackInfo& info, size_t first, const char* op,
                 bool sending = false);

// Returns the Uint32Array / Uint16Array at argument i with at least `need`
// elements, or throws.
uint32_t* Uint32ArrayArg(const Napi::CallbackInfo& info, size_t i, const char* op,
                         const char* name, size_t need);
uint16_t* Uint16ArrayArg(const Napi::CallbackInfo& info, size_t i, const char* op,
                         const char* name, size_t need);

// Base of the objects that tell JS when they have something to read.
class Readable {
 public:
  virtual ~Readable();

 protected:
  // Starts (or restarts with a new callback) polling `fd` for readability.
  void StartNotify(Napi::Env env, int fd, Napi::Function callback, Napi::Object resource,
                   const char* resourceName);
  // Stops polling and drops the callback; safe to call many times. Never calls
  // into JS; from a finalizer pass finalizing = true (the self reference is
  // gone already).
  void StopNotify(bool finalizing = false);
  void SetRef(bool ref);
  bool Notifying() const { return handle_ != nullptr; }

  // Called on each poll event before the JS callback; returns whether the
  // callback should run (for io_uring: only when received packets wait).
  virtual bool BeforeCallback() = 0;
  // Called after the JS callback returned, unless the object was closed.
  virtual void AfterCallback() {}
  // Keep the JS object alive while polling (implemented by ObjectWrap).
  virtual void HoldSelf(bool hold) = 0;
  // The JS object, `this` for the callback.
  virtual Napi::Object Self() = 0;

 private:
  struct Handle;
  static void OnPoll(uv_poll_t* poll, int status, int events);
  static void OnClosed(uv_handle_t* handle);

  Handle* handle_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::ObjectReference resource_;
  napi_async_context async_ = nullptr;
  napi_env env_ = nullptr;
  bool ref_ = true;
};

void InitDevice(Napi::Env env, Napi::Object exports);
void InitPacketQueue(Napi::Env env, Napi::Object exports);
void InitUdpSocket(Napi::Env env, Napi::Object exports);

}  // namespace vroom
