//! `--env-file`: a dotenv file read with python-dotenv's rules, as uvicorn's `load_dotenv(path)` reads
//! it: `KEY=VALUE` lines, an optional `export ` prefix, `#` comments, single- and double-quoted values
//! (which may span lines; double quotes decode `\n`-style escapes), and `${VAR}` / `${VAR:-default}`
//! expansion. Variables already in the environment are kept (python-dotenv's `override=False`), and
//! they also win when a value of the file is expanded.
//!
//! This is done in Rust, before the options are read and before the interpreter starts, so the file's
//! variables are seen by the app's `os.environ`, by `WEB_CONCURRENCY` and by `COVETPY_*` options, and
//! python-dotenv does not have to be installed.

use std::collections::HashMap;
use std::path::Path;

/// One `KEY=VALUE` of the file; `value` is `None` for a bare `KEY` line (python-dotenv keeps the key
/// but sets nothing).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Binding {
    key: String,
    value: Option<String>,
}

/// Reads `path` and sets each of its variables that the environment does not have yet. Returns the
/// number of lines python-dotenv would have reported as unparsable (they are skipped, as it skips them).
pub fn load(path: &Path) -> Result<usize, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("could not read --env-file {}: {e}", path.display()))?;
    let (bindings, errors) = parse(&text);
    let resolved = resolve(&bindings, |name| std::env::var(name).ok());
    for (key, value) in resolved {
        let Some(value) = value else { continue };
        if std::env::var_os(&key).is_some() || key.is_empty() || key.contains('\0') || value.contains('\0') {
            continue;
        }
        // Called before any thread that reads the environment is started.
        std::env::set_var(&key, value);
    }
    Ok(errors)
}

/// Expands `${VAR}` and `${VAR:-default}` in every value, in file order. As with python-dotenv's
/// `override=False`, the environment (`lookup`) wins over values defined earlier in the file.
fn resolve(bindings: &[Binding], lookup: impl Fn(&str) -> Option<String>) -> Vec<(String, Option<String>)> {
    let mut seen: HashMap<String, Option<String>> = HashMap::new();
    let mut order: Vec<String> = Vec::new();
    for binding in bindings {
        let value = binding
            .value
            .as_deref()
            .map(|raw| expand(raw, |name| lookup(name).map(Some).or_else(|| seen.get(name).cloned())));
        if !seen.contains_key(&binding.key) {
            order.push(binding.key.clone());
        }
        seen.insert(binding.key.clone(), value);
    }
    order
        .into_iter()
        .map(|key| {
            let value = seen.remove(&key).flatten();
            (key, value)
        })
        .collect()
}

