#pragma once
// Command-line helpers shared by the examples: --name value options with defaults, comma lists.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fusekit/core/error.hpp>
#include <fusekit/core/shape.hpp>

namespace fusekit::examples {

// --name value options.
class Args {
 public:
  Args(int argc, char** argv, std::map<std::string, std::string> defaults, const char* usage) : v_(std::move(defaults)) {
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        std::printf("%s", usage);
        std::exit(0);
      }
      FUSEKIT_CHECK(a.rfind("--", 0) == 0 && v_.count(a.substr(2)), "unknown option '{}' (try --help)", a);
      const std::string key = a.substr(2);
      if (v_[key] == "false" || v_[key] == "true") v_[key] = "true";  // flags
      else {
        FUSEKIT_CHECK(i + 1 < argc, "missing value after {}", a);
        v_[key] = argv[++i];
      }
    }
  }
  const std::string& operator[](const std::string& k) const { return v_.at(k); }
  bool flag(const std::string& k) const { return v_.at(k) == "true"; }
  int integer(const std::string& k) const { return std::stoi(v_.at(k)); }

 private:
  std::map<std::string, std::string> v_;
};

inline std::vector<index_t> int_list(const std::string& s) {
  std::vector<index_t> r;
  std::size_t at = 0;
  while (at < s.size()) {
    const std::size_t comma = s.find(',', at);
    r.push_back(std::stoll(s.substr(at, comma - at)));
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return r;
}

// The median of timings (the mean of the middle two for an even count).
inline double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace fusekit::examples
