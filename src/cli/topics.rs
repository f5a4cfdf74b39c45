//! `runnel topics create|list|describe|delete`, like Kafka's `kafka-topics.sh`.

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::metadata::{Metadata, MetadataTopic};

use super::{Connection, Quiet, REQUEST_TIMEOUT, Rd, block_on, parse_key_value};

#[derive(Subcommand, Debug)]
pub enum TopicsCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        #[arg(long, default_value_t = 1)]
        replication_factor: i32,
        /// A topic config override, e.g. `cleanup.policy=compact`; repeatable.
        #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_key_value)]
        configs: Vec<(String, String)>,
        #[command(flatten)]
        connection: Connection,
    },
    /// List the topics, one per line.
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Show a topic's partitions (leader, replicas, in-sync replicas) and configs.
    Describe {
        name: String,
        /// List every config, not only the topic's overrides.
        #[arg(long)]
        all_configs: bool,
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a topic.
    Delete {
        name: String,
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: TopicsCommand) -> Result<()> {
    match command {
        TopicsCommand::Create {
            name,
            partitions,
            replication_factor,
            configs,
            connection,
        } => create(&connection, &name, partitions, replication_factor, &configs),
        TopicsCommand::List { connection } => list(&connection),
        TopicsCommand::Describe {
            name,
            all_configs,
            connection,
        } => describe(&connection, &name, all_configs),
        TopicsCommand::Delete { name, connection } => delete(&connection, &name),
    }
}

fn admin(connection: &Connection) -> Result<AdminClient<Quiet>> {
    connection
        .config()
        .create_with_context(Quiet)
        .map_err(Rd)
        .context("creating the admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new().request_timeout(Some(super::REQUEST_TIMEOUT))
}

/// The metadata of every topic. Asking for all topics, rather than one by name, never
/// auto-creates the one asked about.
fn metadata(admin: &AdminClient<Quiet>) -> Result<Metadata> {
    admin
        .inner()
        .fetch_metadata(None, REQUEST_TIMEOUT)
        .map_err(Rd)
        .context("fetching metadata")
}

fn find<'m>(metadata: &'m Metadata, name: &str) -> Result<&'m MetadataTopic> {
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| anyhow!("topic {name:?} does not exist"))
}

fn create(
    connection: &Connection,
    name: &str,
    partitions: i32,
    replication_factor: i32,
    configs: &[(String, String)],
) -> Result<()> {
    let admin = admin(connection)?;
    let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication_factor));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results = block_on(admin.create_topics([&topic], &options()))?
        .map_err(Rd)
        .with_context(|| format!("creating topic {name:?}"))?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("creating topic {topic:?}: {code}");
        }
    }
    println!("Created topic {name}.");
    Ok(())
}

fn list(connection: &Connection) -> Result<()> {
    let admin = admin(connection)?;
    let metadata = metadata(&admin)?;
    let mut names: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    names.sort_unstable();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// Prints in the layout of `kafka-topics.sh --describe`.
fn describe(connection: &Connection, name: &str, all_configs: bool) -> Result<()> {
    let admin = admin(connection)?;
    let metadata = metadata(&admin)?;
    let topic = find(&metadata, name)?;
    if let Some(error) = topic.error() {
        bail!("describing topic {name:?}: {error:?}");
    }
    let resources = block_on(admin.describe_configs([&ResourceSpecifier::Topic(name)], &options()))?
        .map_err(Rd)
        .with_context(|| format!("describing the configs of topic {name:?}"))?;
    let mut configs = Vec::new();
    for resource in resources {
        let resource =
            resource.map_err(|code| anyhow!("describing the configs of topic {name:?}: {code}"))?;
        for entry in resource.entries {
            if all_configs || !entry.is_default {
                let value = if entry.is_sensitive { None } else { entry.value };
                configs.push(format!("{}={}", entry.name, value.as_deref().unwrap_or("")));
            }
        }
    }
    configs.sort();
    let partitions = topic.partitions();
    let replication_factor = partitions.first().map_or(0, |p| p.replicas().len());
    println!(
        "Topic: {name}\tPartitionCount: {}\tReplicationFactor: {replication_factor}\tConfigs: {}",
        partitions.len(),
        configs.join(",")
    );
    let mut partitions: Vec<_> = partitions.iter().collect();
    partitions.sort_by_key(|p| p.id());
    for p in partitions {
        println!(
            "\tTopic: {name}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
            p.id(),
            p.leader(),
            join(p.replicas()),
            join(p.isr())
        );
    }
    Ok(())
}

fn delete(connection: &Connection, name: &str) -> Result<()> {
    let admin = admin(connection)?;
    let results = block_on(admin.delete_topics(&[name], &options()))?
        .map_err(Rd)
        .with_context(|| format!("deleting topic {name:?}"))?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("deleting topic {topic:?}: {code}");
        }
    }
    println!("Deleted topic {name}.");
    Ok(())
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}
