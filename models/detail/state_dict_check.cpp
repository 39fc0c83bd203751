#include "models/detail/state_dict_check.h"

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string_view>

#include "core/error.h"
#include "core/error_message.h"

namespace medseg::models::detail {
namespace {

// What a pickle value is, as far as the check needs to know.
enum class Kind { kText, kInt, kBool, kNone, kGlobal, kTuple, kDict, kStorage, kTensor, kOrderedDict };

struct Value {
  Value(Kind k = Kind::kNone) : kind(k) {}  // NOLINT: {Kind::kDict} reads best on the stack
  Kind kind;
  std::string text;           // kText, kGlobal ("module name")
  std::int64_t number = 0;    // kInt
  std::vector<Value> items;   // kTuple
};

// The storage types a state dict may name, with their element sizes.
const std::map<std::string, std::uint64_t>& storage_globals() {
  static const std::map<std::string, std::uint64_t> types = {
      {"torch FloatStorage", 4}, {"torch DoubleStorage", 8}, {"torch HalfStorage", 2},
      {"torch BFloat16Storage", 2}, {"torch LongStorage", 8}, {"torch IntStorage", 4},
      {"torch ShortStorage", 2}, {"torch CharStorage", 1}, {"torch ByteStorage", 1},
      {"torch BoolStorage", 1}};
  return types;
}

constexpr std::string_view kRebuildTensor = "torch._utils _rebuild_tensor_v2";
constexpr std::string_view kOrderedDict = "collections OrderedDict";
constexpr std::string_view kRestoreTypeTag = "torch.jit._pickle restore_type_tag";
constexpr std::string_view kDictTypeTag = "Dict[str, Tensor]";
constexpr std::size_t kMaxDims = 16;

class PickleCheck {
 public:
  /// `records`: the byte size of each tensor record (data/KEY) by KEY.
  PickleCheck(std::string_view data, const std::map<std::string, std::uint64_t>& records)
      : data_(data), records_(records) {}

  // Runs the program to its STOP; throws std::runtime_error saying why not.
  void run() {
    while (true) {
      const auto op = static_cast<unsigned char>(byte());
      switch (op) {
        case 0x80:  // PROTO
          if (byte() != 2) fail("pickle protocol other than 2");
          break;
        case '.':  // STOP
          if (!marks_.empty() || stack_.size() != 1 || stack_.back().kind != Kind::kDict) {
            fail("the pickle does not end with one dict");
          }
          return;
        case '(':  // MARK
          marks_.push_back(stack_.size());
          break;
        case '}':  // EMPTY_DICT
          stack_.push_back({Kind::kDict});
          break;
        case ')':  // EMPTY_TUPLE
          stack_.push_back({Kind::kTuple});
          break;
        case 'N':  // NONE
          stack_.push_back({Kind::kNone});
          break;
        case 0x88:  // NEWTRUE
        case 0x89:  // NEWFALSE
          stack_.push_back({Kind::kBool});
          break;
        case 'K':  // BININT1
          push_int(static_cast<unsigned char>(byte()));
          break;
        case 'M':  // BININT2
          push_int(static_cast<std::int64_t>(little_endian(2)));
          break;
        case 'J':  // BININT
          push_int(static_cast<std::int32_t>(static_cast<std::uint32_t>(little_endian(4))));
          break;
        case 0x8a: {  // LONG1: little-endian two's complement, at most 8 bytes here
          const auto n = static_cast<unsigned char>(byte());
          if (n > 8) fail("an integer wider than 64 bits");
          std::uint64_t v = little_endian(n);
          if (n > 0 && n < 8 && (v >> (8 * n - 1)) != 0) v |= ~std::uint64_t{0} << (8 * n);  // sign
          push_int(static_cast<std::int64_t>(v));
          break;
        }
        case 'X': {  // BINUNICODE
          const std::uint64_t n = little_endian(4);
          Value v{Kind::kText};
          v.text = std::string(take(n));
          stack_.push_back(std::move(v));
          break;
        }
        case 'c': {  // GLOBAL "module\nname\n"
          std::string name = line();
          name += " " + line();
          if (name != kRebuildTensor && name != kOrderedDict && name != kRestoreTypeTag &&
              storage_globals().count(name) == 0) {
            fail("it names the global " + core::quote_short(name, 60) + ", not one a state dict uses");
          }
          Value v{Kind::kGlobal};
          v.text = std::move(name);
          stack_.push_back(std::move(v));
          break;
        }
        case 'q':  // BINPUT
          put(static_cast<unsigned char>(byte()));
          break;
        case 'r':  // LONG_BINPUT
          put(little_endian(4));
          break;
        case 'h':  // BINGET
          get(static_cast<unsigned char>(byte()));
          break;
        case 'j':  // LONG_BINGET
          get(little_endian(4));
          break;
        case 't':  // TUPLE
          stack_.push_back(tuple(pop_to_mark()));
          break;
        case 0x85:  // TUPLE1
        case 0x86:  // TUPLE2
        case 0x87:  // TUPLE3
          stack_.push_back(tuple(pop_n(op - 0x84)));
          break;
        case 'Q':  // BINPERSID
          stack_.push_back(storage(pop_n(1).front()));
          break;
        case 'R': {  // REDUCE
          std::vector<Value> both = pop_n(2);
          stack_.push_back(reduce(both[0], both[1]));
          break;
        }
        case 's':  // SETITEM
          set_items(pop_n(2));
          break;
        case 'u':  // SETITEMS
          set_items(pop_to_mark());
          break;
        default:
          fail("pickle opcode 0x" + hex(op) + " at byte " + std::to_string(pos_ - 1) +
               " is not one a state dict uses");
      }
    }
  }

