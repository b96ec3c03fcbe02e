"""The interactive documentation pages: Swagger UI and ReDoc."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.responses import HTMLResponse

SWAGGER_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
REDOC_JS = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"
FAVICON = "https://fastapi.tiangolo.com/img/favicon.png"


def get_swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    oauth2_redirect_url: str | None = None,
    init_oauth: dict[str, Any] | None = None,
    swagger_ui_parameters: dict[str, Any] | None = None,
) -> HTMLResponse:
    """A Swagger UI page for the document at ``openapi_url`` (scripts from the jsDelivr CDN)."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" type="text/css" href="{SWAGGER_CSS}">
<link rel="shortcut icon" href="{FAVICON}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{SWAGGER_JS}"></script>
<script>
const ui = SwaggerUIBundle({{
  url: {json.dumps(openapi_url)},
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  ...{json.dumps(swagger_ui_parameters or {})},
  {f"oauth2RedirectUrl: window.location.origin + {json.dumps(oauth2_redirect_url)}," if oauth2_redirect_url else ""}
}});
{f"ui.initOAuth({json.dumps(init_oauth)});" if init_oauth else ""}
</script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_redoc_html(*, openapi_url: str, title: str) -> HTMLResponse:
    """A ReDoc page for the document at ``openapi_url`` (script from the jsDelivr CDN)."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="shortcut icon" href="{FAVICON}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript to render this page.</noscript>
<redoc spec-url="{html.escape(openapi_url, quote=True)}"></redoc>
<script src="{REDOC_JS}"></script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_swagger_ui_oauth2_redirect_html() -> HTMLResponse:
    """The page Swagger UI's OAuth2 flows return to: it hands the authorization result back to the
    Swagger UI window that opened it."""
    page = """<!doctype html>
<html lang="en-US">
<head><title>Swagger UI: OAuth2 Redirect</title></head>
<body>
<script>
"use strict";
(function () {
  const oauth2 = window.opener.swaggerUIRedirectOauth2;
  const sentState = oauth2.state;
  const redirectUrl = oauth2.redirectUrl;
  const query = /code|token|error/.test(window.location.hash)
    ? window.location.hash.substring(1)
    : window.location.search.substring(1);
  const params = Object.fromEntries(new URLSearchParams(query));
  const isValid = params.state === sentState;
  const flow = oauth2.auth.schema.get("flow");
  if ((flow === "accessCode" || flow === "authorizationCode" || flow === "authorization_code") && !oauth2.auth.code) {
    if (!isValid) {
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "warning",
                    message: "Authorization may be unsafe: the state returned differs from the one sent."});
    }
    if (params.code) {
      delete oauth2.state;
      oauth2.auth.code = params.code;
      oauth2.callback({auth: oauth2.auth, redirectUrl: redirectUrl});
    } else {
      oauth2.errCb({authId: oauth2.auth.name, source: "auth", level: "error",
                    message: params.error ? "[" + params.error + "]: " + (params.error_description || "") : "no code received"});
    }
  } else {
    oauth2.callback({auth: oauth2.auth, token: params, isValid: isValid, redirectUrl: redirectUrl});
  }
  window.close();
})();
</script>
</body>
</html>
"""
    return HTMLResponse(page)


__all__ = ["get_redoc_html", "get_swagger_ui_html", "get_swagger_ui_oauth2_redirect_html"]
