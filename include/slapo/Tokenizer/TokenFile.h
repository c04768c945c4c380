//===- TokenFile.h - .bin token files with a recorded dtype ----*- C++ -*-===//
//
// A token file is a 32-byte header and the ids, all little-endian:
//
//   bytes  0..7   magic "SLAPOTOK"
//   bytes  8..11  uint32 format version (1)
//   bytes 12..15  uint32 element size: 2 (uint16 ids) or 4 (uint32 ids)
//   bytes 16..23  uint64 number of ids
//   bytes 24..31  uint64 vocabulary size of the tokenizer that wrote it
//                 (0: not recorded)
//   bytes 32..    the ids, element size bytes each
//
// so uint32 ids hold vocabularies over 65536 (Llama 3: 128256) and a reader
// never guesses the dtype. A file that does not start with the magic is the
// legacy headerless format of nanoGPT's prepare.py: raw little-endian uint16
// ids (a legacy file would have to begin with the ids 19539 20545 21583
// 19279 to be taken for a header).
//
// No dependencies: the runtime (Data.cpp) reads these files and
// slapo-tokenize writes them.
//
//===----------------------------------------------------------------------===//

#ifndef SLAPO_TOKENIZER_TOKENFILE_H
#define SLAPO_TOKENIZER_TOKENFILE_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace slapo::tok {

inline constexpr char kTokenFileMagic[8] = {'S', 'L', 'A', 'P',
                                            'O', 'T', 'O', 'K'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr size_t kTokenFileHeaderSize = 32;

struct TokenFileInfo {
  bool legacy = false;      // headerless uint16 (nanoGPT)
  uint32_t elementSize = 2; // bytes an id
  uint64_t count = 0;       // ids
  uint64_t vocabSize = 0;   // of the tokenizer that wrote it; 0: unknown
};

/// The element size a vocabulary of `vocabSize` ids needs: 2 up to 65536
/// ids, 4 above.
uint32_t tokenElementSize(uint64_t vocabSize);

/// Parses the bytes of a .bin file (`path` is for messages): the header if
/// it has the magic (its version, element size and count checked against
/// the file's size), the legacy uint16 format otherwise. Appends the ids.
bool readTokenFile(std::string_view bytes, const std::string &path,
                   std::vector<int64_t> &ids, TokenFileInfo &info,
                   std::string &error);

/// The file's bytes: header then ids in `elementSize` (2 or 4) bytes each.
/// False with `error` if an id does not fit the element size.
bool encodeTokenFile(const std::vector<uint32_t> &ids, uint32_t elementSize,
                     uint64_t vocabSize, std::string &bytes,
                     std::string &error);

} // namespace slapo::tok

#endif // SLAPO_TOKENIZER_TOKENFILE_H
