#include "cibd/cib_group_link.h"

#include <zlib.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace ha::cib {
namespace {

namespace mv1 = membership::v1;

constexpr size_t kMaxUnframed = 256u << 20;  // bigger than any CIB cibd accepts

// FNV-1a, 64 bits: stable across processes and builds (absl::Hash is seeded per process).
class Fnv {
 public:
  void Add(uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h_ = (h_ ^ ((v >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 0xcbf29ce484222325ULL;
};

void AddMembers(Fnv& f, const google::protobuf::RepeatedPtrField<mv1::GroupMember>& members) {
  f.Add(static_cast<uint64_t>(members.size()));
  for (const mv1::GroupMember& m : members) {
    f.Add(m.node_id());
    f.Add(m.pid());
    f.Add(static_cast<uint64_t>(m.reason()));
  }
}

}  // namespace

std::string FramePayload(const std::string& payload) {
  if (payload.size() <= kCompressAbove) {
    return absl::StrCat("R", payload);
  }
  uLongf size = compressBound(static_cast<uLong>(payload.size()));
  std::string out(5 + size, '\0');
  const auto n = static_cast<uint32_t>(payload.size());
  out[0] = 'Z';
  for (int i = 0; i < 4; ++i) {
    out[1 + i] = static_cast<char>((n >> (24 - 8 * i)) & 0xff);
  }
  if (compress2(reinterpret_cast<Bytef*>(out.data() + 5),
                &size,
                reinterpret_cast<const Bytef*>(payload.data()),
                static_cast<uLong>(payload.size()),
                Z_BEST_SPEED) != Z_OK) {
    return absl::StrCat("R", payload);
  }
  out.resize(5 + size);
  return out;
}

absl::StatusOr<std::string> UnframePayload(const std::string& framed) {
  if (framed.empty()) {
    return absl::InvalidArgumentError("an empty payload");
  }
  if (framed[0] == 'R') {
    return framed.substr(1);
  }
  if (framed[0] != 'Z' || framed.size() < 5) {
    return absl::InvalidArgumentError("a payload with an unknown frame");
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n = (n << 8) | static_cast<unsigned char>(framed[1 + i]);
  }
  if (n > kMaxUnframed) {
    return absl::InvalidArgumentError(absl::StrCat("a payload of ", n, " bytes is too big"));
  }
  std::string out(n, '\0');
  uLongf size = n;
  if (uncompress(reinterpret_cast<Bytef*>(out.data()),
                 &size,
                 reinterpret_cast<const Bytef*>(framed.data() + 5),
                 static_cast<uLong>(framed.size() - 5)) != Z_OK ||
      size != n) {
    return absl::InvalidArgumentError("a compressed payload does not decompress");
  }
  return out;
}

uint64_t ViewIdOf(const mv1::GroupChange& change) {
  Fnv f;
  f.Add(change.ring_id().rep_node_id());
  f.Add(change.ring_id().seq());
  // Members only, not the joins and leaves: at a merge each side sees the other side join, so
  // those differ between members while the ring id and the member list are the same.
  AddMembers(f, change.members());
  return f.value();
}

}  // namespace ha::cib
