#pragma once
// How a GPU backend cuts its work items into chunks that fit the device memory: each chunk is
// run as one launch (or one batched run) and its results brought back before the next. Host
// code, tested on the CPU (tests/test_launch_chunks.cpp); kernels/cuda/cuda_backend.cu uses it.
//
// The budget is asked for again before every chunk, from the memory free at that moment, so a
// second process on the same device (two MPI ranks on one GPU) shrinks the chunks instead of
// making them fail. When an allocation fails anyway (the other process won the race), the same
// seeds come again in chunks of half the bytes (retry_smaller), and so on down to one warp.
#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "errors.hpp"

namespace specsweep {

// How many of the seeds [first, first + count) lie in [range_first, range_first + range_count)
// (the traced seeds of a piece of seeds).
inline long seeds_in_range(long first, long count, long range_first, long range_count) {
  return std::max(0L, std::min(first + count, range_first + range_count) -
                          std::max(first, range_first));
}

// What the planner needs to know of one work item: which seeds, which of them are traced, and
// what they cost in device memory.
struct ChunkItem {
  int strategy = 0;   // chunks never mix strategies
  bool solo = false;  // its chunks hold no other item's seeds (the batched and block strategies)
  // With solo: 0, a chunk holds one piece (a batched run); else a chunk holds many pieces of
  // this many seeds each, at most a warp (the block strategy's groups, one thread block each),
  // the item's last piece possibly fewer.
  long piece_seeds = 0;
  long first_seed = 0, count = 0;
  long traced_first = 0, traced_count = 0;  // seeds with a trace row (extra bytes each)
  std::size_t bytes_per_seed = 0, bytes_per_traced_seed = 0;
  std::size_t bytes_per_chunk = 0;  // fixed cost of a chunk holding this item's seeds
  // For solo items, a bound on their chunks whatever the budget: a batched run's rounding may
  // depend on how many seeds it multiplies together, so its size should not follow the free
  // memory of the moment.
  std::size_t max_chunk_bytes = std::numeric_limits<std::size_t>::max();
};

// Seeds [first, first + count) of item `item`.
struct ChunkPiece {
  int item;
  long first, count;
};

struct LaunchChunk {
  int strategy = 0;
  std::vector<ChunkPiece> pieces;
  std::size_t bytes = 0;  // the estimate the chunk was cut by
  bool empty() const { return pieces.empty(); }
};

class LaunchPlanner {
 public:
  static constexpr int kWarp = 32;

  // Pieces hold whole warps of seeds (a warp never spans two items), at most max_chunk_seeds
  // seeds per chunk counting each piece's padding to whole warps.
  LaunchPlanner(std::vector<ChunkItem> items, long max_chunk_seeds)
      : items_(std::move(items)), max_warps_(std::max(1L, max_chunk_seeds / kWarp)) {
    enter_item(0);
  }

  // The next chunk of at most `budget` bytes (and at most the cap left by failures); empty when
  // every seed has had its chunk. Throws RuntimeFailure when not even one warp of the next item
  // fits.
  LaunchChunk next(std::size_t budget) {
    last_start_ = at_;
    LaunchChunk chunk;
    budget = std::min(budget, cap_);
    long warps_in_chunk = 0;
    while (at_.item < int(items_.size())) {
      const ChunkItem& it = items_[at_.item];
      // A chunk holds one strategy; a solo item's chunk holds that item only (and several of its
      // pieces only when they are groups: a batched chunk ends below after its one piece).
      if (!chunk.empty()) {
        const int last = chunk.pieces.back().item;
        if (it.strategy != chunk.strategy || ((it.solo || items_[last].solo) && last != at_.item))
          break;
      }
      const std::size_t fixed = chunk.empty() ? it.bytes_per_chunk : 0;
      if (it.solo) budget = std::min(budget, it.max_chunk_bytes);
      const long end = it.first_seed + it.count;
      long warps = 0;  // of this item that fit what is left
      const std::size_t used = chunk.bytes + fixed;
      const long most =
          std::min(max_warps_ - warps_in_chunk,
                   it.piece_seeds > 0 ? (it.piece_seeds + kWarp - 1) / kWarp : max_warps_);
      if (used < budget) {
        // Every warp but the last is full; traced seeds are charged as if every seed were one,
        // then the exact cost of the piece is checked below.
        const std::size_t per_warp = kWarp * (it.bytes_per_seed + it.bytes_per_traced_seed);
        warps = long(std::min<std::size_t>((budget - used) / per_warp, std::size_t(most)));
        // A warp's worth of seeds costs less when few are traced: take more while they fit.
        while (warps < most && at_.seed + warps * kWarp < end &&
               used + piece_bytes(it, at_.seed, (warps + 1) * kWarp) <= budget)
          ++warps;
      }
      if (warps <= 0) {
        if (!chunk.empty()) break;
        throw RuntimeFailure("device memory: one warp of seeds (" +
                             std::to_string(piece_bytes(it, at_.seed, kWarp) + fixed) +
                             " bytes) does not fit the " + std::to_string(budget) +
                             " bytes a chunk may use" +
                             (cap_ < std::numeric_limits<std::size_t>::max()
                                  ? " after allocations failed (another process holds the memory)"
                                  : ""));
      }
      const long count = std::min(
          {end - at_.seed, warps * kWarp, it.piece_seeds > 0 ? it.piece_seeds : warps * kWarp});
      chunk.strategy = it.strategy;
      chunk.pieces.push_back(ChunkPiece{at_.item, at_.seed, count});
      chunk.bytes += fixed + piece_bytes(it, at_.seed, count);
      warps_in_chunk += (count + kWarp - 1) / kWarp;
      at_.seed += count;
      if (at_.seed == end) enter_item(at_.item + 1);
      if ((it.solo && it.piece_seeds == 0) || warps_in_chunk == max_warps_) break;
    }
    last_bytes_ = chunk.bytes;
    last_warps_ = warps_in_chunk;
    return chunk;
  }

  // The chunk next() returned last could not allocate its memory: its seeds come again, and from
  // now on no chunk is larger than half of it. Throws RuntimeFailure when it held one warp.
  void retry_smaller() {
    at_ = last_start_;
    if (last_warps_ <= 1)
      throw RuntimeFailure("device memory: allocating a chunk of one warp of seeds (" +
                           std::to_string(last_bytes_) +
                           " bytes) failed; the device's memory is held by other processes");
    cap_ = last_bytes_ / 2;
  }

  // Bytes of the piece of `count` seeds of `it` from seed `first`: whole warps, plus the traced
  // seeds' rows.
  static std::size_t piece_bytes(const ChunkItem& it, long first, long count) {
    const long padded = (count + kWarp - 1) / kWarp * kWarp;
    const long traced = seeds_in_range(first, count, it.traced_first, it.traced_count);
    return std::size_t(padded) * it.bytes_per_seed + std::size_t(traced) * it.bytes_per_traced_seed;
  }

 private:
  struct Cursor {
    int item = 0;
    long seed = 0;
  };

  // The cursor to the first seed of the first item from `item` on that has seeds.
  void enter_item(int item) {
    at_.item = item;
    while (at_.item < int(items_.size()) && items_[at_.item].count == 0) ++at_.item;
    if (at_.item < int(items_.size())) at_.seed = items_[at_.item].first_seed;
  }

  std::vector<ChunkItem> items_;
  long max_warps_;
  Cursor at_, last_start_;
  std::size_t cap_ = std::numeric_limits<std::size_t>::max(), last_bytes_ = 0;
  long last_warps_ = 0;
};

}  // namespace specsweep
