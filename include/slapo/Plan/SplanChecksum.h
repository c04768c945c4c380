//===- SplanChecksum.h - the checksum that ends every .splan ----*- C++ -*-===//
//
// A .splan is a FlatBuffers Plan followed by 8 bytes: the XXH3-64 hash of
// the FlatBuffers bytes, little-endian. The verifier only proves the bytes
// are a well-formed table; a flipped bit in a number (a shape, an offset, a
// learning-rate attribute) stays well-formed and would train something
// else. The loader checks the hash before reading anything. xxHash is used
// header-only (XXH_INLINE_ALL), so the runtime links no library for it.
//
//===----------------------------------------------------------------------===//
#ifndef SLAPO_PLAN_SPLANCHECKSUM_H
#define SLAPO_PLAN_SPLANCHECKSUM_H

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace slapo {

inline constexpr size_t kSplanChecksumBytes = 8;

/// The checksum of a plan's FlatBuffers bytes.
inline uint64_t splanChecksum(const uint8_t *data, size_t size) {
  return XXH3_64bits(data, size);
}

/// The 8 bytes that follow the FlatBuffers bytes in the file.
inline std::array<uint8_t, kSplanChecksumBytes>
splanChecksumTrailer(const uint8_t *data, size_t size) {
  uint64_t hash = splanChecksum(data, size);
  std::array<uint8_t, kSplanChecksumBytes> bytes;
  for (size_t i = 0; i < kSplanChecksumBytes; ++i)
    bytes[i] = uint8_t(hash >> (8 * i));
  return bytes;
}

/// The checksum stored in the last 8 bytes of a file of `size` bytes.
inline uint64_t storedSplanChecksum(const uint8_t *data, size_t size) {
  uint64_t hash = 0;
  for (size_t i = 0; i < kSplanChecksumBytes; ++i)
    hash |= uint64_t(data[size - kSplanChecksumBytes + i]) << (8 * i);
  return hash;
}

} // namespace slapo

#endif // SLAPO_PLAN_SPLANCHECKSUM_H
