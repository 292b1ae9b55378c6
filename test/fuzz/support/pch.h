// Precompiled for every fuzz object: nlohmann/json is most of the build time of each file.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>
