#include "tests/sim/totem_invariants.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace ha::sim {
namespace {

std::string RingName(const RingId& id) {
  return absl::StrCat(id.rep, ".", id.seq);
}

// What one incarnation delivered in one configuration, and which configuration came next.
struct Epoch {
  const Incarnation* inc = nullptr;
  RingId ring;
  std::vector<std::string> delivered;
  std::vector<std::string> safe;  // delivered in safe order while the ring ran (not at its end)
  std::optional<RingId> next;
};

bool IsPrefix(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return a.size() <= b.size() && std::equal(a.begin(), a.end(), b.begin());
}

}  // namespace

std::string CheckSafety(const TotemSim& sim) {
  std::map<RingId, std::vector<NodeId>> ring_members;
  std::map<RingId, std::vector<Epoch>> epochs;
  for (const Incarnation& inc : sim.incarnations()) {
    std::set<std::string> seen;
    std::map<std::string, int64_t> last_from_sender;
    std::optional<Epoch> epoch;
    for (const Recorded& r : inc.history) {
      if (r.kind == Recorded::kConfig) {
        auto [it, inserted] = ring_members.emplace(r.ring_id, r.members);
        if (!inserted && it->second != r.members) {
          return absl::StrCat(inc.Name(),
                              " installed ring ",
                              RingName(r.ring_id),
                              " with members [",
                              absl::StrJoin(r.members, ","),
                              "], another node with [",
                              absl::StrJoin(it->second, ","),
                              "]");
        }
        if (std::find(r.members.begin(), r.members.end(), inc.node) == r.members.end()) {
          return absl::StrCat(
              inc.Name(), " installed ring ", RingName(r.ring_id), " without being a member");
        }
        if (epoch) {
          epoch->next = r.ring_id;
          epochs[epoch->ring].push_back(*epoch);
        }
        epoch = Epoch{&inc, r.ring_id, {}, {}, std::nullopt};
        continue;
      }
      if (!sim.submitted().count(r.payload)) {
        return absl::StrCat(inc.Name(), " delivered a message nobody sent: '", r.payload, "'");
      }
      if (!seen.insert(r.payload).second) {
        return absl::StrCat(inc.Name(), " delivered '", r.payload, "' twice");
      }
      if (!epoch || !(epoch->ring == r.ring_id)) {
        return absl::StrCat(inc.Name(),
                            " delivered '",
                            r.payload,
                            "' of ring ",
                            RingName(r.ring_id),
                            " while in ",
                            epoch ? RingName(epoch->ring) : "no ring");
      }
      epoch->delivered.push_back(r.payload);
      if (r.safe && !r.transitional) {
        epoch->safe.push_back(r.payload);
      }
      // payload: "<node>.<incarnation>.<n>"
      std::vector<std::string> parts = absl::StrSplit(r.payload, '.');
      int64_t n = 0;
      if (parts.size() == 3 && absl::SimpleAtoi(parts[2], &n)) {
        const std::string sender = absl::StrCat(parts[0], ".", parts[1]);
        auto [it, inserted] = last_from_sender.emplace(sender, n);
        if (!inserted) {
          if (n <= it->second) {
            return absl::StrCat(inc.Name(),
                                " delivered '",
                                r.payload,
                                "' after message ",
                                it->second,
                                " of the same sender");
          }
          it->second = n;
        }
      }
    }
    if (epoch) {
      epochs[epoch->ring].push_back(*epoch);
    }
  }
  for (const auto& [ring, list] : epochs) {
    // Safe order (totem_core.h, deviation 3): a message delivered as safe while the ring ran was
    // then held by every member, with everything before it, so every member that moves on to
    // another configuration delivers it in this one before it goes.
    for (const Epoch& a : list) {
      for (const std::string& payload : a.safe) {
        for (const Epoch& b : list) {
          if (b.next &&
              std::find(b.delivered.begin(), b.delivered.end(), payload) == b.delivered.end()) {
            return absl::StrCat("safe order broken in ring ",
                                RingName(ring),
                                ": ",
                                a.inc->Name(),
                                " delivered '",
                                payload,
                                "' as safe, ",
                                b.inc->Name(),
                                " went on to ring ",
                                RingName(*b.next),
                                " without it");
          }
        }
      }
    }
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        const Epoch& a = list[i];
        const Epoch& b = list[j];
        if (!IsPrefix(a.delivered, b.delivered) && !IsPrefix(b.delivered, a.delivered)) {
          return absl::StrCat("agreed order broken in ring ",
                              RingName(ring),
                              ": ",
                              a.inc->Name(),
                              " delivered [",
                              absl::StrJoin(a.delivered, " "),
                              "], ",
                              b.inc->Name(),
                              " [",
                              absl::StrJoin(b.delivered, " "),
                              "]");
        }
        if (a.next && b.next && *a.next == *b.next && a.delivered != b.delivered) {
          return absl::StrCat("virtual synchrony broken: ",
                              a.inc->Name(),
                              " and ",
                              b.inc->Name(),
                              " went from ring ",
                              RingName(ring),
                              " to ",
                              RingName(*a.next),
                              " having delivered [",
                              absl::StrJoin(a.delivered, " "),
                              "] and [",
                              absl::StrJoin(b.delivered, " "),
                              "]");
        }
      }
    }
  }
  return "";
}