/// One value with its `${...}` references replaced. `find` gives `Some(None)` for a key the file
/// declared without a value, which expands to "" rather than to the default, as in python-dotenv.
fn expand(raw: &str, find: impl Fn(&str) -> Option<Option<String>>) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let inner = &after[..end];
        let (name, default) = match inner.find(':') {
            // Only `:-` introduces a default; any other `:` makes it no variable at all.
            Some(colon) if inner[colon..].starts_with(":-") => (&inner[..colon], Some(&inner[colon + 2..])),
            Some(_) => {
                out.push_str(&rest[..start + 2]);
                rest = after;
                continue;
            }
            None => (inner, None),
        };
        out.push_str(&rest[..start]);
        match find(name) {
            Some(value) => out.push_str(value.as_deref().unwrap_or("")),
            None => out.push_str(default.unwrap_or("")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The bindings of a dotenv file, and how many statements could not be parsed.
fn parse(text: &str) -> (Vec<Binding>, usize) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader { chars: text.chars().collect(), pos: 0 };
    let mut bindings = Vec::new();
    let mut errors = 0;
    while reader.has_next() {
        let start = reader.pos;
        match reader.binding() {
            Ok(Some(binding)) => bindings.push(binding),
            Ok(None) => {}
            Err(()) => {
                // As python-dotenv: skip the rest of the line the statement started on.
                reader.pos = start;
                reader.rest_of_line();
                errors += 1;
            }
        }
    }
    (bindings, errors)
}

/// A cursor over the file, with one method per regular expression of python-dotenv's parser.
struct Reader {
    chars: Vec<char>,
    pos: usize,
}

/// Whitespace that is not a line break (python's `[^\S\r\n]`).
fn is_blank(c: char) -> bool {
    c.is_whitespace() && c != '\r' && c != '\n'
}

impl Reader {
    fn has_next(&self) -> bool {
        self.pos < self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn starts_with(&self, s: &str) -> bool {
        (self.pos..).zip(s.chars()).all(|(i, c)| self.chars.get(i) == Some(&c))
    }

    /// `[^\r\n]*(?:\r|\n|\r\n)?`: python's alternation takes a lone `\r` before `\r\n`.
    fn rest_of_line(&mut self) {
        self.skip_while(|c| c != '\r' && c != '\n');
        if matches!(self.peek(), Some('\r' | '\n')) {
            self.pos += 1;
        }
    }

    fn binding(&mut self) -> Result<Option<Binding>, ()> {
        self.skip_while(char::is_whitespace);
        if !self.has_next() {
            return Ok(None);
        }
        // `(?:export[^\S\r\n]+)?`
        if self.starts_with("export") && self.chars.get(self.pos + 6).is_some_and(|c| is_blank(*c)) {
            self.pos += 6;
            self.skip_while(is_blank);
        }
        let key = self.key()?;
        self.skip_while(is_blank);
        let value = if self.peek() == Some('=') {
            self.pos += 1;
            self.skip_while(is_blank);
            Some(self.value()?)
        } else {
            None
        };
        // `(?:[^\S\r\n]*#[^\r\n]*)?`
        let mark = self.pos;
        self.skip_while(is_blank);
        if self.peek() == Some('#') {
            self.skip_while(|c| c != '\r' && c != '\n');
        } else {
            self.pos = mark;
        }
        // `[^\S\r\n]*(?:\r\n|\n|\r|$)`
        self.skip_while(is_blank);
        match self.peek() {
            None => {}
            Some('\r') if self.chars.get(self.pos + 1) == Some(&'\n') => self.pos += 2,
            Some('\r' | '\n') => self.pos += 1,
            Some(_) => return Err(()),
        }
        Ok(key.map(|key| Binding { key, value }))
    }

    /// `None` for a comment line.
    fn key(&mut self) -> Result<Option<String>, ()> {
        match self.peek() {
            Some('#') => Ok(None),
            Some('\'') => {
                self.pos += 1;
                let key = self.skip_while(|c| c != '\'');
                if key.is_empty() || self.peek() != Some('\'') {
                    return Err(());
                }
                self.pos += 1;
                Ok(Some(key))
            }
            _ => {
                let key = self.skip_while(|c| c != '=' && c != '#' && !c.is_whitespace());
                if key.is_empty() {
                    return Err(());
                }
                Ok(Some(key))
            }
        }
    }

    fn value(&mut self) -> Result<String, ()> {
        match self.peek() {
            Some(quote @ ('\'' | '"')) => {
                self.pos += 1;
                let mut raw = String::new();
                loop {
                    match self.peek() {
                        None => return Err(()),
                        Some('\\') if self.chars.get(self.pos + 1) == Some(&quote) => {
                            raw.push('\\');
                            raw.push(quote);
                            self.pos += 2;
                        }
                        Some(c) if c == quote => {
                            self.pos += 1;
                            break;
                        }
                        Some(c) => {
                            raw.push(c);
                            self.pos += 1;
                        }
                    }
                }
                Ok(unescape(&raw, quote == '"'))
            }
            None | Some('\r' | '\n') => Ok(String::new()),
            Some(_) => {
                let part = self.skip_while(|c| c != '\r' && c != '\n');
                Ok(strip_inline_comment(&part).trim_end().to_owned())
            }
        }
    }
}

/// `re.sub(r"\s+#.*", "", part)`: a `#` after whitespace starts a comment in an unquoted value.
fn strip_inline_comment(part: &str) -> &str {
    let mut prev_space = false;
    for (i, c) in part.char_indices() {
        if c == '#' && prev_space {
            return part[..i].trim_end();
        }
        prev_space = c.is_whitespace();
    }
    part
}

/// The escapes python-dotenv decodes: in double quotes `\\ \' \" \a \b \f \n \r \t \v`, in single
/// quotes only `\\` and `\'`. Any other backslash stays as it is.
fn unescape(raw: &str, double: bool) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let decoded = match chars.peek() {
            Some('\\') => Some('\\'),
            Some('\'') => Some('\''),
            Some('"') if double => Some('"'),
            Some('a') if double => Some('\u{7}'),
            Some('b') if double => Some('\u{8}'),
            Some('f') if double => Some('\u{c}'),
            Some('n') if double => Some('\n'),
            Some('r') if double => Some('\r'),
            Some('t') if double => Some('\t'),
            Some('v') if double => Some('\u{b}'),
            _ => None,
        };
        match decoded {
            Some(d) => {
                out.push(d);
                chars.next();
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, env: &[(&str, &str)]) -> Vec<(String, Option<String>)> {
        let (bindings, _) = parse(text);
        let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        resolve(&bindings, |name| env.get(name).cloned())
    }

    fn get(text: &str, key: &str) -> Option<String> {
        values(text, &[]).into_iter().find(|(k, _)| k == key).and_then(|(_, v)| v)
    }

    #[test]
    fn python_dotenv_syntax() {
        let text = "# comment\nexport A=1\nB = two words # note\nC='single ${A}'\nD=\"line\\nbreak\"\nE=x#y\nF=\nG\n'H'=h\nI=\"multi\nline\"\n";
        assert_eq!(get(text, "A").as_deref(), Some("1"));
        assert_eq!(get(text, "B").as_deref(), Some("two words"));
        assert_eq!(get(text, "C").as_deref(), Some("single 1"));
        assert_eq!(get(text, "D").as_deref(), Some("line\nbreak"));
        assert_eq!(get(text, "E").as_deref(), Some("x#y"));
        assert_eq!(get(text, "F").as_deref(), Some(""));
        assert_eq!(get(text, "G"), None);
        assert_eq!(get(text, "H").as_deref(), Some("h"));
        assert_eq!(get(text, "I").as_deref(), Some("multi\nline"));
    }

    #[test]
    fn expansion_prefers_the_environment() {
        let text = "A=file\nB=${A}-${MISSING:-dflt}-${NONE}\n";
        let got = values(text, &[("A", "env")]);
        assert_eq!(got[1].1.as_deref(), Some("env-dflt-"));
        assert_eq!(values(text, &[])[1].1.as_deref(), Some("file-dflt-"));
    }

    #[test]
    fn bad_lines_are_skipped() {
        let (bindings, errors) = parse("A=\"unterminated\nB=2\n");
        assert_eq!(errors, 1);
        assert!(bindings.iter().all(|b| b.key != "A"), "{bindings:?}");
        let (bindings, errors) = parse("A=\"x\" trailing\nB=2\n");
        assert_eq!((errors, bindings.len()), (1, 1));
        assert_eq!(bindings[0].key, "B");
    }
}
