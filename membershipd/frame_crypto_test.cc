#include "membershipd/frame_crypto.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/seeded_runs.h"

namespace ha::membership {
namespace {

std::string TestKey(char seed = 'k') {
  std::string key(kDefaultKeyBytes, '\0');
  for (size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<char>(seed + i * 7);
  }
  return key;
}

struct Pair {
  FrameSealer sealer;
  FrameOpener opener;
};

Pair MakePair(CryptoConfig crypto,
              uint32_t node = 2,
              uint64_t boot = 1000,
              const std::string& key = TestKey()) {
  absl::StatusOr<FrameSealer> sealer =
      FrameSealer::Create({.node_id = node, .boot_id = boot, .crypto = crypto, .key = key});
  REQUIRE(sealer.ok());
  absl::StatusOr<FrameOpener> opener =
      FrameOpener::Create({.crypto = crypto, .key = key, .nodes = {1, 2, 3}});
  REQUIRE(opener.ok());
  return Pair{std::move(*sealer), std::move(*opener)};
}

FrameSealer Sealer(CryptoConfig crypto, uint32_t node, uint64_t boot) {
  const std::string key = TestKey();
  absl::StatusOr<FrameSealer> sealer =
      FrameSealer::Create({.node_id = node, .boot_id = boot, .crypto = crypto, .key = key});
  REQUIRE(sealer.ok());
  return std::move(*sealer);
}

std::vector<CryptoConfig> ValidConfigs() {
  std::vector<CryptoConfig> out;
  for (CryptoCipher c :
       {CryptoCipher::kNone, CryptoCipher::kAes256, CryptoCipher::kAes192, CryptoCipher::kAes128}) {
    for (CryptoHash h : {CryptoHash::kNone,
                         CryptoHash::kMd5,
                         CryptoHash::kSha1,
                         CryptoHash::kSha256,
                         CryptoHash::kSha384,
                         CryptoHash::kSha512}) {
      if (c != CryptoCipher::kNone && h == CryptoHash::kNone) {
        continue;
      }
      out.push_back({c, h});
    }
  }
  return out;
}

std::string Name(const CryptoConfig& c) {
  return absl::StrCat(CryptoCipherName(c.cipher), "/", CryptoHashName(c.hash));
}

DropReason Reason(const OpenResult& r) {
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(r.detail.empty());
  return r.reason;
}

constexpr CryptoConfig kNoCrypto{};
constexpr CryptoConfig kSha256{CryptoCipher::kNone, CryptoHash::kSha256};
constexpr CryptoConfig kAesSha256{CryptoCipher::kAes256, CryptoHash::kSha256};

TEST_CASE("crypto names and corosync's cipher-needs-hash rule", "[frame]") {
  CHECK(*ParseCryptoCipher("aes192") == CryptoCipher::kAes192);
  CHECK(*ParseCryptoHash("sha384") == CryptoHash::kSha384);
  CHECK_FALSE(ParseCryptoCipher("3des").ok());
  CHECK_FALSE(ParseCryptoHash("sha2").ok());
  for (const CryptoConfig& c : ValidConfigs()) {
    absl::StatusOr<CryptoConfig> made =
        MakeCryptoConfig(CryptoCipherName(c.cipher), CryptoHashName(c.hash));
    REQUIRE(made.ok());
    CHECK(made->cipher == c.cipher);
    CHECK(made->hash == c.hash);
  }
  absl::StatusOr<CryptoConfig> bad = MakeCryptoConfig("aes256", "none");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "crypto_cipher 'aes256' needs a crypto_hash other than none");
  const std::string key = TestKey();
  CHECK_FALSE(FrameSealer::Create(
                  {.node_id = 1, .crypto = {CryptoCipher::kAes128, CryptoHash::kNone}, .key = key})
                  .ok());
  CHECK_FALSE(FrameOpener::Create(
                  {.crypto = {CryptoCipher::kAes128, CryptoHash::kNone}, .key = key, .nodes = {1}})
                  .ok());
}

TEST_CASE("sealer and opener options are checked", "[frame]") {
  const std::string key = TestKey();
  CHECK_FALSE(FrameSealer::Create({.node_id = 0, .crypto = kNoCrypto}).ok());
  // Crypto on needs a key of 128..4096 bytes; crypto off ignores it.
  CHECK_FALSE(
      FrameSealer::Create({.node_id = 1, .crypto = kSha256, .key = key.substr(0, 127)}).ok());
  CHECK(FrameSealer::Create({.node_id = 1, .crypto = kSha256, .key = key.substr(0, 128)}).ok());
  CHECK(FrameSealer::Create({.node_id = 1, .crypto = kNoCrypto}).ok());
  CHECK_FALSE(FrameOpener::Create({.crypto = kSha256, .key = "", .nodes = {1}}).ok());
  CHECK_FALSE(FrameOpener::Create({.crypto = kNoCrypto, .nodes = {1}, .replay_window = 100}).ok());
  CHECK(FrameOpener::Create({.crypto = kNoCrypto, .nodes = {1}, .replay_window = 64}).ok());
}

TEST_CASE("every cipher and hash combination round-trips", "[frame]") {
  const std::vector<std::string> bodies = {"",
                                           "x",
                                           std::string(15, 'a'),
                                           std::string(16, 'b'),
                                           std::string(1000, 'c'),
                                           std::string(60000, 'd')};
  for (const CryptoConfig& crypto : ValidConfigs()) {
    INFO(Name(crypto));
    Pair p = MakePair(crypto);
    for (const std::string& body : bodies) {
      absl::StatusOr<std::string> datagram = p.sealer.Seal(body);
      REQUIRE(datagram.ok());
      CHECK(datagram->size() <= body.size() + MaxFrameOverhead(crypto));
      CHECK(MaxFrameOverhead(crypto) <= kMaxFrameOverhead);
      if (crypto.cipher != CryptoCipher::kNone && body.size() >= 16) {
        CHECK(datagram->find(body.substr(0, 16)) == std::string::npos);
      }
      OpenResult r = p.opener.Open(*datagram);
      REQUIRE(r.ok());
      CHECK(r.frame->body == body);
      CHECK(r.frame->sender == 2);
      CHECK(r.frame->boot_id == 1000);
      CHECK(r.frame->counter == p.sealer.last_counter());
    }
    CHECK(p.sealer.last_counter() == bodies.size());
  }
}

TEST_CASE("the same body encrypts differently every time (random IV)", "[frame]") {
  Pair p = MakePair(kAesSha256);
  FrameSealer again = Sealer(kAesSha256, 2, 1000);
  std::string a = *p.sealer.Seal("same body");
  std::string b = *again.Seal("same body");
  REQUIRE(a.size() == b.size());
  CHECK(a.substr(0, kFrameHeaderSize) == b.substr(0, kFrameHeaderSize));
  CHECK(a.substr(kFrameHeaderSize) != b.substr(kFrameHeaderSize));
}

TEST_CASE("the header layout is the documented one", "[frame]") {
  FrameSealer sealer = Sealer(kSha256, 0x01020304, 0x1112131415161718);
  std::string d = *sealer.Seal("body");
  REQUIRE(d.size() == kFrameHeaderSize + 4 + 32);
  CHECK(d.substr(0, 4) == "HATW");
  CHECK(d[4] == 1);  // version
  CHECK(d[5] == 0);  // cipher none
  CHECK(d[6] == 3);  // hash sha256
  CHECK(d[7] == 0);  // flags
  CHECK(d.substr(8, 4) == "\x01\x02\x03\x04");
  CHECK(d.substr(12, 8) == "\x11\x12\x13\x14\x15\x16\x17\x18");
  CHECK(d.substr(20, 8) == std::string("\0\0\0\0\0\0\0\x01", 8));
  CHECK(d.substr(28, 4) == "body");
}

TEST_CASE("each drop reason", "[frame]") {
  Pair p = MakePair(kAesSha256);
  const std::string good = *p.sealer.Seal("payload");

  SECTION("truncated") {
    CHECK(Reason(p.opener.Open("")) == DropReason::kTruncated);
    CHECK(Reason(p.opener.Open(good.substr(0, kFrameHeaderSize - 1))) == DropReason::kTruncated);
    // A whole header, but no room for IV, one block and the MAC.
    CHECK(Reason(p.opener.Open(good.substr(0, kFrameHeaderSize + 16 + 16 + 31))) ==
          DropReason::kTruncated);
  }
  SECTION("oversized") {
    CHECK(Reason(p.opener.Open(good + std::string(kMaxUdpDatagram, '\0'))) ==
          DropReason::kOversized);
    absl::StatusOr<std::string> big = p.sealer.Seal(std::string(kMaxUdpDatagram, 'x'));
    CHECK(big.status().code() == absl::StatusCode::kInvalidArgument);
  }
  SECTION("bad magic") {
    std::string d = good;
    d[0] = 'X';
    CHECK(Reason(p.opener.Open(d)) == DropReason::kBadMagic);
    CHECK(Reason(p.opener.Open(std::string(100, '\0'))) == DropReason::kBadMagic);
  }
  SECTION("bad version") {
    std::string d = good;
    d[4] = 2;
    CHECK(Reason(p.opener.Open(d)) == DropReason::kBadVersion);
  }
  SECTION("flags are reserved") {
    std::string d = good;
    d[7] = 1;
    CHECK(Reason(p.opener.Open(d)) == DropReason::kMalformed);
  }
  SECTION("crypto mismatch") {
    FrameSealer other = Sealer({CryptoCipher::kAes128, CryptoHash::kSha256}, 2, 1000);
    OpenResult r = p.opener.Open(*other.Seal("payload"));
    CHECK(Reason(r) == DropReason::kCryptoMismatch);
    CHECK(r.detail == "sender uses cipher aes128 hash sha256");
    std::string d = good;
    d[6] = 9;
    CHECK(Reason(p.opener.Open(d)) == DropReason::kCryptoMismatch);
  }
  SECTION("unknown sender") {
    FrameSealer stranger = Sealer(kAesSha256, 9, 1000);
    CHECK(Reason(p.opener.Open(*stranger.Seal("payload"))) == DropReason::kUnknownSender);
    std::string d = good;
    d[8] = d[9] = d[10] = d[11] = 0;
    CHECK(Reason(p.opener.Open(d)) == DropReason::kUnknownSender);
  }
  SECTION("auth failed: another key") {
    const std::string other_key = TestKey('z');
    absl::StatusOr<FrameSealer> forger = FrameSealer::Create(
        {.node_id = 2, .boot_id = 1000, .crypto = kAesSha256, .key = other_key});
    REQUIRE(forger.ok());
    CHECK(Reason(p.opener.Open(*forger->Seal("payload"))) == DropReason::kAuthFailed);
  }
  SECTION("ciphertext not in whole blocks") {
    std::string d = *p.sealer.Seal(std::string(40, 'x'));
    d.erase(kFrameHeaderSize + kFrameIvSize, 1);
    CHECK(Reason(p.opener.Open(d)) == DropReason::kMalformed);
  }
  SECTION("replayed and duplicate") {
    REQUIRE(p.opener.Open(good).ok());
    CHECK(Reason(p.opener.Open(good)) == DropReason::kDuplicate);
    FrameSealer old_boot = Sealer(kAesSha256, 2, 999);
    CHECK(Reason(p.opener.Open(*old_boot.Seal("payload"))) == DropReason::kReplayed);
  }
  // Whatever was dropped, the genuine datagram is still accepted once.
  OpenResult r = p.opener.Open(good);
  if (r.ok()) {
    CHECK(r.frame->body == "payload");
  } else {
    CHECK(r.reason == DropReason::kDuplicate);
  }
}

TEST_CASE("drop counters have distinct names", "[frame]") {
  std::set<std::string> names;
  for (int i = 0; i < kDropReasonCount; ++i) {
    names.insert(std::string(DropCounterName(static_cast<DropReason>(i))));
  }
  CHECK(names.size() == kDropReasonCount);
  CHECK(DropCounterName(DropReason::kAuthFailed) == "totem.rx_dropped_auth");
  CHECK(DropCounterName(DropReason::kReplayed) == "totem.rx_dropped_replayed");
}

TEST_CASE("changing any single byte of an authenticated datagram is refused", "[frame]") {
  for (const CryptoConfig& crypto : ValidConfigs()) {
    if (!crypto.authenticated()) {
      continue;
    }
    INFO(Name(crypto));
    Pair p = MakePair(crypto);
    const std::string good = *p.sealer.Seal("a body of some thirty-five bytes..");
    for (size_t i = 0; i < good.size(); ++i) {
      for (uint8_t flip : {0x01, 0x80, 0xff}) {
        std::string bad = good;
        bad[i] = static_cast<char>(bad[i] ^ flip);
        INFO("byte " << i << " xor " << int{flip});
        OpenResult r = p.opener.Open(bad);
        CHECK_FALSE(r.ok());
      }
    }
    // Nothing rejected disturbed the replay state.
    CHECK(p.opener.Open(good).ok());
  }
}

TEST_CASE("without a hash, a changed body goes through (nothing is authenticated)", "[frame]") {
  Pair p = MakePair(kNoCrypto);
  std::string d = *p.sealer.Seal("body");
  d.back() = 'Y';
  OpenResult r = p.opener.Open(d);
  REQUIRE(r.ok());
  CHECK(r.frame->body == "bodY");
}

TEST_CASE("a forged frame cannot disturb the replay state", "[frame]") {
  Pair p = MakePair(kSha256);
  REQUIRE(p.opener.Open(*p.sealer.Seal("one")).ok());
  // A frame claiming a much newer boot and counter, without the key.
  FrameSealer forged = Sealer(kNoCrypto, 2, ~uint64_t{0});
  std::string d = *forged.Seal(std::string(40, 'f'));
  d[6] = static_cast<char>(CryptoHash::kSha256);
  CHECK(Reason(p.opener.Open(d)) == DropReason::kAuthFailed);
  CHECK(p.opener.BootIdOf(2) == 1000u);
  CHECK(p.opener.Open(*p.sealer.Seal("two")).ok());
}

TEST_CASE("the replay window", "[frame]") {
  const CryptoConfig crypto = GENERATE(kNoCrypto, kAesSha256);
  INFO(Name(crypto));
  {
    Pair p = MakePair(crypto);
    std::vector<std::string> sent;
    for (int i = 0; i < 3000; ++i) {
      sent.push_back(*p.sealer.Seal(absl::StrCat("m", i)));
    }
    // sent[i] has counter i + 1.
    CHECK(p.opener.Open(sent[9]).ok());
    SECTION("a duplicate is dropped") {
      CHECK(Reason(p.opener.Open(sent[9])) == DropReason::kDuplicate);
    }
    SECTION("reordering within the window is accepted once") {
      CHECK(p.opener.Open(sent[1100]).ok());  // highest 1101
      CHECK(p.opener.Open(sent[100]).ok());   // 1001 behind
      CHECK(p.opener.Open(sent[77]).ok());    // counter 78: 1023 behind, the window's last
      CHECK(Reason(p.opener.Open(sent[100])) == DropReason::kDuplicate);
      CHECK(Reason(p.opener.Open(sent[76])) == DropReason::kReplayed);  // 1024 behind
      CHECK(Reason(p.opener.Open(sent[9])) == DropReason::kReplayed);
      CHECK(p.opener.Open(sent[1099]).ok());
      CHECK(p.opener.Open(sent[1101]).ok());
    }
    SECTION("a jump beyond the window forgets everything below it") {
      CHECK(p.opener.Open(sent[2999]).ok());
      CHECK(Reason(p.opener.Open(sent[10])) == DropReason::kReplayed);
      CHECK(p.opener.Open(sent[1990]).ok());  // counter 1991: 1009 behind
      CHECK(Reason(p.opener.Open(sent[1990])) == DropReason::kDuplicate);
    }
    SECTION("a restarted sender (newer boot id) is accepted, an older boot is not") {
      FrameSealer restarted = Sealer(crypto, 2, 2000);
      const std::string first = *restarted.Seal("after restart");
      CHECK(p.opener.Open(first).ok());
      CHECK(p.opener.BootIdOf(2) == 2000u);
      CHECK(Reason(p.opener.Open(first)) == DropReason::kDuplicate);
      CHECK(Reason(p.opener.Open(sent[2000])) == DropReason::kReplayed);
      CHECK(p.opener.Open(*restarted.Seal("next")).ok());
    }
    SECTION("senders have separate windows") {
      FrameSealer three = Sealer(crypto, 3, 5);
      CHECK(p.opener.Open(*three.Seal("x")).ok());
      CHECK(p.opener.Open(sent[10]).ok());
    }
  }
}

TEST_CASE("the replay window agrees with a model over random orders", "[frame]") {
  ha::testing::RunSeeds("HA_FRAME_SEED", 20, [](uint32_t seed) -> std::string {
    std::mt19937 rng(seed);
    const std::string key = TestKey();
    FrameOpener opener =
        *FrameOpener::Create({.crypto = kSha256, .key = key, .nodes = {2}, .replay_window = 128});
    // Two boots of node 2; datagrams are delivered in a shuffled order with duplicates.
    std::vector<std::pair<uint64_t, std::string>> pool;  // (boot, datagram)
    for (uint64_t boot : {10, 20}) {
      FrameSealer s = Sealer(kSha256, 2, boot);
      for (int i = 0; i < 400; ++i) {
        pool.emplace_back(boot, *s.Seal("m"));
      }
    }
    std::uniform_int_distribution<size_t> pick(0, pool.size() - 1);
    uint64_t boot = 0;
    uint64_t highest = 0;
    std::set<uint64_t> accepted;
    for (int step = 0; step < 3000; ++step) {
      const size_t index = pick(rng);
      const auto& [b, datagram] = pool[index];
      const uint64_t counter = index % 400 + 1;
      bool expect;
      if (accepted.empty() || b > boot) {
        expect = true;
      } else if (b < boot) {
        expect = false;
      } else {
        expect = !accepted.count(counter) && (counter > highest || highest - counter < 128);
      }
      const bool got = opener.Open(datagram).ok();
      if (got != expect) {
        return absl::StrCat(
            "step ", step, " boot ", b, " counter ", counter, ": expected ", expect, " got ", got);
      }
      if (got) {
        if (accepted.empty() || b > boot) {
          accepted.clear();
          boot = b;
          highest = 0;
        }
        accepted.insert(counter);
        highest = std::max(highest, counter);
      }
    }
    return "";
  });
}

TEST_CASE("a configuration reload keeps the replay state of staying nodes", "[frame]") {
  Pair p = MakePair(kSha256);
  const std::string d = *p.sealer.Seal("x");
  REQUIRE(p.opener.Open(d).ok());
  p.opener.SetNodes({2, 4});
  CHECK(Reason(p.opener.Open(d)) == DropReason::kDuplicate);
  FrameSealer one = Sealer(kSha256, 1, 5);
  CHECK(Reason(p.opener.Open(*one.Seal("x"))) == DropReason::kUnknownSender);
  p.opener.SetNodes({1});
  CHECK(p.opener.Open(*one.Seal("x")).ok());
  CHECK_FALSE(p.opener.BootIdOf(2).has_value());
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "frame_crypto_XXXXXX").string();
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& bytes, mode_t mode) const {
    const std::string file = (path_ / name).string();
    std::ofstream(file, std::ios::binary) << bytes;
    REQUIRE(chmod(file.c_str(), mode) == 0);
    return file;
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST_CASE("key files", "[frame]") {
  TempDir dir;
  SECTION("a good key") {
    const std::string file = dir.Write("authkey", TestKey(), 0400);
    absl::StatusOr<KeyFile> key = LoadKeyFile(file);
    REQUIRE(key.ok());
    CHECK(key->key == TestKey());
    CHECK(key->mode == 0400);
    CHECK_FALSE(key->group_or_other_access);
  }
  SECTION("the size bounds") {
    CHECK(LoadKeyFile(dir.Write("min", std::string(kMinKeyBytes, 'a'), 0600)).ok());
    CHECK(LoadKeyFile(dir.Write("max", std::string(kMaxKeyBytes, 'a'), 0600)).ok());
    const std::string short_file = dir.Write("short", std::string(kMinKeyBytes - 1, 'a'), 0600);
    absl::StatusOr<KeyFile> key = LoadKeyFile(short_file);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().message() ==
          absl::StrCat("key file ", short_file, ": 127 bytes, a key must have 128 to 4096"));
    const std::string long_file = dir.Write("long", std::string(kMaxKeyBytes + 1, 'a'), 0600);
    key = LoadKeyFile(long_file);
    REQUIRE_FALSE(key.ok());
    CHECK(key.status().message() == absl::StrCat("key file ",
                                                 long_file,
                                                 ": more than 4096 bytes, a key must have 128 to "
                                                 "4096"));
    CHECK_FALSE(LoadKeyFile(dir.Write("empty", "", 0600)).ok());
  }
  SECTION("missing, a folder") {
    const std::string missing = (dir.path() / "missing").string();
    absl::StatusOr<KeyFile> key = LoadKeyFile(missing);
    CHECK(key.status().code() == absl::StatusCode::kNotFound);
    CHECK(key.status().message() ==
          absl::StrCat("key file ", missing, ": No such file or directory"));
    key = LoadKeyFile(dir.path().string());
    CHECK(key.status().message() ==
          absl::StrCat("key file ", dir.path().string(), ": not a regular file"));
  }
  SECTION("group or others have access: a warning flag") {
    absl::StatusOr<KeyFile> key = LoadKeyFile(dir.Write("loose", TestKey(), 0644));
    REQUIRE(key.ok());
    CHECK(key->group_or_other_access);
    CHECK(key->mode == 0644);
  }
  SECTION("unreadable") {
    if (geteuid() == 0) {
      SUCCEED("root reads a 0000 file");
    } else {
      CHECK(LoadKeyFile(dir.Write("locked", TestKey(), 0000)).status().code() ==
            absl::StatusCode::kPermissionDenied);
    }
  }
}

TEST_CASE("a key from the file works for a sealer and an opener", "[frame]") {
  TempDir dir;
  absl::StatusOr<KeyFile> key = LoadKeyFile(dir.Write("authkey", TestKey('q'), 0400));
  REQUIRE(key.ok());
  Pair p = MakePair(kAesSha256, 1, 7, key->key);
  OpenResult r = p.opener.Open(*p.sealer.Seal("hello"));
  REQUIRE(r.ok());
  CHECK(r.frame->body == "hello");
}

}  // namespace
}  // namespace ha::membership
