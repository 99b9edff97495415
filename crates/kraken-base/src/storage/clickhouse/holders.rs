//! Which node holds which sentry, where several nodes share the storage. Each node writes its
//! own rows per sentry (connected or not, newest wins per sentry and node), so one node's late
//! "disconnected" never hides another node's newer connection. A sentry is connected if some
//! node that is alive (announced within [`NODE_SILENT_AFTER`], or never announced: a lone
//! node) says so; the newest such claim wins.

use std::collections::HashMap;
use std::time::Duration;

use super::rows::{NodeRow, SentryState};

/// A node that has not announced itself for this long is taken as gone: its sentries are
/// listed as disconnected, and calls are not passed to it. Nodes announce every few seconds.
pub const NODE_SILENT_AFTER: Duration = Duration::from_secs(30);

/// Whether a node with this announcement (or none) may hold sentries at `now_us`.
pub fn is_live(announcement: Option<&NodeRow>, now_us: i64) -> bool {
    announcement.is_none_or(|row| now_us - row.at < NODE_SILENT_AFTER.as_micros() as i64)
}

/// Each sentry's current state from its per-node rows (sorted by GUID): the newest claim of a
/// live node that holds it, or else its newest row, marked disconnected.
pub fn current(rows: Vec<SentryState>, nodes: &HashMap<String, NodeRow>, now_us: i64) -> Vec<SentryState> {
    let mut by_guid: std::collections::BTreeMap<String, Vec<SentryState>> = Default::default();
    for row in rows {
        by_guid.entry(row.guid.clone()).or_default().push(row);
    }
    by_guid
        .into_values()
        .filter_map(|rows| {
            let holds = |row: &&SentryState| row.connected == 1 && is_live(nodes.get(&row.node), now_us);
            let held = rows.iter().filter(holds).max_by_key(|row| row.at).map(|row| row.at);
            match held {
                Some(at) => rows.into_iter().find(|row| row.at == at && row.connected == 1),
                None => {
                    rows.into_iter().max_by_key(|row| row.at).map(|row| SentryState { connected: 0, ..row })
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(node: &str, connected: u8, at: i64) -> SentryState {
        SentryState { guid: "s1".into(), connected, address: format!("{node}-addr"), node: node.into(), at }
    }

    fn announced(node: &str, at: i64) -> (String, NodeRow) {
        (node.into(), NodeRow { node: node.into(), admin_url: String::new(), at })
    }

    #[test]
    fn a_late_disconnection_on_the_old_node_does_not_hide_the_new_one() {
        let now = 100_000_000;
        let nodes = HashMap::from([announced("a", now), announced("b", now)]);
        let rows = vec![state("a", 1, 10), state("b", 1, 20), state("a", 0, 30)];
        let current = current(rows, &nodes, now);
        assert_eq!((current[0].node.as_str(), current[0].connected), ("b", 1));
    }

    #[test]
    fn a_silent_nodes_sentries_are_disconnected() {
        let now = 100_000_000;
        let nodes = HashMap::from([announced("a", now - 31_000_000)]);
        let current = current(vec![state("a", 1, 10)], &nodes, now);
        assert_eq!((current[0].node.as_str(), current[0].connected), ("a", 0));
        // A node that never announced itself (a lone node) is alive.
        assert_eq!(super::current(vec![state("c", 1, 10)], &nodes, now)[0].connected, 1);
    }
}
