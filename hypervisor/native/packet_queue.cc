// PacketQueue: batched packet I/O on a TUN/TAP fd.
//
// Mode "uring" (the product): one io_uring per queue keeps `slots` reads in
// flight, each into its own `slotSize` buffer. Completions are reaped from the
// shared completion ring without a system call; a completed read waits in a
// FIFO (in completion order, which is the order the device handed the packets
// out) until receive() copies it into the caller's batch and re-arms that
// read. send() copies each packet into a free tx buffer (there are `txSlots`)
// and queues a write; all the reads and writes prepared by one call go to the
// kernel in one io_uring_submit (with the eventfd muted: tx completions never
// wake the event loop). When every tx buffer is busy the rest of the
// batch is refused and counted (txDropped): a queue never blocks. TUN writes
// complete inline, so tx buffers come back at once. The ring's eventfd
// (io_uring_register_eventfd) is what the uv_poll watches: the JS callback
// runs only when received packets wait, and runs again on the next loop turn
// while some are left (level-triggered, like a readable socket).
//
// Mode "rw" (the measured baseline): one non-blocking read() or write() per
// packet, straight between the fd and the caller's batch; uv_poll on the fd.
//
// close() stops polling, cancels the reads in flight (IORING_ASYNC_CANCEL_ANY)
// and waits for their completions before freeing the buffers, so no read can
// land in freed memory and no request keeps a reference to the device: after
// close() and closeFd() the kernel removes the device. The queue never closes
// the fd itself (it sets O_NONBLOCK on it).
#include <fcntl.h>
#include <liburing.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "common.h"

namespace vroom {
namespace {

constexpr uint64_t kRx = 1ull << 32;
constexpr uint64_t kTx = 2ull << 32;
constexpr uint64_t kCancel = 3ull << 32;
constexpr uint64_t kKindMask = 0xffffffffull << 32;

enum class RxState : uint8_t { Idle, InFlight, Ready };

class PacketQueue : public Napi::ObjectWrap<PacketQueue>, public Readable {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "PacketQueue",
                       {
                           InstanceMethod<&PacketQueue::OnReadable>("onReadable"),
                           InstanceMethod<&PacketQueue::Receive>("receive"),
                           InstanceMethod<&PacketQueue::Send>("send"),
                           InstanceMethod<&PacketQueue::GetStats>("stats"),
                           InstanceMethod<&PacketQueue::Close>("close"),
                           InstanceMethod<&PacketQueue::RefHandle>("ref"),
                           InstanceMethod<&PacketQueue::UnrefHandle>("unref"),
                       });
  }

