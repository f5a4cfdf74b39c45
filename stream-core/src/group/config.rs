//! The coordinator's settings, under Kafka's broker config names and with Kafka's defaults.

use super::error::ConfigError;

/// Settings of the group coordinator. Each field is the Kafka broker config of the same name
/// (dots become underscores) with Kafka's default; tests shrink the timeouts.
///
/// ```
/// use stream_core::group::GroupConfig;
///
/// let config = GroupConfig::default()
///     .with_group_initial_rebalance_delay_ms(0)
///     .with_group_min_session_timeout_ms(10)
///     .build()?;
/// assert_eq!(config.group_max_session_timeout_ms, 1_800_000);
/// # Ok::<(), stream_core::group::ConfigError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.min.session.timeout.ms`: a JoinGroup asking for less gets INVALID_SESSION_TIMEOUT.
    pub group_min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: a JoinGroup asking for more gets INVALID_SESSION_TIMEOUT.
    pub group_max_session_timeout_ms: i32,
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members, so a fleet starting together rebalances once rather than once per
    /// member. Extended by the same delay while members keep arriving, up to the rebalance
    /// timeout.
    pub group_initial_rebalance_delay_ms: i32,
    /// `group.max.size`: members beyond it get GROUP_MAX_SIZE_REACHED.
    pub group_max_size: usize,
    /// `offset.metadata.max.bytes`: a committed metadata string above it gets
    /// OFFSET_METADATA_TOO_LARGE.
    pub offset_metadata_max_bytes: usize,
}

impl Default for GroupConfig {
    fn default() -> GroupConfig {
        GroupConfig {
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_initial_rebalance_delay_ms: 3_000,
            group_max_size: i32::MAX as usize,
            offset_metadata_max_bytes: 4_096,
        }
    }
}

impl GroupConfig {
    pub fn with_group_min_session_timeout_ms(mut self, ms: i32) -> GroupConfig {
        self.group_min_session_timeout_ms = ms;
        self
    }

    pub fn with_group_max_session_timeout_ms(mut self, ms: i32) -> GroupConfig {
        self.group_max_session_timeout_ms = ms;
        self
    }

    pub fn with_group_initial_rebalance_delay_ms(mut self, ms: i32) -> GroupConfig {
        self.group_initial_rebalance_delay_ms = ms;
        self
    }

    pub fn with_group_max_size(mut self, members: usize) -> GroupConfig {
        self.group_max_size = members;
        self
    }

    pub fn with_offset_metadata_max_bytes(mut self, bytes: usize) -> GroupConfig {
        self.offset_metadata_max_bytes = bytes;
        self
    }

    /// Checks the settings fit together.
    pub fn build(self) -> Result<GroupConfig, ConfigError> {
        let invalid = |name, reason: String| Err(ConfigError { name, reason });
        if self.group_min_session_timeout_ms < 0 {
            return invalid("group.min.session.timeout.ms", "must not be negative".into());
        }
        if self.group_max_session_timeout_ms < self.group_min_session_timeout_ms {
            return invalid(
                "group.max.session.timeout.ms",
                format!(
                    "{} is below group.min.session.timeout.ms",
                    self.group_max_session_timeout_ms
                ),
            );
        }
        if self.group_initial_rebalance_delay_ms < 0 {
            return invalid("group.initial.rebalance.delay.ms", "must not be negative".into());
        }
        if self.group_max_size == 0 {
            return invalid("group.max.size", "must be at least 1".into());
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kafkas() {
        let config = GroupConfig::default();
        assert_eq!(config.group_min_session_timeout_ms, 6_000);
        assert_eq!(config.group_max_session_timeout_ms, 1_800_000);
        assert_eq!(config.group_initial_rebalance_delay_ms, 3_000);
        assert_eq!(config.offset_metadata_max_bytes, 4_096);
        assert_eq!(config.clone().build(), Ok(config));
    }

    #[test]
    fn max_session_timeout_below_min_is_refused() {
        let error = GroupConfig::default()
            .with_group_max_session_timeout_ms(10)
            .build()
            .unwrap_err();
        assert_eq!(error.name, "group.max.session.timeout.ms");
    }
}