std::string CheckOwnMessagesDelivered(const TotemSim& sim) {
  std::map<std::pair<NodeId, int>, const Incarnation*> live;
  for (NodeId id : sim.AliveNodes()) {
    const Incarnation& inc = sim.incarnations()[sim.current_incarnation(id)];
    live[{inc.node, inc.number}] = &inc;
  }
  std::map<const Incarnation*, std::set<std::string>> delivered;
  for (const auto& [key, inc] : live) {
    for (const Recorded& r : inc->history) {
      if (r.kind == Recorded::kDelivery) {
        delivered[inc].insert(r.payload);
      }
    }
  }
  for (const std::string& payload : sim.submitted()) {
    // payload: "<node>.<incarnation>.<n>"
    std::vector<std::string> parts = absl::StrSplit(payload, '.');
    uint32_t node = 0;
    int number = 0;
    if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &node) ||
        !absl::SimpleAtoi(parts[1], &number)) {
      continue;
    }
    auto it = live.find({node, number});
    if (it == live.end() || delivered[it->second].count(payload) != 0) {
      continue;
    }
    const Incarnation& inc = *it->second;
    auto sent = inc.multicast_in.find(payload);
    if (sent == inc.multicast_in.end()) {
      return absl::StrCat(inc.Name(), " never sent its own '", payload, "'");
    }
    if (inc.discarded_from.count(sent->second) == 0) {
      return absl::StrCat(inc.Name(),
                          " sent its own '",
                          payload,
                          "' in ring ",
                          RingName(sent->second),
                          " and never delivered it (nothing was discarded there)");
    }
  }
  return "";
}

std::string CheckConverged(const TotemSim& sim) {
  const std::vector<NodeId> alive = sim.AliveNodes();
  std::optional<RingId> ring;
  for (NodeId id : alive) {
    const membership::TotemCore* core = sim.core(id);
    if (core->state() != membership::TotemState::kOperational) {
      return absl::StrCat("node ", id, " is in ", membership::TotemStateName(core->state()));
    }
    if (core->members() != alive) {
      return absl::StrCat("node ",
                          id,
                          " is in ring ",
                          RingName(core->ring_id()),
                          " with [",
                          absl::StrJoin(core->members(), ","),
                          "], alive: [",
                          absl::StrJoin(alive, ","),
                          "]");
    }
    if (ring && !(*ring == core->ring_id())) {
      return absl::StrCat(
          "nodes are in different rings: ", RingName(*ring), " and ", RingName(core->ring_id()));
    }
    ring = core->ring_id();
  }
  return "";
}

}  // namespace ha::sim
