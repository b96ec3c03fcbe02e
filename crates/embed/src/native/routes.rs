//! The route table: read once from the app's `_covet_routes()` and compiled into a Rust router.

use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode};
use pyo3::prelude::*;
use pyo3::types::PyString;

use super::params::{Kind, ParamRule, Source};

/// A path segment convertor written in the template (`{id:int}`): a value it rejects means the route
/// does not match (404), as in Starlette, rather than a validation error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Convertor {
    Str,
    Int,
    Float,
    Uuid,
    Path,
}

impl Convertor {
    fn accepts(self, value: &str) -> bool {
        match self {
            Convertor::Str => !value.is_empty() && !value.contains('/'),
            Convertor::Path => true,
            Convertor::Int => !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()),
            Convertor::Float => {
                let (int, frac) = value.split_once('.').unwrap_or((value, "0"));
                !int.is_empty()
                    && !frac.is_empty()
                    && int.bytes().all(|b| b.is_ascii_digit())
                    && frac.bytes().all(|b| b.is_ascii_digit())
            }
            Convertor::Uuid => {
                let parts: Vec<&str> = value.split('-').collect();
                parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
                    && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
            }
        }
    }
}

/// One parameter of one route.
pub(crate) struct Param {
    pub(crate) name: Py<PyString>,
    pub(crate) source: Source,
    pub(crate) alias: String,
    pub(crate) kind: Kind,
    pub(crate) is_list: bool,
    pub(crate) required: bool,
    pub(crate) default: Py<PyAny>,
    pub(crate) enum_members: Vec<Py<PyAny>>,
    pub(crate) enum_values: Vec<String>,
    pub(crate) enum_expected: String,
}

impl Param {
    pub(crate) fn rule(&self) -> ParamRule<'_> {
        ParamRule {
            source: self.source,
            alias: &self.alias,
            kind: self.kind,
            is_list: self.is_list,
            required: self.required,
            enum_values: &self.enum_values,
            enum_expected: &self.enum_expected,
            index: None,
        }
    }
}

/// One route.
pub(crate) struct Route {
    /// The route has features the server does not do itself (dependencies, forms, ...): a request
    /// matched to it goes to the app's ASGI `__call__` whole, and nothing below is read.
    pub(crate) asgi: bool,
    /// For an `asgi` route: the app's middleware stack around this route alone (`RouteSpec.asgi_app`),
    /// run instead of the whole app, whose router would only find the same route again.
    pub(crate) asgi_app: Option<Arc<Py<PyAny>>>,
    pub(crate) endpoint: Py<PyAny>,
    pub(crate) is_coroutine: bool,
    pub(crate) status: StatusCode,
    pub(crate) response_class: Option<Py<PyAny>>,
    /// Set when `response_class` is the package's own PlainTextResponse or HTMLResponse: a `str`
    /// result is then rendered in Rust with this content type, byte for byte what the class makes.
    pub(crate) text_media_type: Option<http::HeaderValue>,
    pub(crate) params: Vec<Param>,
    pub(crate) body_validator: Option<Py<PyAny>>,
    convertors: Vec<(String, Convertor)>,
}

impl Route {
    /// Whether the whole body must be read before the handler runs.
    pub(crate) fn needs_body(&self) -> bool {
        self.body_validator.is_some() || self.params.iter().any(|p| p.source == Source::Request)
    }
}

struct PathEntry {
    methods: Vec<(Method, usize)>,
    allow: HeaderValue,
}

/// What the router found for a request.
pub(crate) enum Lookup {
    /// A route, with the raw path parameter values.
    Found(usize, Vec<(String, String)>),
    NotFound,
    /// The path exists but not for this method; the `Allow` value lists the methods that do.
    MethodNotAllowed(HeaderValue),
}

/// A WebSocket route: the ASGI app the package built for it.
pub(crate) struct WsRoute {
    pub(crate) asgi: Py<PyAny>,
    convertors: Vec<(String, Convertor)>,
}

