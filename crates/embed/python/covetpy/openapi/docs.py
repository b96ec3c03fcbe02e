"""The interactive documentation pages: Swagger UI and ReDoc, with FastAPI's functions, parameters
and page behaviour. Unlike FastAPI, the default script, style and icon URLs are covetpy's own copies
(``covetpy/static``, served by the app beside ``docs_url`` and ``redoc_url``; see ``docs_assets``), so
the pages work with no internet access; pass your own URLs (a CDN, say) to use those instead."""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.responses import HTMLResponse

from covetpy.encoders import jsonable_encoder
from covetpy.openapi.docs_assets import asset_prefix, asset_url

#: The asset URLs an app with the default ``docs_url="/docs"`` and ``redoc_url="/redoc"`` and no
#: root_path serves; ``FastAPI.setup()`` passes the URLs for the app's own paths.
SWAGGER_JS_URL = asset_url(asset_prefix("/docs"), "swagger-ui-bundle.js")
SWAGGER_CSS_URL = asset_url(asset_prefix("/docs"), "swagger-ui.css")
SWAGGER_FAVICON_URL = asset_url(asset_prefix("/docs"), "favicon.svg")
REDOC_JS_URL = asset_url(asset_prefix("/redoc"), "redoc.standalone.js")
REDOC_FAVICON_URL = asset_url(asset_prefix("/redoc"), "favicon.svg")

#: Swagger UI's configuration unless ``swagger_ui_parameters`` overrides keys (FastAPI's defaults).
swagger_ui_default_parameters: dict[str, Any] = {
    "dom_id": "#swagger-ui",
    "layout": "BaseLayout",
    "deepLinking": True,
    "showExtensions": True,
    "showCommonExtensions": True,
}


def _script_json(value: Any) -> str:
    """JSON for inside a ``<script>`` element: ``<``, ``>`` and ``&`` escaped, so a value holding
    ``</script>`` cannot end the element."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _attr(value: str) -> str:
    return html.escape(value, quote=True)


def get_swagger_ui_html(
    *,
    openapi_url: str,
    title: str,
    swagger_js_url: str = SWAGGER_JS_URL,
    swagger_css_url: str = SWAGGER_CSS_URL,
    swagger_favicon_url: str = SWAGGER_FAVICON_URL,
    oauth2_redirect_url: str | None = None,
    init_oauth: dict[str, Any] | None = None,
    swagger_ui_parameters: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The Swagger UI page for the OpenAPI document at ``openapi_url``.

    ``swagger_ui_parameters`` entries replace or extend ``swagger_ui_default_parameters``;
    ``oauth2_redirect_url`` (a path on this origin) is where Swagger UI's OAuth2 flows return to;
    ``init_oauth`` goes to ``ui.initOAuth()``. The script, style and icon URLs default to covetpy's
    own copies under ``/docs/static/``."""
    parameters = {**swagger_ui_default_parameters, **(swagger_ui_parameters or {})}
    config = [f"url: {_script_json(openapi_url)},"]
    config += [f"{_script_json(k)}: {_script_json(jsonable_encoder(v))}," for k, v in parameters.items()]
    if oauth2_redirect_url:
        config.append(f"oauth2RedirectUrl: window.location.origin + {_script_json(oauth2_redirect_url)},")
    config.append("presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],")
    oauth = f"ui.initOAuth({_script_json(jsonable_encoder(init_oauth))});" if init_oauth else ""
    lines = "\n  ".join(config)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link type="text/css" rel="stylesheet" href="{_attr(swagger_css_url)}">
<link rel="shortcut icon" href="{_attr(swagger_favicon_url)}">
<title>{html.escape(title)}</title>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_attr(swagger_js_url)}"></script>
<script>
const ui = SwaggerUIBundle({{
  {lines}
}});
{oauth}
</script>
</body>
</html>
"""
    return HTMLResponse(page)


def get_redoc_html(
    *,
    openapi_url: str,
    title: str,
    redoc_js_url: str = REDOC_JS_URL,
    redoc_favicon_url: str = REDOC_FAVICON_URL,
    with_google_fonts: bool = False,
) -> HTMLResponse:
    """The ReDoc page for the OpenAPI document at ``openapi_url``.

    ``with_google_fonts=True`` adds the Montserrat and Roboto stylesheet from Google Fonts, as
    FastAPI does by default. covetpy's default is ``False``: a page that must fetch a stylesheet from
    the internet before it renders stalls where there is none, and ReDoc falls back to the system's
    sans-serif fonts without it. The script and icon URLs default to covetpy's own copies under
    ``/redoc/static/``."""
    fonts = (
        '<link href="https://fonts.googleapis.com/css?family=Montserrat:300,400,700|Roboto:300,400,700" '
        'rel="stylesheet">\n'
        if with_google_fonts
        else ""
    )
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{fonts}<link rel="shortcut icon" href="{_attr(redoc_favicon_url)}">
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript>ReDoc requires JavaScript to render this page.</noscript>
<redoc spec-url="{_attr(openapi_url)}"></redoc>
<script src="{_attr(redoc_js_url)}"></script>
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
  const codeFlow = flow === "accessCode" || flow === "authorizationCode" || flow === "authorization_code";
  if (codeFlow && !oauth2.auth.code) {
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
                    message: params.error
                      ? "[" + params.error + "]: " + (params.error_description || "")
                      : "no code received"});
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


__all__ = [
    "get_redoc_html",
    "get_swagger_ui_html",
    "get_swagger_ui_oauth2_redirect_html",
    "swagger_ui_default_parameters",
]
