//! `dualpower`: the command-line surface of a Dual Power node.
//!
//! Every command works on one data directory (`--home`, `DUALPOWER_HOME`, default
//! `~/.dualpower`), so several members can live side by side on one machine, and every command
//! takes `--json` for scripts. Commands open the store directly when no node runs, and those
//! that sign or decrypt ask for the passphrase. While `dualpower serve` runs it is the unlocked
//! identity (as an ssh-agent is): writes, imports and reads that decrypt go through its local API
//! (so the node can gossip at once) and no passphrase is asked; other reads open the store
//! read-only. Only `init` and `serve` create a data directory.

mod aid_cmd;
mod decide_cmd;
mod join_cmd;
mod ledger_cmd;
mod link_cmd;
mod node_cmd;
mod out;
mod when;
mod work_cmd;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use dualpower_core::{Event, EventId, Identity, NetworkId, Payload};
use dualpower_node::ops::Op;
use dualpower_node::query::Query;
use dualpower_state::Feed;
use dualpower_store::keystore::{self, KdfParams};
use dualpower_store::{GroupInfo, Store, StoreConfig};
use indicatif::{ProgressBar, ProgressStyle};
use node_cmd::{Remote, ServeArgs};
use serde_json::{Value, json};
use zeroize::Zeroizing;

