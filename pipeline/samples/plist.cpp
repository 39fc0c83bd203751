#include "pipeline/samples/plist.h"

#include <fstream>
#include <sstream>

#include "core/error.h"

namespace medseg::pipeline {
namespace {

class Parser {
 public:
  Parser(std::string text, std::string file) : text_(std::move(text)), file_(std::move(file)) {}

  PlistValue parse_document() {
    expect_open("plist");
    PlistValue v = parse_value();
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError("cannot read '" + file_ + "': malformed plist (" + what + ")");
  }

  // Next tag name (e.g. "dict", "/dict", "true/"); skips <?xml?>, <!DOCTYPE>.
  std::string next_tag() {
    while (true) {
      const auto open = text_.find('<', pos_);
      if (open == std::string::npos) fail("unexpected end of file");
      const auto close = text_.find('>', open);
      if (close == std::string::npos) fail("unterminated tag");
      pos_ = close + 1;
      std::string tag = text_.substr(open + 1, close - open - 1);
      if (!tag.empty() && (tag[0] == '?' || tag[0] == '!')) continue;
      const auto space = tag.find(' ');
      if (space != std::string::npos && tag.back() != '/') tag = tag.substr(0, space);
      return tag;
    }
  }

  void expect_open(const std::string& name) {
    const std::string tag = next_tag();
    if (tag != name) fail("expected <" + name + ">, found <" + tag + ">");
  }

  std::string read_text(const std::string& name) {
    const std::string end = "</" + name + ">";
    const auto stop = text_.find(end, pos_);
    if (stop == std::string::npos) fail("missing " + end);
    std::string value = text_.substr(pos_, stop - pos_);
    pos_ = stop + end.size();
    return value;
  }

  PlistValue parse_value() { return parse_tagged(next_tag()); }

  PlistValue parse_tagged(const std::string& tag) {
    PlistValue v;
    if (tag == "dict") {
      v.kind = PlistValue::Kind::kDict;
      while (true) {
        const std::string t = next_tag();
        if (t == "/dict") break;
        if (t != "key") fail("expected <key> in dict, found <" + t + ">");
        const std::string key = read_text("key");
        v.entries[key] = parse_value();
      }
    } else if (tag == "array") {
      v.kind = PlistValue::Kind::kArray;
      while (true) {
        const std::string t = next_tag();
        if (t == "/array") break;
        v.items.push_back(parse_tagged(t));
      }
    } else if (tag == "string" || tag == "integer" || tag == "real") {
      v.kind = tag == "string"    ? PlistValue::Kind::kString
               : tag == "integer" ? PlistValue::Kind::kInteger
                                  : PlistValue::Kind::kReal;
      v.text = read_text(tag);
    } else if (tag == "true/" || tag == "false/") {
      v.kind = PlistValue::Kind::kBool;
      v.text = tag == "true/" ? "true" : "false";
    } else if (tag == "dict/" || tag == "array/" || tag == "string/") {
      v.kind = tag == "dict/" ? PlistValue::Kind::kDict
               : tag == "array/" ? PlistValue::Kind::kArray
                                 : PlistValue::Kind::kString;
    } else {
      fail("unsupported element <" + tag + ">");
    }
    return v;
  }

  std::string text_;
  std::string file_;
  std::size_t pos_ = 0;
};

}  // namespace

const PlistValue& PlistValue::at(const std::string& key) const {
  const auto it = entries.find(key);
  if (kind != Kind::kDict || it == entries.end()) {
    throw IoError("plist: missing key '" + key + "'");
  }
  return it->second;
}

double PlistValue::as_number() const {
  if (kind != Kind::kInteger && kind != Kind::kReal) throw IoError("plist: '" + text + "' is not a number");
  return std::stod(text);
}

const std::string& PlistValue::as_string() const {
  if (kind != Kind::kString) throw IoError("plist: value is not a string");
  return text;
}

PlistValue read_plist(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError("cannot read '" + path.string() + "': cannot open file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return Parser(buffer.str(), path.string()).parse_document();
}

}  // namespace medseg::pipeline
