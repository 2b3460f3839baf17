// Errors, argument checks and the uv_poll-based readiness notifier shared by
// the addon's classes (see common.h for the design).
#include "common.h"

#include <cerrno>
#include <cstring>

namespace vroom {

Napi::Error ErrnoError(Napi::Env env, const std::string& op, const std::string& what, int err) {
  const char* name = strerrorname_np(err);
  std::string code = name != nullptr ? name : "E" + std::to_string(err);
  std::string message = op;
  if (!what.empty()) message += " " + what;
  message += ": " + code + " (" + strerror(err) + ")";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, op));
  return error;
}

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (i >= info.Length() || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

uint32_t UintArg(const Napi::CallbackInfo& info, size_t i, const char* name, uint32_t max) {
  if (i < info.Length() && info[i].IsNumber()) {
    double v = info[i].As<Napi::Number>().DoubleValue();
    if (v >= 0 && v <= max && v == static_cast<double>(static_cast<uint32_t>(v)))
      return static_cast<uint32_t>(v);
  }
  throw Napi::RangeError::New(info.Env(), std::string(name) + " must be an integer from 0 to " +
                                              std::to_string(max));
}

namespace {

void* TypedArrayData(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type want,
                     const char* op, const char* name, const char* typeName, size_t* length) {
  napi_env env = info.Env();
  bool isTyped = false;
  if (i < info.Length()) napi_is_typedarray(env, info[i], &isTyped);
  napi_typedarray_type type = napi_int8_array;
  void* data = nullptr;
  if (isTyped) {
    napi_get_typedarray_info(env, info[i], &type, length, &data, nullptr, nullptr);
  }
  if (!isTyped || type != want)
    throw Napi::TypeError::New(env, std::string(op) + ": " + name + " must be a " + typeName);
  return data;
}

}  // namespace

Napi::Object StatsObject(Napi::Env env, const Stats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxPackets", s.rxPackets);
  o.Set("rxBytes", s.rxBytes);
  o.Set("txPackets", s.txPackets);
  o.Set("txBytes", s.txBytes);
  o.Set("txDropped", s.txDropped);
  o.Set("rxErrors", s.rxErrors);
  o.Set("txErrors", s.txErrors);
  return o;
}

Batch CheckBatch(const Napi::CallbackInfo& info, size_t first, const char* op, bool sending) {
  Napi::Env env = info.Env();
  Batch b{};
  size_t bufLen = 0, lenCount = 0;
  b.data = static_cast<uint8_t*>(
      TypedArrayData(info, first, napi_uint8_array, op, "buf", "Uint8Array", &bufLen));
  b.lengths = static_cast<uint32_t*>(
      TypedArrayData(info, first + 1, napi_uint32_array, op, "lengths", "Uint32Array", &lenCount));
  b.byteLength = bufLen;
  b.stride = UintArg(info, first + 2, "stride", 1u << 24);
  b.count = UintArg(info, first + 3, "count", 1u << 20);
  if (b.stride == 0) throw Napi::RangeError::New(env, std::string(op) + ": stride must be > 0");
  if (b.count > lenCount)
    throw Napi::RangeError::New(env, std::string(op) + ": " + std::to_string(b.count) +
                                         " packets but lengths has " + std::to_string(lenCount));
  if (sending) {
    for (uint32_t i = 0; i < b.count; i++) {
      if (b.lengths[i] > b.stride)
        throw Napi::RangeError::New(env, std::string(op) + ": packet " + std::to_string(i) +
                                             " is longer than the stride");
      if (static_cast<uint64_t>(i) * b.stride + b.lengths[i] > bufLen)
        throw Napi::RangeError::New(env, std::string(op) + ": packet " + std::to_string(i) +
                                             " runs past the end of buf");
    }
    return b;
  }
  if (static_cast<uint64_t>(b.count) * b.stride > bufLen)
    throw Napi::RangeError::New(env, std::string(op) + ": " + std::to_string(b.count) +
                                         " packets of stride " + std::to_string(b.stride) +
                                         " need more than the " + std::to_string(bufLen) +
                                         " bytes of buf");
  return b;
}

uint32_t* Uint32ArrayArg(const Napi::CallbackInfo& info, size_t i, const char* op,
                         const char* name, size_t need) {
  size_t n = 0;
  auto* p = static_cast<uint32_t*>(
      TypedArrayData(info, i, napi_uint32_array, op, name, "Uint32Array", &n));
  if (n < need)
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": " + name + " needs " +
                                                std::to_string(need) + " elements");
  return p;
}

