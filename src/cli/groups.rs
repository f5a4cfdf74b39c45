//! `runnel groups list|describe`, like Kafka's `kafka-consumer-groups.sh`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::groups::GroupInfo;
use rdkafka::{Offset, TopicPartitionList};

use super::{Connection, Quiet, REQUEST_TIMEOUT, Rd};

#[derive(Subcommand, Debug)]
pub enum GroupsCommand {
    /// List the consumer groups, one per line.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a group's state and members, and per partition its committed offset, the log end
    /// offset and the lag between them.
    Describe {
        group: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: GroupsCommand) -> Result<()> {
    match command {
        GroupsCommand::List { connection } => list(&connection),
        GroupsCommand::Describe { group, connection } => describe(&connection, &group),
    }
}

fn list(connection: &Connection) -> Result<()> {
    let client: BaseConsumer<Quiet> = connection
        .config()
        .create_with_context(Quiet)
        .map_err(Rd)
        .context("creating the client")?;
    let groups = client
        .fetch_group_list(None, REQUEST_TIMEOUT)
        .map_err(Rd)
        .context("listing groups")?;
    let mut names: Vec<&str> = groups.groups().iter().map(GroupInfo::name).collect();
    names.sort_unstable();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// One partition's row: where the group is, where the log ends, and who owns it.
#[derive(Debug, Default)]
struct Row {
    committed: Option<i64>,
    end: Option<i64>,
    member: Option<String>,
}

fn describe(connection: &Connection, group: &str) -> Result<()> {
    // A consumer configured with the group but never subscribed: it can fetch the group's
    // committed offsets (OffsetFetch) without joining, so it does not disturb the members.
    let client: BaseConsumer<Quiet> = connection
        .config()
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create_with_context(Quiet)
        .map_err(Rd)
        .context("creating the client")?;
    let groups = client
        .fetch_group_list(Some(group), REQUEST_TIMEOUT)
        .map_err(Rd)
        .with_context(|| format!("describing group {group:?}"))?;
    let info = groups.groups().iter().find(|g| g.name() == group);

    let mut rows: BTreeMap<(String, i32), Row> = BTreeMap::new();
    if let Some(info) = info {
        for member in info.members() {
            for (topic, partitions) in member
                .assignment()
                .and_then(decode_assignment)
                .unwrap_or_default()
            {
                for partition in partitions {
                    rows.entry((topic.clone(), partition)).or_default().member =
                        Some(member.id().to_string());
                }
            }
        }
    }
    // OffsetFetch needs partitions named: ask for every partition of every topic.
    let metadata = client
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(Rd)
        .context("fetching metadata")?;
    let mut all = TopicPartitionList::new();
    for topic in metadata.topics() {
        for partition in topic.partitions() {
            all.add_partition(topic.name(), partition.id());
        }
    }
    let committed = client
        .committed_offsets(all, REQUEST_TIMEOUT)
        .map_err(Rd)
        .with_context(|| format!("fetching the committed offsets of group {group:?}"))?;
    for element in committed.elements() {
        if let Offset::Offset(offset) = element.offset() {
            rows.entry((element.topic().to_string(), element.partition()))
                .or_default()
                .committed = Some(offset);
        }
    }
    let state = info.map_or("Dead", GroupInfo::state);
    if rows.is_empty() && matches!(state, "Dead" | "") {
        bail!("group {group:?} does not exist");
    }
    for ((topic, partition), row) in &mut rows {
        let (_, high) = client
            .fetch_watermarks(topic, *partition, REQUEST_TIMEOUT)
            .map_err(Rd)
            .with_context(|| format!("fetching the end offset of {topic}-{partition}"))?;
        row.end = Some(high);
    }

    println!(
        "Group: {group}\tState: {state}\tProtocol: {}\tMembers: {}",
        info.map_or("", GroupInfo::protocol),
        info.map_or(0, |i| i.members().len())
    );
    for member in info.map(GroupInfo::members).unwrap_or_default() {
        let assignment: Vec<String> = member
            .assignment()
            .and_then(decode_assignment)
            .unwrap_or_default()
            .into_iter()
            .flat_map(|(topic, partitions)| partitions.into_iter().map(move |p| format!("{topic}-{p}")))
            .collect();
        println!(
            "\tMember: {}\tClientId: {}\tHost: {}\tAssignment: {}",
            member.id(),
            member.client_id(),
            member.client_host(),
            assignment.join(",")
        );
    }
    println!("GROUP\tTOPIC\tPARTITION\tCURRENT-OFFSET\tLOG-END-OFFSET\tLAG\tCONSUMER-ID");
    for ((topic, partition), row) in &rows {
        let lag = match (row.committed, row.end) {
            (Some(committed), Some(end)) => (end - committed).max(0).to_string(),
            _ => "-".into(),
        };
        println!(
            "{group}\t{topic}\t{partition}\t{}\t{}\t{lag}\t{}",
            show(row.committed),
            show(row.end),
            row.member.as_deref().unwrap_or("-")
        );
    }
    Ok(())
}

fn show(offset: Option<i64>) -> String {
    offset.map_or_else(|| "-".into(), |o| o.to_string())
}

/// Decodes a member's assignment in the consumer protocol's `ConsumerProtocolAssignment`
/// layout (version, then topics with their partitions; user data ignored). `None` when the
/// bytes are not in that layout, e.g. a group of another protocol type.
fn decode_assignment(bytes: &[u8]) -> Option<Vec<(String, Vec<i32>)>> {
    let mut reader = Reader(bytes);
    let _version = reader.i16()?;
    let topics = reader.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(reader.i16()?).ok()?;
        let topic = String::from_utf8(reader.take(len)?.to_vec()).ok()?;
        let count = reader.i32()?;
        let mut partitions = Vec::new();
        for _ in 0..count.max(0) {
            partitions.push(reader.i32()?);
        }
        out.push((topic, partitions));
    }
    Some(out)
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn i16(&mut self) -> Option<i16> {
        Some(i16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignment_in_the_consumer_protocol_layout_is_decoded() {
        let mut bytes = vec![0, 1, 0, 0, 0, 1, 0, 4];
        bytes.extend_from_slice(b"demo");
        bytes.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_assignment(&bytes),
            Some(vec![("demo".to_string(), vec![0, 2])])
        );
        assert_eq!(decode_assignment(&bytes[..9]), None);
    }
}