/// All routes, compiled.
pub(crate) struct RouteTable {
    router: matchit::Router<usize>,
    paths: Vec<PathEntry>,
    pub(crate) routes: Vec<Route>,
    ws_router: matchit::Router<usize>,
    pub(crate) ws_routes: Vec<WsRoute>,
    /// The app registered its own handler for validation errors, so 422s go through Python.
    pub(crate) custom_validation_handler: bool,
    /// `app._covet_asgi_all`: every request and handshake goes to the app's ASGI `__call__` (the app
    /// has middleware that must see everything).
    pub(crate) asgi_all: bool,
    /// `app._covet_asgi_on_miss`: a request or handshake no native route matches goes to the app's
    /// ASGI `__call__` instead of getting a 404/405/403 from Rust.
    pub(crate) asgi_on_miss: bool,
    /// `app._covet_redirect_slashes`: a 404 whose path with the trailing slash added or removed
    /// matches a route is the app router's redirect, so it goes to the ASGI side.
    pub(crate) redirect_slashes: bool,
}

impl RouteTable {
    /// Reads `app._covet_routes()`.
    pub(crate) fn load(py: Python<'_>, app: &Bound<'_, PyAny>) -> PyResult<RouteTable> {
        let mut table = RouteTable {
            router: matchit::Router::new(),
            paths: Vec::new(),
            routes: Vec::new(),
            ws_router: matchit::Router::new(),
            ws_routes: Vec::new(),
            // The app says whether it replaced the default handler (then Python must see the errors).
            custom_validation_handler: app_flag(app, "_covet_custom_validation_handler")?,
            asgi_all: app_flag(app, "_covet_asgi_all")?,
            asgi_on_miss: app_flag(app, "_covet_asgi_on_miss")?,
            redirect_slashes: app_flag(app, "_covet_redirect_slashes")?,
        };
        if app.hasattr("_covet_websocket_routes")? {
            for spec in app.call_method0("_covet_websocket_routes")?.try_iter()? {
                let spec = spec?;
                let path: String = spec.getattr("path")?.extract()?;
                let (template, convertors) = compile_template(&path)?;
                table.ws_router.insert(template, table.ws_routes.len()).map_err(|e| {
                    pyo3::exceptions::PyValueError::new_err(format!("websocket route {path:?} cannot be added: {e}"))
                })?;
                table.ws_routes.push(WsRoute { asgi: spec.getattr("asgi")?.unbind(), convertors });
            }
        }
        let mut templates: Vec<String> = Vec::new();
        for spec in app.call_method0("_covet_routes")?.try_iter()? {
            let spec = spec?;
            let path: String = spec.getattr("path")?.extract()?;
            let (template, convertors) = compile_template(&path)?;
            let route = load_route(py, &spec, convertors)?;
            let index = table.routes.len();
            table.routes.push(route);
            let mut methods: Vec<String> = spec.getattr("methods")?.extract()?;
            // Starlette routes answer HEAD wherever they answer GET; FastAPI's path operations do not.
            let implicit_head = match spec.getattr_opt("implicit_head")? {
                Some(flag) => flag.is_truthy()?,
                None => true,
            };
            if implicit_head
                && methods.iter().any(|m| m.eq_ignore_ascii_case("GET"))
                && !methods.iter().any(|m| m.eq_ignore_ascii_case("HEAD"))
            {
                methods.push("HEAD".to_owned());
            }
            let entry = match templates.iter().position(|t| *t == template) {
                Some(existing) => existing,
                None => {
                    table.router.insert(template.clone(), templates.len()).map_err(|e| {
                        pyo3::exceptions::PyValueError::new_err(format!("route {path:?} cannot be added: {e}"))
                    })?;
                    templates.push(template);
                    table.paths.push(PathEntry { methods: Vec::new(), allow: HeaderValue::from_static("") });
                    table.paths.len() - 1
                }
            };
            for m in methods {
                let method = Method::from_bytes(m.to_ascii_uppercase().as_bytes())
                    .map_err(|_| pyo3::exceptions::PyValueError::new_err(format!("invalid method {m:?}")))?;
                table.paths[entry].methods.push((method, index));
            }
        }
        for entry in &mut table.paths {
            let mut names: Vec<&str> = entry.methods.iter().map(|(m, _)| m.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            entry.allow = HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static(""));
        }
        Ok(table)
    }

