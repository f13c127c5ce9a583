#include "pengine/digest.h"

#include <openssl/evp.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace ha::pengine {

namespace {

std::string EscapeAttribute(const std::string& value) {
  std::string out;
  for (char c : value) {
    switch (c) {
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
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string Md5Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_Digest(data.data(), data.size(), digest, &length, EVP_md5(), nullptr);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), length));
}

}  // namespace

std::string ParametersDigest(const std::map<std::string, std::string>& parameters) {
  std::string text = " <parameters";
  for (const auto& [name, value] : parameters)  // std::map: sorted by name
    absl::StrAppend(&text, " ", name, "=\"", EscapeAttribute(value), "\"");
  absl::StrAppend(&text, "/>\n");
  return Md5Hex(text);
}

std::string ParametersDigest(const std::map<std::string, std::string>& parameters,
                             const std::set<std::string>& names) {
  std::map<std::string, std::string> selected;
  for (const auto& [name, value] : parameters)
    if (names.count(name))
      selected[name] = value;
  return ParametersDigest(selected);
}

}  // namespace ha::pengine
