//! The registry's modes (Confluent's `/mode`): whether it takes writes, and whether it takes
//! schemas with ids chosen by the caller (IMPORT, for copying another registry's schemas).

use crate::RegistryError;

/// A global or subject-level mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// The usual mode: registrations get fresh ids and are checked for compatibility.
    #[default]
    ReadWrite,
    /// Every write (register, delete, config) is refused with 42205.
    ReadOnly,
    /// Registrations must carry their id (and may carry their version); no compatibility
    /// check, as Confluent does when migrating schemas between registries.
    Import,
}

impl Mode {
    /// Parses Confluent's names, case-insensitively; 42204 otherwise.
    pub fn parse(s: &str) -> Result<Mode, RegistryError> {
        match s.trim().to_ascii_uppercase().as_str() {
            "READWRITE" => Ok(Mode::ReadWrite),
            "READONLY" => Ok(Mode::ReadOnly),
            "IMPORT" => Ok(Mode::Import),
            _ => Err(RegistryError::InvalidMode(s.to_string())),
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::ReadWrite => "READWRITE",
            Mode::ReadOnly => "READONLY",
            Mode::Import => "IMPORT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_case_insensitively_and_refuse_unknown_names() {
        for m in [Mode::ReadWrite, Mode::ReadOnly, Mode::Import] {
            assert_eq!(Mode::parse(m.as_str()).ok(), Some(m));
            assert_eq!(Mode::parse(&m.as_str().to_lowercase()).ok(), Some(m));
        }
        assert!(matches!(
            Mode::parse("WRITEONLY"),
            Err(RegistryError::InvalidMode(_))
        ));
    }
}
