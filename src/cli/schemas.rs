//! `runnel schemas register|list|get|check`: the schema registry's REST API from the shell,
//! through the same [`HttpRegistryClient`] the Avro serdes use, so it works against
//! `runnel serve --registry-listen` and a Confluent Schema Registry alike.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use runnel::registry::{HttpRegistryClient, SchemaRegistryClient, VersionSpec};

/// Where the schema registry is; every `schemas` subcommand takes it.
#[derive(Args, Debug, Clone)]
pub struct RegistryAddress {
    /// The schema registry's base URL (plain HTTP).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8081")]
    pub registry: String,
}

impl RegistryAddress {
    fn client(&self) -> HttpRegistryClient {
        HttpRegistryClient::new(&self.registry)
    }
}

#[derive(Subcommand, Debug)]
pub enum SchemasCommand {
    /// Register an Avro schema (a JSON file) under a subject; prints its version and global id.
    Register {
        subject: String,
        /// The Avro schema, as JSON.
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        registry: RegistryAddress,
    },
    /// List the subjects, one per line.
    List {
        #[command(flatten)]
        registry: RegistryAddress,
    },
    /// Print one version of a subject: a line `subject S version V id I`, then the schema.
    Get {
        subject: String,
        /// A version number, or `latest`.
        #[arg(long, default_value = "latest")]
        version: String,
        #[command(flatten)]
        registry: RegistryAddress,
    },
    /// Check a schema file against the subject's compatibility rule without registering it;
    /// exits non-zero, with the violations, when it is incompatible.
    Check {
        subject: String,
        #[arg(long)]
        file: PathBuf,
        #[command(flatten)]
        registry: RegistryAddress,
    },
}

pub fn run(command: SchemasCommand) -> Result<()> {
    match command {
        SchemasCommand::Register {
            subject,
            file,
            registry,
        } => register(&registry.client(), &subject, &file),
        SchemasCommand::List { registry } => {
            for subject in registry.client().subjects().context("listing subjects")? {
                println!("{subject}");
            }
            Ok(())
        }
        SchemasCommand::Get {
            subject,
            version,
            registry,
        } => {
            let spec = VersionSpec::parse(&version)?;
            let v = registry
                .client()
                .version(&subject, spec)
                .with_context(|| format!("getting {subject} version {spec}"))?;
            println!("subject {} version {} id {}", v.subject, v.version, v.id);
            println!("{}", v.schema);
            Ok(())
        }
        SchemasCommand::Check {
            subject,
            file,
            registry,
        } => check(&registry.client(), &subject, &file),
    }
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

fn register(client: &HttpRegistryClient, subject: &str, file: &Path) -> Result<()> {
    let schema = read(file)?;
    let registered = client
        .register(subject, &schema)
        .with_context(|| format!("registering {} under {subject}", file.display()))?;
    // Confluent's register answers only the id; the lookup finds the version.
    let version = match registered.version {
        Some(v) => v,
        None => client
            .lookup(subject, &schema)
            .with_context(|| format!("looking up the version of {} under {subject}", file.display()))?
            .version
            .unwrap_or_default(),
    };
    println!("subject {subject} version {version} id {}", registered.id);
    Ok(())
}

fn check(client: &HttpRegistryClient, subject: &str, file: &Path) -> Result<()> {
    let schema = read(file)?;
    let violations = client
        .test_compatibility(subject, &schema, None)
        .with_context(|| format!("checking {} against {subject}", file.display()))?;
    if !violations.is_empty() {
        bail!(
            "{} is not compatible with subject {subject}: {}",
            file.display(),
            violations.join("; ")
        );
    }
    println!("compatible");
    Ok(())
}
