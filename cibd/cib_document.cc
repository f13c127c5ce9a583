#include "cibd/cib_document.h"

#include <openssl/evp.h>

#include <array>
#include <charconv>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ha::cib {
namespace {

constexpr std::array<const char*, 10> kConfigurationSections = {"crm_config",
                                                                "nodes",
                                                                "resources",
                                                                "constraints",
                                                                "op_defaults",
                                                                "rsc_defaults",
                                                                "acls",
                                                                "tags",
                                                                "fencing-topology",
                                                                "alerts"};

constexpr const char* kEmptyCib =
    "<cib admin_epoch=\"0\" epoch=\"0\" num_updates=\"0\" validate-with=\"pacemaker-3.9\">"
    "<configuration><crm_config/><nodes/><resources/><constraints/></configuration>"
    "<status/></cib>";

}  // namespace

std::string ToString(const CibVersion& v) {
  return absl::StrCat(v.admin_epoch, ".", v.epoch, ".", v.num_updates);
}

bool IsConfigurationSection(std::string_view name) {
  for (const char* s : kConfigurationSections) {
    if (name == s) {
      return true;
    }
  }
  return false;
}

CibDocument::CibDocument() : doc_(std::make_unique<pugi::xml_document>()) {
  doc_->load_string(kEmptyCib);
}

absl::StatusOr<CibDocument> CibDocument::Parse(std::string_view xml, const ParseLimits& limits) {
  HA_ASSIGN_OR_RETURN(std::unique_ptr<pugi::xml_document> doc, ParseXml(xml, limits));
  const pugi::xml_node root = doc->document_element();
  if (std::strcmp(root.name(), "cib") != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("the root element is <", root.name(), ">, not <cib>"));
  }
  HA_RETURN_IF_ERROR(ReadVersion(root).status());
  return CibDocument(std::move(doc));
}

CibDocument CibDocument::Clone() const {
  auto copy = std::make_unique<pugi::xml_document>();
  copy->reset(*doc_);
  return CibDocument(std::move(copy));
}

std::string CibDocument::Serialize(bool pretty) const {
  return ToXml(Root(), pretty);
}

CibVersion CibDocument::Version() const {
  // Parse and every write check the attributes, so a failure here would be a bug; read as 0.
  auto v = ReadVersion(Root());
  return v.ok() ? *v : CibVersion{};
}

void CibDocument::SetVersion(const CibVersion& v) {
  WriteVersion(Root(), v);
}

std::string CibDocument::CanonicalXml() const {
  return ToXml(Root(),
               XmlWriteOptions{
                   .pretty = false, .comments = false, .skip_top_attribute = "cib-last-written"});
}

std::string CibDocument::Digest() const {
  const std::string canonical = CanonicalXml();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(canonical.data(), canonical.size(), md, &len, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 0xF];
  }
  return hex;
}

pugi::xml_node CibDocument::Section(std::string_view name) const {
  const pugi::xml_node root = Root();
  if (name == "configuration" || name == "status") {
    return root.child(std::string(name).c_str());
  }
  return root.child("configuration").child(std::string(name).c_str());
}

bool CibDocument::SameContent(const CibDocument& other) const {
  return SameTree(Root(), other.Root());
}

absl::StatusOr<int64_t> ReadVersionAttribute(const pugi::xml_node& cib, const char* name) {
  const pugi::xml_attribute a = cib.attribute(name);
  if (!a) {
    return 0;
  }
  const std::string_view text = a.value();
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || value < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        Describe(cib), ": ", name, "=\"", Sv(text), "\" is not a non-negative integer"));
  }
  return value;
}

absl::StatusOr<CibVersion> ReadVersion(const pugi::xml_node& node) {
  CibVersion v;
  HA_ASSIGN_OR_RETURN(v.admin_epoch, ReadVersionAttribute(node, kAdminEpoch));
  HA_ASSIGN_OR_RETURN(v.epoch, ReadVersionAttribute(node, kEpoch));
  HA_ASSIGN_OR_RETURN(v.num_updates, ReadVersionAttribute(node, kNumUpdates));
  return v;
}

void WriteVersion(pugi::xml_node node, const CibVersion& v) {
  auto set = [&](const char* name, int64_t value) {
    pugi::xml_attribute a = node.attribute(name);
    if (!a) {
      a = node.append_attribute(name);
    }
    a.set_value(std::to_string(value).c_str());
  };
  set(kAdminEpoch, v.admin_epoch);
  set(kEpoch, v.epoch);
  set(kNumUpdates, v.num_updates);
}

}  // namespace ha::cib
