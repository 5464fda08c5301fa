#pragma once
// A small thread-safe LRU cache for expensive library objects (oneDNN
// primitives), keyed by a plain struct with operator== and a hash.
#include <cstddef>
#include <cstring>
#include <functional>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace tessel::cpu {

// Hash of a trivially copyable key's bytes (keys are zero-initialized structs).
template <class K>
struct BytesHash {
  size_t operator()(const K& k) const {
    return std::hash<std::string_view>{}(std::string_view(reinterpret_cast<const char*>(&k), sizeof(K)));
  }
};

template <class K, class V, class H = BytesHash<K>>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {}

  // Returns the cached value, creating it with make() on a miss.
  template <class Make>
  V get(const K& key, Make&& make) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = map_.find(key);
      if (it != map_.end()) {
        order_.splice(order_.begin(), order_, it->second);
        return it->second->second;
      }
    }
    V v = make();  // outside the lock: creation can be slow
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.find(key) == map_.end()) {
      order_.emplace_front(key, v);
      map_[key] = order_.begin();
      if (map_.size() > capacity_) {
        map_.erase(order_.back().first);
        order_.pop_back();
      }
    }
    return v;
  }

 private:
  size_t capacity_;
  std::mutex mu_;
  std::list<std::pair<K, V>> order_;
  std::unordered_map<K, typename std::list<std::pair<K, V>>::iterator, H> map_;
};

}  // namespace tessel::cpu
