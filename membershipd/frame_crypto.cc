#include "membershipd/frame_crypto.h"

#include <fcntl.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ha::membership {
namespace {

// The HKDF that turns the shared key into the cipher and MAC keys (docs/formats/totem-wire.md).
constexpr absl::string_view kKdfDigest = "SHA256";
constexpr absl::string_view kKdfSalt = "ha-totem-wire-v1";
constexpr size_t kBlockSize = 16;
constexpr size_t kMaxMacSize = 64;

static_assert(kFrameHeaderSize + kFrameIvSize + kBlockSize + kMaxMacSize <= kMaxFrameOverhead,
              "wire_codec.h's kMaxFrameOverhead must cover the largest frame overhead");

struct CipherInfo {
  CryptoCipher cipher;
  absl::string_view name;
  const char* openssl_name;
  size_t key_size;
};
constexpr std::array<CipherInfo, 4> kCiphers = {{
    {CryptoCipher::kNone, "none", nullptr, 0},
    {CryptoCipher::kAes256, "aes256", "AES-256-CBC", 32},
    {CryptoCipher::kAes192, "aes192", "AES-192-CBC", 24},
    {CryptoCipher::kAes128, "aes128", "AES-128-CBC", 16},
}};

struct HashInfo {
  CryptoHash hash;
  absl::string_view name;
  const char* openssl_name;
  size_t mac_size;  // also the MAC key's size
};
constexpr std::array<HashInfo, 6> kHashes = {{
    {CryptoHash::kNone, "none", nullptr, 0},
    {CryptoHash::kMd5, "md5", "MD5", 16},
    {CryptoHash::kSha1, "sha1", "SHA1", 20},
    {CryptoHash::kSha256, "sha256", "SHA256", 32},
    {CryptoHash::kSha384, "sha384", "SHA384", 48},
    {CryptoHash::kSha512, "sha512", "SHA512", 64},
}};

const CipherInfo& InfoOf(CryptoCipher cipher) {
  for (const CipherInfo& c : kCiphers) {
    if (c.cipher == cipher) {
      return c;
    }
  }
  return kCiphers[0];
}

const HashInfo& InfoOf(CryptoHash hash) {
  for (const HashInfo& h : kHashes) {
    if (h.hash == hash) {
      return h;
    }
  }
  return kHashes[0];
}

bool KnownCipherByte(uint8_t b) {
  return b < kCiphers.size();
}
bool KnownHashByte(uint8_t b) {
  return b < kHashes.size();
}

void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 3; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(v);
    v >>= 8;
  }
}
uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}
uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v = (v << 8) | p[i];
  }
  return v;
}

// Header offsets.
constexpr size_t kOffMagic = 0;
constexpr size_t kOffVersion = 4;
constexpr size_t kOffCipher = 5;
constexpr size_t kOffHash = 6;
constexpr size_t kOffFlags = 7;
constexpr size_t kOffSender = 8;
constexpr size_t kOffBootId = 12;
constexpr size_t kOffCounter = 20;
static_assert(kOffCounter + 8 == kFrameHeaderSize);

struct CipherDeleter {
  void operator()(EVP_CIPHER* c) const { EVP_CIPHER_free(c); }
};
struct CipherCtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
struct MacDeleter {
  void operator()(EVP_MAC* m) const { EVP_MAC_free(m); }
};
struct MacCtxDeleter {
  void operator()(EVP_MAC_CTX* c) const { EVP_MAC_CTX_free(c); }
};
struct KdfDeleter {
  void operator()(EVP_KDF* k) const { EVP_KDF_free(k); }
};
struct KdfCtxDeleter {
  void operator()(EVP_KDF_CTX* c) const { EVP_KDF_CTX_free(c); }
};

// A buffer of key material, wiped when it goes.
class SecretBuffer {
 public:
  explicit SecretBuffer(size_t size) : bytes_(size) {}
  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  ~SecretBuffer() {
    if (!bytes_.empty()) {
      OPENSSL_cleanse(bytes_.data(), bytes_.size());
    }
  }
  uint8_t* data() { return bytes_.data(); }
  const uint8_t* data() const { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }

 private:
  std::vector<uint8_t> bytes_;
};

