//! Command-line arguments (clap derive). Only parsing lives here.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, FromArgMatches, Parser, Subcommand, ValueEnum};

/// Run one workload file on many runtimes.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Context to use (overrides FERRY_CONTEXT and `ferry context use`).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG also works.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

impl Cli {
    /// The process's command line, parsed (exits with clap's message on errors and help).
    pub fn from_env() -> Cli {
        let args: Vec<OsString> = std::env::args_os().collect();
        Cli::parse_run(&args).unwrap_or_else(|| Cli::parse_from(args))
    }

    /// `ferry [--context C] [-v] run …`, the command on every start's path,
    /// parsed against `run` alone: the whole parser builds the arguments of
    /// every subcommand first, a third of a millisecond of each start.
    /// `None` for anything else, help and errors included, which the whole
    /// parser then handles, so what users see is the same.
    fn parse_run(args: &[OsString]) -> Option<Cli> {
        if !args.iter().any(|a| a == "run") {
            return None;
        }
        let run_only = GlobalArgs::augment_args(clap::Command::new("ferry"))
            .subcommand(RunArgs::augment_args(clap::Command::new("run")));
        let mut matches = run_only.try_get_matches_from(args).ok()?;
        let global = GlobalArgs::from_arg_matches_mut(&mut matches).ok()?;
        let (name, mut sub) = matches.remove_subcommand()?;
        let run = (name == "run").then(|| RunArgs::from_arg_matches_mut(&mut sub).ok()).flatten()?;
        Some(Cli { global, command: Command::Run(run) })
    }
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum Command {
    /// Start a workload; attached by default (streams logs, exits with its exit code).
    Run(RunArgs),
    /// List workloads.
    Ps(PsArgs),
    /// Print a workload's output.
    Logs(LogsArgs),
    /// Show everything Ferry knows about a workload, as JSON.
    Inspect(TargetsArgs),
    /// Stop workloads: SIGTERM (or the runtime's equivalent), then kill after a grace period.
    Stop(StopArgs),
    /// Remove finished workloads (and their logs).
    Rm(RmArgs),
    /// Block until workloads end, then print each one's exit code (as `docker wait`).
    Wait(TargetsArgs),
    /// Freeze a running workload.
    Pause(TargetsArgs),
    /// Thaw a paused workload.
    Resume(TargetsArgs),
    /// CPU, memory and process counts, read from the workload's cgroup.
    Stats(StatsArgs),
    /// Manage contexts (which runtime, and its settings).
    #[command(subcommand)]
    Context(ContextCommand),
    /// Check workload files and report every problem with file:line:column.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the workload file.
    Schema,
    /// Print what a runtime would submit (batch script, manifests) without starting it.
    Render(RenderArgs),
    /// Build the image of a workload file's `build:` section (Docker Engine).
    Build(BuildArgs),
    /// Push a workload file's image (or a named image) to its registry.
    Push(PushArgs),
    /// Build if needed, push when the context runs elsewhere, start, print the endpoints.
    Up(UpArgs),
    /// Manage the OCI runtime's image store (pull, push, import, ls, rm, prune).
    #[command(subcommand)]
    Image(crate::commands::oci::ImageCommand),
    /// Checkpoint a running OCI container with CRIU into a directory (the container stops).
    Checkpoint(crate::commands::oci::CheckpointArgs),
    /// Start a container again from a `ferry checkpoint` directory.
    Restore(crate::commands::oci::RestoreArgs),
    /// Check the OCI runtime's prerequisites: runtime binaries, cgroups, overlayfs, CRIU.
    Doctor(crate::commands::oci::DoctorArgs),
    /// Forward local ports to a Kubernetes workload's pod: [LOCAL:]REMOTE (a number or a `ports:` name).
    #[command(name = "port-forward")]
    PortForward(PortForwardArgs),
    /// Serve the shared queue: HTTP API, tenants, scheduler (see /docs on the server).
    Server(ServerArgs),
    /// Manage a Ferry server's tenants, users, tokens and quotas (admins; a server context).
    #[command(subcommand)]
    Admin(AdminCommand),
    /// A Ferry server's queued jobs and why each one waits (a server context).
    Queue(OutputArgs),
    /// Print shell completions.
    Completions {
        /// The shell: bash, zsh, fish, elvish or powershell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Internal: stops a Docker container when its `timeout:` passes.
    #[command(name = "__docker-timeout", hide = true)]
    DockerTimeout { dir: PathBuf },
    /// Internal: the per-container monitor of the OCI runtime.
    #[command(name = "__oci-monitor", hide = true)]
    OciMonitor { dir: PathBuf },
    /// Internal: the per-workload monitor process.
    #[command(name = "__monitor", hide = true)]
    Monitor { dir: PathBuf },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The workload file.
    #[arg(default_value = "ferry.yaml")]
    pub file: PathBuf,
    /// Return as soon as the workload started; print its id.
    #[arg(short, long)]
    pub detach: bool,
    /// Instance name (default: the file's `name`). Unique among live workloads.
    #[arg(long)]
    pub name: Option<String>,
    /// Set an environment variable (repeatable); overrides the file's `env`.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub env: Vec<(String, String)>,
    #[command(flatten)]
    pub mlcube: MlcubeArgs,
}

#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: std::net::SocketAddr,
    /// The server's database: sqlite://PATH or postgres://USER:PASSWORD@HOST/DB
    /// (default: SQLite under Ferry's data dir).
    #[arg(long, env = "FERRY_SERVER_DATABASE", value_name = "URL")]
    pub database: Option<String>,
    /// TOML file of `[[pool]]` tables (name, context, cpus, memory, gpus, gpu_type, labels, cost_per_hour);
    /// default: one pool on the `default` context sized to this machine.
    #[arg(long, value_name = "FILE")]
    pub pools: Option<PathBuf>,
    /// How to choose among the pools a job fits on.
    #[arg(long, default_value = "binpack", value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<ferry_server::sched::Strategy>()))]
    pub strategy: ferry_server::sched::Strategy,
    /// Where the first start writes the admin's token (default: under Ferry's data dir).
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
    /// Largest request body, in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub max_body: usize,
    /// Milliseconds between scheduling rounds when nothing wakes the scheduler.
    #[arg(long, default_value_t = 500, hide = true)]
    pub tick_ms: u64,
}

/// `--output` alone, for listing commands.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants (projects): create, ls.
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Users, each in one tenant with a role: create, ls.
    #[command(subcommand)]
    User(UserCommand),
    /// API tokens: create (printed once), ls, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Set a tenant's quota (an omitted limit becomes unlimited).
    Quota(QuotaArgs),
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        /// The tenant's name.
        name: String,
        /// Fair-share weight.
        #[arg(long, default_value_t = 1)]
        weight: u64,
    },
    /// List the tenants.
    Ls(OutputArgs),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user in a tenant.
    Create {
        /// The user's name.
        name: String,
        /// The tenant the user belongs to.
        #[arg(long)]
        tenant: String,
        /// admin, member or viewer.
        #[arg(long)]
        role: String,
    },
    /// List the users.
    Ls(OutputArgs),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for USER and print it (it is not shown again).
    Create {
        /// The user the token acts as.
        user: String,
    },
    /// List the tokens (ids and owners; never the secrets).
    Ls(OutputArgs),
    /// Revoke the token with this id (`ferry admin token ls`).
    Revoke {
        /// The token's id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct QuotaArgs {
    /// The tenant whose quota is set.
    pub tenant: String,
    /// CPUs its running jobs may use at once.
    #[arg(long)]
    pub cpus: Option<f64>,
    /// Bytes, or a quantity like 64Gi.
    #[arg(long)]
    pub memory: Option<ferry_spec::Quantity>,
    /// GPUs its running jobs may use at once.
    #[arg(long)]
    pub gpus: Option<u64>,
    /// Jobs running at once.
    #[arg(long)]
    pub running: Option<u64>,
}

