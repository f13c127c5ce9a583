#include "membershipd/fault_layer.h"

#include <memory>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ha::membership {
namespace {

absl::Status Bad(absl::string_view item, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("HA_TOTEM_FAULTS: '", item, "': ", why));
}

absl::StatusOr<double> Probability(absl::string_view item, absl::string_view value) {
  double p = 0;
  if (!absl::SimpleAtod(value, &p) || p < 0 || p > 1) {
    return Bad(item, "expected a probability from 0 to 1");
  }
  return p;
}

}  // namespace

absl::StatusOr<FaultSpec> ParseFaultSpec(absl::string_view text) {
  FaultSpec spec;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(item, '=');
    const absl::string_view key = kv.first;
    const absl::string_view value = kv.second;
    if (key == "drop" || key == "dup" || key == "corrupt") {
      absl::StatusOr<double> p = Probability(item, value);
      if (!p.ok()) {
        return p.status();
      }
      (key == "drop" ? spec.drop : key == "dup" ? spec.duplicate : spec.corrupt) = *p;
    } else if (key == "delay") {
      std::pair<absl::string_view, absl::string_view> range = absl::StrSplit(value, '-');
      if (range.second.empty()) {
        range.second = range.first;
      }
      if (!absl::SimpleAtoi(range.first, &spec.delay_min_ms) ||
          !absl::SimpleAtoi(range.second, &spec.delay_max_ms) || spec.delay_min_ms < 0 ||
          spec.delay_max_ms < spec.delay_min_ms || spec.delay_max_ms > 60000) {
        return Bad(item, "expected MIN-MAX milliseconds, 0 <= MIN <= MAX <= 60000");
      }
    } else if (key == "kinds") {
      for (absl::string_view kind : absl::StrSplit(value, '+')) {
        static const std::set<std::string> kKnown = {
            "token", "message", "join", "commit", "merge_detect", "hold_cancel", "leave", "rrp"};
        if (!kKnown.contains(std::string(kind))) {
          return Bad(item, absl::StrCat("unknown packet kind '", kind, "'"));
        }
        spec.kinds.insert(std::string(kind));
      }
    } else if (key == "peers") {
      for (absl::string_view peer : absl::StrSplit(value, '+')) {
        uint32_t id = 0;
        if (!absl::SimpleAtoi(peer, &id) || id == 0) {
          return Bad(item, "expected node ids joined by '+'");
        }
        spec.peers.insert(id);
      }
    } else if (key == "rings") {
      for (absl::string_view ring : absl::StrSplit(value, '+')) {
        int n = 0;
        if (!absl::SimpleAtoi(ring, &n) || n < 0 || n > 7) {
          return Bad(item, "expected ring numbers (0 to 7) joined by '+'");
        }
        spec.rings.insert(n);
      }
    } else if (key == "seed") {
      if (!absl::SimpleAtoi(value, &spec.seed)) {
        return Bad(item, "expected a number");
      }
    } else {
      return Bad(item, "unknown setting (drop, dup, delay, corrupt, kinds, peers, rings, seed)");
    }
  }
  return spec;
}

FaultLayer::FaultLayer(EventLoop& loop, FaultSpec spec, SendFn send)
    : loop_(loop), spec_(std::move(spec)), send_(std::move(send)), random_(spec_.seed) {}

FaultLayer::~FaultLayer() {
  for (EventLoop::TimerId id : pending_) {
    loop_.CancelTimer(id);
  }
}

bool FaultLayer::Chance(double p) {
  return p > 0 && std::uniform_real_distribution<double>(0, 1)(random_) < p;
}

void FaultLayer::Send(int ring, uint32_t node, absl::string_view kind, absl::string_view datagram) {
  const bool matches = (spec_.kinds.empty() || spec_.kinds.contains(std::string(kind))) &&
                       (spec_.peers.empty() || spec_.peers.contains(node)) &&
                       (spec_.rings.empty() || spec_.rings.contains(ring));
  if (!matches || !spec_.active()) {
    send_(ring, node, datagram);
    return;
  }
  if (Chance(spec_.drop)) {
    ++stats_.dropped;
    return;
  }
  std::string bytes(datagram);
  if (Chance(spec_.corrupt) && !bytes.empty()) {
    ++stats_.corrupted;
    const size_t at = std::uniform_int_distribution<size_t>(0, bytes.size() - 1)(random_);
    bytes[at] = static_cast<char>(bytes[at] ^ (1 + random_() % 255));
  }
  const int copies = Chance(spec_.duplicate) ? 2 : 1;
  stats_.duplicated += copies - 1;
  for (int i = 0; i < copies; ++i) {
    if (spec_.delay_max_ms == 0) {
      send_(ring, node, bytes);
      continue;
    }
    ++stats_.delayed;
    const int ms =
        std::uniform_int_distribution<int>(spec_.delay_min_ms, spec_.delay_max_ms)(random_);
    auto id = std::make_shared<EventLoop::TimerId>(0);
    *id = loop_.AddTimer(absl::Milliseconds(ms), [this, ring, node, bytes, id] {
      pending_.erase(*id);
      send_(ring, node, bytes);
    });
    pending_.insert(*id);
  }
}

}  // namespace ha::membership