absl::Status Hkdf(absl::string_view key, absl::string_view info, SecretBuffer& out) {
  std::unique_ptr<EVP_KDF, KdfDeleter> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  if (kdf == nullptr) {
    return absl::InternalError("OpenSSL has no HKDF");
  }
  std::unique_ptr<EVP_KDF_CTX, KdfCtxDeleter> ctx(EVP_KDF_CTX_new(kdf.get()));
  if (ctx == nullptr) {
    return absl::InternalError("EVP_KDF_CTX_new failed");
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(
          OSSL_KDF_PARAM_DIGEST, const_cast<char*>(kKdfDigest.data()), kKdfDigest.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_KEY, const_cast<char*>(key.data()), key.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_SALT, const_cast<char*>(kKdfSalt.data()), kKdfSalt.size()),
      OSSL_PARAM_construct_octet_string(
          OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1) {
    return absl::InternalError("HKDF derivation failed");
  }
  return absl::OkStatus();
}

OpenResult Drop(DropReason reason, std::string detail) {
  OpenResult r;
  r.reason = reason;
  r.detail = std::move(detail);
  return r;
}

}  // namespace

namespace internal {

// The keys derived from the shared key and the OpenSSL objects that use them.
class FrameKeys {
 public:
  static absl::StatusOr<std::unique_ptr<FrameKeys>> Derive(const CryptoConfig& crypto,
                                                           absl::string_view key) {
    HA_RETURN_IF_ERROR(ValidateCryptoConfig(crypto));
    auto keys = std::unique_ptr<FrameKeys>(new FrameKeys(crypto));
    if (!crypto.authenticated()) {
      return keys;
    }
    if (key.size() < kMinKeyBytes || key.size() > kMaxKeyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "crypto key of ", key.size(), " bytes: needs ", kMinKeyBytes, "..", kMaxKeyBytes));
    }
    const HashInfo& hash = InfoOf(crypto.hash);
    const CipherInfo& cipher = InfoOf(crypto.cipher);
    {
      SecretBuffer mac_key(hash.mac_size);
      HA_RETURN_IF_ERROR(Hkdf(key, absl::StrCat(kKdfSalt, " hmac ", hash.name), mac_key));
      std::unique_ptr<EVP_MAC, MacDeleter> mac(EVP_MAC_fetch(nullptr, "HMAC", nullptr));
      if (mac == nullptr) {
        return absl::InternalError("OpenSSL has no HMAC");
      }
      keys->mac_.reset(EVP_MAC_CTX_new(mac.get()));
      if (keys->mac_ == nullptr) {
        return absl::InternalError("EVP_MAC_CTX_new failed");
      }
      OSSL_PARAM params[] = {
          OSSL_PARAM_construct_utf8_string(
              OSSL_MAC_PARAM_DIGEST, const_cast<char*>(hash.openssl_name), 0),
          OSSL_PARAM_construct_end(),
      };
      if (EVP_MAC_init(keys->mac_.get(), mac_key.data(), mac_key.size(), params) != 1) {
        return absl::InternalError(absl::StrCat("HMAC-", hash.name, " unavailable"));
      }
    }
    if (crypto.cipher != CryptoCipher::kNone) {
      keys->cipher_.reset(EVP_CIPHER_fetch(nullptr, cipher.openssl_name, nullptr));
      if (keys->cipher_ == nullptr) {
        return absl::InternalError(absl::StrCat("OpenSSL has no ", cipher.openssl_name));
      }
      keys->cipher_key_ = std::make_unique<SecretBuffer>(cipher.key_size);
      HA_RETURN_IF_ERROR(
          Hkdf(key, absl::StrCat(kKdfSalt, " cipher ", cipher.name), *keys->cipher_key_));
    }
    return keys;
  }

  size_t mac_size() const { return InfoOf(crypto_.hash).mac_size; }
  bool encrypts() const { return crypto_.cipher != CryptoCipher::kNone; }

  // Appends the MAC of `data` to `out`.
  bool AppendMac(absl::string_view data, std::string& out) const {
    uint8_t tag[kMaxMacSize];
    if (!Mac(data, tag)) {
      return false;
    }
    out.append(reinterpret_cast<const char*>(tag), mac_size());
    return true;
  }

  bool VerifyMac(absl::string_view data, absl::string_view tag) const {
    uint8_t expected[kMaxMacSize];
    if (tag.size() != mac_size() || !Mac(data, expected)) {
      return false;
    }
    return CRYPTO_memcmp(expected, tag.data(), tag.size()) == 0;
  }

  // Appends a random IV and the AES-CBC (PKCS#7 padded) encryption of `plain` to `out`.
  bool AppendEncrypted(absl::string_view plain, std::string& out) const {
    uint8_t iv[kFrameIvSize];
    if (RAND_bytes(iv, sizeof(iv)) != 1) {
      return false;
    }
    out.append(reinterpret_cast<const char*>(iv), sizeof(iv));
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
    if (ctx == nullptr ||
        EVP_EncryptInit_ex2(ctx.get(), cipher_.get(), cipher_key_->data(), iv, nullptr) != 1) {
      return false;
    }
    const size_t start = out.size();
    out.resize(start + (plain.size() / kBlockSize + 1) * kBlockSize);
    auto* dst = reinterpret_cast<unsigned char*>(out.data() + start);
    int n = 0;
    int final_n = 0;
    if (EVP_EncryptUpdate(ctx.get(),
                          dst,
                          &n,
                          reinterpret_cast<const unsigned char*>(plain.data()),
                          static_cast<int>(plain.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx.get(), dst + n, &final_n) != 1) {
      return false;
    }
    out.resize(start + static_cast<size_t>(n + final_n));
    return true;
  }

  // The plaintext of IV || ciphertext, or nullopt (bad padding).
  std::optional<std::string> Decrypt(absl::string_view iv_and_ciphertext) const {
    const auto* iv = reinterpret_cast<const unsigned char*>(iv_and_ciphertext.data());
    absl::string_view ct = iv_and_ciphertext.substr(kFrameIvSize);
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxDeleter> ctx(EVP_CIPHER_CTX_new());
    if (ctx == nullptr ||
        EVP_DecryptInit_ex2(ctx.get(), cipher_.get(), cipher_key_->data(), iv, nullptr) != 1) {
      return std::nullopt;
    }
    std::string plain(ct.size() + kBlockSize, '\0');
    auto* dst = reinterpret_cast<unsigned char*>(plain.data());
    int n = 0;
    int final_n = 0;
    if (EVP_DecryptUpdate(ctx.get(),
                          dst,
                          &n,
                          reinterpret_cast<const unsigned char*>(ct.data()),
                          static_cast<int>(ct.size())) != 1 ||
        EVP_DecryptFinal_ex(ctx.get(), dst + n, &final_n) != 1) {
      return std::nullopt;
    }
    plain.resize(static_cast<size_t>(n + final_n));
    return plain;
  }

 private:
  explicit FrameKeys(const CryptoConfig& crypto) : crypto_(crypto) {}

  bool Mac(absl::string_view data, uint8_t* out) const {
    std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> ctx(EVP_MAC_CTX_dup(mac_.get()));
    size_t len = 0;
    return ctx != nullptr &&
           EVP_MAC_update(
               ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1 &&
           EVP_MAC_final(ctx.get(), out, &len, kMaxMacSize) == 1 && len == mac_size();
  }

  CryptoConfig crypto_;
  std::unique_ptr<EVP_MAC_CTX, MacCtxDeleter> mac_;  // initialized with the MAC key
  std::unique_ptr<EVP_CIPHER, CipherDeleter> cipher_;
  std::unique_ptr<SecretBuffer> cipher_key_;
};

}  // namespace internal