/// Run an MLCube task instead of a workload file (`ferry run --mlcube DIR --task NAME`).
#[derive(Debug, Clone, Default, Args)]
pub struct MlcubeArgs {
    /// MLCube directory (with mlcube.yaml, or run/ task files and platforms/); replaces FILE.
    #[arg(long, value_name = "DIR", requires = "task")]
    pub mlcube: Option<PathBuf>,
    /// MLCube task name, or a task file (`schema_type: mlcube_invoke`).
    #[arg(long, value_name = "NAME", requires = "mlcube")]
    pub task: Option<String>,
    /// MLCube platform: docker, kubernetes, slurm, local, or a platform file (`schema_type: mlcube_platform`).
    #[arg(long, value_name = "PLATFORM", requires = "mlcube")]
    pub platform: Option<String>,
    /// Override an MLCube parameter's path (MLCube's --NAME=PATH); repeatable.
    #[arg(long = "param", value_name = "NAME=PATH", value_parser = parse_key_value, requires = "mlcube")]
    pub params: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Wide,
    Json,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Include finished workloads.
    #[arg(short, long)]
    pub all: bool,
    /// Only print ids.
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table, wide (every column), or json.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Workload name, id or id prefix.
    pub workload: String,
    /// Keep printing new output until the workload ends.
    #[arg(short, long)]
    pub follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    pub tail: Option<usize>,
    /// Prefix each line with its timestamp.
    #[arg(short, long)]
    pub timestamps: bool,
}

