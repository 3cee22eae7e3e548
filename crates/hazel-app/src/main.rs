//! The `hazel-sync` binary: a thin command-line shell over the `hazel_app` library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use hazel_app::{Config, telemetry};

/// Hazel Sync: keeps Hazel Chat channels in sync with Slack, Discord and Microsoft Teams.
#[derive(Debug, Parser)]
#[command(name = "hazel-sync", version, about)]
struct Cli {
    /// A TOML configuration file; `HAZEL_*` environment variables override it.
    #[arg(long, global = true, env = "HAZEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Apply migrations and serve the API until SIGTERM or Ctrl-C.
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create a user (unless one has this email) and print a new API token for it.
    Bootstrap {
        /// The user's email address.
        #[arg(long)]
        email: String,
        /// The user's display name.
        #[arg(long)]
        name: String,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Openapi = cli.command {
        println!("{}", hazel_http::openapi_json());
        return ExitCode::SUCCESS;
    }
    let config = match Config::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(config.log_format);
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> anyhow::Result<()> {
    match command {
        Command::Serve => hazel_app::build(config).await?.run().await,
        Command::Migrate => {
            hazel_app::install_crypto_provider();
            hazel_app::open_database(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Bootstrap { email, name } => {
            hazel_app::install_crypto_provider();
            let database = hazel_app::open_database(&config).await?;
            let services = hazel_app::services(&config, &database)?;
            let out = hazel_app::bootstrap(&services, &email, &name).await?;
            eprintln!(
                "{} user {} <{}>; new token:",
                if out.created { "created" } else { "found" },
                out.user.name,
                out.user.email.as_str()
            );
            println!("{}", out.token.expose());
            Ok(())
        }
        // Answered in `main` before configuration is read: printing the document needs none.
        Command::Openapi => Ok(()),
    }
}
