"""Reading TensorFlow V2 checkpoints (tensor bundles) without TensorFlow or protobuf.

A checkpoint saved by ``tf.train.Saver`` (V2 format) is ``PREFIX.index`` plus
``PREFIX.data-0000K-of-0000N``. The index is a LevelDB-format table (SSTable):

- a 48-byte footer: the metaindex and index block handles (varint offset and
  size), zero padding, the 8-byte magic ``0xdb4775248b80fb57``;
- the index block maps the last key of every data block to that block's handle;
- every block holds prefix-compressed entries (shared key length, unshared key
  length, value length as varints, then the key suffix and the value), an array
  of uint32 restart offsets and their count, and is followed by a 5-byte trailer
  (compression type, masked crc32c of block + type byte).

Keys are variable names; the empty key holds a ``BundleHeaderProto`` and every
other value is a ``BundleEntryProto`` (dtype, shape, shard_id, offset, size,
crc32c of the tensor bytes). Tensor bytes are raw, C order, in the header's
byte order. Only what ``Saver`` writes for plain, unpartitioned numeric
variables is supported; anything else raises :class:`WeightsError`.

Modules: :mod:`.checksums` (crc32c), :mod:`.wire` (protobuf wire format), :mod:`.table`
(the SSTable) and :mod:`.bundle` (entries and tensors).
"""

from __future__ import annotations

from .bundle import (OPTIMIZER_NAMES, OPTIMIZER_SUFFIXES, TF_DTYPE_NAMES, TF_DTYPES, BundleHeader,
                     TensorEntry, checkpoint_prefix, data_path, is_optimizer_variable,
                     load_checkpoint, read_bundle_index, read_index)
from .checksums import crc32c, mask_crc
from .table import read_table
from .wire import decode_protobuf

__all__ = ["OPTIMIZER_NAMES", "OPTIMIZER_SUFFIXES", "TF_DTYPES", "TF_DTYPE_NAMES", "BundleHeader",
           "TensorEntry", "checkpoint_prefix", "crc32c", "data_path", "decode_protobuf",
           "is_optimizer_variable", "load_checkpoint", "mask_crc", "read_bundle_index",
           "read_index", "read_table"]
