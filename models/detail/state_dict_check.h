#pragma once
// Internal to models/bundle.cpp: a weights.pt is untrusted input (a crafted
// bundle can carry a matching checksum), and LibTorch 1.13's unpickler,
// which torch::pickle_load runs, is not safe on crafted bytes: a pickle
// whose REDUCE finds one value on the stack pops an empty std::vector and
// the process dies (found by fuzz/targets/fuzz_weights.cpp); a LONG_BINPUT
// of 2^32-1 grows its memo table to 2^32 entries; and _rebuild_tensor_v2
// sets sizes and strides without checking them against the storage, so a
// tensor can point past its data. Fixing that means patching LibTorch, so
// medseg checks what the unpickler is given first, and what it returns
// before anything reads it.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace medseg::models::detail {

/// Checks that `bytes` is a PyTorch zip archive whose data.pkl is what
/// torch::pickle_save writes for a dict of names to tensors (optionally with
/// its "Dict[str, Tensor]" type tag): only the pickle operations of that
/// shape, each on operands of the right kind (a stack simulation), memo ids
/// in order, globals from a fixed list (_rebuild_tensor_v2, the storage
/// types, OrderedDict, restore_type_tag), every tensor built from a storage
/// with non-negative sizes, strides and offset. Throws ModelError
/// "FILE: not a readable PyTorch state dict (WHY)" otherwise.
void check_state_dict_pickle(const std::vector<char>& bytes, const std::string& file);

/// Throws ModelError naming `file` and `name` unless every element of
/// `tensor` (by its sizes, strides and offset) lies inside its storage.
void check_tensor_in_storage(const at::Tensor& tensor, const std::string& name, const std::string& file);

}  // namespace medseg::models::detail
