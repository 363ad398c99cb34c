#pragma once
// The OpenAPI 3 description of the public API (master/api/openapi.json, compiled
// in), served at GET /api/v1/openapi.json. A component test checks that it names
// exactly the public routes the master serves.
#include <string_view>

namespace drover::master {

std::string_view openapi_json();

}  // namespace drover::master
