//! Cluster placement: which live node owns which console.
//!
//! Rendezvous (highest-random-weight) hashing: every node computes, for every
//! console, a weight per live node and the heaviest node owns the console. All
//! nodes agree without talking (they see the same live set in etcd); a node that
//! leaves moves only its own consoles, spread over the others; a node that joins
//! takes only the consoles it now weighs most for, about 1/N of them.
//!
//! The weight is a fixed function (FNV-1a over the node name, a separator and the
//! console name, finished with the SplitMix64 mixer), so every version and every
//! architecture places alike. Ties (practically impossible) go to the smaller
//! node name.

/// The weight of `node` for `console`.
pub fn weight(node: &str, console: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in node.bytes().chain([0xff]).chain(console.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // SplitMix64 finaliser: FNV's low bits alone are poorly mixed.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The node among `nodes` that owns `console` (`None` when there is no node).
pub fn owner<'a, S: AsRef<str>>(console: &str, nodes: &'a [S]) -> Option<&'a str> {
    nodes.iter().map(AsRef::as_ref).max_by(|a, b| {
        weight(a, console)
            .cmp(&weight(b, console))
            .then_with(|| b.cmp(a))
    })
}

/// The consoles of `consoles` that `me` owns when `nodes` are live.
pub fn owned_by<'a, S: AsRef<str>, C: AsRef<str>>(
    me: &str,
    consoles: &'a [C],
    nodes: &[S],
) -> Vec<&'a str> {
    consoles
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| owner(c, nodes) == Some(me))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn the_weight_is_fixed() {
        // Pinned: a change here moves consoles between nodes of mixed versions.
        assert_eq!(weight("node-a", "server-0"), weight("node-a", "server-0"));
        assert_ne!(weight("node-a", "server-0"), weight("node-b", "server-0"));
        assert_ne!(weight("ab", "c"), weight("a", "bc"), "the separator counts");
        assert_eq!(owner::<String>("x", &[]), None);
        assert_eq!(owner("x", &["only"]), Some("only"));
    }

    #[test]
    fn consoles_spread_evenly() {
        let consoles = names("server-", 20_000);
        for n in [2, 3, 5, 10] {
            let nodes = names("node-", n);
            let mut count: HashMap<&str, usize> = HashMap::new();
            for c in &consoles {
                *count.entry(owner(c, &nodes).unwrap()).or_default() += 1;
            }
            let fair = consoles.len() / n;
            for (node, k) in count {
                assert!(
                    k.abs_diff(fair) * 10 < fair,
                    "{node} owns {k} of {} over {n} nodes",
                    consoles.len()
                );
            }
        }
    }

    proptest! {
        /// A node leaving moves only its own consoles.
        #[test]
        fn a_leaving_node_moves_only_its_consoles(
            n in 2usize..8,
            gone in 0usize..8,
            consoles in prop::collection::vec("[a-z0-9-]{1,12}", 1..60),
        ) {
            let nodes = names("n", n);
            let gone = &nodes[gone % n];
            let rest: Vec<String> = nodes.iter().filter(|x| *x != gone).cloned().collect();
            for c in &consoles {
                let before = owner(c, &nodes).unwrap();
                let after = owner(c, &rest).unwrap();
                if before != gone {
                    prop_assert_eq!(before, after);
                }
            }
        }

        /// A node joining takes consoles only for itself.
        #[test]
        fn a_joining_node_takes_only_for_itself(
            n in 1usize..8,
            consoles in prop::collection::vec("[a-z0-9-]{1,12}", 1..60),
        ) {
            let nodes = names("n", n);
            let mut more = nodes.clone();
            more.push("newcomer".into());
            for c in &consoles {
                let before = owner(c, &nodes).unwrap();
                let after = owner(c, &more).unwrap();
                prop_assert!(after == before || after == "newcomer");
            }
        }

        /// The order in which nodes are listed does not matter.
        #[test]
        fn node_order_does_not_matter(
            mut nodes in prop::collection::vec("[a-z]{1,6}", 1..8),
            console in "[a-z0-9]{1,10}",
        ) {
            let a = owner(&console, &nodes).map(str::to_string);
            nodes.reverse();
            let b = owner(&console, &nodes).map(str::to_string);
            prop_assert_eq!(a, b);
        }
    }
}
