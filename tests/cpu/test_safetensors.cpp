// safetensors: round trips for every dtype through a file (memory-mapped) and through bytes, an image
// written by hand the way the reference Python package lays it out, conversion between float dtypes,
// and a clear error for every malformed header, truncation and mismatched request.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>

#include "../common.hpp"
#include "fusekit/io/safetensors.hpp"

using namespace fusekit;

namespace {

std::vector<std::byte> image(const std::string& header, std::size_t data_bytes, unsigned char fill = 0) {
  std::vector<std::byte> out(8);
  for (int i = 0; i < 8; ++i) out[i] = std::byte((std::uint64_t{header.size()} >> (8 * i)) & 0xff);
  for (char c : header) out.push_back(std::byte(static_cast<unsigned char>(c)));
  out.insert(out.end(), data_bytes, std::byte(fill));
  return out;
}

io::SafeTensors parse(const std::string& header, std::size_t data_bytes) {
  return io::SafeTensors::from_bytes(image(header, data_bytes), "t.safetensors");
}

void expect_error(const std::string& header, std::size_t data_bytes, const std::string& fragment) {
  SCOPED_TRACE(header);
  test::expect_error([&] { parse(header, data_bytes); }, fragment.c_str());
}

template <class A, class B>
void expect_same(const A& a, const B& b) {
  ASSERT_EQ(a.shape(), b.shape());
  ASSERT_EQ(a.bytes(), b.bytes());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.bytes()), 0);
}

}  // namespace

TEST(SafeTensors, RoundTripEveryDtypeThroughAFile) {
  io::SafeTensorsWriter w;
  const auto f = test::random_tensor<float, 2>({3, 5}, 1, -10, 10);
  const auto h = test::random_tensor<half, 3>({2, 1, 7}, 2, -10, 10);
  const auto b = test::random_tensor<bfloat16, 1>({9}, 3, -10, 10);
  HostTensor<std::int64_t, 1> i64({4});
  HostTensor<std::int32_t, 2> i32({2, 2});
  for (int i = 0; i < 4; ++i) i64.data()[i] = (std::int64_t{1} << 40) + i, i32.data()[i] = -7 * i;
  HostTensor<float, 2> empty({0, 4});
  w.add("f32", f);
  w.add("f16", h);
  w.add("bf16", b);
  w.add("i64", i64);
  w.add("i32", i32);
  w.add("empty", empty);
  w.add("transposed", f.view().permute({1, 0}));  // strided input is written in C order
  w.metadata("format", "pt");
  const auto path = (std::filesystem::temp_directory_path() / ("fusekit_st_" + std::to_string(::getpid()))).string();
  w.write(path);
  {
    const auto st = io::SafeTensors::open(path);
    ASSERT_EQ(st.tensors().size(), 7u);
    EXPECT_EQ(st.metadata().at("format"), "pt");
    EXPECT_EQ(st.info("f16").dtype, DType::f16);
    expect_same(st.load<float, 2>("f32"), f);
    expect_same(st.load<half, 3>("f16", {2, 1, 7}), h);
    expect_same(st.load<bfloat16, 1>("bf16"), b);
    expect_same(st.load<std::int64_t, 1>("i64"), i64);
    expect_same(st.load<std::int32_t, 2>("i32"), i32);
    EXPECT_EQ((st.load<float, 2>("empty").size(0)), 0);
    const auto t = st.load<float, 2>("transposed", {5, 3});
    for (index_t r = 0; r < 5; ++r)
      for (index_t c = 0; c < 3; ++c) EXPECT_EQ(t(r, c), f(c, r));
    // Float dtypes convert on load: f32 -> bf16 rounds to nearest even, bf16 -> f32 is exact.
    const auto fb = st.load<bfloat16, 2>("f32");
    for (index_t i = 0; i < 15; ++i) EXPECT_EQ(fb.data()[i].bits, convert<bfloat16>(f.data()[i]).bits);
    const auto bf = st.load<float, 1>("bf16");
    for (index_t i = 0; i < 9; ++i) EXPECT_EQ(bf.data()[i], to_float(b.data()[i]));
  }
  std::filesystem::remove(path);
}

TEST(SafeTensors, ReadsTheReferenceLayout) {
  // What safetensors.torch.save_file writes for {"a": torch.tensor([[1., 2.]]), "b": arange(3, dtype=int64)}:
  // keys sorted, __metadata__ first, header padded with spaces to 8 bytes.
  std::string header = R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[1,2],"data_offsets":[0,8]},)"
                       R"("b":{"dtype":"I64","shape":[3],"data_offsets":[8,32]}})";
  header.append((8 - header.size() % 8) % 8, ' ');
  auto bytes = image(header, 0);
  const float a[2] = {1.f, 2.f};
  const std::int64_t bv[3] = {0, 1, 2};
  const auto* pa = reinterpret_cast<const std::byte*>(a);
  const auto* pb = reinterpret_cast<const std::byte*>(bv);
  bytes.insert(bytes.end(), pa, pa + 8);
  bytes.insert(bytes.end(), pb, pb + 24);
  const auto st = io::SafeTensors::from_bytes(bytes, "ref");
  EXPECT_EQ((st.load<float, 2>("a", {1, 2})(0, 1)), 2.f);
  EXPECT_EQ((st.load<std::int64_t, 1>("b")(2)), 2);
}

