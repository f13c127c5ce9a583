// The CIB document: Pacemaker's `<cib>` XML held as a pugixml tree, with its version triple and
// its digest. See Pacemaker Explained 2.1, "Configuration layout".
//
// Version: (admin_epoch, epoch, num_updates), compared in that order. A missing attribute reads
// as 0; a present one must be a non-negative decimal integer.
//
// Digest (our definition, used by GetVersion, patchsets and cib.xml.sig): the MD5, in lower-case
// hex, of the canonical serialization of the `<cib>` element:
//   - the element and its whole subtree as ToXml writes it without added whitespace
//     (whitespace-only text is never kept): attributes in document order, empty elements as
//     "<x/>", '&', '<', '>' escaped, and '"', tab, LF, CR in attributes and CR in text;
//   - comments left out (they are not content);
//   - the `cib-last-written` attribute of `<cib>` left out, because each node sets it when it
//     writes its own copy to disk, so that identical copies on different nodes digest the same.
// Attribute order is part of the digest: every node applies the same changes in the same order,
// so copies that are equal are equal in order too.
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cibd/cib_xml.h"
#include "pugixml.hpp"

namespace ha::cib {

struct CibVersion {
  int64_t admin_epoch = 0;
  int64_t epoch = 0;
  int64_t num_updates = 0;

  auto operator<=>(const CibVersion&) const = default;
};

std::string ToString(const CibVersion& v);  // "admin_epoch.epoch.num_updates"

// The names of `<cib>`'s version attributes.
inline constexpr const char* kAdminEpoch = "admin_epoch";
inline constexpr const char* kEpoch = "epoch";
inline constexpr const char* kNumUpdates = "num_updates";

class CibDocument {
 public:
  // A minimal valid CIB: version 0.0.0, empty crm_config, nodes, resources, constraints, status.
  CibDocument();
  CibDocument(CibDocument&&) noexcept = default;
  CibDocument& operator=(CibDocument&&) noexcept = default;
  CibDocument(const CibDocument&) = delete;
  CibDocument& operator=(const CibDocument&) = delete;

  // Loads a CIB: ParseXml's bounds, then a `<cib>` root element whose version attributes are
  // integers. Unknown elements and attributes are kept. Content is not validated here (see
  // cib_validate.h): a CIB written by another version must always load.
  static absl::StatusOr<CibDocument> Parse(std::string_view xml, const ParseLimits& limits = {});

  // A deep copy.
  CibDocument Clone() const;

  // The whole CIB as XML, indented (pretty) or without any added whitespace.
  std::string Serialize(bool pretty = true) const;

  CibVersion Version() const;
  void SetVersion(const CibVersion& v);

  // MD5 hex of the canonical serialization (see the top of this file).
  std::string Digest() const;
  // The canonical serialization itself.
  std::string CanonicalXml() const;

  // The `<cib>` element. The tree is owned by this document; nodes stay valid until the node is
  // removed or the document destroyed (moving the document keeps them valid).
  pugi::xml_node Root() const { return doc_->document_element(); }
  // A section: "configuration", "status", or a child of configuration ("resources", ...).
  // Null when absent.
  pugi::xml_node Section(std::string_view name) const;

  // Same elements, attributes and text as `other` (comments included).
  bool SameContent(const CibDocument& other) const;

  pugi::xml_document& Xml() { return *doc_; }

 private:
  explicit CibDocument(std::unique_ptr<pugi::xml_document> doc) : doc_(std::move(doc)) {}

  std::unique_ptr<pugi::xml_document> doc_;
};

// Reads a version attribute: 0 when missing, INVALID_ARGUMENT when not a non-negative integer.
absl::StatusOr<int64_t> ReadVersionAttribute(const pugi::xml_node& cib, const char* name);
// Reads the three version attributes of a `<cib>` (or of a patchset's `<source>`/`<target>`).
absl::StatusOr<CibVersion> ReadVersion(const pugi::xml_node& node);
void WriteVersion(pugi::xml_node node, const CibVersion& v);

// The configuration sections, in the order Pacemaker writes them.
bool IsConfigurationSection(std::string_view name);

}  // namespace ha::cib
