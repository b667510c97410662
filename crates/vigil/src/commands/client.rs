//! `vigil client`: register, list, disable and rotate OAuth clients in a data directory's auth
//! database. A running server sees the change on its next request.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_auth::{Admin, ClientCredential, NewClient};

/// Options of `vigil client`.
#[derive(Args, Debug)]
pub struct ClientArgs {
    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand, Debug)]
enum ClientCommand {
    /// Register a client (public with PKCE, a shared secret, or a JWKS for private_key_jwt).
    Add(AddArgs),
    /// List the registered clients (never their secrets).
    List(DataArgs),
    /// Disable a client and revoke every token issued to it.
    Disable(IdArgs),
    /// Give a client a new secret (printed once unless --secret is given) or a new JWKS, and
    /// revoke every token issued to it.
    Rotate(RotateArgs),
}

#[derive(Args, Debug)]
struct DataArgs {
    /// Data directory holding auth.sqlite.
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    data: PathBuf,
}

#[derive(Args, Debug)]
#[command(group = clap::ArgGroup::new("credential").required(true).multiple(false))]
struct AddArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The client_id.
    #[arg(long)]
    id: String,
    /// A shared secret (client_secret_basic); also read from VIGIL_CLIENT_SECRET.
    #[arg(
        long,
        env = "VIGIL_CLIENT_SECRET",
        group = "credential",
        hide_env_values = true
    )]
    secret: Option<String>,
    /// A public client: no secret, PKCE S256 required.
    #[arg(long, group = "credential")]
    public: bool,
    /// A JSON Web Key Set file with the client's public keys (private_key_jwt, RS384/ES384).
    #[arg(long, value_name = "FILE", group = "credential")]
    jwks: Option<PathBuf>,
    /// A redirect URI (repeatable), matched exactly at /auth/authorize.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// The scopes the client may be granted, space-separated.
    #[arg(long, value_name = "SCOPES")]
    scope: String,
}

#[derive(Args, Debug)]
struct IdArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The client_id.
    #[arg(long)]
    id: String,
}

#[derive(Args, Debug)]
struct RotateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The client_id.
    #[arg(long)]
    id: String,
    /// The new secret (default: a generated one, printed once).
    #[arg(
        long,
        env = "VIGIL_CLIENT_SECRET",
        conflicts_with = "jwks",
        hide_env_values = true
    )]
    secret: Option<String>,
    /// The new JWKS file, for a private_key_jwt client.
    #[arg(long, value_name = "FILE")]
    jwks: Option<PathBuf>,
}

/// Runs `vigil client ...`.
pub fn run(args: ClientArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ClientCommand::Add(args) => add(args),
        ClientCommand::List(args) => list(&args),
        ClientCommand::Disable(args) => {
            Admin::open(&args.data.data)?.disable_client(&args.id)?;
            println!("vigil: client {} disabled; its tokens are revoked", args.id);
            Ok(ExitCode::SUCCESS)
        }
        ClientCommand::Rotate(args) => rotate(args),
    }
}

fn read_jwks(path: &PathBuf) -> anyhow::Result<String> {
    std::fs::read_to_string(path)
        .map_err(|error| anyhow::anyhow!("cannot read the JWKS file {}: {error}", path.display()))
}

fn add(args: AddArgs) -> anyhow::Result<ExitCode> {
    let credential = match (args.secret, args.public, args.jwks) {
        (Some(secret), _, _) => ClientCredential::Secret(secret),
        (None, true, _) => ClientCredential::Public,
        (None, false, Some(path)) => ClientCredential::Jwks(read_jwks(&path)?),
        (None, false, None) => anyhow::bail!("give one of --secret, --public or --jwks"),
    };
    let kind = match &credential {
        ClientCredential::Secret(_) => "confidential (client_secret_basic)",
        ClientCredential::Public => "public (PKCE S256)",
        ClientCredential::Jwks(_) => "confidential (private_key_jwt)",
    };
    Admin::open(&args.data.data)?.add_client(&NewClient {
        id: args.id.clone(),
        credential,
        redirect_uris: args.redirect_uris,
        scopes: args.scope,
    })?;
    println!("vigil: client {} added, {kind}", args.id);
    Ok(ExitCode::SUCCESS)
}

fn list(args: &DataArgs) -> anyhow::Result<ExitCode> {
    let clients = Admin::open(&args.data)?.list_clients()?;
    println!("CLIENT_ID\tKIND\tSTATUS\tSCOPES\tREDIRECT_URIS");
    for client in clients {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            client.id,
            client.kind.as_str(),
            if client.disabled {
                "disabled"
            } else {
                "active"
            },
            client.scopes.join(" "),
            client.redirect_uris.join(" "),
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(args: RotateArgs) -> anyhow::Result<ExitCode> {
    let credential = match (args.secret, args.jwks) {
        (Some(secret), _) => Some(ClientCredential::Secret(secret)),
        (None, Some(path)) => Some(ClientCredential::Jwks(read_jwks(&path)?)),
        (None, None) => None,
    };
    let generated = Admin::open(&args.data.data)?.rotate_client(&args.id, credential)?;
    match generated {
        Some(secret) => {
            println!("vigil: client {} has a new secret (shown once):", args.id);
            println!("{secret}");
        }
        None => println!("vigil: client {} rotated", args.id),
    }
    eprintln!("vigil: tokens issued to {} before now are revoked", args.id);
    Ok(ExitCode::SUCCESS)
}