    /// Whether the path with its trailing slash toggled would match (Starlette redirects such requests).
    pub(crate) fn matches_toggled_slash(&self, method: &Method, path: &str) -> bool {
        if !self.redirect_slashes || path == "/" {
            return false;
        }
        let toggled = match path.strip_suffix('/') {
            Some(stripped) => stripped.to_owned(),
            None => format!("{path}/"),
        };
        !matches!(self.lookup(method, &toggled), Lookup::NotFound)
    }

    /// Finds the WebSocket route for a (percent-decoded) path, with its raw path parameters.
    pub(crate) fn lookup_websocket(&self, path: &str) -> Option<(usize, Vec<(String, String)>)> {
        let matched = self.ws_router.at(path).ok()?;
        let index = *matched.value;
        let params: Vec<(String, String)> = matched.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        convertors_accept(&self.ws_routes[index].convertors, &params).then_some((index, params))
    }

    /// Finds the route for a (percent-decoded) path and method.
    pub(crate) fn lookup(&self, method: &Method, path: &str) -> Lookup {
        let Ok(matched) = self.router.at(path) else { return Lookup::NotFound };
        let entry = &self.paths[*matched.value];
        let Some(&(_, index)) = entry.methods.iter().find(|(m, _)| m == method) else {
            return Lookup::MethodNotAllowed(entry.allow.clone());
        };
        let params: Vec<(String, String)> = matched.params.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        if !convertors_accept(&self.routes[index].convertors, &params) {
            return Lookup::NotFound;
        }
        Lookup::Found(index, params)
    }
}

/// Whether every convertor-typed segment holds a value its convertor accepts.
fn convertors_accept(convertors: &[(String, Convertor)], params: &[(String, String)]) -> bool {
    convertors
        .iter()
        .all(|(name, convertor)| params.iter().find(|(k, _)| k == name).is_some_and(|(_, v)| convertor.accepts(v)))
}

/// A yes/no the app answers with an attribute, or a method returning it; absent means no.
fn app_flag(app: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    match app.getattr_opt(name)? {
        None => Ok(false),
        Some(value) if value.is_callable() => value.call0()?.is_truthy(),
        Some(value) => value.is_truthy(),
    }
}

/// Turns `/items/{id:int}/{rest:path}` into matchit's `/items/{id}/{*rest}` and notes the convertors.
fn compile_template(path: &str) -> PyResult<(String, Vec<(String, Convertor)>)> {
    let mut out = String::with_capacity(path.len());
    let mut convertors = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else {
            return Err(pyo3::exceptions::PyValueError::new_err(format!("unclosed '{{' in route {path:?}")));
        };
        let inner = &rest[open + 1..open + close];
        let (name, conv) = inner.split_once(':').unwrap_or((inner, ""));
        let convertor = match conv {
            "" => None,
            "str" => Some(Convertor::Str),
            "int" => Some(Convertor::Int),
            "float" => Some(Convertor::Float),
            "uuid" => Some(Convertor::Uuid),
            "path" => Some(Convertor::Path),
            other => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "unknown convertor {other:?} in route {path:?}"
                )))
            }
        };
        if convertor == Some(Convertor::Path) {
            out.push_str(&format!("{{*{name}}}"));
        } else {
            out.push_str(&format!("{{{name}}}"));
        }
        if let Some(c) = convertor {
            convertors.push((name.to_owned(), c));
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok((out, convertors))
}

