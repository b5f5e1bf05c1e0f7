// An in-memory SlotBackend: the storage of `open(name, { storage: 'memory' })` and of the native tests.
// It counts every operation and can inject write failures, so tests can assert how much I/O a commit costs
// and what a quota failure does.
#ifndef OUTPOST_VFS_MEMORY_BACKEND_H_
#define OUTPOST_VFS_MEMORY_BACKEND_H_

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>
#include <vector>

#include "slot_backend.h"

namespace outpost::vfs {

struct IoCounters {
  int64_t reads = 0, writes = 0, flushes = 0, truncates = 0, sizes = 0;
  int64_t bytes_written = 0;
};

class MemoryBackend final : public SlotBackend {
 public:
  // `crash_images`: keep a copy of each slot as of its last flush, for PowerLossImage(). Tests only: it
  // copies the whole file on every flush.
  explicit MemoryBackend(int slots, bool crash_images = false)
      : files_(slots), durable_(crash_images ? slots : 0), crash_images_(crash_images) {}

  // What a killed process leaves behind: every write that reached the backend.
  std::vector<std::vector<uint8_t>> KillImage() const { return files_; }
  // What a power loss leaves behind: each slot as of its last flush.
  std::vector<std::vector<uint8_t>> PowerLossImage() const { return durable_; }
  // Restores an image, e.g. into a fresh backend that stands for the next start.
  void Restore(const std::vector<std::vector<uint8_t>>& image) {
    files_ = image;
    if (crash_images_) durable_ = image;
  }

  // Write failure injection: after `after` more successful writes, every write fails as `error`
  // (kWriteQuota, kWriteIo, or a short count when error >= 0) until ClearFault().
  void FailWritesAfter(int64_t after, int64_t error) {
    fail_after_ = after;
    fail_with_ = error;
  }
  void ClearFault() { fail_after_ = -1; }

  const IoCounters& counters() const { return counters_; }
  void ResetCounters() { counters_ = {}; }
  std::vector<uint8_t>& file(int slot) { return files_[slot]; }

  int SlotCount() const override { return static_cast<int>(files_.size()); }
  int64_t Read(int slot, uint8_t* dst, int64_t n, int64_t offset) override {
    ++counters_.reads;
    const auto& f = files_[slot];
    if (offset >= static_cast<int64_t>(f.size())) return 0;
    int64_t got = std::min<int64_t>(n, static_cast<int64_t>(f.size()) - offset);
    std::memcpy(dst, f.data() + offset, got);
    return got;
  }
  int64_t Write(int slot, const uint8_t* src, int64_t n, int64_t offset) override {
    ++counters_.writes;
    counters_.bytes_written += n;
    if (fail_after_ == 0) return fail_with_ >= 0 ? std::min(fail_with_, n - 1) : fail_with_;
    if (fail_after_ > 0) --fail_after_;
    auto& f = files_[slot];
    if (static_cast<int64_t>(f.size()) < offset + n) f.resize(offset + n);
    std::memcpy(f.data() + offset, src, n);
    return n;
  }
  bool Truncate(int slot, int64_t size) override {
    ++counters_.truncates;
    files_[slot].resize(size);
    return true;
  }
  int64_t Size(int slot) override {
    ++counters_.sizes;
    return static_cast<int64_t>(files_[slot].size());
  }
  bool Flush(int slot) override {
    ++counters_.flushes;
    if (crash_images_) durable_[slot] = files_[slot];
    return true;
  }
  void Randomness(uint8_t* dst, int n) override {
    for (int i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(rng_());
  }
  double NowMs() override {
    using namespace std::chrono;
    return static_cast<double>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
  }

 private:
  std::vector<std::vector<uint8_t>> files_;
  std::vector<std::vector<uint8_t>> durable_;
  bool crash_images_;
  IoCounters counters_;
  int64_t fail_after_ = -1;
  int64_t fail_with_ = kWriteQuota;
  std::mt19937 rng_{std::random_device{}()};
};

}  // namespace outpost::vfs

#endif  // OUTPOST_VFS_MEMORY_BACKEND_H_
