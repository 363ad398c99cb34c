// GET / — the dashboard page (SPEC §7). The page is static: everything it
// shows comes from the public API, which it polls with fetch().
#include "master/api/routes.hpp"
#include "master/dashboard/dashboard.hpp"

namespace drover::master {

void add_dashboard_route(http::Router& router) {
  router.add("GET", "/", [](http::Request&) -> Result<http::Response> {
    http::Response r = http::Response::text(200, std::string(dashboard_html()),
                                            "text/html; charset=utf-8");
    // Inline script and style only; data reaches the page through fetch() from
    // this origin, and no other site may frame it.
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'self'; script-src 'unsafe-inline'; "
                           "style-src 'unsafe-inline'; img-src 'self' data:; "
                           "connect-src 'self'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Cache-Control", "no-cache");
    return r;
  });
}

}  // namespace drover::master
