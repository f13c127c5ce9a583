// The datagram frame around an encoded totem packet (membershipd/wire_codec.h): a header that names
// the sender, its boot and a per-boot packet counter; optional AES-CBC encryption; an optional
// HMAC over everything before it (encrypt-then-MAC); and replay protection on the receiving side.
// Exact layout, key derivation and rules: docs/formats/totem-wire.md.
//
// Configuration follows corosync's totem { crypto_cipher, crypto_hash } with its rule that a
// cipher needs a hash, and its shared authkey file (corosync-keygen's, or tools/ha-keygen's).
//
// With crypto_hash none nothing is authenticated: anyone who can reach the port can forge any
// header, so the replay check is only a filter for duplicated and stale datagrams of honest peers.
//
// FrameSealer and FrameOpener are not thread-safe: each is owned by one loop (the daemon's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "membershipd/wire_codec.h"

namespace ha::membership {

// totem.crypto_cipher. The values are the frame header's cipher byte.
enum class CryptoCipher : uint8_t {
  kNone = 0,    // no encryption
  kAes256 = 1,  // AES-256-CBC
  kAes192 = 2,  // AES-192-CBC
  kAes128 = 3,  // AES-128-CBC
};

// totem.crypto_hash. The values are the frame header's hash byte.
enum class CryptoHash : uint8_t {
  kNone = 0,  // no authentication
  kMd5 = 1,   // HMAC-MD5 (16-byte tag)
  kSha1 = 2,  // HMAC-SHA1 (20)
  kSha256 = 3,
  kSha384 = 4,
  kSha512 = 5,  // HMAC-SHA512 (64)
};

absl::StatusOr<CryptoCipher> ParseCryptoCipher(absl::string_view name);
absl::StatusOr<CryptoHash> ParseCryptoHash(absl::string_view name);
absl::string_view CryptoCipherName(CryptoCipher cipher);  // "none", "aes256", ...
absl::string_view CryptoHashName(CryptoHash hash);        // "none", "md5", "sha1", ...

struct CryptoConfig {
  CryptoCipher cipher = CryptoCipher::kNone;
  CryptoHash hash = CryptoHash::kNone;

  // True when frames are authenticated (and so a key is needed).
  bool authenticated() const { return hash != CryptoHash::kNone; }
};

// InvalidArgument for a cipher without a hash (corosync's rule).
absl::Status ValidateCryptoConfig(const CryptoConfig& crypto);
// From the strings of config::TotemConfig (crypto_cipher, crypto_hash): names and the rule above.
absl::StatusOr<CryptoConfig> MakeCryptoConfig(absl::string_view cipher, absl::string_view hash);

// Frame header: magic, version, cipher, hash, flags, sender, boot id, counter (big-endian).
inline constexpr uint32_t kFrameMagic = 0x48415457;  // "HATW"
inline constexpr uint8_t kFrameVersion = 1;
inline constexpr size_t kFrameHeaderSize = 28;
inline constexpr size_t kFrameIvSize = 16;  // AES block: the CBC IV, random per datagram

// The most bytes a frame with `crypto` adds to a body (header, IV, padding, MAC).
size_t MaxFrameOverhead(const CryptoConfig& crypto);

// Why FrameOpener dropped a datagram. Each has a counter (DropCounterName).
enum class DropReason {
  kTruncated,       // shorter than its header, IV, one cipher block or MAC
  kOversized,       // longer than max_datagram
  kBadMagic,        // not our frame
  kBadVersion,      // a frame version we do not speak
  kCryptoMismatch,  // the sender's cipher/hash differ from ours: a misconfigured node
  kUnknownSender,   // sender node id 0 or not in the configured node list
  kAuthFailed,      // the MAC does not verify: wrong key, corruption or forgery
  kMalformed,       // reserved flags set, ciphertext not whole blocks, bad padding after a good MAC
  kReplayed,        // from an older boot of the sender, or older than the replay window
  kDuplicate,       // a counter already accepted within the window (network duplicate, replay)
};
inline constexpr int kDropReasonCount = 10;

// "totem.rx_dropped_truncated", ..., "totem.rx_dropped_auth", ... (static strings).
absl::string_view DropCounterName(DropReason reason);

// The shared key. corosync-keygen writes 256 bytes; like corosync we accept 128..4096.
inline constexpr size_t kMinKeyBytes = 128;
inline constexpr size_t kMaxKeyBytes = 4096;
inline constexpr size_t kDefaultKeyBytes = 256;

struct KeyFile {
  std::string key;  // the raw bytes, used as they are
  uint32_t mode = 0;
  // Group or others have some access: worth a warning (corosync-keygen writes 0400), not an error
  // (corosync refuses nothing either).
  bool group_or_other_access = false;
};

// Reads a key file. NotFound/PermissionDenied/InvalidArgument name the file and the problem
// (missing, unreadable, not a regular file, shorter than 128 or longer than 4096 bytes).
absl::StatusOr<KeyFile> LoadKeyFile(const std::string& path);

namespace internal {
class FrameKeys;  // derived keys and OpenSSL contexts (frame_crypto.cc)
}

struct FrameSealerOptions {
  uint32_t node_id = 0;  // the local node, non-zero
  // This start of the sender, in microseconds since the epoch. REQUIRES: larger than the boot id
  // of any earlier start of this node, or peers drop its frames as replays until they restart
  // themselves; a wall clock stepped backwards breaks this, so the daemon should persist the last
  // boot id and use max(now, last + 1).
  uint64_t boot_id = 0;
  CryptoConfig crypto;
  // The shared key's bytes (KeyFile::key), 128..4096 of them, when crypto.authenticated();
  // ignored otherwise. Only keys derived from it are kept.
  absl::string_view key;
  size_t max_datagram = kMaxUdpDatagram;
};

class FrameSealer {
 public:
  static absl::StatusOr<FrameSealer> Create(const FrameSealerOptions& options);
  FrameSealer(FrameSealer&&) noexcept;
  FrameSealer& operator=(FrameSealer&&) noexcept;
  ~FrameSealer();

