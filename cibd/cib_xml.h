// XML helpers shared by the CIB libraries: parsing untrusted text with bounds, serializing, and
// comparing trees. Every XML string that reaches cibd (a cib.xml, a request's fragment, a
// patchset) goes through ParseXml, so the bounds below hold everywhere.
//
// Parsing refuses, before pugixml sees the text: more than `max_bytes`, invalid UTF-8 (including
// overlong forms, surrogates and code points above U+10FFFF), control characters XML forbids,
// any DOCTYPE (so no DTD and no entity declaration ever exists), references to entities other
// than the five predefined ones, character references to characters XML forbids, and nesting
// deeper than `max_depth`. pugixml itself never expands entities; the pre-scan makes sure it never
// has to decide what to do with one. Errors are INVALID_ARGUMENT with "line L, column C: ...".
//
// What a parsed tree keeps: elements, attributes in document order, text (whitespace-only text
// between elements is formatting and is dropped), CDATA (as text) and comments. Processing
// instructions and the XML declaration are dropped.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pugixml.hpp"

namespace ha::cib {

struct ParseLimits {
  size_t max_bytes = size_t{64} << 20;  // 64 MiB: ten times a 5,000-resource CIB
  int max_depth = 256;                  // Pacemaker's CIBs are under 15 levels deep
};

// Parses `text` into a document with exactly one root element.
absl::StatusOr<std::unique_ptr<pugi::xml_document>> ParseXml(std::string_view text,
                                                             const ParseLimits& limits = {});

// The checks ParseXml does before parsing, exposed for tests and for the fuzz target.
absl::Status PrescanXml(std::string_view text, const ParseLimits& limits);

// How ToXml writes. The output always parses back (with ParseXml) to the same tree: '&', '<',
// '>' are escaped, and '"', tab, LF and CR in attributes and CR in text (which a parser would
// normalize); inside an element that has text no whitespace is added.
struct XmlWriteOptions {
  bool pretty = true;                   // indent by two spaces, one element per line
  bool comments = true;                 // write comments
  std::string_view skip_top_attribute;  // leave out this attribute of the top element
};

// Serializes a node (element with its subtree).
std::string ToXml(const pugi::xml_node& node, const XmlWriteOptions& options);
// The same, indented (`pretty`) or with no added whitespace at all.
std::string ToXml(const pugi::xml_node& node, bool pretty);

// True when the two subtrees have the same node kinds, names, attributes (names, values and
// order), text and comments, in the same order.
bool SameTree(const pugi::xml_node& a, const pugi::xml_node& b);

// True when the two elements have the same attributes in the same order.
bool SameAttributes(const pugi::xml_node& a, const pugi::xml_node& b);

// Depth of the deepest element under `node` (1 for a leaf element).
int TreeDepth(const pugi::xml_node& node);

// This Abseil's string_view is its own type: StrCat and friends need the conversion.
inline absl::string_view Sv(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

// "<tag id='x'>" or "<tag>", for error messages.
std::string Describe(const pugi::xml_node& node);

// True when `name` can be written as an element or attribute name (ASCII letters, digits, '_',
// ':', '.', '-', and any non-ASCII byte; not starting with a digit, '.' or '-').
bool IsXmlName(std::string_view name);

// True for the node kinds a tree keeps as children (element, text, CDATA, comment).
bool IsContentNode(const pugi::xml_node& node);

}  // namespace ha::cib
