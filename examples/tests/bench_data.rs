//! The Node benchmarks send the same job data as the Rust ones.

use examples::bench_data::{dedup_id, event};

#[test]
fn node_builds_the_same_sellsy_event_and_dedup_id() {
    for n in [0, 7, 123_456] {
        let node = testkit::node::run_args("lib/bench-data.js", &[&n.to_string()]);
        assert_eq!(
            node["event"].as_str(),
            Some(String::from_utf8(event(n)).unwrap().as_str())
        );
        assert_eq!(node["dedup_id"].as_str(), Some(dedup_id(n).as_str()));
    }
}
