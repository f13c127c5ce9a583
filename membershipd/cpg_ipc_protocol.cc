#include "membershipd/cpg_ipc_protocol.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ha::membership::cpg_ipc {
namespace {

// Appends fields little-endian (this code runs on little-endian hosts only, like libqb's headers,
// which are host order; the IPC never leaves the host).
class Writer {
 public:
  explicit Writer(size_t header_size) : out_(header_size, '\0') {}
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void Str(absl::string_view s) {
    U32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  void Members(const std::vector<Member>& members) {
    U32(static_cast<uint32_t>(members.size()));
    for (const Member& m : members) {
      U32(m.node);
      U32(m.pid);
      U32(m.reason);
    }
  }
  // Fills the libqb header: id and size, then (responses and events) the error.
  std::string FinishRequest(int32_t id) {
    PutHeaderField(0, id);
    PutHeaderField(8, static_cast<int32_t>(out_.size()));
    return std::move(out_);
  }
  std::string FinishResponse(int32_t id, int32_t error) {
    PutHeaderField(0, id);
    PutHeaderField(8, static_cast<int32_t>(out_.size()));
    PutHeaderField(16, error);
    return std::move(out_);
  }

 private:
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void PutHeaderField(size_t offset, int32_t v) {
    std::memcpy(out_.data() + offset, &v, sizeof(v));
  }
  std::string out_;
};

// Reads fields with a bounds check before each; the first failure sticks.
class Reader {
 public:
  explicit Reader(absl::string_view data) : data_(data) {}