fn load_route(py: Python<'_>, spec: &Bound<'_, PyAny>, convertors: Vec<(String, Convertor)>) -> PyResult<Route> {
    let asgi = match spec.getattr_opt("asgi")? {
        Some(flag) => flag.is_truthy()?,
        None => false,
    };
    if asgi {
        let asgi_app = spec.getattr_opt("asgi_app")?.filter(|app| !app.is_none()).map(|app| Arc::new(app.unbind()));
        return Ok(Route {
            asgi,
            asgi_app,
            endpoint: py.None(),
            is_coroutine: false,
            status: StatusCode::OK,
            response_class: None,
            text_media_type: None,
            params: Vec::new(),
            body_validator: None,
            convertors,
        });
    }
    let status: u16 = spec.getattr("status_code")?.extract().unwrap_or(200);
    let response_class = spec.getattr("response_class")?;
    let body_validator = spec.getattr("body_validator")?;
    let mut params = Vec::new();
    for p in spec.getattr("params")?.try_iter()? {
        params.push(load_param(py, &p?)?);
    }
    let responses = py.import("covetpy.responses")?;
    let text_media_type = if response_class.is(responses.getattr("PlainTextResponse")?) {
        Some(http::HeaderValue::from_static("text/plain; charset=utf-8"))
    } else if response_class.is(responses.getattr("HTMLResponse")?) {
        Some(http::HeaderValue::from_static("text/html; charset=utf-8"))
    } else {
        None
    };
    Ok(Route {
        asgi,
        asgi_app: None,
        text_media_type,
        endpoint: spec.getattr("endpoint")?.unbind(),
        is_coroutine: spec.getattr("is_coroutine")?.is_truthy()?,
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
        response_class: (!response_class.is_none()).then(|| response_class.unbind()),
        params,
        body_validator: (!body_validator.is_none()).then(|| body_validator.unbind()),
        convertors,
    })
}

fn load_param(py: Python<'_>, p: &Bound<'_, PyAny>) -> PyResult<Param> {
    let source: String = p.getattr("source")?.extract()?;
    let kind: String = p.getattr("kind")?.extract()?;
    let name: String = p.getattr("name")?.extract()?;
    let bad = |what: &str, v: &str| {
        pyo3::exceptions::PyValueError::new_err(format!("parameter {name:?}: unknown {what} {v:?}"))
    };
    let source = Source::parse(&source).ok_or_else(|| bad("source", &source))?;
    let kind = Kind::parse(&kind).ok_or_else(|| bad("kind", &kind))?;
    let mut enum_members = Vec::new();
    let mut enum_values = Vec::new();
    let mut shown = Vec::new();
    if kind == Kind::Enum {
        for member in p.getattr("enum_type")?.try_iter()? {
            let member = member?;
            let value = member.getattr("value")?;
            enum_values.push(value.str()?.to_string());
            shown.push(value.repr()?.to_string());
            enum_members.push(member.unbind());
        }
    }
    let enum_expected = match shown.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    Ok(Param {
        name: PyString::new(py, &name).unbind(),
        source,
        alias: p.getattr("alias")?.extract()?,
        kind,
        is_list: p.getattr("is_list")?.is_truthy()?,
        required: p.getattr("required")?.is_truthy()?,
        default: p.getattr("default")?.unbind(),
        enum_members,
        enum_values,
        enum_expected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_compile_to_matchit_syntax() {
        let (t, c) = compile_template("/items/{id:int}/files/{rest:path}").unwrap();
        assert_eq!(t, "/items/{id}/files/{*rest}");
        assert_eq!(c, vec![("id".to_owned(), Convertor::Int), ("rest".to_owned(), Convertor::Path)]);
        assert_eq!(compile_template("/users/{name}").unwrap().0, "/users/{name}");
    }

    #[test]
    fn convertors_reject_like_starlette() {
        assert!(Convertor::Int.accepts("42"));
        assert!(!Convertor::Int.accepts("-1"));
        assert!(Convertor::Float.accepts("1.5"));
        assert!(!Convertor::Float.accepts("1."));
        assert!(Convertor::Uuid.accepts("12345678-1234-5678-1234-567812345678"));
        assert!(!Convertor::Str.accepts("a/b"));
    }
}