TEST(SafeTensors, MalformedFilesGetClearErrors) {
  test::expect_error([] { io::SafeTensors::from_bytes({}, "t.safetensors"); }, "too short");
  test::expect_error([] { io::SafeTensors::open("/nonexistent/x.safetensors"); }, "cannot open");
  // Header length past the end (a truncated file).
  auto img = image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  img.resize(20);
  test::expect_error([&] { io::SafeTensors::from_bytes(img, "t.safetensors"); }, "runs past the end");
  // Data truncated: offsets beyond the data.
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4, "outside the 4 data bytes");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12, "cover 8 data bytes but the file holds 12");
  expect_error(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "needs 12 bytes");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
               8, "overlap");
  expect_error(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8, "a hole");
  expect_error(R"({"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2, "F8_E4M3");
  expect_error(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8, "non-negative integer");
  expect_error(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8, "non-negative integer");
  expect_error(R"({"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}})", 8, "64 bits");
  expect_error(R"({"a":{"dtype":"F32","shape":[2]}})", 8, "lacks data_offsets");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{}})", 8, "duplicate key");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8, "unexpected end");
  expect_error(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}} x)", 8, "after the end");
  expect_error(R"([1,2])", 0, "not an object");
  expect_error(R"({"__metadata__":{"k":1}})", 0, "not a string");
  expect_error(R"({"a":"\q"})", 0, "bad escape");
  expect_error(std::string(200, '[') + std::string(200, ']'), 0, "nesting deeper");
  // The byte offset of a JSON error is reported.
  expect_error(R"({"a":  tru})", 0, "byte 7");
}

TEST(SafeTensors, LoadChecksShapeDtypeAndValues) {
  io::SafeTensorsWriter w;
  HostTensor<float, 2> x({2, 3});
  for (index_t i = 0; i < 6; ++i) x.data()[i] = static_cast<float>(i) - 2.5f;
  HostTensor<std::int32_t, 1> n({2});
  n(0) = 1, n(1) = 2;
  w.add("x", x);
  w.add("n", n);
  x.data()[4] = std::numeric_limits<float>::quiet_NaN();
  w.add("bad", x);
  const auto st = io::SafeTensors::from_bytes(w.bytes(), "m.safetensors");
  test::expect_error([&] { st.load<float, 2>("x", {3, 2}); }, "tensor 'x' has shape [2, 3] (f32), expected [3, 2]");
  test::expect_error([&] { st.load<float, 3>("x"); }, "expected");
  test::expect_error([&] { st.load<float, 1>("nope"); }, "no tensor named 'nope'");
  test::expect_error([&] { st.load<float, 1>("n"); }, "holds i32 data");
  test::expect_error([&] { st.load<std::int64_t, 1>("n"); }, "holds i32 data, expected i64");
  test::expect_error([&] { st.load<float, 2>("bad"); }, "non-finite value (nan) at flat index 4");
  EXPECT_TRUE(std::isnan(st.load<float, 2>("bad", {2, 3}, false).data()[4]));
  test::expect_error([&] { w.add("x", x); }, "already used");
}

TEST(SafeTensors, JsonStringsAndEscapes) {
  const auto j = io::parse_json(R"({"k\u00e9\ud83d\ude00":"a\"b\\c\n","n":[0,-1.5e3,true,false,null]})", "j");
  ASSERT_EQ(j.keys.size(), 2u);
  EXPECT_EQ(j.keys[0], "k\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_EQ(j.items[0].text, "a\"b\\c\n");
  ASSERT_EQ(j.find("n")->items.size(), 5u);
  EXPECT_EQ(j.find("n")->items[1].text, "-1.5e3");
  EXPECT_EQ(io::json_quote("a\"\n"), "\"a\\\"\\u000a\"");
  test::expect_error([] { io::parse_json(R"("\ud83d")", "j"); }, "surrogate");
  test::expect_error([] { io::parse_json("\"a\x01\"", "j"); }, "control character");
  test::expect_error([] { io::parse_json("01", "j"); }, "after the end");
}

TEST(SafeTensors, EveryTruncationAndByteFlipIsHandled) {
  io::SafeTensorsWriter w;
  w.add("a", test::random_tensor<float, 2>({3, 4}, 5));
  w.add("b", test::random_tensor<bfloat16, 1>({7}, 6));
  w.metadata("k", "v");
  const auto full = w.bytes();
  for (std::size_t n = 0; n < full.size(); ++n) {
    std::vector<std::byte> cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
    EXPECT_THROW(io::SafeTensors::from_bytes(cut, "cut"), Error) << "truncated to " << n << " bytes";
  }
  // Flipped header bytes: either a valid file (then every tensor loads or gets an Error) or an Error.
  std::uint64_t z = 12345;
  for (int i = 0; i < 3000; ++i) {
    auto b = full;
    z = z * 6364136223846793005ull + 1442695040888963407ull;
    const std::size_t at = 8 + (z >> 33) % (full.size() - 8 - 76);  // inside the header
    b[at] = static_cast<std::byte>((z >> 13) & 0xff);
    try {
      const auto st = io::SafeTensors::from_bytes(b, "flipped");
      for (const auto& t : st.tensors()) (void)st.load_flat<float>(t.name, false);
    } catch (const Error&) {
    }
  }
}
