//! Which precompressed sibling a client accepts: `covetpy.staticfiles.acceptable_codings`, the rule
//! the Python side applies to the same header.

use super::conditions::trim;

/// The codings a precompressed mount serves, in order of preference at equal q, with their suffixes.
pub(crate) const SIBLINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// The entries of [`SIBLINGS`] an `Accept-Encoding` value accepts, best first: highest q first, then
/// the order of [`SIBLINGS`]. A coding not named takes `*`'s q; an entry whose q is not an RFC 9110
/// qvalue is ignored, as is a repeated coding.
pub(crate) fn acceptable(accept_encoding: &str) -> Vec<(&'static str, &'static str)> {
    let mut weights: Vec<(String, f64)> = Vec::new();
    for entry in accept_encoding.split(',') {
        let (token, params) = entry.split_once(';').map_or((entry, None), |(t, p)| (t, Some(p)));
        let coding = trim(token).to_ascii_lowercase();
        if coding.is_empty() || weights.iter().any(|(c, _)| *c == coding) {
            continue;
        }
        let mut q = Some(1.0);
        for param in params.into_iter().flat_map(|p| p.split(';')) {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            if trim(name).eq_ignore_ascii_case("q") {
                q = qvalue(trim(value));
            }
        }
        if let Some(q) = q {
            weights.push((coding, q));
        }
    }
    let weight = |name: &str| weights.iter().find(|(c, _)| c == name).map(|(_, q)| *q);
    let star = weight("*").unwrap_or(0.0);
    let mut chosen: Vec<(f64, usize)> =
        SIBLINGS.iter().enumerate().map(|(rank, (c, _))| (weight(c).unwrap_or(star), rank)).collect();
    chosen.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    chosen.into_iter().filter(|(q, _)| *q > 0.0).map(|(_, rank)| SIBLINGS[rank]).collect()
}

/// `0`, `0.5`, `0.125`, `1`, `1.000`: RFC 9110's qvalue; anything else is no weight at all.
fn qvalue(s: &str) -> Option<f64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    let frac_ok = frac.len() <= 3
        && match int {
            "0" => frac.bytes().all(|b| b.is_ascii_digit()),
            "1" => frac.bytes().all(|b| b == b'0'),
            _ => false,
        };
    frac_ok.then(|| s.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(header: &str) -> Vec<&'static str> {
        acceptable(header).into_iter().map(|(c, _)| c).collect()
    }

    #[test]
    fn preference_follows_q_then_brotli_first() {
        assert_eq!(names("gzip, deflate, br"), ["br", "gzip"]);
        assert_eq!(names("gzip;q=1, br;q=0.5"), ["gzip", "br"]);
        assert_eq!(names("*"), ["br", "gzip"]);
        assert_eq!(names("br;q=0"), Vec::<&str>::new());
        assert_eq!(names("identity"), Vec::<&str>::new());
        assert_eq!(names("gzip;q=x, br"), ["br"]);
        assert_eq!(names("*;q=0.1, GZIP"), ["gzip", "br"]);
        assert_eq!(names("br;q=1.5"), Vec::<&str>::new());
    }
}