  uint8_t U8() {
    uint8_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  uint32_t U32() {
    uint32_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  uint64_t U64() {
    uint64_t v = 0;
    Raw(&v, sizeof(v));
    return v;
  }
  std::string Str(size_t limit, const char* what) {
    const uint32_t n = U32();
    if (!ok())
      return {};
    if (n > limit) {
      Fail(absl::StrFormat("%s of %u bytes is over the limit of %zu", what, n, limit));
      return {};
    }
    if (n > data_.size()) {
      Fail(absl::StrFormat("%s of %u bytes runs past the end of the message", what, n));
      return {};
    }
    std::string out(data_.substr(0, n));
    data_.remove_prefix(n);
    return out;
  }
  std::vector<Member> Members(const char* what) {
    const uint32_t n = U32();
    std::vector<Member> out;
    if (!ok())
      return out;
    // Each member is 12 bytes: check against what is left before reserving anything.
    if (n > kMaxMembers || size_t{n} * 12 > data_.size()) {
      Fail(absl::StrFormat("%s: %u members do not fit the message", what, n));
      return out;
    }
    out.reserve(n);
    for (uint32_t i = 0; i < n; ++i) {
      Member m;
      m.node = U32();
      m.pid = U32();
      m.reason = U32();
      out.push_back(m);
    }
    return out;
  }
  // The body must have been read to its end.
  absl::Status Finish() {
    if (ok() && !data_.empty())
      Fail(absl::StrCat(data_.size(), " unexpected bytes after the message"));
    return status_;
  }
  bool ok() const { return status_.ok(); }
  void Fail(std::string why) {
    if (status_.ok())
      status_ = absl::InvalidArgumentError(std::move(why));
  }

 private:
  void Raw(void* p, size_t n) {
    if (!ok())
      return;
    if (data_.size() < n) {
      Fail("the message is truncated");
      return;
    }
    std::memcpy(p, data_.data(), n);
    data_.remove_prefix(n);
  }
  absl::string_view data_;
  absl::Status status_;
};

int32_t HeaderField(absl::string_view data, size_t offset) {
  int32_t v = 0;
  std::memcpy(&v, data.data() + offset, sizeof(v));
  return v;
}

// Checks the libqb header of a message: big enough, and its size field is the message's size.
absl::Status CheckHeader(absl::string_view data, size_t header_size) {
  if (data.size() < header_size)
    return absl::InvalidArgumentError(
        absl::StrCat("a message of ", data.size(), " bytes is shorter than its header"));
  if (data.size() > kBufferSize)
    return absl::InvalidArgumentError(absl::StrCat("a message of ", data.size(), " bytes"));
  const int32_t size = HeaderField(data, 8);
  if (size < 0 || static_cast<size_t>(size) != data.size())
    return absl::InvalidArgumentError(
        absl::StrCat("the header says ", size, " bytes, the message has ", data.size()));
  return absl::OkStatus();
}

absl::Status CheckGroup(const std::string& group) {
  if (group.empty())
    return absl::InvalidArgumentError("an empty group name");
  return absl::OkStatus();
}

}  // namespace

std::string ServiceName(absl::string_view run_dir) {
  // FNV-1a, 64 bits: stable across builds and hosts.
  uint64_t h = 0xcbf29ce484222325ull;
  for (char c : run_dir) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ull;
  }
  return absl::StrFormat("hacluster-cpg-%016x", h);
}

std::string EncodeRequest(const Request& request) {
  Writer w(kRequestHeaderSize);
  w.U64(request.request_seq);
  switch (request.id) {
    case kInit:
    case kJoin:
    case kLeave:
    case kMembership:
      w.Str(request.name);
      break;
    case kMcast:
      w.U8(request.safe ? 1 : 0);
      w.Str(request.name);
      w.Str(request.payload);
      break;
    default:
      break;
  }
  return w.FinishRequest(request.id);
}

std::string EncodeResponse(const Response& response) {
  Writer w(kResponseHeaderSize);
  w.U64(response.request_seq);
  if (response.code != absl::StatusCode::kOk) {
    w.Str(absl::string_view(response.message).substr(0, kMaxErrorMessage));
  } else if (response.id == kInit || response.id == kLocalGet) {
    w.U32(response.init.local_node);
    w.U32(response.init.pid);
    w.U64(response.init.session);
    w.U32(response.init.max_payload);
  } else if (response.id == kMembership) {
    w.Members(response.members);
  }
  return w.FinishResponse(response.id, static_cast<int32_t>(response.code));
}

std::string EncodeErrorResponse(int32_t id, uint64_t request_seq, const absl::Status& status) {
  Response r;
  r.id = id;
  r.request_seq = request_seq;
  r.code = status.ok() ? absl::StatusCode::kUnknown : status.code();
  r.message = std::string(status.message());
  return EncodeResponse(r);
}

std::string EncodeEvent(const Event& event) {
  Writer w(kResponseHeaderSize);
  switch (event.id) {
    case kEventDeliver:
      w.U32(event.node);
      w.U32(event.pid);
      w.U64(event.seq);
      w.U8(event.safe ? 1 : 0);
      w.Str(event.group);
      w.Str(event.payload);
      break;
    case kEventConfChg:
      w.Str(event.group);
      w.U32(event.ring_id.rep);
      w.U64(event.ring_id.seq);
      w.Members(event.members);
      w.Members(event.joined);
      w.Members(event.left);
      break;
    case kEventRingChange:
      w.U32(event.ring_id.rep);
      w.U64(event.ring_id.seq);
      for (const std::vector<Member>* list : {&event.members, &event.joined, &event.left}) {
        w.U32(static_cast<uint32_t>(list->size()));
        for (const Member& m : *list) {
          w.U32(m.node);
        }
      }
      break;
    case kEventError:
      w.U64(event.request_seq);
      w.U32(static_cast<uint32_t>(event.code));
      w.Str(absl::string_view(event.message).substr(0, kMaxErrorMessage));
      break;
    default:
      break;
  }
  return w.FinishResponse(event.id, 0);
}

RequestTag PeekRequest(absl::string_view data) {
  RequestTag tag;
  if (data.size() >= kRequestHeaderSize)
    tag.id = HeaderField(data, 0);
  if (data.size() >= kRequestHeaderSize + sizeof(uint64_t))
    std::memcpy(&tag.request_seq, data.data() + kRequestHeaderSize, sizeof(uint64_t));
  return tag;
}

absl::StatusOr<Request> DecodeRequest(absl::string_view data) {
  if (absl::Status s = CheckHeader(data, kRequestHeaderSize); !s.ok())
    return s;
  Request r;
  r.id = HeaderField(data, 0);
  Reader in(data.substr(kRequestHeaderSize));
  r.request_seq = in.U64();
  switch (r.id) {
    case kInit:
      r.name = in.Str(kMaxClientName, "the client name");
      break;
    case kJoin:
    case kLeave:
    case kMembership:
      r.name = in.Str(kMaxGroupName, "the group name");
      break;
    case kMcast: {
      const uint8_t safe = in.U8();
      if (safe > 1)
        in.Fail(absl::StrCat("ordering flag ", safe, " (0 agreed, 1 safe)"));
      r.safe = safe == 1;
      r.name = in.Str(kMaxGroupName, "the group name");
      r.payload = in.Str(kMaxPayload, "the payload");
      break;
    }
    case kLocalGet:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown request id ", r.id));
  }
  if (absl::Status s = in.Finish(); !s.ok())
    return s;
  if (r.id == kJoin || r.id == kLeave || r.id == kMcast || r.id == kMembership)
    if (absl::Status s = CheckGroup(r.name); !s.ok())
      return s;
  return r;
}

absl::StatusOr<Response> DecodeResponse(absl::string_view data) {
  if (absl::Status s = CheckHeader(data, kResponseHeaderSize); !s.ok())
    return s;
  Response r;
  r.id = HeaderField(data, 0);
  const int32_t error = HeaderField(data, 16);
  if (error < 0 || error > static_cast<int32_t>(absl::StatusCode::kUnauthenticated))
    return absl::InvalidArgumentError(absl::StrCat("status code ", error));
  r.code = static_cast<absl::StatusCode>(error);
  Reader in(data.substr(kResponseHeaderSize));
  r.request_seq = in.U64();
  if (r.code != absl::StatusCode::kOk) {
    r.message = in.Str(kMaxErrorMessage, "the error message");
  } else if (r.id == kInit || r.id == kLocalGet) {
    r.init.local_node = in.U32();
    r.init.pid = in.U32();
    r.init.session = in.U64();
    r.init.max_payload = in.U32();
  } else if (r.id == kMembership) {
    r.members = in.Members("members");
  }
  if (absl::Status s = in.Finish(); !s.ok())
    return s;
  return r;
}

absl::StatusOr<Event> DecodeEvent(absl::string_view data) {
  if (absl::Status s = CheckHeader(data, kResponseHeaderSize); !s.ok())
    return s;
  Event e;
  e.id = HeaderField(data, 0);
  Reader in(data.substr(kResponseHeaderSize));
  switch (e.id) {
    case kEventDeliver:
      e.node = in.U32();
      e.pid = in.U32();
      e.seq = in.U64();
      e.safe = in.U8() != 0;
      e.group = in.Str(kMaxGroupName, "the group name");
      e.payload = in.Str(kMaxPayload, "the payload");
      break;
    case kEventConfChg:
      e.group = in.Str(kMaxGroupName, "the group name");
      e.ring_id.rep = in.U32();
      e.ring_id.seq = in.U64();
      e.members = in.Members("members");
      e.joined = in.Members("joined");
      e.left = in.Members("left");
      break;
    case kEventRingChange: {
      e.ring_id.rep = in.U32();
      e.ring_id.seq = in.U64();
      for (std::vector<Member>* list : {&e.members, &e.joined, &e.left}) {
        const uint32_t n = in.U32();
        if (n > kMaxMembers) {
          in.Fail(absl::StrCat(n, " nodes in a ring change"));
          break;
        }
        for (uint32_t i = 0; i < n && in.ok(); ++i) {
          Member m;
          m.node = in.U32();
          list->push_back(m);
        }
      }
      break;
    }
    case kEventError: {
      e.request_seq = in.U64();
      const uint32_t code = in.U32();
      if (code > static_cast<uint32_t>(absl::StatusCode::kUnauthenticated))
        in.Fail(absl::StrCat("status code ", code));
      e.code = static_cast<absl::StatusCode>(code);
      e.message = in.Str(kMaxErrorMessage, "the error message");
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("unknown event id ", e.id));
  }
  if (absl::Status s = in.Finish(); !s.ok())
    return s;
  return e;
}

}  // namespace ha::membership::cpg_ipc