/// Dual Power: a serverless, end-to-end-encrypted network for organising together.
#[derive(Parser, Debug)]
#[command(name = "dualpower", version, about, long_about = None)]
struct Cli {
    /// Data directory (identity, store). Default: $DUALPOWER_HOME, else ~/.dualpower.
    #[arg(long, global = true, env = "DUALPOWER_HOME")]
    home: Option<PathBuf>,
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Network name (for test networks; everyone on one network must use the same name).
    #[arg(long, global = true, env = "DUALPOWER_NETWORK", hide = true)]
    network: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Create your identity (asks for a passphrase, or reads DUALPOWER_PASSPHRASE).
    Init,
    /// Show your identity (did:key).
    Id,
    /// Create and manage groups.
    #[command(subcommand)]
    Group(GroupCommand),
    #[command(flatten)]
    Decide(decide_cmd::DecideCommand),
    #[command(flatten)]
    Work(work_cmd::WorkCommand),
    #[command(flatten)]
    Ledger(ledger_cmd::LedgerCommand),
    #[command(flatten)]
    Aid(aid_cmd::AidCommand),
    /// Link the ledger to another group's, pay across, audit the bridges.
    #[command(subcommand)]
    Link(link_cmd::LinkCommand),
    /// List the groups this node knows.
    Groups,
    /// Post to a group.
    Post {
        /// Group id, id prefix or name.
        group: String,
        /// The text.
        text: String,
    },
    /// Reply to a post or comment.
    Comment {
        /// Group id, id prefix or name.
        group: String,
        /// Id (or unique prefix) of the post or comment.
        parent: String,
        /// The text.
        text: String,
    },
    /// React to a post or comment.
    React {
        /// Group id, id prefix or name.
        group: String,
        /// Id (or unique prefix) of the post or comment.
        target: String,
        /// An emoji or a short word.
        reaction: String,
    },
    /// Set your display name in a group (sealed to its members; the latest one counts).
    Name {
        /// Group id, id prefix or name.
        group: String,
        /// The name (1–64 characters). Members who share a name are told apart by key.
        name: String,
    },
    /// Give anyone a private name that only you see (or clear it); it overrides their display
    /// name wherever you see them.
    Petname {
        /// The member (did:key, or a unique piece of it as shown, e.g. …uW3fgMhW).
        member: String,
        /// The name; leave it out (or give --clear) to clear it.
        name: Option<String>,
        /// Clear the petname.
        #[arg(long, conflicts_with = "name")]
        clear: bool,
    },
    /// Direct messages (end-to-end encrypted between two members).
    #[command(subcommand)]
    Dm(DmCommand),
    /// Read a group's feed.
    Feed {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Show a group's raw events: ids, authors, seq, kinds, validity, forks and quarantine.
    Log {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Re-verify everything stored (signatures, hashes, links, forks, database integrity).
    Verify,
    /// Write a group's signed events to a bundle file.
    Export {
        /// Group id, id prefix or name.
        group: String,
        /// Output file.
        file: PathBuf,
    },
    /// Import a bundle file (bad events are rejected with reasons; good ones are kept).
    Import {
        /// Bundle file.
        file: PathBuf,
    },
    /// Show what this node holds, and, if it runs, its peers, groups, heights and syncs.
    Status,
    /// Run the node: connect to peers, gossip new events live, catch up what was missed.
    /// Creates your identity first if there is none.
    Serve {
        /// Address to listen on (repeatable). Default: all interfaces, TCP and QUIC, free ports.
        #[arg(long = "listen", value_name = "MULTIADDR")]
        listen: Vec<libp2p::Multiaddr>,
        /// Peer to connect to at start, e.g. /ip4/203.0.113.5/tcp/4001/p2p/12D3… (repeatable).
        #[arg(long = "bootstrap", value_name = "MULTIADDR")]
        bootstrap: Vec<libp2p::Multiaddr>,
        /// Do not look for peers on the local network (mDNS).
        #[arg(long)]
        no_mdns: bool,
        /// Relay connections for peers behind NAT (for an always-on community peer).
        #[arg(long)]
        relay_server: bool,
        /// Dial, and list in the peer directory, loopback and private-network addresses that
        /// other peers announce (for tests on one machine or a closed LAN). Without it only
        /// addresses you give (--bootstrap, invite codes, sync --peer) or mDNS finds may be
        /// private.
        #[arg(long)]
        allow_private_peers: bool,
        /// Where the web app listens (port 0: any free port).
        #[arg(long, value_name = "ADDR", env = "DUALPOWER_WEB", default_value = dualpower_web::DEFAULT_ADDR)]
        web: std::net::SocketAddr,
        /// Serve no web app.
        #[arg(long, conflicts_with = "web_public")]
        no_web: bool,
        /// Let the web app listen on an address other than loopback (other machines can reach
        /// it and try passphrases; traffic is not encrypted).
        #[arg(long)]
        web_public: bool,
        /// Anonymous mode: talk to peers only through an embedded I2P router, so no peer and
        /// no observer of the network learns this machine's IP address from Dual Power. No
        /// TCP/QUIC listeners, no mDNS, no DHT. Slower: tunnels take tens of seconds to build.
        #[arg(long, conflicts_with_all = ["listen", "relay_server"])]
        anonymous: bool,
        /// With --anonymous: join a local I2P test network described by FILE (as
        /// `dualpower-i2p`'s devnet writes it) instead of the public I2P network.
        #[arg(long, value_name = "FILE", requires = "anonymous")]
        i2p_devnet: Option<std::path::PathBuf>,
        /// With --anonymous on the public I2P network: fetch the first router addresses from the
        /// public reseed servers when the router knows none yet (this HTTPS request reveals to
        /// the reseed server that this machine runs I2P).
        #[arg(long, requires = "anonymous")]
        i2p_reseed: bool,
    },
    /// Print a new one-time link that logs a browser into the running node's web app.
    Web,
    /// Catch up every group with one peer now, with a progress bar.
    Sync {
        /// The peer's address, with /p2p/PEER_ID.
        #[arg(long, value_name = "MULTIADDR")]
        peer: libp2p::Multiaddr,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
    },
}

#[derive(Subcommand, Debug)]
enum DmCommand {
    /// Send a direct message to a member you share a group with.
    Send {
        /// The member (did:key, or a unique piece of it as shown, e.g. …uW3fgMhW).
        member: String,
        /// The text.
        text: String,
        /// The group to carry it (default: the first one you share).
        #[arg(long)]
        group: Option<String>,
    },
    /// List your direct messages.
    List,
}

#[derive(Subcommand, Debug)]
enum GroupCommand {
    /// Create a new private group (you become its first member and admin).
    Create {
        /// A human-readable name.
        name: String,
        /// The group's rules.
        #[command(flatten)]
        rules: dualpower_node::ops::ConstitutionArgs,
    },
    /// Create an invite code (printed as text and as a QR code).
    Invite {
        /// Group id, id prefix or name.
        group: String,
        /// Hours until it expires.
        #[arg(long, default_value_t = 72)]
        hours: u64,
        /// How many people may use it.
        #[arg(long, default_value_t = 1)]
        uses: u64,
    },
    /// Join a group with an invite code, and wait until a member's node admits you, turns the
    /// join away (exit 1, saying why), or the timeout passes (exit 2). Keep your node running
    /// (`dualpower serve`): the join travels through it.
    Join {
        /// The code (`dpinvite1…`).
        code: String,
        /// Seconds to wait for the outcome.
        #[arg(long, value_name = "SECS", default_value_t = 60)]
        timeout: u64,
        /// Return at once; `dualpower groups` shows where the join stands.
        #[arg(long)]
        no_wait: bool,
    },
    /// List members, roles, pending joins and the rules.
    Members {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Admit (or vouch for) someone waiting to join.
    Admit {
        /// Group id, id prefix or name.
        group: String,
        /// The newcomer (did:key, or a unique piece of it as shown, e.g. …uW3fgMhW).
        member: String,
    },
    /// Remove a member; the group key is rotated at once.
    Remove {
        /// Group id, id prefix or name.
        group: String,
        /// The member (did:key, or a unique piece of it as shown, e.g. …uW3fgMhW).
        member: String,
        /// Why (shown to members).
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Leave a group.
    Leave {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Grant or revoke a role.
    Role {
        /// Group id, id prefix or name.
        group: String,
        /// The member (did:key, or a unique piece of it as shown, e.g. …uW3fgMhW).
        member: String,
        /// The role.
        role: String,
        /// Revoke instead of grant.
        #[arg(long)]
        revoke: bool,
    },
    /// Change the group's rules (judged by the current rules).
    Amend {
        /// Group id, id prefix or name.
        group: String,
        /// What changes.
        #[command(flatten)]
        rules: dualpower_node::ops::ConstitutionArgs,
        /// Do it even if it takes away a power of your own (e.g. a rule goes to a role you do
        /// not hold); without it such a change is refused (in a terminal, you are asked).
        #[arg(long)]
        yes: bool,
    },
    /// Start a new group key now (post-compromise healing).
    Rekey {
        /// Group id, id prefix or name.
        group: String,
    },
    /// Sync a group you already belong to by its id (after restoring your identity).
    ///
    /// For a member whose node does not hold the group yet, say after restoring the identity
    /// into a fresh data directory. Newcomers join with `group join CODE` instead: peers sync a
    /// group only with its members.
    Follow {
        /// The group's full id (64 hex digits).
        group: String,
    },
}

fn main() {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            if json {
                out::line(json!({ "error": format!("{e:#}") }));
            } else {
                out::err_line(format!("error: {e:#}"));
            }
            std::process::exit(1);
        }
    }
}

pub(crate) struct Ctx {
    home: PathBuf,
    json: bool,
    network: NetworkId,
}

/// Where a write goes: straight into the store, or through the running node.
enum Writer {
    Local(Store),
    Node(Remote),
}

impl Ctx {
    fn config(&self) -> StoreConfig {
        StoreConfig {
            network: self.network,
            ..StoreConfig::default()
        }
    }

    /// The store for reading; read-only while a node holds it.
    fn reader(&self) -> Result<Store> {
        node_cmd::reader(&self.home, self.config())
            .with_context(|| format!("opening the store in {}", self.home.display()))
    }

    /// Where writes go: the running node if there is one, else the store.
    fn writer(&self) -> Result<Writer> {
        match Store::open(&self.home, self.config()) {
            Ok(s) => Ok(Writer::Local(s)),
            Err(dualpower_store::StoreError::Locked { path }) => match Remote::probe(&self.home) {
                node_cmd::Found::Node(r) => Ok(Writer::Node(r)),
                node_cmd::Found::None => Err(anyhow!(dualpower_store::StoreError::Locked { path })),
                // Another process (a `sync` or `import`) holds the store, and the node that wrote
                // api.json is gone: say both, send nothing.
                node_cmd::Found::Stale(why) => Err(anyhow!(
                    "{}; meanwhile {} is in use by another dualpower process, so nothing was \
                     written: try again when it has finished",
                    node_cmd::stale_message(&self.home, &why),
                    path.display()
                )),
            },
            Err(e) => {
                Err(e).with_context(|| format!("opening the store in {}", self.home.display()))
            }
        }
    }

    fn store(&self) -> Result<Store> {
        Store::open(
            &self.home,
            StoreConfig {
                network: self.network,
                ..StoreConfig::default()
            },
        )
        .with_context(|| format!("opening the store in {}", self.home.display()))
    }

    /// The identity, unlocked with the passphrase: for commands that sign or decrypt on the
    /// store themselves, which they do only when no node runs.
    /// Our did:key, read without the passphrase.
    pub(crate) fn identity_did(&self) -> Result<String> {
        Ok(keystore::public(&self.home)?.to_did())
    }

    fn identity(&self) -> Result<Identity> {
        keystore::public(&self.home)?;
        let pass = passphrase("Passphrase: ", false)?;
        Ok(keystore::unlock(&self.home, &pass)?)
    }

    /// Said once a command acts through the running node: it holds the unlocked identity (as an
    /// ssh-agent does), so a DUALPOWER_PASSPHRASE in the environment was neither used nor
    /// checked, and the person should not believe otherwise.
    fn through_node(&self) {
        if !self.json && std::env::var_os("DUALPOWER_PASSPHRASE").is_some() {
            out::err_line(
                "notice: the running node (`dualpower serve`) acts for you; DUALPOWER_PASSPHRASE \
                 was not used or checked",
            );
        }
    }

    fn emit(&self, value: Value, text: impl FnOnce() -> String) {
        if self.json {
            out::line(value);
        } else {
            let t = text();
            if !t.is_empty() {
                out::line(t);
            }
        }
    }
}

fn run(cli: Cli) -> Result<i32> {
    let home = match cli.home {
        Some(h) => h,
        None => std::env::home_dir()
            .map(|h| h.join(".dualpower"))
            .ok_or_else(|| anyhow!("no home directory: pass --home or set DUALPOWER_HOME"))?,
    };
    let ctx = Ctx {
        home,
        json: cli.json,
        network: cli
            .network
            .as_deref()
            .map(NetworkId::named)
            .unwrap_or_else(NetworkId::main),
    };
    // Data directories made by older versions were open to every local user (0755, files
    // 0644): close them before anything is read or written, and say so.
    for t in dualpower_store::home::tighten(&ctx.home)
        .with_context(|| format!("securing {}", ctx.home.display()))?
    {
        out::err_line(format!("notice: {t}"));
    }
    // Only `init` and `serve` make a data directory: anything else on one without an identity is
    // most likely a mistyped --home, and must not leave a new empty store behind.
    if !matches!(cli.command, Command::Init | Command::Serve { .. })
        && !keystore::path(&ctx.home).exists()
    {
        bail!(keystore::KeystoreError::NotInitialised(ctx.home.clone()));
    }
    match cli.command {
        Command::Init => init(&ctx),
        Command::Id => {
            let public = keystore::public(&ctx.home)?;
            ctx.emit(
                json!({ "id": public.to_did(), "hex": public.to_hex() }),
                || public.to_did(),
            );
            Ok(0)
        }
        Command::Group(GroupCommand::Create { name, rules }) => {
            let v = op(
                &ctx,
                Op::Create {
                    name: name.clone(),
                    constitution: rules,
                },
            )?;
            ctx.emit(v.clone(), || {
                format!(
                    "Created private group \"{}\"\nid {}",
                    name.trim(),
                    v["group"].as_str().unwrap_or_default()
                )
            });
            Ok(0)
        }
        Command::Group(GroupCommand::Invite { group, hours, uses }) => {
            invite(&ctx, &group, hours, uses)
        }
        Command::Group(GroupCommand::Join {
            code,
            timeout,
            no_wait,
        }) => join_cmd::join(&ctx, code, std::time::Duration::from_secs(timeout), no_wait),
        Command::Group(GroupCommand::Members { group }) => members(&ctx, &group),
        Command::Group(GroupCommand::Admit { group, member }) => {
            let group = group_hex(&ctx, &group)?;
            let v = op(&ctx, Op::Admit { group, member })?;
            ctx.emit(v.clone(), || {
                if v["already_member"] == true {
                    "already a member (a member's node admitted the join): nothing to do".into()
                } else {
                    "admitted; their node receives the group key when it next syncs".into()
                }
            });
            Ok(0)
        }
        Command::Group(GroupCommand::Remove {
            group,
            member,
            reason,
        }) => {
            let group = group_hex(&ctx, &group)?;
            simple(
                &ctx,
                Op::Remove {
                    group,
                    member,
                    reason,
                },
                "removed; the group key was rotated",
            )
        }
        Command::Group(GroupCommand::Leave { group }) => {
            let group = group_hex(&ctx, &group)?;
            simple(&ctx, Op::Leave { group }, "left the group")
        }
        Command::Group(GroupCommand::Role {
            group,
            member,
            role,
            revoke,
        }) => {
            let group = group_hex(&ctx, &group)?;
            simple(
                &ctx,
                Op::Role {
                    group,
                    member,
                    role,
                    grant: !revoke,
                },
                if revoke {
                    "role revoked"
                } else {
                    "role granted"
                },
            )
        }
        Command::Group(GroupCommand::Amend { group, rules, yes }) => {
            decide_cmd::amend(&ctx, &group, rules, yes)
        }
        Command::Group(GroupCommand::Rekey { group }) => {
            let group = group_hex(&ctx, &group)?;
            simple(&ctx, Op::Rekey { group }, "new group key started")
        }
        Command::Dm(DmCommand::Send {
            member,
            text,
            group,
        }) => {
            let group = match group {
                Some(g) => Some(group_hex(&ctx, &g)?),
                None => None,
            };
            simple(
                &ctx,
                Op::Dm {
                    group,
                    to: member,
                    text,
                },
                "sent",
            )
        }
        Command::Dm(DmCommand::List) => dm_list(&ctx),
        Command::Group(GroupCommand::Follow { group }) => follow(&ctx, &group),
        Command::Serve {
            listen,
            bootstrap,
            no_mdns,
            relay_server,
            allow_private_peers,
            web,
            no_web,
            web_public,
            anonymous,
            i2p_devnet,
            i2p_reseed,
        } => {
            let web = (!no_web).then_some(web);
            // With the web app and no passphrase at hand, the browser creates the identity.
            let in_browser = web.is_some() && std::env::var_os("DUALPOWER_PASSPHRASE").is_none();
            if !keystore::path(&ctx.home).exists() && in_browser {
                dualpower_store::home::create_dir(&ctx.home)
                    .with_context(|| format!("creating {}", ctx.home.display()))?;
            } else if !keystore::path(&ctx.home).exists() {
                if !ctx.json {
                    out::line(format!(
                        "No identity in {} yet: creating one.",
                        ctx.home.display()
                    ));
                }
                init(&ctx)?;
            }
            node_cmd::serve(
                &ctx,
                ServeArgs {
                    listen: if listen.is_empty() {
                        vec![
                            "/ip4/0.0.0.0/tcp/0".parse()?,
                            "/ip4/0.0.0.0/udp/0/quic-v1".parse()?,
                        ]
                    } else {
                        listen
                    },
                    bootstrap,
                    mdns: !no_mdns,
                    relay_server,
                    allow_private_peers,
                    web,
                    web_public,
                    anonymous: anonymous.then_some(node_cmd::Anonymous {
                        devnet: i2p_devnet,
                        reseed: i2p_reseed,
                    }),
                },
            )
        }
        Command::Web => node_cmd::web_link(&ctx),
        Command::Sync { peer, timeout } => {
            node_cmd::sync(&ctx, peer, std::time::Duration::from_secs(timeout))
        }
        Command::Groups => groups(&ctx),
        Command::Decide(cmd) => decide_cmd::run(&ctx, cmd),
        Command::Work(cmd) => work_cmd::run(&ctx, cmd),
        Command::Ledger(cmd) => ledger_cmd::run(&ctx, cmd),
        Command::Aid(cmd) => aid_cmd::run(&ctx, cmd),
        Command::Link(cmd) => link_cmd::run(&ctx, cmd),
        Command::Post { group, text } => publish(&ctx, &group, |_| Ok(Payload::Post { text })),
        Command::Comment {
            group,
            parent,
            text,
        } => publish(&ctx, &group, |store| {
            Ok(Payload::Comment {
                parent: resolve_event(store, &parent)?,
                text,
            })
        }),
        Command::React {
            group,
            target,
            reaction,
        } => publish(&ctx, &group, |store| {
            Ok(Payload::Reaction {
                target: resolve_event(store, &target)?,
                reaction,
            })
        }),
        Command::Feed { group } => feed(&ctx, &group),
        Command::Name { group, name } => set_name(&ctx, &group, &name),
        Command::Petname {
            member,
            name,
            clear,
        } => petname(&ctx, &member, if clear { None } else { name }),
        Command::Log { group } => log(&ctx, &group),
        Command::Verify => verify(&ctx),
        Command::Export { group, file } => export(&ctx, &group, &file),
        Command::Import { file } => import(&ctx, &file),
        Command::Status => status(&ctx),
    }
}

fn passphrase(prompt: &str, confirm: bool) -> Result<Zeroizing<String>> {
    if let Ok(p) = std::env::var("DUALPOWER_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    if !std::io::stdin().is_terminal() {
        bail!("no passphrase: set DUALPOWER_PASSPHRASE or run in a terminal");
    }
    if background_job() {
        bail!(
            "this command runs in the background of the terminal (started with `&`), where \
             asking for the passphrase would stop it (\"Stopped (tty output)\"); nothing was done. \
             Run it in the foreground; for `dualpower serve`, use a second terminal, or set \
             DUALPOWER_PASSPHRASE for it (e.g. `nohup dualpower serve &` with the variable set)"
        );
    }
    let p = Zeroizing::new(rpassword::prompt_password(prompt)?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *again != *p {
            bail!("the passphrases differ; nothing was created");
        }
    }
    Ok(p)
}

/// Whether this process is a background job of its controlling terminal (`dualpower serve &`):
/// reading the passphrase there would stop it until someone types `fg`.
pub(crate) fn background_job() -> bool {
    let Ok(tty) = File::open("/dev/tty") else {
        return false;
    };
    let foreground = rustix::termios::tcgetpgrp(&tty)
        .ok()
        .map(|p| p.as_raw_nonzero().get());
    is_background(
        foreground,
        rustix::process::getpgrp().as_raw_nonzero().get(),
    )
}

/// A process is in the background when the terminal has a foreground process group and it is
/// not ours. No terminal (or no foreground group) means nothing would stop us.
fn is_background(foreground: Option<i32>, own: i32) -> bool {
    foreground.is_some_and(|fg| fg != own)
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn init(ctx: &Ctx) -> Result<i32> {
    if keystore::path(&ctx.home).exists() {
        bail!(keystore::KeystoreError::AlreadyInitialised(keystore::path(
            &ctx.home
        )));
    }
    let from_env = std::env::var_os("DUALPOWER_PASSPHRASE").is_some();
    let dir_name = ctx
        .home
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let hints = ["dualpower", "dual power", dir_name.as_str()];
    let pass = loop {
        let p = passphrase("New passphrase: ", true)?;
        match keystore::check_strength(&p, &hints) {
            Ok(()) => break p,
            Err(e) if from_env => {
                bail!("{e}. Nothing was created: set DUALPOWER_PASSPHRASE to a stronger passphrase")
            }
            Err(e) => out::err_line(format!("{e}.\nTry again.\n")),
        }
    };
    let identity = Identity::generate();
    dualpower_store::home::create_dir(&ctx.home)
        .with_context(|| format!("creating {}", ctx.home.display()))?;
    keystore::create(&ctx.home, &identity, &pass, KdfParams::STRONG)?;
    ctx.store()?.close()?;
    let did = identity.public().to_did();
    ctx.emit(
        json!({ "id": did, "home": ctx.home.display().to_string() }),
        || format!("Created your identity {did}\nin {}", ctx.home.display()),
    );
    Ok(0)
}

/// Carries out a group operation: through the running node if there is one (which gossips what
/// it wrote), else straight on the store.
fn op(ctx: &Ctx, op: Op) -> Result<Value> {
    match ctx.writer()? {
        Writer::Local(store) => {
            let identity = ctx.identity()?;
            let out = dualpower_node::ops::apply(&store, &identity, op, now_ms())?;
            Ok(out.value)
        }
        Writer::Node(remote) => {
            ctx.through_node();
            let mut v = serde_json::to_value(&op)?;
            v["now"] = json!(now_ms());
            remote.post("/v1/op", v)
        }
    }
}

/// Answers a read that needs the member's keys: from the running node if there is one (it holds
/// the unlocked identity; no passphrase is asked), else on the store with the passphrase. Both
/// run [`dualpower_node::query::answer`], so both give the same JSON.
pub(crate) fn view(ctx: &Ctx, query: Query) -> Result<Value> {
    if let Some(remote) = Remote::find(&ctx.home) {
        ctx.through_node();
        let mut v = serde_json::to_value(&query)?;
        v["now"] = json!(now_ms());
        return remote.post("/v1/view", v);
    }
    let store = ctx.reader()?;
    let identity = ctx.identity()?;
    Ok(dualpower_node::query::answer(
        &store,
        &identity,
        query,
        now_ms(),
    )?)
}

fn simple(ctx: &Ctx, o: Op, done: &str) -> Result<i32> {
    let v = op(ctx, o)?;
    ctx.emit(v, || done.to_owned());
    Ok(0)
}

/// A group argument (id, prefix or name) as full hex; a group we only follow (no genesis yet)
/// must be given by its full id.
fn group_hex(ctx: &Ctx, key: &str) -> Result<String> {
    if let Some(g) = dualpower_core::GroupId::from_hex(key) {
        return Ok(g.to_hex());
    }
    Ok(resolve_group(&ctx.reader()?, key)?.id.to_hex())
}

fn invite(ctx: &Ctx, group: &str, hours: u64, uses: u64) -> Result<i32> {
    let group = group_hex(ctx, group)?;
    // Put our node's addresses in the code, so the newcomer's node can reach ours.
    let addrs: Vec<String> = Remote::find(&ctx.home)
        .and_then(|r| r.get("/v1/status").ok())
        .map(|s| {
            s["listen"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .filter(|a| !a.contains("/p2p-circuit"))
                .collect()
        })
        .unwrap_or_default();
    let v = op(
        ctx,
        Op::Invite {
            group,
            expires_secs: hours.saturating_mul(3600),
            uses,
            addrs,
        },
    )?;
    let code = v["code"].as_str().unwrap_or_default().to_owned();
    let qr = qrcode::QrCode::new(code.as_bytes())
        .map(|q| {
            q.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        })
        .unwrap_or_default();
    let mut out = v.clone();
    out["qr"] = json!(qr);
    ctx.emit(out, || {
        format!(
            "Invite code (valid {hours} h, {uses} use(s)); give it only to the person you invite:\n\n{code}\n\n{qr}\nThey run: dualpower group join <code>"
        )
    });
    Ok(0)
}

fn members(ctx: &Ctx, group: &str) -> Result<i32> {
    let g = match dualpower_core::GroupId::from_hex(group) {
        Some(g) => g,
        None => resolve_group(&ctx.reader()?, group)?.id,
    };
    let value = view(ctx, Query::Members { group: g.to_hex() })?;
    let text = members_text(&value);
    ctx.emit(value, || text);
    Ok(0)
}

/// Members, pending joins, removals and rules for people, from their JSON.
fn members_text(v: &Value) -> String {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let members = list(&v["members"]);
    let mut t = format!(
        "{} — {} member(s)\n",
        v["name"].as_str().unwrap_or("(genesis not synced yet)"),
        members.len()
    );
    for m in &members {
        let roles: Vec<String> = list(&m["roles"]).iter().map(s).collect();
        t.push_str(&format!(
            "  {}  {}  {}\n",
            label(v, &s(&m["id"])),
            s(&m["id"]),
            roles.join(",")
        ));
    }
    for p in list(&v["pending"]) {
        t.push_str(&format!(
            "  {}  {}  (waiting to be admitted)\n",
            label(v, &s(&p["id"])),
            s(&p["id"])
        ));
    }
    for f in list(&v["forked"]) {
        t.push_str(&format!(
            "  {}  {}  (signed two versions of event {}: frozen, no vote or authority from there on)\n",
            label(v, &s(&f["id"])),
            s(&f["id"]),
            f["seq"]
        ));
    }
    for r in list(&v["removed"]) {
        let why = s(&r["reason"]);
        t.push_str(&format!(
            "  {}  {}  (removed by {}{})\n",
            label(v, &s(&r["id"])),
            s(&r["id"]),
            label(v, &s(&r["by"])),
            if why.is_empty() {
                String::new()
            } else {
                format!(": {why}")
            }
        ));
    }
    let c = &v["constitution"];
    t.push_str(&format!(
        "rules: invite={} admission={} removal={} amend={} history={} forget_after_days={}",
        s(&c["invite"]),
        s(&c["admission"]),
        s(&c["removal"]),
        s(&c["amend"]),
        c["history"],
        c["forget_after_days"]
    ));
    t
}

fn dm_list(ctx: &Ctx) -> Result<i32> {
    let value = view(ctx, Query::DirectMessages)?;
    let list = value["messages"].as_array().cloned().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    ctx.emit(value.clone(), || {
        if list.is_empty() {
            return "No direct messages.".into();
        }
        let now = now_ms();
        list.iter()
            .map(|m| {
                format!(
                    "{} → {}, {}: {}",
                    label(&value, &s(&m["from"])),
                    label(&value, &s(&m["to"])),
                    when::ago(now, m["timestamp"].as_u64().unwrap_or(0)),
                    s(&m["text"])
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(0)
}

fn follow(ctx: &Ctx, group: &str) -> Result<i32> {
    let id = dualpower_core::GroupId::from_hex(group)
        .ok_or_else(|| anyhow!("`{group}` is not a group id (64 hex digits)"))?;
    // A group this node already holds needs no following: say so rather than "following".
    if let Some(g) = ctx.reader()?.groups()?.into_iter().find(|g| g.id == id) {
        ctx.emit(
            json!({ "group": id.to_hex(), "new": false, "name": g.name }),
            || {
                format!(
                    "already following \"{}\": this node holds it and keeps it in sync",
                    g.name
                )
            },
        );
        return Ok(0);
    }
    let new = match ctx.writer()? {
        Writer::Local(store) => store.follow(id)?,
        Writer::Node(remote) => remote.post("/v1/follow", json!({ "group": group }))?["new"]
            .as_bool()
            .unwrap_or(false),
    };
    ctx.emit(json!({ "group": id.to_hex(), "new": new }), || {
        if new {
            format!("following {id}; it syncs from peers that have it")
        } else {
            format!("already following {id}")
        }
    });
    Ok(0)
}

fn groups(ctx: &Ctx) -> Result<i32> {
    let store = ctx.reader()?;
    let list = store.groups()?;
    // Joins in flight: the running node knows how each stands (and what a member's node said);
    // without a node, a group we follow without its genesis is a join that reached no one.
    let node = join_cmd::node_joins(ctx);
    let me = join_cmd::my_id(ctx);
    let joins = node.clone().unwrap_or_default();
    let join_of = |g: &str| joins.iter().find(|j| j["group"] == g);
    let held: std::collections::HashSet<_> = list.iter().map(|g| g.id).collect();
    let unheld: Vec<String> = store
        .synced_groups()?
        .into_iter()
        .filter(|g| !held.contains(g))
        .map(|g| g.to_hex())
        .collect();
    let mut rows: Vec<Value> = list
        .iter()
        .map(|g| {
            let hex = g.id.to_hex();
            json!({ "group": hex, "name": g.name, "creator": g.creator.to_did(),
                    "events": g.events, "join": join_of(&hex) })
        })
        .collect();
    rows.extend(unheld.iter().map(|g| {
        json!({ "group": g, "name": null, "creator": null, "events": null, "join": join_of(g) })
    }));
    ctx.emit(Value::Array(rows), || {
        if list.is_empty() && unheld.is_empty() {
            return "No groups yet. Create one with `dualpower group create NAME`.".into();
        }
        let mut lines: Vec<String> = list
            .iter()
            .map(|g| {
                let hex = g.id.to_hex();
                let mut line = format!("{}  {}  ({} events)", &hex[..16], g.name, g.events);
                if let Some(j) =
                    join_of(&hex).filter(|j| j["state"] != "admitted" || j["refused"].is_object())
                {
                    line.push_str(&format!(
                        "\n    {}",
                        join_cmd::join_line(true, Some(j), &hex, &me)
                    ));
                }
                line
            })
            .collect();
        lines.extend(unheld.iter().map(|g| {
            format!(
                "{}  (not synced yet)\n    {}",
                &g[..16],
                join_cmd::join_line(node.is_some(), join_of(g), g, &me)
            )
        }));
        lines.join("\n")
    });
    Ok(0)
}

/// Finds a group by full id, unique id prefix (at least 4 hex digits), exact name, or unique
/// case-insensitive name prefix.
fn resolve_group(store: &Store, key: &str) -> Result<GroupInfo> {
    let all = store.groups()?;
    let key_lc = key.to_ascii_lowercase();
    let by_id: Vec<&GroupInfo> = if key.len() >= 4 && key_lc.chars().all(|c| c.is_ascii_hexdigit())
    {
        all.iter()
            .filter(|g| g.id.to_hex().starts_with(&key_lc))
            .collect()
    } else {
        Vec::new()
    };
    let matches = if !by_id.is_empty() {
        by_id
    } else if all.iter().any(|g| g.name == key) {
        all.iter().filter(|g| g.name == key).collect()
    } else {
        let lower = key.to_lowercase();
        all.iter()
            .filter(|g| g.name.to_lowercase().starts_with(&lower))
            .collect()
    };
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no group matches `{key}`; `dualpower groups` lists them"),
        many => bail!(
            "`{key}` matches {} groups ({}); use a longer id",
            many.len(),
            many.iter()
                .map(|g| format!("{} {}", &g.id.to_hex()[..16], g.name))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A group we keep in sync without holding its genesis (a join in flight), given by full id or
/// unique id prefix (at least 4 hex digits).
fn pending_group(store: &Store, key: &str) -> Result<Option<dualpower_core::GroupId>> {
    let key = key.to_ascii_lowercase();
    if key.len() < 4 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let found: Vec<_> = store
        .synced_groups()?
        .into_iter()
        .filter(|g| g.to_hex().starts_with(&key))
        .collect();
    Ok(match found.as_slice() {
        [id] => Some(*id),
        _ => None,
    })
}

fn resolve_event(store: &Store, key: &str) -> Result<EventId> {
    if let Some(id) = EventId::from_hex(key) {
        if store.event(id)?.is_some() {
            return Ok(id);
        }
        bail!("no stored event has id {key}");
    }
    if key.len() < 6 || !key.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!("`{key}` is not an event id (give at least 6 hex digits)");
    }
    let key = key.to_ascii_lowercase();
    let mut found = Vec::new();
    for g in store.groups()? {
        for ev in store.group_events(g.id)? {
            if ev.id().to_hex().starts_with(&key) {
                found.push(ev.id());
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!("no stored event id starts with {key}"),
        _ => bail!("{key} matches {} events; give more digits", found.len()),
    }
}

fn publish(ctx: &Ctx, group: &str, make: impl FnOnce(&Store) -> Result<Payload>) -> Result<i32> {
    let (info, payload) = {
        let store = ctx.reader()?;
        let info = resolve_group(&store, group)?;
        (info, make(&store)?)
    };
    let body = payload.encode();
    // Check locally first: a friendly error instead of an event the group would reject.
    Payload::decode(&body).map_err(|e| anyhow!("cannot post this: {e}"))?;
    let v = op(
        ctx,
        Op::Write {
            group: info.id.to_hex(),
            payload: hex::encode(&body),
        },
    )?;
    let id = v["id"].as_str().unwrap_or_default().to_owned();
    ctx.emit(
        json!({ "id": id, "group": info.id.to_hex(), "kind": payload.kind_name(), "encrypted": true }),
        || format!("{} {id} in \"{}\" (encrypted)", payload.kind_name(), info.name),
    );
    Ok(0)
}

fn short(did: &str) -> String {
    let tail = &did[did.len().saturating_sub(8)..];
    format!("…{tail}")
}

/// How an answer shows `did`: its label from the answer's `"labels"` map (petname, display
/// name or short key, told apart when two look alike: see `dualpower_node::names`), else the
/// short key.
pub(crate) fn label(v: &Value, did: &str) -> String {
    v["labels"][did]["label"]
        .as_str()
        .map_or_else(|| short(did), str::to_owned)
}

fn set_name(ctx: &Ctx, group: &str, name: &str) -> Result<i32> {
    let group = group_hex(ctx, group)?;
    let v = op(
        ctx,
        Op::SetName {
            group,
            name: name.to_owned(),
        },
    )?;
    let shown = v["name"].as_str().unwrap_or_default().to_owned();
    ctx.emit(v, || {
        format!(
            "Your display name is now \"{shown}\" in this group (members see it once their nodes \
             sync; `dualpower petname` names others for you alone)"
        )
    });
    Ok(0)
}

fn petname(ctx: &Ctx, member: &str, name: Option<String>) -> Result<i32> {
    let v = op(
        ctx,
        Op::Petname {
            member: member.to_owned(),
            name,
        },
    )?;
    let did = v["member"].as_str().unwrap_or_default().to_owned();
    ctx.emit(v.clone(), || match v["petname"].as_str() {
        Some(n) => format!("{did} is now \"{n}\" to you (only you see this name)"),
        None if v["cleared"] == true => format!("{did} has no petname any more"),
        None => format!("{did} had no petname"),
    });
    Ok(0)
}

fn feed(ctx: &Ctx, group: &str) -> Result<i32> {
    let info = resolve_group(&ctx.reader()?, group)?;
    let value = view(
        ctx,
        Query::Feed {
            group: info.id.to_hex(),
        },
    )?;
    let text = feed_text(&value);
    ctx.emit(value, || text);
    Ok(0)
}

/// The feed for people, from its JSON (the same whether the node or this process derived it).
fn feed_text(v: &Value) -> String {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let s = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let id8 = |v: &Value| s(v).chars().take(8).collect::<String>();
    let fmt_r = |r: &Value| {
        r.as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k} {}", v.as_array().map_or(0, Vec::len)))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let has_r = |r: &Value| r.as_object().is_some_and(|o| !o.is_empty());
    let mut out = format!(
        "# {}\n",
        v["name"].as_str().unwrap_or("(genesis not available)")
    );
    let posts = list(&v["posts"]);
    if posts.is_empty() {
        out.push_str("\nNo posts yet.\n");
    }
    let now = now_ms();
    let ago = |v: &Value| when::ago(now, v["timestamp"].as_u64().unwrap_or(0));
    for p in &posts {
        out.push_str(&format!(
            "\n[{}] {}, {}: {}\n",
            id8(&p["id"]),
            label(v, &s(&p["author"])),
            ago(p),
            s(&p["text"])
        ));
        if has_r(&p["reactions"]) {
            out.push_str(&format!("    {}\n", fmt_r(&p["reactions"])));
        }
        for c in list(&p["comments"]) {
            let indent = if c["parent"] == p["id"] { "  " } else { "    " };
            out.push_str(&format!(
                "{indent}↳ [{}] {}, {}: {}\n",
                id8(&c["id"]),
                label(v, &s(&c["author"])),
                ago(&c),
                s(&c["text"])
            ));
            if has_r(&c["reactions"]) {
                out.push_str(&format!("{indent}    {}\n", fmt_r(&c["reactions"])));
            }
        }
    }
    let rejected = list(&v["rejected"]).len();
    if rejected > 0 {
        out.push_str(&format!(
            "\n{rejected} event(s) not shown (see `dualpower log`)\n"
        ));
    }
    out.trim_end().to_owned()
}

fn log(ctx: &Ctx, group: &str) -> Result<i32> {
    let store = ctx.reader()?;
    let info = resolve_group(&store, group)?;
    let events = store.group_events(info.id)?;
    let feed = Feed::derive(info.id, &events);
    // `log` shows events as stored and opens nothing, so an encrypted event is not "refused"
    // here: it is simply not read (the feed reads it with the member's keys).
    let rejected: std::collections::HashMap<EventId, String> = feed
        .rejected
        .iter()
        .filter(|(_, r)| !matches!(r, dualpower_state::Rejection::Encrypted))
        .map(|(id, r)| (*id, r.to_string()))
        .collect();
    let mut rows = Vec::new();
    for ev in &events {
        let h = ev.header();
        // Re-check the signature on display: what `log` shows as valid, is.
        let sig_ok = Event::decode(ev.envelope().to_vec(), ev.body().map(<[u8]>::to_vec))
            .and_then(|e| e.verify(store.network()))
            .is_ok();
        let kind = if h.flags & dualpower_core::event::FLAG_ENCRYPTED != 0 {
            "encrypted"
        } else {
            ev.body()
                .map(|b| {
                    Payload::decode(b)
                        .map(|p| p.kind_name())
                        .unwrap_or("invalid")
                })
                .unwrap_or("no-body")
        };
        let validity = if !sig_ok {
            "INVALID SIGNATURE".to_owned()
        } else if let Some(r) = rejected.get(&ev.id()) {
            format!("valid event, not shown: {r}")
        } else if kind == "encrypted" {
            "valid (sealed: `dualpower feed` opens it)".to_owned()
        } else {
            "valid".to_owned()
        };
        rows.push(json!({
            "id": ev.id().to_hex(), "author": h.author.to_did(), "log": h.log, "seq": h.seq,
            "backlink": h.backlink.map(|b| b.to_hex()), "deps": h.deps.iter().map(|d| d.to_hex()).collect::<Vec<_>>(),
            "timestamp": h.timestamp, "kind": kind, "body_len": h.body_len, "valid": sig_ok,
            "status": validity,
        }));
    }
    let forks: Vec<Value> = store
        .forks()?
        .into_iter()
        .filter(|f| f.existing.header().group == info.id)
        .map(|f| {
            json!({ "author": f.existing.header().author.to_did(), "seq": f.existing.header().seq,
                    "existing": f.existing.id().to_hex(), "conflicting": f.conflicting.id().to_hex() })
        })
        .collect();
    let logs = store.logs(Some(info.id))?;
    let quarantine: Vec<Value> = store
        .quarantine()?
        .into_iter()
        .map(|(id, missing)| json!({ "id": id.to_hex(), "missing": missing.iter().map(|m| m.to_hex()).collect::<Vec<_>>() }))
        .collect();
    let value = json!({ "group": info.id.to_hex(), "events": rows, "forks": forks,
        "logs": logs.iter().map(|l| json!({"author": l.author.to_did(), "log": l.log, "len": l.len, "forked": l.forked})).collect::<Vec<_>>(),
        "quarantine": quarantine });
    ctx.emit(value.clone(), || {
        let mut out = String::new();
        for r in &rows {
            out.push_str(&format!(
                "{}  {} log {} seq {:>4}  {:<13} {}\n",
                r["id"].as_str().unwrap_or_default(),
                short(r["author"].as_str().unwrap_or_default()),
                r["log"],
                r["seq"],
                r["kind"].as_str().unwrap_or_default(),
                r["status"].as_str().unwrap_or_default()
            ));
        }
        for f in &forks {
            out.push_str(&format!(
                "FORK by {} at seq {}: {} vs {}\n",
                f["author"].as_str().unwrap_or_default(),
                f["seq"],
                f["existing"].as_str().unwrap_or_default(),
                f["conflicting"].as_str().unwrap_or_default()
            ));
        }
        if !quarantine.is_empty() {
            out.push_str(&format!(
                "{} event(s) wait in quarantine for missing predecessors\n",
                quarantine.len()
            ));
        }
        out.trim_end().to_owned()
    });
    Ok(0)
}

pub(crate) fn bar(ctx: &Ctx, total: u64, what: &str) -> ProgressBar {
    if ctx.json
        || !std::io::stderr().is_terminal() && std::env::var_os("DUALPOWER_PROGRESS").is_none()
    {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    let style = ProgressStyle::with_template(&format!(
        "{what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)"
    ))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    pb.set_style(style);
    pb
}

fn verify(ctx: &Ctx) -> Result<i32> {
    let store = ctx.reader()?;
    let total = store.counts()?.events;
    let pb = bar(ctx, total, "verifying");
    let report = store.verify_all(|done, _| pb.set_position(done))?;
    pb.finish_and_clear();
    let value = json!({
        "ok": report.ok(), "events": report.events, "logs": report.logs, "forks": report.forks,
        "quarantined": report.quarantined,
        "problems": report.problems.iter().map(|p| json!({"id": p.id.map(|i| i.to_hex()), "problem": p.what})).collect::<Vec<_>>(),
    });
    ctx.emit(value, || {
        let mut out = format!(
            "checked {} events in {} logs, {} fork proof(s), {} quarantined\n",
            report.events, report.logs, report.forks, report.quarantined
        );
        if report.ok() {
            out.push_str("everything is valid");
        } else {
            for p in &report.problems {
                out.push_str(&format!(
                    "PROBLEM {}: {}\n",
                    p.id.map(|i| i.to_hex()).unwrap_or_else(|| "-".into()),
                    p.what
                ));
            }
        }
        out.trim_end().to_owned()
    });
    Ok(if report.ok() { 0 } else { 2 })
}

fn export(ctx: &Ctx, group: &str, file: &Path) -> Result<i32> {
    let store = ctx.reader()?;
    let (id, name) = match resolve_group(&store, group) {
        Ok(info) => (info.id, info.name),
        // A group we have asked to join but hold nothing else of (no genesis yet): its bundle
        // holds only our own events (the join and our prekey), which is what the group needs
        // to admit us without a network.
        Err(e) => match pending_group(&store, group)? {
            Some(id) => (id, format!("{}… (join pending)", &id.to_hex()[..16])),
            None => return Err(e),
        },
    };
    // Write beside the target and rename, so a failed export never leaves half a bundle.
    let tmp = file.with_extension("partial");
    let out = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut w = BufWriter::new(out);
    let n = store.export_group(id, &mut w)?;
    let out = w
        .into_inner()
        .map_err(|e| anyhow!("writing {}: {}", tmp.display(), e.error()))?;
    out.sync_all()?;
    std::fs::rename(&tmp, file).with_context(|| format!("renaming to {}", file.display()))?;
    ctx.emit(
        json!({ "group": id.to_hex(), "events": n, "file": file.display().to_string() }),
        || format!("exported {n} events of \"{name}\" to {}", file.display()),
    );
    Ok(0)
}

fn import(ctx: &Ctx, file: &Path) -> Result<i32> {
    let value = match ctx.writer()? {
        Writer::Local(store) => {
            let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
            let size = f.metadata()?.len();
            let pb = bar(ctx, size, "importing");
            pb.set_style(
                ProgressStyle::with_template(
                    "importing [{bar:40}] {bytes}/{total_bytes} ({eta} left)",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            let report = store.import(BufReader::new(f), |n| pb.set_position(n))?;
            pb.finish_and_clear();
            dualpower_node::query::import_json(&report)
        }
        // The node holds the store: hand it the bundle, so it also shares what is new.
        Writer::Node(remote) => {
            let size = std::fs::metadata(file)
                .with_context(|| format!("opening {}", file.display()))?
                .len();
            if size > dualpower_node::api::MAX_IMPORT_BYTES as u64 {
                bail!(
                    "{} is {size} bytes, more than the running node takes ({} bytes); nothing was \
                     imported. Stop the node (Ctrl-C in its terminal), run the import again, then \
                     start `dualpower serve`",
                    file.display(),
                    dualpower_node::api::MAX_IMPORT_BYTES
                );
            }
            let bytes =
                std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
            ctx.through_node();
            let pb = bar(ctx, 0, "importing");
            pb.set_style(
                ProgressStyle::with_template("{spinner} importing through the running node…")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            let v = remote.post_bytes("/v1/import", bytes);
            pb.finish_and_clear();
            v?
        }
    };
    let text = import_text(&value);
    let clean =
        value["rejected"].as_array().is_none_or(Vec::is_empty) && value["damaged"].is_null();
    ctx.emit(value, || text);
    Ok(if clean { 0 } else { 3 })
}

/// What an import did, for people, from its JSON.
fn import_text(v: &Value) -> String {
    let rejected = v["rejected"].as_array().cloned().unwrap_or_default();
    let mut out = format!(
        "read {} events: {} stored, {} already present, {} waiting for missing predecessors, {} fork(s), {} rejected\n",
        v["read"],
        v["stored"],
        v["duplicates"],
        v["quarantined"],
        v["forks"],
        rejected.len()
    );
    for r in &rejected {
        out.push_str(&format!(
            "rejected #{} {}: {}\n",
            r["index"],
            r["id"].as_str().unwrap_or_default(),
            r["reason"].as_str().unwrap_or_default()
        ));
    }
    if let Some(d) = v["damaged"].as_str() {
        out.push_str(&format!("the bundle is damaged: {d}\n"));
    }
    out.trim_end().to_owned()
}

fn status(ctx: &Ctx) -> Result<i32> {
    let store = ctx.reader()?;
    let c = store.counts()?;
    let id = keystore::public(&ctx.home).ok().map(|p| p.to_did());
    let infos = store.groups()?;
    let groups = infos.len();
    let names: std::collections::HashMap<String, String> = infos
        .iter()
        .map(|g| (g.id.to_hex(), g.name.clone()))
        .collect();
    let remote = Remote::find(&ctx.home);
    let web = remote.as_ref().and_then(|r| r.web());
    let mut node = remote.map(|r| r.get("/v1/status")).transpose()?;
    if let (Some(n), Some(w)) = (node.as_mut(), &web) {
        n["web"] = json!(w);
    }
    // The node reports groups by id; people know them by name.
    for g in node
        .as_mut()
        .and_then(|n| n["groups"].as_array_mut())
        .into_iter()
        .flatten()
    {
        if let Some(name) = g["group"].as_str().and_then(|id| names.get(id)) {
            g["name"] = json!(name);
        }
    }
    ctx.emit(
        json!({ "id": id, "home": ctx.home.display().to_string(), "groups": groups,
                "group_names": infos.iter().map(|g| g.name.clone()).collect::<Vec<_>>(), "events": c.events,
                "logs": c.logs, "forks": c.forks, "quarantined": c.quarantined,
                "disk_bytes": store.disk_bytes(), "node": node }),
        || {
            let mut out = format!(
                "identity   {}\nhome       {}\ngroups     {groups}{}\nevents     {}\nlogs       {}\nforks      {}\nquarantine {}",
                id.as_deref().unwrap_or("(none: run `dualpower init`)"),
                ctx.home.display(),
                if infos.is_empty() {
                    String::new()
                } else {
                    format!(
                        " ({})",
                        infos.iter().map(|g| format!("\"{}\"", g.name)).collect::<Vec<_>>().join(", ")
                    )
                },
                c.events,
                c.logs,
                c.forks,
                c.quarantined
            );
            match &node {
                None => out.push_str("\nnode       not running (start it with `dualpower serve`)"),
                Some(n) => {
                    out.push_str(&format!("\nnode       running as {}", n["peer_id"].as_str().unwrap_or("?")));
                    if let Some(w) = &web {
                        out.push_str(&format!("\n  web app   {w} (`dualpower web` prints a login link)"));
                    }
                    for a in n["listen"].as_array().into_iter().flatten() {
                        out.push_str(&format!("\n  listening {}", a.as_str().unwrap_or("?")));
                    }
                    for p in n["peers"].as_array().into_iter().flatten() {
                        out.push_str(&format!(
                            "\n  peer      {} at {}",
                            p["peer"].as_str().unwrap_or("?"),
                            p["addr"].as_str().unwrap_or("?")
                        ));
                    }
                    for g in n["groups"].as_array().into_iter().flatten() {
                        let id = g["group"].as_str().unwrap_or("?");
                        out.push_str(&format!(
                            "\n  group     \"{}\" ({}) {} events in {} logs",
                            g["name"].as_str().unwrap_or("not received yet"),
                            &id[..8.min(id.len())],
                            g["events"],
                            g["heights"].as_object().map_or(0, |h| h.len())
                        ));
                    }
                    for s in n["syncs"].as_array().into_iter().flatten() {
                        out.push_str(&format!(
                            "\n  sync      {} with {}: {} fetched, {} remaining, {} round trips",
                            s["state"].as_str().unwrap_or("?"),
                            s["peer"].as_str().unwrap_or("?"),
                            s["fetched"],
                            s["remaining"],
                            s["rounds"]
                        ));
                    }
                }
            }
            out
        },
    );
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::is_background;

    #[test]
    fn a_job_outside_the_terminals_foreground_group_is_in_the_background() {
        // `dualpower serve &`: the terminal's foreground group is the shell's, not ours.
        assert!(is_background(Some(100), 200));
        // In the foreground.
        assert!(!is_background(Some(200), 200));
        // No controlling terminal, or it has no foreground group: nothing would stop us.
        assert!(!is_background(None, 200));
    }
}
