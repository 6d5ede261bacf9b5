//! `dualpower`: the command-line surface of a Dual Power node.
//!
//! Every command works on one data directory (`--home`, `DUALPOWER_HOME`, default
//! `~/.dualpower`), so several members can live side by side on one machine, and every command
//! takes `--json` for scripts. Commands open the store directly when no node runs; while
//! `dualpower serve` holds the store, reads open it read-only and writes go through the node's
//! local API (so the node can gossip them at once).

mod decide_cmd;
mod node_cmd;
mod when;

use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail};
use clap::{Parser, Subcommand};
use dualpower_core::{Event, EventId, Identity, NetworkId, Payload};
use dualpower_node::ops::Op;
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
    },
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
        /// The member (did:key:… or hex).
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
    /// Join a group with an invite code (keep your node running to be admitted).
    Join {
        /// The code (`dpinvite1…`).
        code: String,
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
        /// The newcomer (did:key:… or hex).
        member: String,
    },
    /// Remove a member; the group key is rotated at once.
    Remove {
        /// Group id, id prefix or name.
        group: String,
        /// The member (did:key:… or hex).
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
        /// The member (did:key:… or hex).
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
    /// Keep a group in sync by its id (until invitations exist, the id is what you share).
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
                println!("{}", json!({ "error": format!("{e:#}") }));
            } else {
                eprintln!("error: {e:#}");
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

    fn identity(&self) -> Result<Identity> {
        keystore::public(&self.home)?;
        let pass = passphrase("Passphrase: ", false)?;
        Ok(keystore::unlock(&self.home, &pass)?)
    }

    fn emit(&self, value: Value, text: impl FnOnce() -> String) {
        if self.json {
            println!("{value}");
        } else {
            let t = text();
            if !t.is_empty() {
                println!("{t}");
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
        eprintln!("notice: {t}");
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
        Command::Group(GroupCommand::Join { code }) => {
            let v = op(&ctx, Op::Join { code })?;
            ctx.emit(v.clone(), || {
                format!(
                    "Asked to join {}.\nKeep your node running (`dualpower serve`): a member's node admits you and hands you the group key.",
                    v["group"].as_str().unwrap_or_default()
                )
            });
            Ok(0)
        }
        Command::Group(GroupCommand::Members { group }) => members(&ctx, &group),
        Command::Group(GroupCommand::Admit { group, member }) => {
            let group = group_hex(&ctx, &group)?;
            simple(&ctx, Op::Admit { group, member }, "admitted")
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
        } => {
            if !keystore::path(&ctx.home).exists() {
                if !ctx.json {
                    println!("No identity in {} yet: creating one.", ctx.home.display());
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
                },
            )
        }
        Command::Sync { peer, timeout } => {
            node_cmd::sync(&ctx, peer, std::time::Duration::from_secs(timeout))
        }
        Command::Groups => groups(&ctx),
        Command::Decide(cmd) => decide_cmd::run(&ctx, cmd),
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
    let p = Zeroizing::new(rpassword::prompt_password(prompt)?);
    if confirm {
        let again = Zeroizing::new(rpassword::prompt_password("Repeat passphrase: ")?);
        if *again != *p {
            bail!("the passphrases differ; nothing was created");
        }
    }
    Ok(p)
}

fn now_ms() -> u64 {
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
    let pass = passphrase("New passphrase: ", true)?;
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
            let mut v = serde_json::to_value(&op)?;
            v["now"] = json!(now_ms());
            remote.post("/v1/op", v)
        }
    }
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
    let store = ctx.reader()?;
    let g = match dualpower_core::GroupId::from_hex(group) {
        Some(g) => g,
        None => resolve_group(&store, group)?.id,
    };
    // Admissions and removals by vote are sealed decisions: open them with our keys.
    let identity = ctx.identity()?;
    let st = dualpower_node::ops::view(&store, &identity, g, now_ms())?.state;
    // Reasons are sealed comments on the removals (only members read them).
    let reasons = dualpower_node::ops::removal_reasons(&store, &identity, g, now_ms())?;
    let reason = |k: &dualpower_core::PublicKey, r: &dualpower_state::Removal| {
        reasons.get(k).cloned().unwrap_or_else(|| r.reason.clone())
    };
    let c = &st.constitution;
    let value = json!({
        "group": g.to_hex(),
        "name": st.name,
        "members": st.members.iter().map(|(k, m)| json!({
            "id": k.to_did(), "roles": m.roles, "prekey": m.prekey.is_some(),
        })).collect::<Vec<_>>(),
        "pending": st.pending.iter().map(|(k, p)| json!({
            "id": k.to_did(), "join": p.join.to_hex(), "vouches": p.vouches.len(),
        })).collect::<Vec<_>>(),
        "removed": st.removed.iter().map(|(k, r)| json!({
            "id": k.to_did(), "by": r.by.to_did(), "cut": r.cut, "reason": reason(k, r),
        })).collect::<Vec<_>>(),
        "constitution": {
            "invite": c.invite.to_text(), "admission": c.admission.to_text(),
            "removal": c.removal.to_text(), "amend": c.amend.to_text(), "roles": c.roles,
            "history": c.history, "forget_after_days": c.forget_after_days,
        },
        "epoch": st.writing_epoch().map(|e| e.to_hex()),
        "forked": st.forked.iter().map(|(k, seq)| json!({ "id": k.to_did(), "seq": seq })).collect::<Vec<_>>(),
        "rejected": st.rejected.iter().map(|(id, r)| json!({ "id": id.to_hex(), "reason": r.to_string() })).collect::<Vec<_>>(),
    });
    ctx.emit(value, || {
        let mut t = format!(
            "{} — {} member(s)\n",
            st.name
                .clone()
                .unwrap_or_else(|| "(genesis not synced yet)".into()),
            st.members.len()
        );
        for (k, m) in &st.members {
            let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
            t.push_str(&format!("  {}  {}\n", k.to_did(), roles.join(",")));
        }
        for k in st.pending.keys() {
            t.push_str(&format!("  {}  (waiting to be admitted)\n", k.to_did()));
        }
        for (k, seq) in &st.forked {
            t.push_str(&format!(
                "  {}  (signed two versions of event {seq}: frozen, no vote or authority from there on)\n",
                k.to_did()
            ));
        }
        for (k, r) in &st.removed {
            let why = reason(k, r);
            t.push_str(&format!(
                "  {}  (removed by {}{})\n",
                k.to_did(),
                short(&r.by.to_did()),
                if why.is_empty() {
                    String::new()
                } else {
                    format!(": {why}")
                }
            ));
        }
        t.push_str(&format!(
            "rules: invite={} admission={} removal={} amend={} history={} forget_after_days={}",
            c.invite.to_text(),
            c.admission.to_text(),
            c.removal.to_text(),
            c.amend.to_text(),
            c.history,
            c.forget_after_days
        ));
        t
    });
    Ok(0)
}

fn dm_list(ctx: &Ctx) -> Result<i32> {
    let store = ctx.reader()?;
    let identity = ctx.identity()?;
    let list = dualpower_node::ops::direct_messages(&store, &identity, now_ms())?;
    ctx.emit(serde_json::to_value(&list)?, || {
        if list.is_empty() {
            return "No direct messages.".into();
        }
        list.iter()
            .map(|m| format!("{} → {}: {}", short(&m.from), short(&m.to), m.text))
            .collect::<Vec<_>>()
            .join("\n")
    });
    Ok(0)
}

fn follow(ctx: &Ctx, group: &str) -> Result<i32> {
    let id = dualpower_core::GroupId::from_hex(group)
        .ok_or_else(|| anyhow!("`{group}` is not a group id (64 hex digits)"))?;
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
    let list = ctx.reader()?.groups()?;
    ctx.emit(
        Value::Array(
            list.iter()
                .map(|g| {
                    json!({ "group": g.id.to_hex(), "name": g.name, "creator": g.creator.to_did(),
                            "events": g.events })
                })
                .collect(),
        ),
        || {
            if list.is_empty() {
                return "No groups yet. Create one with `dualpower group create NAME`.".into();
            }
            list.iter()
                .map(|g| {
                    format!(
                        "{}  {}  ({} events)",
                        &g.id.to_hex()[..16],
                        g.name,
                        g.events
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
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

fn feed(ctx: &Ctx, group: &str) -> Result<i32> {
    let store = ctx.reader()?;
    let info = resolve_group(&store, group)?;
    let identity = ctx.identity()?;
    let (feed, _) = dualpower_node::ops::feed(&store, &identity, info.id, now_ms())?;
    let reactions = |r: &std::collections::BTreeMap<String, std::collections::BTreeSet<_>>| {
        r.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    json!(
                        v.iter()
                            .map(|p: &dualpower_core::PublicKey| p.to_did())
                            .collect::<Vec<_>>()
                    ),
                )
            })
            .collect::<serde_json::Map<_, _>>()
    };
    let value = json!({
        "group": info.id.to_hex(),
        "name": feed.name,
        "state_hash": hex::encode(feed.state_hash()),
        "posts": feed.posts.iter().map(|p| json!({
            "id": p.id.to_hex(), "author": p.author.to_did(), "timestamp": p.timestamp,
            "text": p.text, "reactions": reactions(&p.reactions),
            "comments": p.comments.iter().map(|c| json!({
                "id": c.id.to_hex(), "parent": c.parent.to_hex(), "author": c.author.to_did(),
                "timestamp": c.timestamp, "text": c.text, "reactions": reactions(&c.reactions),
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "rejected": feed.rejected.iter().map(|(id, r)| json!({"id": id.to_hex(), "reason": r.to_string()})).collect::<Vec<_>>(),
    });
    ctx.emit(value, || {
        let mut out = format!(
            "# {}\n",
            feed.name.as_deref().unwrap_or("(genesis not available)")
        );
        if feed.posts.is_empty() {
            out.push_str("\nNo posts yet.\n");
        }
        let fmt_r = |r: &std::collections::BTreeMap<String, std::collections::BTreeSet<_>>| {
            r.iter()
                .map(|(k, v)| format!("{k} {}", v.len()))
                .collect::<Vec<_>>()
                .join("  ")
        };
        for p in &feed.posts {
            out.push_str(&format!(
                "\n[{}] {}: {}\n",
                &p.id.to_hex()[..8],
                short(&p.author.to_did()),
                p.text
            ));
            if !p.reactions.is_empty() {
                out.push_str(&format!("    {}\n", fmt_r(&p.reactions)));
            }
            for c in &p.comments {
                let indent = if c.parent == p.id { "  " } else { "    " };
                out.push_str(&format!(
                    "{indent}↳ [{}] {}: {}\n",
                    &c.id.to_hex()[..8],
                    short(&c.author.to_did()),
                    c.text
                ));
                if !c.reactions.is_empty() {
                    out.push_str(&format!("{indent}    {}\n", fmt_r(&c.reactions)));
                }
            }
        }
        if !feed.rejected.is_empty() {
            out.push_str(&format!(
                "\n{} event(s) not shown (see `dualpower log`)\n",
                feed.rejected.len()
            ));
        }
        out.trim_end().to_owned()
    });
    Ok(0)
}

fn log(ctx: &Ctx, group: &str) -> Result<i32> {
    let store = ctx.reader()?;
    let info = resolve_group(&store, group)?;
    let events = store.group_events(info.id)?;
    let feed = Feed::derive(info.id, &events);
    let rejected: std::collections::HashMap<EventId, String> = feed
        .rejected
        .iter()
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
    let store = ctx.store()?;
    let f = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = f.metadata()?.len();
    let pb = bar(ctx, size, "importing");
    pb.set_style(
        ProgressStyle::with_template("importing [{bar:40}] {bytes}/{total_bytes} ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let report = store.import(BufReader::new(f), |n| pb.set_position(n))?;
    pb.finish_and_clear();
    let value = json!({
        "read": report.read, "stored": report.stored, "duplicates": report.duplicates,
        "quarantined": report.quarantined, "forks": report.forks, "damaged": report.damaged,
        "rejected": report.rejected.iter().map(|r| json!({"index": r.index, "id": r.id.map(|i| i.to_hex()), "reason": r.reason})).collect::<Vec<_>>(),
    });
    ctx.emit(value, || {
        let mut out = format!(
            "read {} events: {} stored, {} already present, {} waiting for missing predecessors, {} fork(s), {} rejected\n",
            report.read, report.stored, report.duplicates, report.quarantined, report.forks, report.rejected.len()
        );
        for r in &report.rejected {
            out.push_str(&format!(
                "rejected #{} {}: {}\n",
                r.index,
                r.id.map(|i| i.to_hex()).unwrap_or_default(),
                r.reason
            ));
        }
        if let Some(d) = &report.damaged {
            out.push_str(&format!("the bundle is damaged: {d}\n"));
        }
        out.trim_end().to_owned()
    });
    Ok(if report.rejected.is_empty() && report.damaged.is_none() {
        0
    } else {
        3
    })
}

fn status(ctx: &Ctx) -> Result<i32> {
    let store = ctx.reader()?;
    let c = store.counts()?;
    let id = keystore::public(&ctx.home).ok().map(|p| p.to_did());
    let groups = store.groups()?.len();
    let node = Remote::find(&ctx.home)
        .map(|r| r.get("/v1/status"))
        .transpose()?;
    ctx.emit(
        json!({ "id": id, "home": ctx.home.display().to_string(), "groups": groups, "events": c.events,
                "logs": c.logs, "forks": c.forks, "quarantined": c.quarantined,
                "disk_bytes": store.disk_bytes(), "node": node }),
        || {
            let mut out = format!(
                "identity   {}\nhome       {}\ngroups     {groups}\nevents     {}\nlogs       {}\nforks      {}\nquarantine {}",
                id.as_deref().unwrap_or("(none: run `dualpower init`)"),
                ctx.home.display(),
                c.events,
                c.logs,
                c.forks,
                c.quarantined
            );
            match &node {
                None => out.push_str("\nnode       not running (start it with `dualpower serve`)"),
                Some(n) => {
                    out.push_str(&format!("\nnode       running as {}", n["peer_id"].as_str().unwrap_or("?")));
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
                        out.push_str(&format!(
                            "\n  group     {} {} events in {} logs",
                            &g["group"].as_str().unwrap_or("?")[..16.min(g["group"].as_str().unwrap_or("?").len())],
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