 private:
  [[noreturn]] static void fail(const std::string& why) { throw std::runtime_error(why); }

  static std::string hex(unsigned value) {
    const char* digits = "0123456789abcdef";
    return {digits[(value >> 4) & 15], digits[value & 15]};
  }

  char byte() {
    if (pos_ >= data_.size()) fail("the pickle ends without STOP");
    return data_[pos_++];
  }
  std::string_view take(std::uint64_t n) {
    if (n > data_.size() - pos_) fail("a string runs past the end of the pickle");
    const std::string_view s = data_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::uint64_t little_endian(unsigned bytes) {
    const std::string_view s = take(bytes);
    std::uint64_t v = 0;
    for (unsigned k = 0; k < bytes; ++k) v |= std::uint64_t{static_cast<unsigned char>(s[k])} << (8 * k);
    return v;
  }
  std::string line() {
    const std::size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos || end - pos_ > 200) fail("a GLOBAL name is not a short line");
    std::string s(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }

  void push_int(std::int64_t v) {
    Value value{Kind::kInt};
    value.number = v;
    stack_.push_back(std::move(value));
  }
  // Memo ids as a pickler assigns them: the next free one, or one in use.
  void put(std::uint64_t id) {
    if (stack_.empty()) fail("BINPUT on an empty stack");
    if (id > memo_.size()) fail("memo id " + std::to_string(id) + " skips ids");
    if (id == memo_.size()) {
      memo_.push_back(stack_.back());
    } else {
      memo_[static_cast<std::size_t>(id)] = stack_.back();
    }
  }
  void get(std::uint64_t id) {
    if (id >= memo_.size()) fail("memo id " + std::to_string(id) + " was never stored");
    stack_.push_back(memo_[static_cast<std::size_t>(id)]);
  }

  std::vector<Value> pop_n(std::size_t n) {
    const std::size_t floor = marks_.empty() ? 0 : marks_.back();
    if (stack_.size() < floor + n) fail("an operation finds too few values on the stack");
    std::vector<Value> out(std::make_move_iterator(stack_.end() - static_cast<std::ptrdiff_t>(n)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(stack_.size() - n);
    return out;
  }
  std::vector<Value> pop_to_mark() {
    if (marks_.empty()) fail("an operation needs a MARK that is not there");
    const std::size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<Value> out(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(mark)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return out;
  }

  static Value tuple(std::vector<Value> items) {
    Value v{Kind::kTuple};
    v.items = std::move(items);
    return v;
  }

  // ('storage', torch.XStorage, key, location, numel). LibTorch sizes the
  // storage by numel but fills it from the record, so a numel beyond the
  // record would let every tensor on it read past the record's buffer.
  Value storage(const Value& id) const {
    const auto& t = id.items;
    if (id.kind != Kind::kTuple || t.size() != 5 || t[0].kind != Kind::kText || t[0].text != "storage" ||
        t[1].kind != Kind::kGlobal || storage_globals().count(t[1].text) == 0 || t[2].kind != Kind::kText ||
        t[3].kind != Kind::kText || t[4].kind != Kind::kInt || t[4].number < 0) {
      fail("a persistent id is not ('storage', type, key, location, size)");
    }
    const auto record = records_.find(t[2].text);
    if (record == records_.end()) fail("a storage names a record the archive does not hold");
    std::uint64_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<std::uint64_t>(t[4].number), storage_globals().at(t[1].text), &bytes) ||
        bytes > record->second) {
      fail("storage " + core::quote_short(t[2].text) + " claims " + std::to_string(t[4].number) +
           " elements, more than its record's " + std::to_string(record->second) + " bytes hold");
    }
    return {Kind::kStorage};
  }

  static bool all_ints(const Value& v) {
    if (v.kind != Kind::kTuple || v.items.size() > kMaxDims) return false;
    for (const Value& i : v.items) {
      if (i.kind != Kind::kInt || i.number < 0) return false;
    }
    return true;
  }

  static Value reduce(const Value& callable, const Value& args) {
    if (callable.kind != Kind::kGlobal || args.kind != Kind::kTuple) fail("REDUCE on something not a call");
    const auto& a = args.items;
    if (callable.text == kOrderedDict) {
      if (!a.empty()) fail("OrderedDict called with arguments");
      return {Kind::kOrderedDict};
    }
    if (callable.text == kRestoreTypeTag) {
      if (a.size() != 2 || a[0].kind != Kind::kDict || a[1].kind != Kind::kText || a[1].text != kDictTypeTag) {
        fail("a type tag other than " + std::string(kDictTypeTag));
      }
      return {Kind::kDict};
    }
    if (callable.text == kRebuildTensor) {
      // (storage, offset, sizes, strides, requires_grad, backward_hooks)
      if (a.size() != 6 || a[0].kind != Kind::kStorage || a[1].kind != Kind::kInt || a[1].number < 0 ||
          !all_ints(a[2]) || !all_ints(a[3]) || a[2].items.size() != a[3].items.size() ||
          a[4].kind != Kind::kBool || a[5].kind != Kind::kOrderedDict) {
        fail("a tensor is not (storage, offset, sizes, strides, requires_grad, hooks)");
      }
      return {Kind::kTensor};
    }
    fail("a storage type called as a function");
  }

  void set_items(std::vector<Value> pairs) {
    if (pairs.size() % 2 != 0) fail("SETITEMS with a key but no value");
    if (stack_.empty() || (stack_.back().kind != Kind::kDict && stack_.back().kind != Kind::kOrderedDict) ||
        (!marks_.empty() && stack_.size() <= marks_.back())) {
      fail("SETITEMS on something not a dict");
    }
    for (std::size_t k = 0; k < pairs.size(); k += 2) {
      if (pairs[k].kind != Kind::kText || pairs[k + 1].kind != Kind::kTensor) {
        fail("a dict entry is not name -> tensor");
      }
    }
  }

  std::string_view data_;
  const std::map<std::string, std::uint64_t>& records_;
  std::size_t pos_ = 0;
  std::vector<Value> stack_;
  std::vector<std::size_t> marks_;
  std::vector<Value> memo_;
};

[[noreturn]] void unreadable(const std::string& file, const std::string& why) {
  throw ModelError(file + ": not a readable PyTorch state dict (" + core::single_line(why) + ")");
}

// The archive's bytes for LibTorch's zip reader (miniz), refusing reads
// outside them. LibTorch's own adapters (MemoryReadAdapter, the VectorReader
// inside pickle_load) copy whatever range miniz asks for, and a damaged zip
// can make miniz ask for bytes before the start of the buffer (found by
// fuzz_weights: UBSan's pointer overflow in MemoryReadAdapter::read, called
// from mz_zip_reader_init). A refused read returns 0 bytes, which miniz
// reports as an error; an exception must not cross miniz's C frames.
class BoundedReader final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReader(const std::vector<char>& bytes) : bytes_(bytes) {}
  size_t size() const override { return bytes_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos > bytes_.size() || n > bytes_.size() - pos) {
      outside_ = true;
      return 0;
    }
    std::memcpy(buf, bytes_.data() + pos, n);
    return n;
  }
  bool read_outside() const { return outside_; }

