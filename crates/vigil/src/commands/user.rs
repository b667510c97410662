//! `vigil user`: register, list, disable and rotate the passwords of users in a data
//! directory's auth database. A running server sees the change on its next request.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use vigil_auth::{Admin, NewUser};

/// Options of `vigil user`.
#[derive(Args, Debug)]
pub struct UserArgs {
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Register a user (a patient, a practitioner, or neither) with roles.
    Add(AddArgs),
    /// List the users (never their password hashes).
    List(DataArgs),
    /// Disable a user and revoke every token issued to them.
    Disable(NameArgs),
    /// Set a new password (printed once unless --password is given) and revoke every token
    /// issued to the user.
    Rotate(RotateArgs),
}

#[derive(Args, Debug)]
struct DataArgs {
    /// Data directory holding auth.sqlite.
    #[arg(long, env = "VIGIL_DATA", default_value = "vigil-data")]
    data: PathBuf,
}

#[derive(Args, Debug)]
struct AddArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The login name.
    #[arg(long)]
    username: String,
    /// The password (at least 8 characters); also read from VIGIL_USER_PASSWORD, which keeps
    /// it out of the process list.
    #[arg(long, env = "VIGIL_USER_PASSWORD", hide_env_values = true)]
    password: String,
    /// The user's Patient resource (a patient using a patient-facing app).
    #[arg(long, value_name = "Patient/ID", conflicts_with = "practitioner")]
    patient: Option<String>,
    /// The user's Practitioner resource.
    #[arg(long, value_name = "Practitioner/ID")]
    practitioner: Option<String>,
    /// A role (repeatable): clinician, auditor or admin.
    #[arg(long = "role", value_name = "ROLE", value_parser = vigil_auth::ROLES)]
    roles: Vec<String>,
}

#[derive(Args, Debug)]
struct NameArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The login name.
    #[arg(long)]
    username: String,
}

#[derive(Args, Debug)]
struct RotateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The login name.
    #[arg(long)]
    username: String,
    /// The new password (default: a generated one, printed once); also VIGIL_USER_PASSWORD.
    #[arg(long, env = "VIGIL_USER_PASSWORD", hide_env_values = true)]
    password: Option<String>,
}

/// Runs `vigil user ...`.
pub fn run(args: UserArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        UserCommand::Add(args) => {
            Admin::open(&args.data.data)?.add_user(&NewUser {
                username: args.username.clone(),
                password: args.password,
                patient: args.patient,
                practitioner: args.practitioner,
                roles: args.roles,
            })?;
            println!("vigil: user {} added", args.username);
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::List(args) => list(&args),
        UserCommand::Disable(args) => {
            Admin::open(&args.data.data)?.disable_user(&args.username)?;
            println!(
                "vigil: user {} disabled; their tokens are revoked",
                args.username
            );
            Ok(ExitCode::SUCCESS)
        }
        UserCommand::Rotate(args) => {
            let generated = Admin::open(&args.data.data)?
                .rotate_user(&args.username, args.password.as_deref())?;
            match generated {
                Some(password) => {
                    println!(
                        "vigil: user {} has a new password (shown once):",
                        args.username
                    );
                    println!("{password}");
                }
                None => println!("vigil: user {} has a new password", args.username),
            }
            eprintln!(
                "vigil: tokens issued to {} before now are revoked",
                args.username
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn list(args: &DataArgs) -> anyhow::Result<ExitCode> {
    let users = Admin::open(&args.data)?.list_users()?;
    println!("USERNAME\tSTATUS\tFHIR_USER\tROLES");
    for user in users {
        println!(
            "{}\t{}\t{}\t{}",
            user.username,
            if user.disabled { "disabled" } else { "active" },
            user.patient
                .or(user.practitioner)
                .unwrap_or_else(|| "-".into()),
            if user.roles.is_empty() {
                "-".to_string()
            } else {
                user.roles.join(",")
            },
        );
    }
    Ok(ExitCode::SUCCESS)
}
