// .npy reading and writing: round trips for every dtype, files written by NumPy (hand-built bytes),
// Fortran order, and clear errors for corrupt or unsupported files.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "../common.hpp"
#include "fusekit/io/npy.hpp"

using namespace fusekit;

namespace {
std::string tmp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("fusekit_test_" + std::to_string(::getpid()) + "_" + name)).string();
}

std::vector<std::byte> make_npy(const std::string& header_dict, const std::vector<unsigned char>& data, int major = 1) {
  std::string h = header_dict;
  const std::size_t pre = major == 1 ? 10 : 12;
  h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  std::vector<std::byte> out;
  auto put = [&](unsigned char c) { out.push_back(std::byte(c)); };
  for (unsigned char c : std::string("\x93NUMPY")) put(c);
  put(static_cast<unsigned char>(major));
  put(0);
  put(h.size() & 0xff);
  put((h.size() >> 8) & 0xff);
  if (major > 1) { put(0); put(0); }
  for (char c : h) put(static_cast<unsigned char>(c));
  for (auto c : data) put(c);
  return out;
}

template <class T, std::size_t R>
void round_trip(const Shape<R>& s, std::uint64_t salt) {
  auto t = test::random_tensor<T, R>(s, salt, -100, 100);
  const auto path = tmp_path("rt.npy");
  io::save_npy(path, t);
  auto back = io::load_npy<T, R>(path);
  ASSERT_EQ(back.shape(), t.shape());
  if (t.bytes()) {  // (memcmp of a null pointer is undefined even for 0 bytes)
    ASSERT_EQ(std::memcmp(back.data(), t.data(), t.bytes()), 0) << dtype_of<T>;
  }
  std::filesystem::remove(path);
}
}  // namespace

TEST(Npy, RoundTripEveryDtype) {
  round_trip<float, 2>({3, 5}, 1);
  round_trip<half, 3>({2, 3, 4}, 2);
  round_trip<bfloat16, 1>({17}, 3);
  round_trip<double, 2>({1, 1}, 4);
  round_trip<int32_t, 2>({4, 9}, 5);
  round_trip<int64_t, 1>({6}, 6);
  round_trip<uint8_t, 4>({1, 2, 3, 4}, 7);
  round_trip<float, 2>({0, 5}, 8);
}

TEST(Npy, ReadsNumpyWrittenBytesAndFortranOrder) {
  // np.arange(6, dtype='<i4').reshape(2,3) in C order, then the same array saved with order='F'.
  std::vector<unsigned char> c_order, f_order;
  for (int v : {0, 1, 2, 3, 4, 5}) for (int b = 0; b < 4; ++b) c_order.push_back(b == 0 ? v : 0);
  for (int v : {0, 3, 1, 4, 2, 5}) for (int b = 0; b < 4; ++b) f_order.push_back(b == 0 ? v : 0);
  auto a = io::parse_npy(make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", c_order).data(),
                         make_npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", c_order).size(), "c");
  auto fb = make_npy("{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }", f_order, 2);
  auto f = io::parse_npy(fb.data(), fb.size(), "f");
  auto ta = a.as<int32_t, 2>(), tf = f.as<int32_t, 2>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(ta(i, j), i * 3 + j);
      EXPECT_EQ(tf(i, j), i * 3 + j);
    }
  // bool and 1-D shape "(4,)"
  auto bb = make_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (4,), }", {1, 0, 0, 1});
  auto tb = io::parse_npy(bb.data(), bb.size(), "b").as<bool, 1>();
  EXPECT_TRUE(tb(0) && !tb(1) && !tb(2) && tb(3));
  // scalar: shape ()
  auto sb = make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", {0, 0, 0x80, 0x3f});
  auto sa = io::parse_npy(sb.data(), sb.size(), "s");
  EXPECT_EQ(sa.shape.size(), 0u);
  EXPECT_EQ(sa.numel(), 1);
}

TEST(Npy, CorruptAndUnsupportedFilesGiveClearErrors) {
  const std::string ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
  std::vector<unsigned char> data(16, 0);
  auto expect_error = [](const std::vector<std::byte>& bytes, const std::string& needle) {
    try {
      io::parse_npy(bytes.data(), bytes.size(), "bad.npy");
      ADD_FAILURE() << "no error for case expecting '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad.npy"), std::string::npos) << e.what();
    }
  };
  auto good = make_npy(ok, data);
  for (std::size_t cut = 0; cut < good.size(); ++cut)  // truncated at every offset
    expect_error(std::vector<std::byte>(good.begin(), good.begin() + static_cast<long>(cut)), "npy bad.npy");
  auto bad_magic = good;
  bad_magic[1] = std::byte('X');
  expect_error(bad_magic, "bad magic");
  expect_error(make_npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", data), "big-endian");
  expect_error(make_npy("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", data), "unsupported dtype");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, }", data), "no 'shape'");
  expect_error(make_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", data), "bad shape");
  expect_error(make_npy(ok, std::vector<unsigned char>(20, 0)), "trailing");
  expect_error(make_npy(ok, std::vector<unsigned char>(12, 0)), "truncated");
  auto v9 = good;
  v9[6] = std::byte(9);
  expect_error(v9, "version");
  EXPECT_THROW(io::read_npy("/nonexistent/file.npy"), Error);
  // right file, wrong dtype or rank for the caller
  auto a = io::parse_npy(good.data(), good.size(), "bad.npy");
  EXPECT_THROW((a.as<half, 2>()), Error);
  EXPECT_THROW((a.as<float, 3>()), Error);
}