absl::StatusOr<CryptoCipher> ParseCryptoCipher(absl::string_view name) {
  for (const CipherInfo& c : kCiphers) {
    if (c.name == name) {
      return c.cipher;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown crypto_cipher '", name, "': expected one of none, aes256, aes192, aes128"));
}

absl::StatusOr<CryptoHash> ParseCryptoHash(absl::string_view name) {
  for (const HashInfo& h : kHashes) {
    if (h.name == name) {
      return h.hash;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown crypto_hash '", name, "': expected one of none, md5, sha1, sha256, sha384, sha512"));
}

absl::string_view CryptoCipherName(CryptoCipher cipher) {
  return InfoOf(cipher).name;
}

absl::string_view CryptoHashName(CryptoHash hash) {
  return InfoOf(hash).name;
}

absl::Status ValidateCryptoConfig(const CryptoConfig& crypto) {
  if (crypto.cipher != CryptoCipher::kNone && crypto.hash == CryptoHash::kNone) {
    return absl::InvalidArgumentError(absl::StrCat("crypto_cipher '",
                                                   CryptoCipherName(crypto.cipher),
                                                   "' needs a crypto_hash other than none"));
  }
  return absl::OkStatus();
}

absl::StatusOr<CryptoConfig> MakeCryptoConfig(absl::string_view cipher, absl::string_view hash) {
  CryptoConfig crypto;
  HA_ASSIGN_OR_RETURN(crypto.cipher, ParseCryptoCipher(cipher));
  HA_ASSIGN_OR_RETURN(crypto.hash, ParseCryptoHash(hash));
  HA_RETURN_IF_ERROR(ValidateCryptoConfig(crypto));
  return crypto;
}

size_t MaxFrameOverhead(const CryptoConfig& crypto) {
  size_t n = kFrameHeaderSize + InfoOf(crypto.hash).mac_size;
  if (crypto.cipher != CryptoCipher::kNone) {
    n += kFrameIvSize + kBlockSize;
  }
  return n;
}

absl::string_view DropCounterName(DropReason reason) {
  switch (reason) {
    case DropReason::kTruncated:
      return "totem.rx_dropped_truncated";
    case DropReason::kOversized:
      return "totem.rx_dropped_oversized";
    case DropReason::kBadMagic:
      return "totem.rx_dropped_bad_magic";
    case DropReason::kBadVersion:
      return "totem.rx_dropped_bad_version";
    case DropReason::kCryptoMismatch:
      return "totem.rx_dropped_crypto_mismatch";
    case DropReason::kUnknownSender:
      return "totem.rx_dropped_unknown_sender";
    case DropReason::kAuthFailed:
      return "totem.rx_dropped_auth";
    case DropReason::kMalformed:
      return "totem.rx_dropped_malformed";
    case DropReason::kReplayed:
      return "totem.rx_dropped_replayed";
    case DropReason::kDuplicate:
      return "totem.rx_dropped_duplicate";
  }
  return "totem.rx_dropped_unknown";
}

absl::StatusOr<KeyFile> LoadKeyFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    const std::string what = absl::StrCat("key file ", path, ": ", std::strerror(err));
    if (err == ENOENT) {
      return absl::NotFoundError(what);
    }
    if (err == EACCES || err == EPERM) {
      return absl::PermissionDeniedError(what);
    }
    return absl::InvalidArgumentError(what);
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("key file ", path, ": not a regular file"));
  }
  // Read up to one byte more than allowed, whatever st_size says.
  KeyFile out;
  std::string& key = out.key;
  key.resize(kMaxKeyBytes + 1);
  size_t got = 0;
  while (got < key.size()) {
    const ssize_t n = ::read(fd, key.data() + got, key.size() - got);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      const int err = errno;
      OPENSSL_cleanse(key.data(), key.size());
      return absl::InvalidArgumentError(absl::StrCat("key file ", path, ": ", std::strerror(err)));
    }
    if (n == 0) {
      break;
    }
    got += static_cast<size_t>(n);
  }
  if (got < kMinKeyBytes || got > kMaxKeyBytes) {
    OPENSSL_cleanse(key.data(), key.size());
    return absl::InvalidArgumentError(absl::StrCat("key file ",
                                                   path,
                                                   ": ",
                                                   got > kMaxKeyBytes ? "more than " : "",
                                                   got > kMaxKeyBytes ? kMaxKeyBytes : got,
                                                   " bytes, a key must have ",
                                                   kMinKeyBytes,
                                                   " to ",
                                                   kMaxKeyBytes));
  }
  key.resize(got);
  out.mode = static_cast<uint32_t>(st.st_mode & 07777);
  out.group_or_other_access = (st.st_mode & (S_IRWXG | S_IRWXO)) != 0;
  return out;
}

