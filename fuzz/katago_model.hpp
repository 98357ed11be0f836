#pragma once
// The KataGo targets' common check: read the bytes as a model; a model that reads must write back and
// read again to the same bytes (binary) -- the reader accepted nothing the writer cannot express.
#include "fusekit/katago/model_reader.hpp"
#include "fusekit/katago/model_writer.hpp"
#include "harness.hpp"

namespace fusekit::fuzz {

inline void read_katago_model(std::string bytes, katago::FloatEncoding enc) {
  katago::ModelDesc m;
  if (!succeeds([&] { m = katago::read_model_bytes(std::move(bytes), "fuzz.model", enc); })) return;
  const std::string bin = katago::write_model_bytes(m, katago::FloatEncoding::binary);
  const katago::ModelDesc again = katago::read_model_bytes(bin, "rewritten.bin", katago::FloatEncoding::binary);
  invariant(again.float_count == m.float_count, "KataGo model float count after a rewrite");
  invariant(katago::write_model_bytes(again, katago::FloatEncoding::binary) == bin, "KataGo model rewrite is stable");
}

}  // namespace fusekit::fuzz
