// libFuzzer entry for the XML and patchset parsers: any input must be loaded or refused with a
// Status, never crash, hang or expand. Every input goes two ways:
//  1. as a CIB: when it loads, it must serialize and load again to the same content, and the
//     patchset from a fixed base CIB to it must apply to that base and give it back exactly;
//  2. as a patchset applied to the fixed base CIB: when it applies, the result must serialize
//     and load again to the same content.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "cibd/cib_diff.h"
#include "cibd/cib_document.h"

namespace {

constexpr const char* kBase = R"(<cib admin_epoch="0" epoch="3" num_updates="1">
<configuration><crm_config/><nodes><node id="1" uname="a"/></nodes>
<resources><primitive id="p" class="ocf" provider="heartbeat" type="Dummy"><!-- c -->
<operations><op id="p-m" name="monitor" interval="10s"/></operations></primitive></resources>
<constraints/></configuration><status><node_state id="1"/></status></cib>)";

void Check(bool condition) {
  if (!condition) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using ha::cib::CibDocument;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  auto base = CibDocument::Parse(kBase);
  Check(base.ok());

  auto doc = CibDocument::Parse(input);
  if (doc.ok()) {
    auto again = CibDocument::Parse(doc->Serialize(true));
    Check(again.ok() && again->SameContent(*doc) && again->Digest() == doc->Digest());
    auto applied = ha::cib::ApplyPatchset(*base, ha::cib::Diff(*base, *doc));
    Check(applied.ok() && applied->SameContent(*doc));
  }

  auto patched = ha::cib::ApplyPatchset(*base, input);
  if (patched.ok()) {
    auto again = CibDocument::Parse(patched->Serialize(false));
    Check(again.ok() && again->SameContent(*patched));
  }
  return 0;
}