// FrameSealer

FrameSealer::FrameSealer(const FrameSealerOptions& options,
                         std::unique_ptr<internal::FrameKeys> keys)
    : node_id_(options.node_id),
      boot_id_(options.boot_id),
      crypto_(options.crypto),
      max_datagram_(options.max_datagram),
      keys_(std::move(keys)) {}

FrameSealer::FrameSealer(FrameSealer&&) noexcept = default;
FrameSealer& FrameSealer::operator=(FrameSealer&&) noexcept = default;
FrameSealer::~FrameSealer() = default;

absl::StatusOr<FrameSealer> FrameSealer::Create(const FrameSealerOptions& options) {
  if (options.node_id == 0) {
    return absl::InvalidArgumentError("frame sealer: node id 0");
  }
  HA_ASSIGN_OR_RETURN(std::unique_ptr<internal::FrameKeys> keys,
                      internal::FrameKeys::Derive(options.crypto, options.key));
  return FrameSealer(options, std::move(keys));
}

absl::StatusOr<std::string> FrameSealer::Seal(absl::string_view body) {
  size_t size = kFrameHeaderSize + body.size() + keys_->mac_size();
  if (keys_->encrypts()) {
    size = kFrameHeaderSize + kFrameIvSize + (body.size() / kBlockSize + 1) * kBlockSize +
           keys_->mac_size();
  }
  if (size > max_datagram_) {
    return absl::InvalidArgumentError(absl::StrCat("frame of ",
                                                   size,
                                                   " bytes for a body of ",
                                                   body.size(),
                                                   " (max datagram ",
                                                   max_datagram_,
                                                   ")"));
  }
  ++counter_;
  std::string out;
  out.reserve(size);
  uint8_t header[kFrameHeaderSize] = {};
  PutU32(header + kOffMagic, kFrameMagic);
  header[kOffVersion] = kFrameVersion;
  header[kOffCipher] = static_cast<uint8_t>(crypto_.cipher);
  header[kOffHash] = static_cast<uint8_t>(crypto_.hash);
  header[kOffFlags] = 0;
  PutU32(header + kOffSender, node_id_);
  PutU64(header + kOffBootId, boot_id_);
  PutU64(header + kOffCounter, counter_);
  out.append(reinterpret_cast<const char*>(header), sizeof(header));
  if (keys_->encrypts()) {
    if (!keys_->AppendEncrypted(body, out)) {
      return absl::InternalError("frame encryption failed");
    }
  } else {
    out.append(body.data(), body.size());
  }
  if (crypto_.authenticated() && !keys_->AppendMac(out, out)) {
    return absl::InternalError("frame MAC failed");
  }
  return out;
}