  // The datagram carrying `body`, with the next counter (the first frame has counter 1).
  // InvalidArgument when it would exceed max_datagram; Internal if OpenSSL fails.
  absl::StatusOr<std::string> Seal(absl::string_view body);

  uint32_t node_id() const { return node_id_; }
  uint64_t boot_id() const { return boot_id_; }
  uint64_t last_counter() const { return counter_; }

 private:
  FrameSealer(const FrameSealerOptions& options, std::unique_ptr<internal::FrameKeys> keys);

  uint32_t node_id_;
  uint64_t boot_id_;
  uint64_t counter_ = 0;
  CryptoConfig crypto_;
  size_t max_datagram_;
  std::unique_ptr<internal::FrameKeys> keys_;
};

struct FrameOpenerOptions {
  CryptoConfig crypto;
  absl::string_view key;  // as FrameSealerOptions::key
  // The configured node ids (the local one included): frames from any other sender are dropped.
  std::vector<uint32_t> nodes;
  // Counters below the highest accepted one that are still accepted once (reordering), per
  // sender. REQUIRES: a multiple of 64, at least 64.
  size_t replay_window = 1024;
  size_t max_datagram = kMaxUdpDatagram;
};

// An accepted frame.
struct OpenedFrame {
  uint32_t sender = 0;  // authenticated when the hash is not none
  uint64_t boot_id = 0;
  uint64_t counter = 0;
  std::string body;  // the encoded packet, for DecodePacket
};

// A dropped datagram is a result, not an error: the daemon counts it by reason.
struct OpenResult {
  std::optional<OpenedFrame> frame;            // set when accepted
  DropReason reason = DropReason::kMalformed;  // why not, when frame is empty
  std::string detail;                          // a short text for a debug log, when dropped

  bool ok() const { return frame.has_value(); }
};

class FrameOpener {
 public:
  static absl::StatusOr<FrameOpener> Create(const FrameOpenerOptions& options);
  FrameOpener(FrameOpener&&) noexcept;
  FrameOpener& operator=(FrameOpener&&) noexcept;
  ~FrameOpener();

  // Checks, in this order: size, magic, version, flags, cipher/hash, sender, MAC, decryption,
  // replay. The replay state changes only for an accepted frame, so a forged frame (when a hash is
  // set) cannot disturb it. Per sender it keeps the newest boot id and a window of counters: an
  // older boot id is kReplayed; a newer one starts the window afresh (the sender restarted);
  // within a boot a counter is accepted once, and only if it is above (highest - window).
  OpenResult Open(absl::string_view datagram);

  // A configuration reload: senders that stay keep their replay state, removed ones lose it.
  void SetNodes(const std::vector<uint32_t>& nodes);

  // The newest boot id accepted from `node`, if any (for logs and tests).
  std::optional<uint64_t> BootIdOf(uint32_t node) const;

 private:
  struct SenderState {
    bool seen = false;
    uint64_t boot_id = 0;
    uint64_t highest = 0;          // the highest counter accepted in this boot
    std::vector<uint64_t> window;  // bit (c % window size) set: counter c was accepted
  };

  FrameOpener(const FrameOpenerOptions& options, std::unique_ptr<internal::FrameKeys> keys);
  // nullopt if (boot_id, counter) may be accepted from `state`, else the drop.
  std::optional<OpenResult> CheckReplay(const SenderState& state,
                                        uint64_t boot_id,
                                        uint64_t counter) const;
  void Accept(SenderState& state, uint64_t boot_id, uint64_t counter) const;

  CryptoConfig crypto_;
  size_t replay_window_;
  size_t max_datagram_;
  std::unique_ptr<internal::FrameKeys> keys_;
  absl::flat_hash_map<uint32_t, SenderState> senders_;  // one per configured node
};

}  // namespace ha::membership
