//! `schema-compat`: the schema compatibility gate for humans.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use schema_compat::{check, current, freeze, CompatError, Repo};

/// The schema compatibility gate: every event type's schema, as this build
/// generates it, against every frozen release of it in
/// schemas/released/<EventType>/.
///
/// Against a frozen revision of the same schemaVersion the current schema
/// must be compatible both ways: only new optional fields; no removed,
/// renamed or retyped field, no new required field, no narrowed or widened
/// enum or range. A breaking change passes only when the type's
/// schemaVersion is above the frozen one, domain::upcast has the upcasters
/// from it, and golden events of it are in events/golden/<EventType>/v<N>/.
/// Every current schema must itself be frozen: `freeze` does it.
///
/// Exit status: 0 when the gate passes, 1 when it fails, 2 on an error
/// (an unreadable file, say).
#[derive(Parser)]
#[command(name = "schema-compat", verbatim_doc_comment)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// The repository's root (default: the checkout this was built from).
    #[arg(long, global = true)]
    root: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Print each event type, each frozen revision and OK or the violations
    /// (field, rule); exit 1 if any.
    Check,
    /// Write the current schema of each type whose schema is not frozen
    /// yet as the next revision of its version (v<N>.json for a bumped
    /// version, v<N>.<R>.json for an additive change); never overwrites,
    /// and writes nothing while the gate fails for another reason. Run it
    /// in the change that alters a schema, and commit what it writes.
    Freeze,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let repo = cli.root.map_or_else(Repo::workspace, Repo::at);
    match run(&cli.command, &repo) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("schema-compat: {e}");
            ExitCode::from(2)
        }
    }
}

/// Whether the gate passes.
fn run(command: &Command, repo: &Repo) -> Result<bool, CompatError> {
    let current = current();
    match command {
        Command::Check => {
            let report = check(repo, &current, &domain::upcast::upcaster_exists)?;
            print!("{report}");
            println!("schema gate: {}", if report.is_ok() { "OK" } else { "FAILED" });
            Ok(report.is_ok())
        }
        Command::Freeze => {
            let written = match freeze(repo, &current, &domain::upcast::upcaster_exists) {
                Err(CompatError::Incompatible(report)) => {
                    print!("{report}");
                    println!("schema gate: FAILED, nothing frozen");
                    return Ok(false);
                }
                written => written?,
            };
            for path in &written {
                println!("frozen: {}", path.display());
            }
            if written.is_empty() {
                println!("every current schema is frozen already");
            }
            Ok(true)
        }
    }
}
