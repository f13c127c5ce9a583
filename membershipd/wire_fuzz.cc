// libFuzzer entry: any datagram must be opened or dropped with a reason, and any body decoded or
// refused with InvalidArgument, never a crash. Every input goes three ways:
//  1. a FrameOpener without crypto, then DecodePacket of what it accepts;
//  2. a FrameOpener with aes256/sha256 and the fixed key below (the corpus has frames sealed
//     with it), then DecodePacket of what it accepts;
//  3. DecodePacket of the bytes themselves.
// A decoded packet must encode again, and decode to the same packet.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "membershipd/frame_crypto.h"
#include "membershipd/wire_codec.h"

namespace ha::membership {
// The fixed key of the fuzz target and its corpus (test data, not a secret).
std::string WireFuzzKeyForTest();
}  // namespace ha::membership

namespace {

using ha::membership::CryptoCipher;
using ha::membership::CryptoConfig;
using ha::membership::CryptoHash;
using ha::membership::DecodePacket;
using ha::membership::EncodePacket;
using ha::membership::FrameOpener;
using ha::membership::OpenResult;
namespace wirepb = ha::membership::wirepb;

void CheckBody(absl::string_view body) {
  absl::StatusOr<wirepb::Packet> packet = DecodePacket(body);
  if (!packet.ok()) {
    if (packet.status().code() != absl::StatusCode::kInvalidArgument ||
        packet.status().message().empty()) {
      std::abort();
    }
    return;
  }
  absl::StatusOr<std::string> again = EncodePacket(*packet);
  if (!again.ok()) {
    std::abort();
  }
  absl::StatusOr<wirepb::Packet> twice = DecodePacket(*again);
  if (!twice.ok() || twice->SerializeAsString() != packet->SerializeAsString()) {
    std::abort();
  }
}

void OpenAndCheck(const CryptoConfig& crypto, absl::string_view datagram) {
  const std::string key = ha::membership::WireFuzzKeyForTest();
  absl::StatusOr<FrameOpener> opener =
      FrameOpener::Create({.crypto = crypto, .key = key, .nodes = {1, 2, 3, 4, 5}});
  if (!opener.ok()) {
    std::abort();
  }
  OpenResult r = opener->Open(datagram);
  if (!r.ok()) {
    if (r.detail.empty() || ha::membership::DropCounterName(r.reason).empty()) {
      std::abort();
    }
    return;
  }
  // An accepted datagram is a duplicate the second time.
  if (r.frame->sender == 0 || opener->Open(datagram).ok()) {
    std::abort();
  }
  CheckBody(r.frame->body);
}

}  // namespace

namespace ha::membership {

std::string WireFuzzKeyForTest() {
  std::string key(kDefaultKeyBytes, '\0');
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<char>(i * 31 + 7);
  }
  return key;
}

}  // namespace ha::membership

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);
  OpenAndCheck(CryptoConfig{}, input);
  OpenAndCheck(CryptoConfig{CryptoCipher::kAes256, CryptoHash::kSha256}, input);
  CheckBody(input);
  return 0;
}