  // new PacketQueue(fd, slots, slotSize, mode, txSlots)
  explicit PacketQueue(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PacketQueue>(info) {
    Napi::Env env = info.Env();
    fd_ = static_cast<int>(UintArg(info, 0, "fd", INT32_MAX));
    slots_ = UintArg(info, 1, "slots", 4096);
    slotSize_ = UintArg(info, 2, "slotSize", 65536 + 64);
    std::string mode = StringArg(info, 3, "mode");
    txSlots_ = UintArg(info, 4, "txSlots", 4096);
    if (mode != "uring" && mode != "rw")
      throw Napi::TypeError::New(env, "PacketQueue: mode must be \"uring\" or \"rw\"");
    if (slots_ == 0 || txSlots_ == 0 || slotSize_ < 64)
      throw Napi::RangeError::New(env, "PacketQueue: slots and txSlots must be > 0, slotSize >= 64");
    uring_ = mode == "uring";
    // receive() and send() must never block, whoever opened the fd.
    int fl = fcntl(fd_, F_GETFL);
    if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd_, F_SETFL, fl | O_NONBLOCK) < 0))
      throw ErrnoError(env, "PacketQueue", "fd " + std::to_string(fd_), errno);
    if (uring_) InitRing(env);
  }

  ~PacketQueue() override { Shutdown(true); }

 private:
  void InitRing(Napi::Env env) {
    // Room for every rx slot, every tx slot and a cancel at once: each slot has
    // at most one request in flight, so the rings can never overflow.
    unsigned entries = slots_ + txSlots_ + 1;
    struct io_uring_params params;
    memset(&params, 0, sizeof params);
    params.flags = IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN;
    int ret = io_uring_queue_init_params(entries, &ring_, &params);
    if (ret == -EINVAL) {  // kernels before 5.19
      memset(&params, 0, sizeof params);
      ret = io_uring_queue_init_params(entries, &ring_, &params);
    }
    if (ret < 0) throw ErrnoError(env, "PacketQueue", "io_uring_queue_init", -ret);
    ringReady_ = true;
    efd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd_ < 0 || (ret = io_uring_register_eventfd(&ring_, efd_)) < 0) {
      int err = efd_ < 0 ? errno : -ret;
      Shutdown(true);
      throw ErrnoError(env, "PacketQueue", "eventfd", err);
    }
    rxBufs_ = static_cast<uint8_t*>(aligned_alloc(4096, RoundUp(size_t(slots_) * slotSize_)));
    txBufs_ = static_cast<uint8_t*>(aligned_alloc(4096, RoundUp(size_t(txSlots_) * slotSize_)));
    if (rxBufs_ == nullptr || txBufs_ == nullptr) {
      Shutdown(true);
      throw ErrnoError(env, "PacketQueue", "buffers", ENOMEM);
    }
    rxState_.assign(slots_, RxState::Idle);
    readySlot_.assign(slots_, 0);
    readyLen_.assign(slots_, 0);
    txFree_.reserve(txSlots_);
    for (uint32_t i = txSlots_; i-- > 0;) txFree_.push_back(i);
    for (uint32_t s = 0; s < slots_; s++) ArmRead(s);
    ret = io_uring_submit(&ring_);
    if (ret < 0) {
      Shutdown(true);
      throw ErrnoError(env, "PacketQueue", "io_uring_submit", -ret);
    }
  }

  static size_t RoundUp(size_t n) { return (n + 4095) & ~size_t(4095); }

  // Prepares (does not submit) a read into rx slot s.
  void ArmRead(uint32_t s) {
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    io_uring_prep_read(sqe, fd_, rxBufs_ + size_t(s) * slotSize_, slotSize_, uint64_t(-1));
    io_uring_sqe_set_data64(sqe, kRx | s);
    rxState_[s] = RxState::InFlight;
    rxInFlight_++;
  }

  // Moves every available completion into the queue's state. No system call.
  void Reap() {
    struct io_uring_cqe* cqe;
    unsigned head, seen = 0;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      seen++;
      uint64_t data = io_uring_cqe_get_data64(cqe);
      uint32_t s = static_cast<uint32_t>(data);
      int res = cqe->res;
      switch (data & kKindMask) {
        case kRx:
          rxInFlight_--;
          if (closing_) {
            rxState_[s] = RxState::Idle;
          } else if (res > 0 && static_cast<uint32_t>(res) <= slotSize_) {
            rxState_[s] = RxState::Ready;
            uint32_t at = (readyHead_ + readyCount_) % slots_;
            readySlot_[at] = s;
            readyLen_[at] = static_cast<uint32_t>(res);
            readyCount_++;
          } else {
            // An error, an empty read or a truncated packet: count it and leave
            // the slot idle; receive() re-arms it (re-arming here could spin on
            // a device that is gone).
            if (res != -EAGAIN && res != -EINTR && res != -ECANCELED) stats_.rxErrors++;
            rxState_[s] = RxState::Idle;
            rxIdle_++;
          }
          break;
        case kTx:
          txInFlight_--;
          txFree_.push_back(s);
          if (res >= 0) {
            stats_.txPackets++;
            stats_.txBytes += res;
          } else {
            stats_.txErrors++;
          }
          break;
        default:
          break;  // cancel completions
      }
    }
    io_uring_cq_advance(&ring_, seen);
  }

  bool Closed(const Napi::Env& env, const char* op) {
    if (!closed_) return false;
    throw Napi::Error::New(env, std::string("PacketQueue.") + op + ": queue is closed");
  }

  Napi::Value OnReadable(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "onReadable");
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      StopNotify();
      return env.Undefined();
    }
    if (!info[0].IsFunction())
      throw Napi::TypeError::New(env, "PacketQueue.onReadable: callback must be a function");
    StartNotify(env, uring_ ? efd_ : fd_, info[0].As<Napi::Function>(), Value(),
                "vroom.PacketQueue");
    // Packets that completed before the callback existed must not wait for
    // the next one.
    if (uring_ && (readyCount_ > 0 || io_uring_cq_ready(&ring_) > 0)) eventfd_write(efd_, 1);
    return env.Undefined();
  }

  bool BeforeCallback() override {
    if (!uring_) return true;
    eventfd_t ignored;
    eventfd_read(efd_, &ignored);
    Reap();
    return readyCount_ > 0;
  }

  void AfterCallback() override {
    if (uring_ && !closed_ && readyCount_ > 0) eventfd_write(efd_, 1);
  }

  void HoldSelf(bool hold) override {
    if (hold)
      Ref();
    else
      Unref();
  }

  Napi::Object Self() override { return Value(); }

  // receive(buf, lengths, stride, max) -> count
  Napi::Value Receive(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Batch b = CheckBatch(info, 0, "PacketQueue.receive");
    Closed(env, "receive");
    uint32_t n = 0;
    if (!uring_) {
      while (n < b.count) {
        ssize_t r = read(fd_, b.data + size_t(n) * b.stride, b.stride);
        if (r < 0) {
          if (errno != EAGAIN && errno != EINTR) stats_.rxErrors++;
          break;
        }
        if (r == 0 || static_cast<uint32_t>(r) > b.stride) {
          stats_.rxErrors++;
          continue;
        }
        b.lengths[n++] = static_cast<uint32_t>(r);
        stats_.rxBytes += r;
      }
      stats_.rxPackets += n;
      return Napi::Number::New(env, n);
    }
    Reap();
    bool armed = false;
    while (n < b.count && readyCount_ > 0) {
      uint32_t s = readySlot_[readyHead_];
      uint32_t len = readyLen_[readyHead_];
      readyHead_ = (readyHead_ + 1) % slots_;
      readyCount_--;
      if (len <= b.stride) {
        memcpy(b.data + size_t(n) * b.stride, rxBufs_ + size_t(s) * slotSize_, len);
        b.lengths[n++] = len;
        stats_.rxBytes += len;
      } else {
        stats_.rxErrors++;  // does not fit the caller's stride
      }
      ArmRead(s);
      armed = true;
    }
    if (rxIdle_ > 0) {
      for (uint32_t s = 0; s < slots_; s++)
        if (rxState_[s] == RxState::Idle) ArmRead(s);
      rxIdle_ = 0;
      armed = true;
    }
    if (armed) io_uring_submit(&ring_);
    stats_.rxPackets += n;
    return Napi::Number::New(env, n);
  }

  // send(buf, lengths, stride, count) -> accepted
  Napi::Value Send(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Closed(env, "send");
    Batch b = CheckBatch(info, 0, "PacketQueue.send", true);
    uint32_t n = 0;
    if (!uring_) {
      for (; n < b.count; n++) {
        if (b.lengths[n] == 0) continue;  // a hole: nothing to send
        ssize_t r = write(fd_, b.data + size_t(n) * b.stride, b.lengths[n]);
        if (r >= 0) {
          stats_.txPackets++;
          stats_.txBytes += r;
        } else if (errno == EAGAIN || errno == ENOBUFS) {
          break;
        } else {
          stats_.txErrors++;
        }
      }
      stats_.txDropped += b.count - n;
      return Napi::Number::New(env, n);
    }
    Reap();
    bool queued = false;
    for (; n < b.count; n++) {
      uint32_t len = b.lengths[n];
      if (len == 0) continue;  // a hole: nothing to send
      if (len > slotSize_) {
        stats_.txErrors++;  // accepted and dropped: the device could not take it
        continue;
      }
      if (txFree_.empty()) break;
      uint32_t t = txFree_.back();
      txFree_.pop_back();
      uint8_t* dst = txBufs_ + size_t(t) * slotSize_;
      memcpy(dst, b.data + size_t(n) * b.stride, len);
      struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_write(sqe, fd_, dst, len, uint64_t(-1));
      io_uring_sqe_set_data64(sqe, kTx | t);
      txInFlight_++;
      queued = true;
    }
    stats_.txDropped += b.count - n;
    if (queued) {
      // Writes complete inline: keep their completions from waking the loop
      // (the eventfd stays quiet), and re-signal only if reads completed too.
      io_uring_cq_eventfd_toggle(&ring_, false);
      io_uring_submit(&ring_);
      io_uring_cq_eventfd_toggle(&ring_, true);
      Reap();
      if (readyCount_ > 0 && Notifying()) eventfd_write(efd_, 1);
    }
    return Napi::Number::New(env, n);
  }

  Napi::Value GetStats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (uring_ && !closed_) Reap();
    return StatsObject(env, stats_);
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

  // Cancels what is in flight, waits (bounded) for it, frees everything.
  void Shutdown(bool finalizing) {
    if (closed_) return;
    closed_ = true;
    StopNotify(finalizing);
    if (!ringReady_) return;
    closing_ = true;
    Reap();
    if (rxInFlight_ + txInFlight_ > 0) {
      struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
      io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
      io_uring_sqe_set_data64(sqe, kCancel);
      io_uring_submit(&ring_);
    }
    for (int i = 0; i < 100 && rxInFlight_ + txInFlight_ > 0; i++) {
      struct io_uring_cqe* cqe;
      struct __kernel_timespec ts = {0, 10 * 1000 * 1000};
      io_uring_wait_cqe_timeout(&ring_, &cqe, &ts);
      Reap();
    }
    bool drained = rxInFlight_ + txInFlight_ == 0;
    io_uring_queue_exit(&ring_);
    ringReady_ = false;
    if (efd_ >= 0) close(efd_);
    efd_ = -1;
    // Never free a buffer the kernel might still write into.
    if (drained) {
      free(rxBufs_);
      free(txBufs_);
    }
    rxBufs_ = txBufs_ = nullptr;
  }

  int fd_ = -1;
  bool uring_ = true;
  uint32_t slots_ = 0, slotSize_ = 0, txSlots_ = 0;
  struct io_uring ring_ {};
  bool ringReady_ = false, closed_ = false, closing_ = false;
  int efd_ = -1;
  uint8_t* rxBufs_ = nullptr;
  uint8_t* txBufs_ = nullptr;
  std::vector<RxState> rxState_;
  std::vector<uint32_t> readySlot_, readyLen_;  // FIFO of completed reads
  uint32_t readyHead_ = 0, readyCount_ = 0, rxIdle_ = 0;
  std::vector<uint32_t> txFree_;
  uint32_t rxInFlight_ = 0, txInFlight_ = 0;
  Stats stats_;
};

}  // namespace

void InitPacketQueue(Napi::Env env, Napi::Object exports) {
  exports.Set("PacketQueue", PacketQueue::Define(env));
}

}  // namespace vroom
