//! Reading and converting parameters from the path, query string, headers and cookies, in Rust, with
//! FastAPI's (pydantic 2) validation error shapes.

use http::HeaderMap;
use percent_encoding::percent_decode;

use super::json::write_str;

/// Where a parameter comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    Path,
    Query,
    Header,
    Cookie,
    Request,
    Body,
}

impl Source {
    pub(crate) fn parse(s: &str) -> Option<Source> {
        Some(match s {
            "path" => Source::Path,
            "query" => Source::Query,
            "header" => Source::Header,
            "cookie" => Source::Cookie,
            "request" => Source::Request,
            "body" => Source::Body,
            _ => return None,
        })
    }

    fn loc(self) -> &'static str {
        match self {
            Source::Path => "path",
            Source::Query => "query",
            Source::Header => "header",
            Source::Cookie => "cookie",
            Source::Request => "request",
            Source::Body => "body",
        }
    }
}

/// The scalar type a parameter converts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Str,
    Int,
    Float,
    Bool,
    Uuid,
    Enum,
    Any,
}

impl Kind {
    pub(crate) fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "str" => Kind::Str,
            "int" => Kind::Int,
            "float" => Kind::Float,
            "bool" => Kind::Bool,
            "uuid" => Kind::Uuid,
            "enum" => Kind::Enum,
            "any" => Kind::Any,
            _ => return None,
        })
    }
}

/// A converted value, still free of Python so it can be produced on a network thread.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    /// The parameter's default.
    Default,
    Str(String),
    Int(i64),
    /// An integer too large for i64, as its digits.
    BigInt(String),
    Float(f64),
    Bool(bool),
    /// A UUID as 32 hex digits.
    Uuid(String),
    /// The index of an enum member.
    Enum(usize),
    List(Vec<Arg>),
}

/// What a parameter needs for conversion.
pub(crate) struct ParamRule<'a> {
    pub(crate) source: Source,
    pub(crate) alias: &'a str,
    pub(crate) kind: Kind,
    pub(crate) is_list: bool,
    pub(crate) required: bool,
    /// For enums: each member's value as a string, and the "'a', 'b' or 'c'" phrase for errors.
    pub(crate) enum_values: &'a [String],
    pub(crate) enum_expected: &'a str,
    /// The position of the value within a list parameter, for error locations.
    pub(crate) index: Option<usize>,
}

/// One validation error, kept as the JSON object FastAPI would produce.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamError(pub(crate) String);

impl ParamError {
    fn new(rule: &ParamRule<'_>, kind: &str, msg: &str, input: Option<&str>, ctx: Option<(&str, &str)>) -> Self {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(b"{\"type\":");
        write_str(&mut out, kind);
        out.extend_from_slice(b",\"loc\":[");
        write_str(&mut out, rule.source.loc());
        out.push(b',');
        write_str(&mut out, rule.alias);
        if let Some(index) = rule.index {
            out.extend_from_slice(format!(",{index}").as_bytes());
        }
        out.extend_from_slice(b"],\"msg\":");
        write_str(&mut out, msg);
        out.extend_from_slice(b",\"input\":");
        match input {
            Some(input) => write_str(&mut out, input),
            None => out.extend_from_slice(b"null"),
        }
        if let Some((key, value)) = ctx {
            out.extend_from_slice(b",\"ctx\":{");
            write_str(&mut out, key);
            out.push(b':');
            write_str(&mut out, value);
            out.push(b'}');
        }
        out.push(b'}');
        ParamError(String::from_utf8(out).unwrap_or_default())
    }
}

/// The body of a 422 response.
pub(crate) fn errors_body(errors: &[ParamError]) -> String {
    let items: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
    format!("{{\"detail\":[{}]}}", items.join(","))
}

/// Converts one raw string; `Err` is the validation error.
pub(crate) fn convert(rule: &ParamRule<'_>, raw: &str) -> Result<Arg, ParamError> {
    let fail = |kind: &str, msg: &str| ParamError::new(rule, kind, msg, Some(raw), None);
    match rule.kind {
        Kind::Str | Kind::Any => Ok(Arg::Str(raw.to_owned())),
        Kind::Int => parse_int(raw).ok_or_else(|| {
            fail("int_parsing", "Input should be a valid integer, unable to parse string as an integer")
        }),
        Kind::Float => {
            raw.trim().parse::<f64>().map(Arg::Float).map_err(|_| {
                fail("float_parsing", "Input should be a valid number, unable to parse string as a number")
            })
        }
        Kind::Bool => parse_bool(raw)
            .map(Arg::Bool)
            .ok_or_else(|| fail("bool_parsing", "Input should be a valid boolean, unable to interpret input")),
        // pydantic parses UUIDs with the same crate, so its messages are the same words.
        Kind::Uuid => uuid::Uuid::parse_str(raw).map(|u| Arg::Uuid(u.simple().to_string())).map_err(|e| {
            let detail = e.to_string();
            let msg = format!("Input should be a valid UUID, {detail}");
            ParamError::new(rule, "uuid_parsing", &msg, Some(raw), Some(("error", &detail)))
        }),
        Kind::Enum => rule.enum_values.iter().position(|v| v == raw).map(Arg::Enum).ok_or_else(|| {
            let msg = format!("Input should be {}", rule.enum_expected);
            ParamError::new(rule, "enum", &msg, Some(raw), Some(("expected", rule.enum_expected)))
        }),
    }
}