#[derive(Debug, Args)]
pub struct TargetsArgs {
    /// Workload names, ids or id prefixes.
    #[arg(required = true)]
    pub workloads: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Workload names, ids or id prefixes.
    #[arg(required = true)]
    pub workloads: Vec<String>,
    /// Seconds to wait after SIGTERM before killing.
    #[arg(short = 't', long = "time", default_value_t = 10)]
    pub grace_secs: u64,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Workload names, ids or id prefixes.
    #[arg(required = true)]
    pub workloads: Vec<String>,
    /// Stop live workloads first.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Workload names, ids or id prefixes.
    #[arg(required = true)]
    pub workloads: Vec<String>,
    /// Milliseconds between the two samples CPU% is computed from.
    #[arg(long, default_value_t = 250)]
    pub interval_ms: u64,
    /// Output format: table or json.
    #[arg(short, long, value_enum, default_value_t)]
    pub output: Format,
}

#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
pub enum ContextCommand {
    /// Create a context.
    Create(ContextCreateArgs),
    /// List contexts.
    Ls {
        /// Output format: table, wide, or json.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
    /// Make a context the current one.
    Use {
        /// The context's name.
        name: String,
    },
    /// Remove a context (not the one in use) with its workloads; refused
    /// while any of them is live, unless --force.
    Rm {
        /// The context to remove.
        name: String,
        /// Stop the context's live workloads first instead of refusing.
        #[arg(short, long)]
        force: bool,
        /// With --force: seconds each workload gets to stop before it is killed.
        #[arg(short = 't', long = "time", default_value_t = 10)]
        grace_secs: u64,
    },
    /// Show one context (default: the current one).
    Show {
        /// The context's name.
        name: Option<String>,
        /// Output format: table, wide, or json.
        #[arg(short, long, value_enum, default_value_t)]
        output: Format,
    },
}

#[derive(Debug, Args)]
pub struct ContextCreateArgs {
    /// The new context's name.
    pub name: String,
    /// local, oci, docker, slurm, kubernetes or server (implied by --server).
    #[arg(long, required_unless_present = "server")]
    pub runtime: Option<String>,
    /// A Ferry server's URL: workloads are submitted to its queue.
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// File holding the server's API token (only the path is stored).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["password_file", "password_env"])]
    pub token_file: Option<String>,
    /// Make it the current context.
    #[arg(long = "use")]
    pub use_it: bool,
    /// Docker Engine address: unix:///var/run/docker.sock or tcp://HOST:PORT.
    #[arg(long)]
    pub docker_host: Option<String>,
    /// Kubernetes: the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long)]
    pub kubeconfig: Option<String>,
    /// Kubernetes: the kubeconfig context to use (default: its current one).
    #[arg(long)]
    pub kube_context: Option<String>,
    /// Kubernetes: the namespace workloads go to (default: the kubeconfig's).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Slurm login node: user@host[:port].
    #[arg(long)]
    pub ssh: Option<String>,
    /// Slurm: the partition jobs are submitted to (sbatch --partition).
    #[arg(long)]
    pub partition: Option<String>,
    /// Slurm: the account jobs are charged to (sbatch --account).
    #[arg(long)]
    pub account: Option<String>,
    /// Slurm: where job folders go (default: ~/.ferry/slurm on the login node, Ferry's data dir here).
    #[arg(long)]
    pub workdir_root: Option<String>,
    /// OCI runtime binary (runc, crun, or a path).
    #[arg(long)]
    pub oci_runtime: Option<String>,
    /// File holding a password (only the path is stored).
    #[arg(long, conflicts_with = "password_env")]
    pub password_file: Option<String>,
    /// Environment variable holding a password (only its name is stored).
    #[arg(long)]
    pub password_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// slurm or kubernetes.
    #[arg(long)]
    pub runtime: String,
    /// The workload file.
    #[arg(default_value = "ferry.yaml")]
    pub file: PathBuf,
    #[command(flatten)]
    pub mlcube: MlcubeArgs,
}

#[derive(Debug, Args)]
pub struct PortForwardArgs {
    /// Workload name, id or id prefix.
    pub workload: String,
    /// [LOCAL:]REMOTE, e.g. 8888, 9000:8888, 0:jupyter (0: any free local port).
    #[arg(required = true, value_name = "[LOCAL:]REMOTE")]
    pub ports: Vec<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The workload file.
    #[arg(default_value = "ferry.yaml")]
    pub file: PathBuf,
    /// Print the Dockerfile and the files that would be sent; build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Build even if an image with the same inputs exists.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    /// The workload file (its `image:` is pushed) or, with --image, nothing.
    #[arg(default_value = "ferry.yaml")]
    pub file: PathBuf,
    /// Push this image instead of the file's.
    #[arg(long)]
    pub image: Option<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// The workload file.
    #[arg(default_value = "ferry.yaml")]
    pub file: PathBuf,
    /// Instance name (default: the file's `name`).
    #[arg(long)]
    pub name: Option<String>,
    /// Push even when the context runs on the builder's own Docker Engine.
    #[arg(long)]
    pub push: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The workload files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The `run` fast path takes every `run` command line and parses it as
    /// the whole parser does; it leaves everything else to the whole parser.
    #[test]
    fn run_is_parsed_alone_as_the_whole_parser_does() {
        let parse = |line: &str| {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            (Cli::parse_run(&args).map(|c| format!("{c:?}")), Cli::try_parse_from(&args).map(|c| format!("{c:?}")).ok())
        };
        for line in [
            "ferry run",
            "ferry run job.yaml",
            "ferry --context crun run job.yaml",
            "ferry run --context crun -vv job.yaml",
            "ferry -v run -d --name x -e A=1 -e B=2=3 job.yaml",
            "ferry run --mlcube dir --task train --platform docker --param data=/d",
        ] {
            let (fast, whole) = parse(line);
            assert!(fast.is_some(), "{line}: the fast path must take it");
            assert_eq!(fast, whole, "{line}");
        }
        for line in [
            "ferry run --help",
            "ferry run --version",
            "ferry run --bogus",
            "ferry run -e nothing",
            "ferry run --task t",
            "ferry logs run",
            "ferry ps",
            "ferry --context run ps",
        ] {
            assert_eq!(parse(line).0, None, "{line}: the whole parser must handle it");
        }
    }

    /// Every argument and flag a user can see says what it is for, and so
    /// does `ferry --help` itself.
    #[test]
    fn every_visible_argument_has_help() {
        fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
                if arg.get_help().is_none() && !matches!(arg.get_id().as_str(), "help" | "version") {
                    out.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands().filter(|c| !c.is_hide_set()) {
                if sub.get_about().is_none() {
                    out.push(format!("{path} {} (the command)", sub.get_name()));
                }
                undocumented(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let cmd = Cli::command();
        let about = cmd.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert_eq!(about, "Run one workload file on many runtimes");
        let mut missing = Vec::new();
        undocumented(&cmd, "ferry", &mut missing);
        assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
    }

    #[test]
    fn env_flags_split_on_the_first_equals() {
        assert_eq!(parse_key_value("A=b=c").unwrap(), ("A".into(), "b=c".into()));
        assert!(parse_key_value("=x").is_err());
        assert!(parse_key_value("nothing").is_err());
    }
}
