#pragma once
// The web dashboard (SPEC §7): one self-contained HTML page with inline CSS
// and JS (master/dashboard/index.html, compiled in by CMake), served at GET /.
// It loads no external assets and reads only the public REST API.
#include <string_view>

namespace drover::master {

// The page, byte for byte as in index.html.
std::string_view dashboard_html();

}  // namespace drover::master
