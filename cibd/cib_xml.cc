#include "cibd/cib_xml.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ha::cib {
namespace {

// "line L, column C" of a byte offset (columns count bytes, from 1).
std::string Position(std::string_view text, size_t offset) {
  if (offset > text.size()) {
    offset = text.size();
  }
  size_t line = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  return absl::StrCat("line ", line, ", column ", offset - line_start + 1);
}

absl::Status ErrorAt(std::string_view text, size_t offset, std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(Position(text, offset), ": ", Sv(what)));
}

bool IsXmlChar(uint32_t c) {
  return c == 0x9 || c == 0xA || c == 0xD || (c >= 0x20 && c <= 0xD7FF) ||
         (c >= 0xE000 && c <= 0xFFFD) || (c >= 0x10000 && c <= 0x10FFFF);
}

// Decodes one UTF-8 sequence at `i`; returns its length, or 0 when it is invalid.
size_t DecodeUtf8(std::string_view s, size_t i, uint32_t* out) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    *out = b0;
    return 1;
  }
  size_t len;
  uint32_t c;
  uint32_t min;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    c = b0 & 0x1F;
    min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    c = b0 & 0x0F;
    min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    c = b0 & 0x07;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) {
    return 0;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      return 0;
    }
    c = (c << 6) | (b & 0x3F);
  }
  if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
    return 0;  // overlong, out of range, or a surrogate
  }
  *out = c;
  return len;
}

absl::Status CheckEncoding(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    uint32_t c = 0;
    const size_t len = DecodeUtf8(text, i, &c);
    if (len == 0) {
      return ErrorAt(text, i, "invalid UTF-8");
    }
    if (!IsXmlChar(c)) {
      return ErrorAt(text, i, absl::StrCat("character U+", absl::Hex(c), " is not allowed in XML"));
    }
    i += len;
  }
  return absl::OkStatus();
}

// Checks the reference starting with '&' at `i`; returns the offset after it.
absl::StatusOr<size_t> CheckReference(std::string_view text, size_t i) {
  const size_t semi = text.find(';', i);
  if (semi == std::string_view::npos || semi - i > 12) {
    return ErrorAt(text, i, "'&' must start a reference such as &amp;");
  }
  const std::string_view name = text.substr(i + 1, semi - i - 1);
  if (name == "amp" || name == "lt" || name == "gt" || name == "quot" || name == "apos") {
    return semi + 1;
  }
  if (name.size() >= 2 && name[0] == '#') {
    const bool hex = name[1] == 'x';
    const std::string_view digits = name.substr(hex ? 2 : 1);
    uint32_t value = 0;
    bool ok = !digits.empty();
    for (char d : digits) {
      int v;
      if (d >= '0' && d <= '9') {
        v = d - '0';
      } else if (hex && d >= 'a' && d <= 'f') {
        v = d - 'a' + 10;
      } else if (hex && d >= 'A' && d <= 'F') {
        v = d - 'A' + 10;
      } else {
        ok = false;
        break;
      }
      value = value * (hex ? 16 : 10) + static_cast<uint32_t>(v);
      if (value > 0x10FFFF) {
        ok = false;
        break;
      }
    }
    if (ok && IsXmlChar(value)) {
      return semi + 1;
    }
    return ErrorAt(text, i, absl::StrCat("character reference &", Sv(name), "; is not allowed"));
  }
  return ErrorAt(
      text,
      i,
      absl::StrCat(
          "entity reference &", Sv(name), "; is not allowed (only the five predefined entities)"));
}

bool StartsWith(std::string_view text, size_t i, std::string_view prefix) {
  return text.substr(i, prefix.size()) == prefix;
}

