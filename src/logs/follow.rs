//! `logs --follow`: the window's lines, then new ones as they arrive, until the caller drops
//! the future (Ctrl-C). New events come from a live tail session (StartLiveTail) on the groups
//! that exist; groups that do not exist yet are polled (FilterLogEvents), and so is every
//! group where live tail is unavailable (unknown operation, not allowed, an answer that is no
//! event stream, or a session that ends at once: moto 5.2.5 answers one snapshot and closes),
//! which one note says.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use super::{kept, lines_of, read, start_ms, Line, LogsQuery, Seen};
use crate::aws::live_tail::{self, Started};
use crate::aws::logs::group_arn;
use crate::aws::Clients;

/// How often polling asks for new lines: a new event shows within about this plus one call.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// A session that ends sooner than this was no live session (AWS keeps one up to 3 hours).
const SHORTEST_SESSION: Duration = Duration::from_secs(10);
/// Events can arrive late by a little: polls look this far back, skipping what was printed.
const LOOK_BACK_MS: i64 = 5_000;

/// What `--follow` hands to its printer.
pub(crate) enum Out<'a> {
    Line(&'a Line),
    /// Said once: a group missing, live tail unavailable.
    Note(String),
}

type Printer<'p> = &'p mut dyn FnMut(Out<'_>) -> anyhow::Result<()>;

/// The polling side: where the next read starts, what was printed, the notes said.
struct Poller {
    from: i64,
    seen: Seen,
    noted: HashSet<String>,
}

impl Poller {
    /// Print the lines of `query`'s functions not printed yet.
    async fn poll(
        &mut self,
        clients: &Clients,
        query: &LogsQuery,
        print: Printer<'_>,
    ) -> anyhow::Result<()> {
        let (lines, notes) = read(clients, query, self.from, &mut self.seen).await?;
        for note in notes {
            self.note(note, print)?;
        }
        for line in &lines {
            print(Out::Line(line))?;
        }
        if let Some(last) = lines.last() {
            self.from = self.from.max(last.timestamp_ms - LOOK_BACK_MS);
            self.seen.bound();
        }
        Ok(())
    }

    fn note(&mut self, note: String, print: Printer<'_>) -> anyhow::Result<()> {
        if self.noted.insert(note.clone()) {
            print(Out::Note(note))?;
        }
        Ok(())
    }

    /// Live tail is unavailable: say why, once, and poll from now on.
    async fn fall_back(
        &mut self,
        why: &str,
        clients: &Clients,
        query: &LogsQuery,
        print: Printer<'_>,
    ) -> anyhow::Result<()> {
        let every = POLL_EVERY.as_millis();
        let note = format!("live tail unavailable here ({why}); polling every {every} ms instead");
        self.note(note, print)?;
        self.forever(clients, query, print).await
    }

    /// Poll `query` every [`POLL_EVERY`], for ever.
    async fn forever(
        &mut self,
        clients: &Clients,
        query: &LogsQuery,
        print: Printer<'_>,
    ) -> anyhow::Result<()> {
        loop {
            tokio::time::sleep(POLL_EVERY).await;
            self.poll(clients, query, print).await?;
        }
    }
}

/// Runs until an error; the caller stops it by dropping it.
pub(crate) async fn follow(
    clients: &Clients,
    query: &LogsQuery,
    print: Printer<'_>,
) -> anyhow::Result<()> {
    let mut poller = Poller {
        from: start_ms(query.since),
        seen: Seen::default(),
        noted: HashSet::new(),
    };
    poller.poll(clients, query, print).await?;
    loop {
        let (arns, missing) = match split_by_group(clients, query).await {
            // Nothing to live tail yet: poll until the functions log.
            Ok((arns, _)) if arns.is_empty() => return poller.forever(clients, query, print).await,
            Ok(split) => split,
            // Not allowed to describe the groups, say: polling may still be; if the endpoint
            // is down, polling says so.
            Err(err) => {
                return poller
                    .fall_back(&format!("{err:#}"), clients, query, print)
                    .await
            }
        };
        let ids: Vec<String> = arns.keys().cloned().collect();
        let pattern = query.pattern.as_deref();
        let started_at = Instant::now();
        let override_ = clients.endpoint.is_some();
        let mut tail = match live_tail::start(&clients.logs, &ids, pattern, override_).await? {
            Started::Live(tail) => tail,
            Started::Unavailable(why) => {
                return poller.fall_back(&why, clients, query, print).await
            }
        };
        // What arrived between the last read and the session's start.
        poller.poll(clients, query, print).await?;
        let mut missing_every = tokio::time::interval(POLL_EVERY);
        missing_every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let ended = loop {
            // `next` may be dropped for a poll: the stream keeps what it has read, so
            // nothing is lost.
            tokio::select! {
                batch = tail.next() => match batch {
                    Ok(Some(batch)) => poller.print_live(query, &arns, batch, print)?,
                    Ok(None) => break "the endpoint ended the session".to_string(),
                    Err(err) => break format!("{err:#}"),
                },
                _ = missing_every.tick(), if !missing.functions.is_empty() => {
                    poller.poll(clients, &missing, print).await?;
                }
            }
        };
        if started_at.elapsed() < SHORTEST_SESSION {
            let why = format!("{ended} after {} ms", started_at.elapsed().as_millis());
            return poller.fall_back(&why, clients, query, print).await;
        }
        // A session ended after a long while (AWS: 3 hours) or broke: start another, reading
        // what the gap held.
    }
}

/// The functions whose group exists, by group ARN (what live tail takes), and a query of
/// those whose group does not (polled until it does).
async fn split_by_group(
    clients: &Clients,
    query: &LogsQuery,
) -> anyhow::Result<(BTreeMap<String, String>, LogsQuery)> {
    let mut arns = BTreeMap::new();
    let mut missing = query.clone();
    missing.functions.clear();
    // Live tail takes at most 10 groups; the rest are polled.
    for (key, name) in &query.functions {
        match group_arn(&clients.logs, &super::group_of(name)).await? {
            Some(arn) if arns.len() < 10 => {
                arns.insert(arn, key.clone());
            }
            _ => missing.functions.push((key.clone(), name.clone())),
        }
    }
    Ok((arns, missing))
}

impl Poller {
    /// Print what a live tail batch holds that was not printed yet, by function; a later
    /// poll (after a session) starts from there.
    fn print_live(
        &mut self,
        query: &LogsQuery,
        arns: &BTreeMap<String, String>,
        batch: live_tail::Batch,
        print: Printer<'_>,
    ) -> anyhow::Result<()> {
        let by_group: BTreeMap<String, &String> = arns
            .iter()
            .map(|(arn, key)| (live_tail::group_name(arn), key))
            .collect();
        // Together per function, so a request's lines learn the trace its REPORT line names.
        let mut fresh: BTreeMap<&String, Vec<_>> = BTreeMap::new();
        for (group, event) in batch {
            let Some(key) = by_group.get(&group) else {
                continue;
            };
            if self.seen.fresh_live(&group, &event) {
                fresh.entry(*key).or_default().push(event);
            }
        }
        let lines = fresh
            .into_iter()
            .flat_map(|(key, events)| lines_of(key, &events))
            .collect();
        for line in &kept(query, lines) {
            print(Out::Line(line))?;
            self.from = self.from.max(line.timestamp_ms - LOOK_BACK_MS);
        }
        self.seen.bound();
        Ok(())
    }
}
