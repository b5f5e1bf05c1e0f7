// OpfsBackend: the SlotBackend of the browser build. Slot i of pool p is the FileSystemSyncAccessHandle at
// Module.outpostPools[p].handles[i], acquired by the worker (js/opfs-pool.js) before the engine opens the
// database; the calls go through the JS library opfs_library.js, synchronously, with no SharedArrayBuffer.
#ifndef OUTPOST_VFS_OPFS_BACKEND_H_
#define OUTPOST_VFS_OPFS_BACKEND_H_

#include "slot_backend.h"

namespace outpost::vfs {

class OpfsBackend final : public SlotBackend {
 public:
  OpfsBackend(int pool, int slots) : pool_(pool), slots_(slots) {}
  int SlotCount() const override { return slots_; }
  int64_t Read(int slot, uint8_t* dst, int64_t n, int64_t offset) override;
  int64_t Write(int slot, const uint8_t* src, int64_t n, int64_t offset) override;
  bool Truncate(int slot, int64_t size) override;
  int64_t Size(int slot) override;
  bool Flush(int slot) override;
  void Randomness(uint8_t* dst, int n) override;
  double NowMs() override;

 private:
  int pool_;
  int slots_;
};

}  // namespace outpost::vfs

#endif  // OUTPOST_VFS_OPFS_BACKEND_H_