uint16_t* Uint16ArrayArg(const Napi::CallbackInfo& info, size_t i, const char* op,
                         const char* name, size_t need) {
  size_t n = 0;
  auto* p = static_cast<uint16_t*>(
      TypedArrayData(info, i, napi_uint16_array, op, name, "Uint16Array", &n));
  if (n < need)
    throw Napi::RangeError::New(info.Env(), std::string(op) + ": " + name + " needs " +
                                                std::to_string(need) + " elements");
  return p;
}

// The uv handle lives apart from its owner: uv_close completes on a later loop
// turn, possibly after the owner was collected.
struct Readable::Handle {
  uv_poll_t poll;
  Readable* owner;
};

// Subclasses stop notifying in their own destructors (HoldSelf is virtual);
// this only covers a subclass that forgot to.
Readable::~Readable() { StopNotify(true); }

void Readable::StartNotify(Napi::Env env, int fd, Napi::Function callback, Napi::Object resource,
                           const char* resourceName) {
  StopNotify();
  env_ = env;
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr)
    throw Napi::Error::New(env, std::string(resourceName) + ": no event loop");
  auto* h = new Handle();
  int err = uv_poll_init(loop, &h->poll, fd);
  if (err != 0) {
    delete h;
    throw ErrnoError(env, std::string(resourceName) + ".onReadable", "", -err);
  }
  h->owner = this;
  h->poll.data = h;
  err = uv_poll_start(&h->poll, UV_READABLE, OnPoll);
  if (err != 0) {
    h->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClosed);
    throw ErrnoError(env, std::string(resourceName) + ".onReadable", "", -err);
  }
  if (!ref_) uv_unref(reinterpret_cast<uv_handle_t*>(&h->poll));
  napi_async_init(env, resource, Napi::String::New(env, resourceName), &async_);
  callback_ = Napi::Persistent(callback);
  handle_ = h;
  HoldSelf(true);
}

void Readable::StopNotify(bool finalizing) {
  if (handle_ == nullptr) return;
  Handle* h = handle_;
  handle_ = nullptr;
  h->owner = nullptr;
  uv_poll_stop(&h->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&h->poll), OnClosed);
  if (async_ != nullptr) {
    napi_async_destroy(env_, async_);
    async_ = nullptr;
  }
  callback_.Reset();
  if (!finalizing) HoldSelf(false);
}

void Readable::SetRef(bool ref) {
  ref_ = ref;
  if (handle_ == nullptr) return;
  auto* uh = reinterpret_cast<uv_handle_t*>(&handle_->poll);
  if (ref)
    uv_ref(uh);
  else
    uv_unref(uh);
}

void Readable::OnClosed(uv_handle_t* handle) { delete static_cast<Handle*>(handle->data); }

void Readable::OnPoll(uv_poll_t* poll, int status, int /*events*/) {
  auto* h = static_cast<Handle*>(poll->data);
  Readable* self = h->owner;
  if (self == nullptr) return;
  if (status < 0) {
    // The fd went bad (closed behind our back): stop rather than spin.
    uv_poll_stop(poll);
    return;
  }
  if (!self->BeforeCallback()) return;
  napi_env env = self->env_;
  Napi::HandleScope scope(env);
  self->HoldSelf(true);  // the callback may close() and drop the last reference
  napi_value result = nullptr;
  napi_status st = napi_make_callback(env, self->async_, self->Self(), self->callback_.Value(), 0,
                                      nullptr, &result);
  if (st == napi_pending_exception) {
    napi_value exception = nullptr;
    napi_get_and_clear_last_exception(env, &exception);
    napi_fatal_exception(env, exception);  // 'uncaughtException', as for any Node callback
  }
  if (h->owner == self) self->AfterCallback();
  self->HoldSelf(false);
}

}  // namespace vroom