 private:
  const std::vector<char>& bytes_;
  mutable bool outside_ = false;
};

}  // namespace

void check_state_dict_pickle(const std::vector<char>& bytes, const std::string& file) {
  // Every record is read once here, with the reads bounded: torch::pickle_load
  // then reads the same records of the same bytes with the same miniz calls,
  // which this pass has shown to stay inside the file.
  auto bounded = std::make_shared<BoundedReader>(bytes);
  std::string pickle;
  std::map<std::string, std::uint64_t> tensor_records;  // data/KEY -> bytes
  try {
    caffe2::serialize::PyTorchStreamReader reader(bounded);
    if (!reader.hasRecord("data.pkl")) unreadable(file, "no data.pkl in the archive");
    for (const std::string& name : reader.getAllRecords()) {
      const auto [data, size] = reader.getRecord(name);
      if (name == "data.pkl") pickle.assign(static_cast<const char*>(data.get()), size);
      if (name.rfind("data/", 0) == 0) tensor_records[name.substr(5)] = size;
    }
  } catch (const ModelError&) {
    throw;
  } catch (const std::exception& e) {
    unreadable(file, bounded->read_outside() ? "the zip archive points outside the file" : core::one_line(e));
  }
  if (bounded->read_outside()) unreadable(file, "the zip archive points outside the file");
  try {
    PickleCheck(pickle, tensor_records).run();
  } catch (const std::runtime_error& e) {
    unreadable(file, e.what());
  }
}

void check_tensor_in_storage(const at::Tensor& tensor, const std::string& name, const std::string& file) {
  if (tensor.numel() == 0) return;
  // The last element's index in the storage, in elements: offset + sum((size - 1) * stride).
  std::uint64_t last = static_cast<std::uint64_t>(tensor.storage_offset());
  bool overflow = tensor.storage_offset() < 0;
  for (std::int64_t d = 0; d < tensor.dim(); ++d) {
    const std::int64_t stride = tensor.stride(d);
    std::uint64_t step = 0;
    overflow |= stride < 0 || __builtin_mul_overflow(static_cast<std::uint64_t>(tensor.size(d) - 1),
                                                     static_cast<std::uint64_t>(stride), &step);
    overflow |= __builtin_add_overflow(last, step, &last);
  }
  std::uint64_t bytes = 0;
  overflow |= __builtin_add_overflow(last, 1, &last) ||
              __builtin_mul_overflow(last, static_cast<std::uint64_t>(tensor.element_size()), &bytes);
  if (overflow || !tensor.has_storage() || bytes > tensor.storage().nbytes()) {
    throw ModelError(file + ": tensor " + core::quote_short(name, 60) +
                     " reaches past the end of its data (sizes, strides or offset do not fit its storage)");
  }
}

}  // namespace medseg::models::detail
