// A small HDR-like histogram with log-linear buckets, for latencies in nanoseconds.
//
// Values below 128 get one bucket each; above that, every power of two is split into 64 equal
// sub-buckets, so a reported percentile is within 1/64 (~1.6 %) of the true value. Values up to
// 2^40 ns (~18 minutes) are kept; larger ones land in the last bucket (the exact maximum is tracked
// separately).
//
// AtomicHistogram is written by exactly one thread (a worker) and read by another (the reporter):
// the writer uses relaxed load+store (no locked instructions on the hot path), the reader takes
// snapshots and subtracts an earlier snapshot to get the counts of an interval.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tidemq::bench {

inline constexpr int kSubBits = 7;                      // 128 linear buckets, then 64 per octave
inline constexpr std::uint64_t kHalf = 1u << (kSubBits - 1);  // 64
inline constexpr int kMaxMsb = 40;                      // 2^40 ns
inline constexpr std::size_t kBuckets = (kMaxMsb - (kSubBits - 1)) * kHalf + 2 * kHalf;  // 2304

constexpr std::size_t bucket_index(std::uint64_t v) {
  if (v < (1u << kSubBits)) return static_cast<std::size_t>(v);
  int msb = 63 - std::countl_zero(v);
  if (msb > kMaxMsb) return kBuckets - 1;
  int shift = msb - (kSubBits - 1);
  std::uint64_t mant = v >> shift;  // in [64, 128)
  return static_cast<std::size_t>(shift) * kHalf + static_cast<std::size_t>(mant);
}

constexpr std::uint64_t bucket_lower(std::size_t idx) {
  if (idx < (1u << kSubBits)) return idx;
  std::uint64_t shift = idx / kHalf - 1;
  std::uint64_t mant = kHalf + idx % kHalf;
  return mant << shift;
}

constexpr std::uint64_t bucket_upper(std::size_t idx) {  // inclusive
  if (idx < (1u << kSubBits)) return idx;
  std::uint64_t shift = idx / kHalf - 1;
  std::uint64_t mant = kHalf + idx % kHalf;
  return ((mant + 1) << shift) - 1;
}

static_assert(bucket_index(127) == 127 && bucket_index(128) == 128 && bucket_index(129) == 128);
static_assert(bucket_lower(bucket_index(1000)) <= 1000 && bucket_upper(bucket_index(1000)) >= 1000);
static_assert(bucket_index(std::uint64_t{1} << 40) == kBuckets - 64);

// A plain (single-threaded) histogram: what snapshots, merges and reports work on.
class Histogram {
 public:
  Histogram() : counts_(kBuckets, 0) {}

  void record(std::uint64_t v, std::uint64_t n = 1) {
    counts_[bucket_index(v)] += n;
    count_ += n;
    sum_ += v * n;
    max_ = std::max(max_, v);
    min_ = std::min(min_, v);
  }
  void merge(const Histogram& o) {
    for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
    min_ = std::min(min_, o.min_);
  }
  void clear() { *this = Histogram(); }

  std::uint64_t count() const { return count_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / static_cast<double>(count_) : 0.0; }
  std::uint64_t max() const { return count_ ? max_ : 0; }
  std::uint64_t min() const { return count_ ? min_ : 0; }

  // Value at quantile q in [0,1]: the midpoint of the bucket holding the q-th value, clamped to
  // the exact min/max.
  std::uint64_t quantile(double q) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.5);
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        std::uint64_t mid = bucket_lower(i) + (bucket_upper(i) - bucket_lower(i)) / 2;
        return std::clamp(mid, min(), max());
      }
    }
    return max();
  }

  std::uint64_t sum() const { return sum_; }
  const std::vector<std::uint64_t>& counts() const { return counts_; }

  // Builds a histogram from raw bucket counts; min/max come from the outermost non-empty buckets,
  // except that `exact_max` is used when it falls into the highest one.
  static Histogram from_counts(std::vector<std::uint64_t> counts, std::uint64_t sum,
                               std::uint64_t exact_max = UINT64_MAX) {
    Histogram h;
    h.counts_ = std::move(counts);
    std::uint64_t n = 0;
    std::size_t first = kBuckets, last = 0;
    for (std::size_t i = 0; i < kBuckets; ++i) {
      if (!h.counts_[i]) continue;
      n += h.counts_[i];
      if (first == kBuckets) first = i;
      last = i;
    }
    h.count_ = n;
    h.sum_ = sum;
    if (n) {
      h.min_ = bucket_lower(first);
      h.max_ = bucket_upper(last);
      if (exact_max != UINT64_MAX && exact_max >= bucket_lower(last) && exact_max <= h.max_) h.max_ = exact_max;
    }
    return h;
  }

  // The values recorded between snapshot `before` and snapshot `now` of the same source.
  static Histogram diff(const Histogram& now, const Histogram& before) {
    std::vector<std::uint64_t> c(kBuckets);
    for (std::size_t i = 0; i < kBuckets; ++i) c[i] = now.counts_[i] - before.counts_[i];
    return from_counts(std::move(c), now.sum_ - before.sum_, now.max_);
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t min_ = UINT64_MAX;
};

// Single-writer counter readable from another thread.
class Counter {
 public:
  void add(std::uint64_t d = 1) { v_.store(v_.load(std::memory_order_relaxed) + d, std::memory_order_relaxed); }
  std::uint64_t get() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

// Cumulative histogram: one writer thread, any reader thread.
class AtomicHistogram {
 public:
  void record(std::uint64_t v) {
    buckets_[bucket_index(v)].add();
    sum_.add(v);
    if (v > max_.load(std::memory_order_relaxed)) max_.store(v, std::memory_order_relaxed);
  }

  // Cumulative values since start.
  Histogram snapshot() const {
    std::vector<std::uint64_t> c(kBuckets);
    for (std::size_t i = 0; i < kBuckets; ++i) c[i] = buckets_[i].get();
    return Histogram::from_counts(std::move(c), sum_.get(), max_.load(std::memory_order_relaxed));
  }

 private:
  std::array<Counter, kBuckets> buckets_{};
  Counter sum_;
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace tidemq::bench