// FrameOpener

FrameOpener::FrameOpener(const FrameOpenerOptions& options,
                         std::unique_ptr<internal::FrameKeys> keys)
    : crypto_(options.crypto),
      replay_window_(options.replay_window),
      max_datagram_(options.max_datagram),
      keys_(std::move(keys)) {
  SetNodes(options.nodes);
}

FrameOpener::FrameOpener(FrameOpener&&) noexcept = default;
FrameOpener& FrameOpener::operator=(FrameOpener&&) noexcept = default;
FrameOpener::~FrameOpener() = default;

absl::StatusOr<FrameOpener> FrameOpener::Create(const FrameOpenerOptions& options) {
  if (options.replay_window < 64 || options.replay_window % 64 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame opener: replay window ", options.replay_window, " is not a multiple of 64"));
  }
  HA_ASSIGN_OR_RETURN(std::unique_ptr<internal::FrameKeys> keys,
                      internal::FrameKeys::Derive(options.crypto, options.key));
  return FrameOpener(options, std::move(keys));
}

void FrameOpener::SetNodes(const std::vector<uint32_t>& nodes) {
  absl::flat_hash_map<uint32_t, SenderState> next;
  for (uint32_t id : nodes) {
    if (id == 0) {
      continue;
    }
    auto it = senders_.find(id);
    next[id] = it != senders_.end() ? std::move(it->second) : SenderState{};
  }
  senders_ = std::move(next);
}

std::optional<uint64_t> FrameOpener::BootIdOf(uint32_t node) const {
  auto it = senders_.find(node);
  if (it == senders_.end() || !it->second.seen) {
    return std::nullopt;
  }
  return it->second.boot_id;
}

std::optional<OpenResult> FrameOpener::CheckReplay(const SenderState& state,
                                                   uint64_t boot_id,
                                                   uint64_t counter) const {
  if (!state.seen || boot_id > state.boot_id) {
    return std::nullopt;
  }
  if (boot_id < state.boot_id) {
    return Drop(DropReason::kReplayed,
                absl::StrCat("boot id ", boot_id, " older than the newest, ", state.boot_id));
  }
  if (counter > state.highest) {
    return std::nullopt;
  }
  if (state.highest - counter >= replay_window_) {
    return Drop(DropReason::kReplayed,
                absl::StrCat("counter ", counter, " below the window of highest ", state.highest));
  }
  const uint64_t bit = counter % replay_window_;
  if ((state.window[bit / 64] >> (bit % 64)) & 1) {
    return Drop(DropReason::kDuplicate, absl::StrCat("counter ", counter, " already seen"));
  }
  return std::nullopt;
}

