#pragma once
// Planning a network's activation buffers up front: each buffer has a size and a lifetime (first and
// last step that uses it); buffers whose lifetimes do not overlap share memory. One arena allocation
// then backs every buffer, so a forward pass (and a captured graph replay) allocates nothing.
#include <algorithm>
#include <cstddef>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "fusekit/core/format.hpp"
#include "fusekit/core/memory.hpp"
#include "fusekit/core/tensor_view.hpp"

namespace fusekit {

class BufferPlan {
 public:
  using Id = std::size_t;
  static constexpr std::size_t alignment = 256;  // enough for any vector load and for tensor-core tiles

  // Registers a buffer used from step `first` to step `last` (inclusive).
  Id add(std::string name, std::size_t bytes, int first, int last) {
    FUSEKIT_CHECK(first <= last, "BufferPlan: buffer '{}' ends (step {}) before it starts (step {})", name, last, first);
    entries_.push_back({std::move(name), bytes, first, last, 0});
    planned_ = false;
    return entries_.size() - 1;
  }

  template <class T, std::size_t R>
  Id add(std::string name, const Shape<R>& shape, int first, int last) {
    return add(std::move(name), static_cast<std::size_t>(numel(shape)) * sizeof(T), first, last);
  }

  // Assigns offsets: largest buffers first, each at the lowest offset free during its lifetime.
  void finalize() {
    std::vector<Id> order(entries_.size());
    std::iota(order.begin(), order.end(), Id{0});
    std::stable_sort(order.begin(), order.end(), [&](Id a, Id b) { return entries_[a].bytes > entries_[b].bytes; });
    std::vector<Id> placed;
    arena_bytes_ = 0;
    for (Id id : order) {
      Entry& e = entries_[id];
      std::vector<std::pair<std::size_t, std::size_t>> busy;  // [begin, end) of live neighbours
      for (Id p : placed) {
        const Entry& o = entries_[p];
        if (o.first <= e.last && e.first <= o.last) busy.push_back({o.offset, o.offset + o.bytes});
      }
      std::sort(busy.begin(), busy.end());
      std::size_t candidate = 0;
      for (auto [b, en] : busy) {
        if (candidate + e.bytes <= b) break;
        candidate = std::max(candidate, align_up(en));
      }
      e.offset = candidate;
      arena_bytes_ = std::max(arena_bytes_, align_up(candidate + e.bytes));
      placed.push_back(id);
    }
    planned_ = true;
  }

  bool finalized() const { return planned_; }
  std::size_t arena_bytes() const { return arena_bytes_; }
  std::size_t size() const { return entries_.size(); }
  std::size_t offset(Id id) const { return entry(id).offset; }
  std::size_t bytes(Id id) const { return entry(id).bytes; }
  const std::string& name(Id id) const { return entry(id).name; }
  int first_step(Id id) const { return entry(id).first; }
  int last_step(Id id) const { return entry(id).last; }

 private:
  struct Entry {
    std::string name;
    std::size_t bytes;
    int first, last;
    std::size_t offset;
  };
  static std::size_t align_up(std::size_t n) { return (n + alignment - 1) / alignment * alignment; }
  const Entry& entry(Id id) const {
    FUSEKIT_CHECK(id < entries_.size(), "BufferPlan: unknown buffer id {}", id);
    FUSEKIT_CHECK(planned_, "BufferPlan: finalize() the plan before asking for offsets");
    return entries_[id];
  }

  std::vector<Entry> entries_;
  std::size_t arena_bytes_ = 0;
  bool planned_ = false;
};

// The single allocation behind a finalized plan, in one memory space.
template <class Space>
class Arena {
 public:
  Arena(const BufferPlan& plan, std::shared_ptr<MemoryResource> resource)
      : plan_(plan), buffer_((check_plan(plan), std::move(resource)), plan.arena_bytes()) {
    FUSEKIT_CHECK(buffer_.resource()->is_device() == (std::is_same_v<Space, DeviceSpace>),
                  "Arena: memory resource does not allocate in the {} space", Space::name);
  }

  // A typed view of a planned buffer; fails if the shape needs more bytes than were planned.
  template <class T, std::size_t R>
  TensorView<T, R, Space> view(BufferPlan::Id id, const Shape<R>& shape) const {
    const std::size_t need = static_cast<std::size_t>(numel(shape)) * sizeof(T);
    FUSEKIT_CHECK(need <= plan_.bytes(id),
                  "Arena: buffer '{}' was planned for {} bytes but a {} tensor of shape {} needs {} bytes "
                  "(is the batch larger than the plan?)",
                  plan_.name(id), plan_.bytes(id), dtype_of<T>, shape, need);
    auto* base = static_cast<std::byte*>(buffer_.data()) + plan_.offset(id);
    return TensorView<T, R, Space>(reinterpret_cast<T*>(base), shape);
  }

  std::size_t bytes() const { return buffer_.size(); }

 private:
  static void check_plan(const BufferPlan& p) {
    FUSEKIT_CHECK(p.finalized(), "Arena: the buffer plan is not finalized");
  }
  BufferPlan plan_;
  Buffer buffer_;
};

}  // namespace fusekit