/// Converts the values found for a parameter (none, one, or several for lists).
pub(crate) fn convert_all(rule: &ParamRule<'_>, raws: &[&str]) -> Result<Arg, ParamError> {
    if rule.is_list {
        if raws.is_empty() {
            return missing_or_default(rule);
        }
        return raws
            .iter()
            .enumerate()
            .map(|(index, raw)| convert(&ParamRule { index: Some(index), ..*rule }, raw))
            .collect::<Result<Vec<_>, _>>()
            .map(Arg::List);
    }
    // Like Starlette's mappings, a repeated key yields the value given last.
    match raws.last() {
        Some(raw) => convert(rule, raw),
        None => missing_or_default(rule),
    }
}

fn missing_or_default(rule: &ParamRule<'_>) -> Result<Arg, ParamError> {
    if rule.required {
        Err(ParamError::new(rule, "missing", "Field required", None, None))
    } else {
        Ok(Arg::Default)
    }
}

fn parse_int(raw: &str) -> Option<Arg> {
    let s = raw.trim();
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match s.parse::<i64>() {
        Ok(n) => Arg::Int(n),
        Err(_) => Arg::BigInt(s.trim_start_matches('+').to_owned()),
    })
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" | "t" | "y" => Some(true),
        "false" | "0" | "no" | "off" | "f" | "n" => Some(false),
        _ => None,
    }
}

/// Decodes a query string into (key, value) pairs as HTML forms encode them (`+` is a space).
pub(crate) fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (form_decode(k), form_decode(v))
        })
        .collect()
}

fn form_decode(s: &str) -> String {
    let spaced = s.replace('+', " ");
    percent_decode(spaced.as_bytes()).decode_utf8_lossy().into_owned()
}

/// Cookies from every `Cookie` header, as Starlette reads them.
pub(crate) fn parse_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for value in headers.get_all(http::header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for chunk in text.split(';') {
            let (k, v) = chunk.split_once('=').unwrap_or(("", chunk));
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() && v.is_empty() {
                continue;
            }
            let v = v.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(v);
            out.push((k.to_owned(), v.to_owned()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(kind: Kind) -> ParamRule<'static> {
        ParamRule {
            source: Source::Query,
            alias: "x",
            kind,
            is_list: false,
            required: true,
            enum_values: &[],
            enum_expected: "",
            index: None,
        }
    }

    #[test]
    fn int_errors_match_fastapi() {
        assert_eq!(convert(&rule(Kind::Int), "42").unwrap(), Arg::Int(42));
        let err = convert(&rule(Kind::Int), "4.2").unwrap_err();
        assert_eq!(
            err.0,
            r#"{"type":"int_parsing","loc":["query","x"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"4.2"}"#
        );
        assert!(matches!(convert(&rule(Kind::Int), "123456789012345678901234").unwrap(), Arg::BigInt(_)));
    }

    #[test]
    fn bools_accept_pydantic_spellings() {
        for yes in ["true", "True", "1", "yes", "on", "t", "y"] {
            assert_eq!(convert(&rule(Kind::Bool), yes).unwrap(), Arg::Bool(true), "{yes}");
        }
        assert!(convert(&rule(Kind::Bool), "maybe").is_err());
    }

    #[test]
    fn missing_required_is_field_required() {
        let err = convert_all(&rule(Kind::Str), &[]).unwrap_err();
        assert_eq!(err.0, r#"{"type":"missing","loc":["query","x"],"msg":"Field required","input":null}"#);
    }

    #[test]
    fn uuid_errors_carry_the_parser_message() {
        assert!(convert(&rule(Kind::Uuid), "12345678-1234-5678-1234-567812345678").is_ok());
        let err = convert(&rule(Kind::Uuid), "nope").unwrap_err();
        assert!(err.0.contains(r#""msg":"Input should be a valid UUID, invalid character"#), "{}", err.0);
        assert!(err.0.contains(r#""ctx":{"error":"invalid character"#), "{}", err.0);
    }

    #[test]
    fn list_errors_name_the_index_and_scalars_take_the_last_value() {
        let list = ParamRule { is_list: true, ..rule(Kind::Int) };
        let err = convert_all(&list, &["1", "x"]).unwrap_err();
        assert!(err.0.contains(r#""loc":["query","x",1]"#), "{}", err.0);
        assert_eq!(convert_all(&rule(Kind::Int), &["1", "2"]).unwrap(), Arg::Int(2));
    }

    #[test]
    fn query_decoding() {
        assert_eq!(
            parse_query("a=1&b=x+y&a=2&c=%C3%A9&flag"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("a".into(), "2".into()),
                ("c".into(), "é".into()),
                ("flag".into(), "".into())
            ]
        );
    }

    #[test]
    fn enum_error_names_choices() {
        let values = ["a".to_owned(), "b".to_owned()];
        let r = ParamRule { enum_values: &values, enum_expected: "'a' or 'b'", ..rule(Kind::Enum) };
        assert_eq!(convert(&r, "b").unwrap(), Arg::Enum(1));
        let err = convert(&r, "c").unwrap_err();
        assert!(err.0.contains(r#""msg":"Input should be 'a' or 'b'""#), "{}", err.0);
        assert!(err.0.contains(r#""ctx":{"expected":"'a' or 'b'"}"#), "{}", err.0);
    }
}
