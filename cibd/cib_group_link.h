// How cibd's messages travel in its process group (common/group_link.h carries them):
// payloads are framed: 'R' + the bytes, or 'Z' + 4 bytes (the size, big-endian) + zlib, for those
// above kCompressAbove (a whole CIB sent as a FullCopy easily exceeds membershipd's 1 MiB limit);
// and a group change's identity for CibReplica.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "proto/membership.pb.h"

namespace ha::cib {

// The framing of payloads in the group.
inline constexpr size_t kCompressAbove = 16 * 1024;
std::string FramePayload(const std::string& payload);
absl::StatusOr<std::string> UnframePayload(const std::string& framed);

// A GroupChange's identity, the same at every member that delivers it (a stable hash of its
// ring id and members; not of its joins and leaves, which differ between the sides of a merge),
// as CibReplica::OnViewChange wants it.
uint64_t ViewIdOf(const membership::v1::GroupChange& change);

}  // namespace ha::cib
