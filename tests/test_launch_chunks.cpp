// How the GPU backend cuts work into chunks that fit the device memory (plan/launch_chunks.hpp),
// checked on the CPU: every seed in exactly one chunk and in order, each chunk within the budget
// it was cut for and as full as the budget allows, and after an allocation failure the same
// seeds again in smaller chunks, down to one warp and then a clear error.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "plan/launch_chunks.hpp"

namespace specsweep {
namespace {

constexpr int kWarp = LaunchPlanner::kWarp;

// Items of random sizes, strategies, traced ranges and costs (seed `seed` of the draw).
std::vector<ChunkItem> random_items(unsigned seed) {
  std::mt19937 rng(seed);
  auto uniform = [&](long lo, long hi) { return std::uniform_int_distribution<long>(lo, hi)(rng); };
  std::vector<ChunkItem> items(uniform(1, 12));
  for (ChunkItem& it : items) {
    it.strategy = int(uniform(0, 2));  // 1: one piece per chunk; 2: groups of seeds
    it.solo = it.strategy != 0;
    it.piece_seeds = it.strategy == 2 ? uniform(1, kWarp) : 0;
    it.first_seed = uniform(0, 3) * 1000;
    it.count = uniform(0, 9) == 0 ? 0 : uniform(1, 5000);
    it.traced_first = it.first_seed + uniform(0, 100);
    it.traced_count = uniform(0, 70);
    it.bytes_per_seed = std::size_t(uniform(100, 5000));
    it.bytes_per_traced_seed = std::size_t(uniform(0, 1) ? uniform(1, 200000) : 0);
    it.bytes_per_chunk = it.solo ? std::size_t(uniform(0, 100000)) : 0;
  }
  return items;
}

// The cost of the smallest next piece of the item from `seed` on: a warp, or a group.
std::size_t next_piece_bytes(const ChunkItem& it, long seed) {
  const long count =
      std::min<long>(it.piece_seeds > 0 ? it.piece_seeds : kWarp, it.first_seed + it.count - seed);
  return LaunchPlanner::piece_bytes(it, seed, count);
}

TEST(LaunchChunks, EverySeedOnceInOrderEachChunkWithinItsBudgetAndFull) {
  for (unsigned draw = 0; draw < 200; ++draw) {
    const std::vector<ChunkItem> items = random_items(draw);
    const long max_seeds = 32L * (1 + draw % 40);
    LaunchPlanner planner(items, max_seeds);
    std::mt19937 rng(draw + 1000);
    std::vector<long> next_seed(items.size());
    for (size_t i = 0; i < items.size(); ++i) next_seed[i] = items[i].first_seed;
    size_t expected_item = 0;
    for (int chunks = 0;; ++chunks) {
      ASSERT_LT(chunks, 100000) << "draw " << draw;
      // A budget that holds at least one warp of any item.
      const std::size_t budget =
          std::uniform_int_distribution<std::size_t>(8'000'000, 40'000'000)(rng);
      const LaunchChunk chunk = planner.next(budget);
      if (chunk.empty()) break;
      std::size_t bytes = 0;
      long seeds = 0;
      for (size_t k = 0; k < chunk.pieces.size(); ++k) {
        const ChunkPiece& p = chunk.pieces[k];
        const ChunkItem& it = items[p.item];
        while (expected_item < items.size() &&
               next_seed[expected_item] ==
                   items[expected_item].first_seed + items[expected_item].count)
          ++expected_item;
        ASSERT_EQ(size_t(p.item), expected_item) << "draw " << draw << ": items out of order";
        ASSERT_EQ(p.first, next_seed[p.item]) << "draw " << draw << ": a seed skipped or repeated";
        ASSERT_GT(p.count, 0);
        const bool item_ends = p.first + p.count == it.first_seed + it.count;
        if (it.piece_seeds > 0) {
          ASSERT_TRUE(item_ends || p.count == it.piece_seeds) << "a group of the wrong size";
        } else {
          ASSERT_TRUE(item_ends || p.count % kWarp == 0) << "a piece ends inside a warp";
        }
        EXPECT_EQ(it.strategy, chunk.strategy) << "a chunk mixes strategies";
        if (it.solo) {
          EXPECT_EQ(p.item, chunk.pieces.front().item) << "a solo item shares its chunk";
          if (it.piece_seeds == 0) {
            EXPECT_EQ(chunk.pieces.size(), 1u) << "a batched run split";
          }
        }
        next_seed[p.item] += p.count;
        bytes +=
            LaunchPlanner::piece_bytes(it, p.first, p.count) + (k == 0 ? it.bytes_per_chunk : 0);
        seeds += (p.count + kWarp - 1) / kWarp * kWarp;
      }
      EXPECT_EQ(chunk.bytes, bytes) << "draw " << draw;
      EXPECT_LE(chunk.bytes, budget) << "draw " << draw;
      EXPECT_LE(seeds, std::max<long>(kWarp, max_seeds / kWarp * kWarp)) << "draw " << draw;
      // Full: the chunk ended at its item's end, at the seed limit, or where one more piece of
      // the same item would not have fitted.
      const ChunkPiece& last = chunk.pieces.back();
      const ChunkItem& it = items[last.item];
      const long at = last.first + last.count;
      if (at < it.first_seed + it.count && seeds < max_seeds) {
        EXPECT_GT(chunk.bytes + next_piece_bytes(it, at), budget)
            << "draw " << draw << ": a chunk stopped short of its budget";
      }
    }
    for (size_t i = 0; i < items.size(); ++i)
      EXPECT_EQ(next_seed[i], items[i].first_seed + items[i].count)
          << "draw " << draw << " item " << i;
  }
}

TEST(LaunchChunks, AfterAFailedAllocationTheSameSeedsComeInHalfTheBytes) {
  ChunkItem it;
  it.first_seed = 100;
  it.count = 10000;
  it.bytes_per_seed = 1000;
  LaunchPlanner planner({it}, 1L << 20);
  const LaunchChunk first = planner.next(2'000'000);
  ASSERT_EQ(first.pieces.size(), 1u);
  EXPECT_EQ(first.pieces[0].count, 2'000'000 / (kWarp * 1000) * kWarp);
  planner.retry_smaller();
  const LaunchChunk again = planner.next(2'000'000);
  ASSERT_EQ(again.pieces.size(), 1u);
  EXPECT_EQ(again.pieces[0].first, 100);
  EXPECT_LE(again.bytes, first.bytes / 2);
  // The cap stays: the memory is still held by someone else.
  const LaunchChunk after = planner.next(2'000'000);
  EXPECT_EQ(after.pieces[0].first, 100 + again.pieces[0].count);
  EXPECT_LE(after.bytes, first.bytes / 2);
}

TEST(LaunchChunks, RetryingDownToOneWarpThenAClearError) {
  ChunkItem it;
  it.count = 1000;
  it.bytes_per_seed = 1000;
  LaunchPlanner planner({it}, 1L << 20);
  long previous = planner.next(1'000'000).pieces.at(0).count;
  for (;;) {
    try {
      planner.retry_smaller();
    } catch (const RuntimeFailure& e) {
      EXPECT_EQ(previous, kWarp) << "gave up before one warp";
      EXPECT_NE(std::string(e.what()).find("one warp"), std::string::npos) << e.what();
      return;
    }
    const long count = planner.next(1'000'000).pieces.at(0).count;
    EXPECT_LT(count, previous);
    EXPECT_EQ(count % kWarp, 0);
    previous = count;
  }
}

TEST(LaunchChunks, AWarpLargerThanTheBudgetNamesBoth) {
  ChunkItem it;
  it.count = 64;
  it.bytes_per_seed = 1000;
  it.bytes_per_chunk = 500;
  LaunchPlanner planner({it}, 1L << 20);
  try {
    planner.next(30'000);
    FAIL() << "no error";
  } catch (const RuntimeFailure& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("32500 bytes"), std::string::npos) << what;
    EXPECT_NE(what.find("30000 bytes"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace specsweep
