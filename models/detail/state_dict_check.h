#pragma once
// Internal to models/bundle.cpp: a weights.pt is untrusted input (a crafted
// bundle can carry a matching checksum), and LibTorch 1.13's
// torch::pickle_load is not safe on crafted bytes. Its unpickler pops an
// empty stack when a REDUCE finds one value on it, and the process dies
// (SIGSEGV; 2 of 3000 random mutations of a state dict's pickle did so); its
// zip reader copies whatever byte range miniz asks for, before the start of
// the buffer for a damaged archive (found by fuzz/targets/fuzz_weights.cpp);
// it sizes a storage by the pickle's element count whatever its record
// holds, and places tensors in it without checking offset, sizes and
// strides, so copying the weights reads past the record. Fixing that means
// patching LibTorch, so medseg checks what pickle_load is given first, and
// what it returns before anything reads the tensors.
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

namespace medseg::models::detail {

/// Checks that `bytes` is a PyTorch zip archive whose records all lie inside
/// the file (each is read once, through a bounded reader), and whose data.pkl
/// is what torch::pickle_save writes for a dict of names to tensors
/// (optionally with its "Dict[str, Tensor]" type tag): only the pickle
/// operations of that shape, each on operands of the right kind (a stack
/// simulation), memo ids in order, globals from a fixed list
/// (_rebuild_tensor_v2, the storage types, OrderedDict, restore_type_tag),
/// every storage no larger than its record, every tensor with non-negative
/// sizes, strides and offset. Throws ModelError
/// "FILE: not a readable PyTorch state dict (WHY)" otherwise.
void check_state_dict_pickle(const std::vector<char>& bytes, const std::string& file);

/// Throws ModelError naming `file` and `name` unless every element of
/// `tensor` (by its sizes, strides and offset) lies inside its storage.
void check_tensor_in_storage(const at::Tensor& tensor, const std::string& name, const std::string& file);

}  // namespace medseg::models::detail
