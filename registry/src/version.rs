//! A version as the REST API names it: a number in `[1, 2^31-1]`, or `latest` (also `-1`).

use crate::RegistryError;

/// Which version of a subject a request means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSpec {
    /// The highest version (among live versions, unless deleted ones are asked for too).
    Latest,
    Number(u32),
}

impl VersionSpec {
    /// Parses Confluent's `VersionId`: `latest`, `-1` (its alias), or 1..=2^31-1; 42202
    /// otherwise.
    pub fn parse(s: &str) -> Result<VersionSpec, RegistryError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") || t == "-1" {
            return Ok(VersionSpec::Latest);
        }
        match t.parse::<i64>() {
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => Ok(VersionSpec::Number(n as u32)),
            _ => Err(RegistryError::InvalidVersion(s.to_string())),
        }
    }
}

impl std::fmt::Display for VersionSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSpec::Latest => f.write_str("latest"),
            VersionSpec::Number(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_latest_or_a_positive_int32() {
        assert_eq!(VersionSpec::parse("latest").ok(), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("-1").ok(), Some(VersionSpec::Latest));
        assert_eq!(VersionSpec::parse("7").ok(), Some(VersionSpec::Number(7)));
        assert_eq!(
            VersionSpec::parse("2147483647").ok(),
            Some(VersionSpec::Number(i32::MAX as u32))
        );
        for bad in ["0", "-2", "2147483648", "one", "", "1.5"] {
            assert!(
                matches!(VersionSpec::parse(bad), Err(RegistryError::InvalidVersion(_))),
                "{bad:?}"
            );
        }
    }
}