void FrameOpener::Accept(SenderState& state, uint64_t boot_id, uint64_t counter) const {
  if (!state.seen || boot_id != state.boot_id) {
    state.seen = true;
    state.boot_id = boot_id;
    state.highest = counter;
    state.window.assign(replay_window_ / 64, 0);
  } else if (counter > state.highest) {
    if (counter - state.highest >= replay_window_) {
      std::fill(state.window.begin(), state.window.end(), 0);
    } else {
      for (uint64_t c = state.highest + 1; c < counter; ++c) {
        const uint64_t bit = c % replay_window_;
        state.window[bit / 64] &= ~(uint64_t{1} << (bit % 64));
      }
    }
    state.highest = counter;
  }
  const uint64_t bit = counter % replay_window_;
  state.window[bit / 64] |= uint64_t{1} << (bit % 64);
}

OpenResult FrameOpener::Open(absl::string_view datagram) {
  if (datagram.size() > max_datagram_) {
    return Drop(DropReason::kOversized, absl::StrCat(datagram.size(), " bytes"));
  }
  if (datagram.size() < kFrameHeaderSize) {
    return Drop(DropReason::kTruncated, absl::StrCat(datagram.size(), " bytes, no header"));
  }
  const auto* h = reinterpret_cast<const uint8_t*>(datagram.data());
  if (GetU32(h + kOffMagic) != kFrameMagic) {
    return Drop(DropReason::kBadMagic, "bad magic");
  }
  if (h[kOffVersion] != kFrameVersion) {
    return Drop(DropReason::kBadVersion, absl::StrCat("version ", h[kOffVersion]));
  }
  if (h[kOffFlags] != 0) {
    return Drop(DropReason::kMalformed, absl::StrCat("flags ", h[kOffFlags]));
  }
  if (h[kOffCipher] != static_cast<uint8_t>(crypto_.cipher) ||
      h[kOffHash] != static_cast<uint8_t>(crypto_.hash)) {
    return Drop(DropReason::kCryptoMismatch,
                absl::StrCat("sender uses cipher ",
                             KnownCipherByte(h[kOffCipher])
                                 ? CryptoCipherName(static_cast<CryptoCipher>(h[kOffCipher]))
                                 : absl::StrCat(h[kOffCipher]),
                             " hash ",
                             KnownHashByte(h[kOffHash])
                                 ? CryptoHashName(static_cast<CryptoHash>(h[kOffHash]))
                                 : absl::StrCat(h[kOffHash])));
  }
  const uint32_t sender = GetU32(h + kOffSender);
  auto it = senders_.find(sender);
  if (it == senders_.end()) {
    return Drop(DropReason::kUnknownSender, absl::StrCat("sender ", sender));
  }
  const size_t mac_size = keys_->mac_size();
  const size_t min_size =
      kFrameHeaderSize + mac_size + (keys_->encrypts() ? kFrameIvSize + kBlockSize : 0);
  if (datagram.size() < min_size) {
    return Drop(DropReason::kTruncated,
                absl::StrCat(datagram.size(), " bytes, at least ", min_size, " needed"));
  }
  const absl::string_view authenticated = datagram.substr(0, datagram.size() - mac_size);
  const absl::string_view payload = authenticated.substr(kFrameHeaderSize);
  if (keys_->encrypts() && (payload.size() - kFrameIvSize) % kBlockSize != 0) {
    return Drop(DropReason::kMalformed, "ciphertext not in whole blocks");
  }
  if (crypto_.authenticated() &&
      !keys_->VerifyMac(authenticated, datagram.substr(authenticated.size()))) {
    return Drop(DropReason::kAuthFailed, absl::StrCat("MAC mismatch from sender ", sender));
  }
  const uint64_t boot_id = GetU64(h + kOffBootId);
  const uint64_t counter = GetU64(h + kOffCounter);
  if (std::optional<OpenResult> drop = CheckReplay(it->second, boot_id, counter)) {
    return std::move(*drop);
  }
  OpenedFrame frame{.sender = sender, .boot_id = boot_id, .counter = counter};
  if (keys_->encrypts()) {
    std::optional<std::string> plain = keys_->Decrypt(payload);
    if (!plain) {
      return Drop(DropReason::kMalformed, "bad padding after a good MAC");
    }
    frame.body = std::move(*plain);
  } else {
    frame.body.assign(payload.data(), payload.size());
  }
  Accept(it->second, boot_id, counter);
  OpenResult result;
  result.frame = std::move(frame);
  return result;
}

}  // namespace ha::membership