absl::Status CheckStructure(std::string_view text, const ParseLimits& limits) {
  int depth = 0;
  size_t i = 0;
  const size_t n = text.size();
  auto skip_to = [&](size_t from, std::string_view end, std::string_view what) -> absl::Status {
    const size_t j = text.find(end, from);
    if (j == std::string_view::npos) {
      return ErrorAt(text, i, absl::StrCat("unterminated ", Sv(what)));
    }
    i = j + end.size();
    return absl::OkStatus();
  };
  while (i < n) {
    const char c = text[i];
    if (c == '&') {
      auto next = CheckReference(text, i);
      if (!next.ok()) {
        return next.status();
      }
      i = *next;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    if (StartsWith(text, i, "<!--")) {
      const size_t start = i;
      if (auto s = skip_to(i + 4, "-->", "comment"); !s.ok()) {
        return s;
      }
      // XML forbids "--" inside a comment (and a comment ending in "-"); pugixml would accept
      // it and then write it differently.
      const std::string_view body = text.substr(start + 4, i - 3 - (start + 4));
      if (body.find("--") != std::string_view::npos || (!body.empty() && body.back() == '-')) {
        return ErrorAt(text, start, "\"--\" is not allowed inside a comment");
      }
    } else if (StartsWith(text, i, "<![CDATA[")) {
      if (auto s = skip_to(i + 9, "]]>", "CDATA section"); !s.ok()) {
        return s;
      }
    } else if (StartsWith(text, i, "<?")) {
      if (auto s = skip_to(i + 2, "?>", "processing instruction"); !s.ok()) {
        return s;
      }
    } else if (StartsWith(text, i, "<!")) {
      return ErrorAt(text, i, "DOCTYPE and DTD declarations are not allowed");
    } else if (StartsWith(text, i, "</")) {
      --depth;
      if (auto s = skip_to(i + 2, ">", "end tag"); !s.ok()) {
        return s;
      }
    } else {
      size_t j = i + 1;
      char quote = 0;
      for (; j < n; ++j) {
        const char ch = text[j];
        if (quote != 0) {
          if (ch == quote) {
            quote = 0;
          } else if (ch == '&') {
            auto next = CheckReference(text, j);
            if (!next.ok()) {
              return next.status();
            }
            j = *next - 1;
          }
        } else if (ch == '"' || ch == '\'') {
          quote = ch;
        } else if (ch == '>') {
          break;
        }
      }
      if (j >= n) {
        return ErrorAt(text, i, "unterminated start tag");
      }
      // A self-closing element is one level deeper too, but closes at once.
      const bool self_closing = text[j - 1] == '/';
      if (depth + 1 > limits.max_depth) {
        return ErrorAt(
            text, i, absl::StrCat("elements nested deeper than ", limits.max_depth, " levels"));
      }
      if (!self_closing) {
        ++depth;
      }
      i = j + 1;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDuplicateAttributes(const pugi::xml_node& root) {
  std::vector<pugi::xml_node> stack{root};
  while (!stack.empty()) {
    const pugi::xml_node node = stack.back();
    stack.pop_back();
    for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
      for (pugi::xml_attribute b = a.next_attribute(); b; b = b.next_attribute()) {
        if (std::strcmp(a.name(), b.name()) == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(Describe(node), ": attribute '", a.name(), "' appears twice"));
        }
      }
    }
    for (pugi::xml_node child = node.first_child(); child; child = child.next_sibling()) {
      if (child.type() == pugi::node_element) {
        stack.push_back(child);
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PrescanXml(std::string_view text, const ParseLimits& limits) {
  if (text.size() > limits.max_bytes) {
    return absl::InvalidArgumentError(absl::StrCat("document of ",
                                                   text.size(),
                                                   " bytes is larger than the limit of ",
                                                   limits.max_bytes,
                                                   " bytes"));
  }
  if (auto s = CheckEncoding(text); !s.ok()) {
    return s;
  }
  return CheckStructure(text, limits);
}

absl::StatusOr<std::unique_ptr<pugi::xml_document>> ParseXml(std::string_view text,
                                                             const ParseLimits& limits) {
  if (auto s = PrescanXml(text, limits); !s.ok()) {
    return s;
  }
  auto doc = std::make_unique<pugi::xml_document>();
  // No parse_pi/parse_declaration: they carry nothing the CIB needs. parse_doctype would only
  // keep a DOCTYPE node, and the pre-scan already refused any DOCTYPE.
  const unsigned flags = pugi::parse_default | pugi::parse_comments;
  const pugi::xml_parse_result result =
      doc->load_buffer(text.data(), text.size(), flags, pugi::encoding_utf8);
  if (!result) {
    return ErrorAt(text, static_cast<size_t>(result.offset), result.description());
  }
  int elements = 0;
  for (pugi::xml_node child = doc->first_child(); child; child = child.next_sibling()) {
    if (child.type() == pugi::node_element) {
      ++elements;
    } else if (child.type() != pugi::node_comment) {
      return absl::InvalidArgumentError("text outside the root element");
    }
  }
  if (elements != 1) {
    return absl::InvalidArgumentError(elements == 0 ? "no root element"
                                                    : "more than one root element");
  }
  if (auto s = CheckDuplicateAttributes(doc->document_element()); !s.ok()) {
    return s;
  }
  return doc;
}

namespace {

void AppendEscaped(std::string& out, const char* s, bool attribute) {
  // Runs of characters that need no escape are appended whole.
  const char* const special = attribute ? "&<>\"\r\t\n" : "&<>\r";
  while (*s != '\0') {
    const size_t run = std::strcspn(s, special);
    out.append(s, run);
    s += run;
    switch (*s) {
      case '\0':
        return;
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";  // in attributes only
        break;
      case '\r':  // a parser would turn a raw CR into LF
        out += "&#13;";
        break;
      case '\t':  // in attributes only: a parser would turn these into spaces
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      default:
        out += *s;
    }
    ++s;
  }
}

bool HasText(const pugi::xml_node& node) {
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_pcdata || c.type() == pugi::node_cdata) {
      return true;
    }
  }
  return false;
}

// `indent` < 0: no whitespace at all (inside mixed content, or raw output).
void Write(std::string& out,
           const pugi::xml_node& node,
           const XmlWriteOptions& options,
           int indent,
           bool is_top) {
  const auto newline = [&](int level) {
    if (level >= 0) {
      out += '\n';
      out.append(static_cast<size_t>(level) * 2, ' ');
    }
  };
  switch (node.type()) {
    case pugi::node_pcdata:
      AppendEscaped(out, node.value(), false);
      return;
    case pugi::node_cdata: {
      // "]]>" cannot be inside a CDATA section: split it across two sections.
      std::string_view value = node.value();
      out += "<![CDATA[";
      for (size_t pos; (pos = value.find("]]>")) != std::string_view::npos;) {
        absl::StrAppend(&out, Sv(value.substr(0, pos + 2)), "]]><![CDATA[");
        value.remove_prefix(pos + 2);
      }
      absl::StrAppend(&out, Sv(value), "]]>");
      return;
    }
    case pugi::node_comment:
      if (options.comments) {
        absl::StrAppend(&out, "<!--", node.value(), "-->");
      }
      return;
    case pugi::node_element:
      break;
    case pugi::node_null:
    case pugi::node_document:
    case pugi::node_pi:
    case pugi::node_declaration:
    case pugi::node_doctype:
      return;
  }
  out += '<';
  out += node.name();
  for (pugi::xml_attribute a = node.first_attribute(); a; a = a.next_attribute()) {
    if (is_top && !options.skip_top_attribute.empty() && options.skip_top_attribute == a.name()) {
      continue;
    }
    out += ' ';
    out += a.name();
    out += "=\"";
    AppendEscaped(out, a.value(), true);
    out += '"';
  }
  bool any = false;
  for (pugi::xml_node c = node.first_child(); c && !any; c = c.next_sibling()) {
    any = c.type() != pugi::node_comment || options.comments;
  }
  if (!any) {
    out += "/>";
    return;
  }
  out += '>';
  // Whitespace added inside an element that has text would become part of that text.
  const int child_indent = indent < 0 || HasText(node) ? -1 : indent + 1;
  for (pugi::xml_node c = node.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_comment && !options.comments) {
      continue;
    }
    newline(child_indent);
    Write(out, c, options, child_indent, false);  // depth is bounded by the parse limits
  }
  newline(child_indent < 0 ? -1 : indent);
  out += "</";
  out += node.name();
  out += '>';
}

}  // namespace

std::string ToXml(const pugi::xml_node& node, const XmlWriteOptions& options) {
  std::string out;
  Write(out, node, options, options.pretty ? 0 : -1, true);
  if (options.pretty) {
    out += '\n';
  }
  return out;
}

std::string ToXml(const pugi::xml_node& node, bool pretty) {
  return ToXml(node, XmlWriteOptions{.pretty = pretty});
}

bool IsXmlName(std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    const bool start = std::isalpha(c) || c == '_' || c == ':' || c >= 0x80;
    const bool rest = start || std::isdigit(c) || c == '.' || c == '-';
    if (!(i == 0 ? start : rest)) {
      return false;
    }
  }
  return true;
}

bool IsContentNode(const pugi::xml_node& node) {
  switch (node.type()) {
    case pugi::node_element:
    case pugi::node_pcdata:
    case pugi::node_cdata:
    case pugi::node_comment:
      return true;
    case pugi::node_null:
    case pugi::node_document:
    case pugi::node_pi:
    case pugi::node_declaration:
    case pugi::node_doctype:
      return false;
  }
  return false;
}

bool SameAttributes(const pugi::xml_node& a, const pugi::xml_node& b) {
  pugi::xml_attribute x = a.first_attribute();
  pugi::xml_attribute y = b.first_attribute();
  for (; x && y; x = x.next_attribute(), y = y.next_attribute()) {
    if (std::strcmp(x.name(), y.name()) != 0 || std::strcmp(x.value(), y.value()) != 0) {
      return false;
    }
  }
  return !x && !y;
}

bool SameTree(const pugi::xml_node& a, const pugi::xml_node& b) {
  std::vector<std::pair<pugi::xml_node, pugi::xml_node>> stack{{a, b}};
  while (!stack.empty()) {
    auto [x, y] = stack.back();
    stack.pop_back();
    if (x.type() != y.type() || std::strcmp(x.name(), y.name()) != 0 ||
        std::strcmp(x.value(), y.value()) != 0 || !SameAttributes(x, y)) {
      return false;
    }
    pugi::xml_node cx = x.first_child();
    pugi::xml_node cy = y.first_child();
    for (; cx && cy; cx = cx.next_sibling(), cy = cy.next_sibling()) {
      stack.emplace_back(cx, cy);
    }
    if (cx || cy) {
      return false;
    }
  }
  return true;
}

int TreeDepth(const pugi::xml_node& node) {
  int deepest = 0;
  std::vector<std::pair<pugi::xml_node, int>> stack{{node, 1}};
  while (!stack.empty()) {
    auto [n, d] = stack.back();
    stack.pop_back();
    deepest = std::max(deepest, d);
    for (pugi::xml_node c = n.first_child(); c; c = c.next_sibling()) {
      if (c.type() == pugi::node_element) {
        stack.emplace_back(c, d + 1);
      }
    }
  }
  return deepest;
}

std::string Describe(const pugi::xml_node& node) {
  const pugi::xml_attribute id = node.attribute("id");
  if (id) {
    return absl::StrCat("<", node.name(), " id='", id.value(), "'>");
  }
  return absl::StrCat("<", node.name(), ">");
}

}  // namespace ha::cib
