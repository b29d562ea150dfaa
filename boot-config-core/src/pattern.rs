//! Target name patterns: `*` matches any run of characters, `?` exactly one.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A glob over target names, matched case-sensitively byte for byte
/// (iSCSI names are normalised to lower case by their owners, RFC 3722).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NamePattern(String);

impl NamePattern {
    /// A pattern from its text.
    #[must_use]
    pub fn new(glob: impl Into<String>) -> Self {
        Self(glob.into())
    }

    /// The pattern text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The literal text every match starts with (everything before the first wildcard);
    /// the engine uses it to look targets up by range instead of scanning.
    #[must_use]
    pub fn literal_prefix(&self) -> &str {
        let end = self.0.find(['*', '?']).unwrap_or(self.0.len());
        &self.0[..end]
    }

    /// Whether the pattern has no wildcard at all.
    #[must_use]
    pub fn is_literal(&self) -> bool {
        self.literal_prefix().len() == self.0.len()
    }

    /// Whether `name` matches. Linear-time with single-star backtracking, no recursion.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let p = self.0.as_bytes();
        let s = name.as_bytes();
        let (mut pi, mut si) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while si < s.len() {
            match p.get(pi) {
                Some(b'*') => {
                    star = Some((pi, si));
                    pi += 1;
                }
                Some(&c) if c == b'?' || c == s[si] => {
                    pi += 1;
                    si += 1;
                }
                _ => match star {
                    Some((sp, ss)) => {
                        pi = sp + 1;
                        si = ss + 1;
                        star = Some((sp, ss + 1));
                    }
                    None => return false,
                },
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

impl fmt::Debug for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for NamePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_question_mark_match_like_a_shell_glob() {
        let p = NamePattern::new("iqn.2024-01.com.example:rack?-*");
        assert!(p.matches("iqn.2024-01.com.example:rack1-ssd"));
        assert!(p.matches("iqn.2024-01.com.example:rack2-"));
        assert!(!p.matches("iqn.2024-01.com.example:rack12-ssd"));
        assert!(NamePattern::new("*ssd*").matches("iqn.x:fast-ssd-3"));
        assert!(!NamePattern::new("*ssd").matches("iqn.x:fast-ssd-3"));
        assert!(NamePattern::new("a*b*c").matches("aXbYbZc"));
    }

    #[test]
    fn literal_prefix_stops_at_the_first_wildcard() {
        assert_eq!(NamePattern::new("iqn.a:b*c").literal_prefix(), "iqn.a:b");
        assert_eq!(NamePattern::new("*x").literal_prefix(), "");
        assert!(NamePattern::new("iqn.a:b").is_literal());
    }
}
