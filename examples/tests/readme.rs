//! The README's "library in 15 lines" and its worker are the crate README's examples,
//! which `cargo test --doc` compiles: they must not drift apart.

#[test]
fn readme_examples_match_the_compiled_crate_examples() {
    let root = read("/../README.md");
    let crate_readme = read("/../bullmq-rs/README.md");
    let section = after(&root, "## The library in 15 lines");

    let compiled_queue = visible(&first_code_block(&crate_readme));
    assert_eq!(
        first_code_block(section)
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
        compiled_queue
    );
    assert!(compiled_queue.len() <= 15, "{} lines", compiled_queue.len());

    let compiled_worker = visible(&first_code_block(after(
        &crate_readme,
        "A worker shares the queue",
    )));
    let shown_worker = first_code_block(after(section, "And a worker"));
    assert_eq!(
        shown_worker.lines().map(str::to_owned).collect::<Vec<_>>(),
        compiled_worker
    );
}

fn read(path: &str) -> String {
    std::fs::read_to_string(format!("{}{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn after<'a>(text: &'a str, marker: &str) -> &'a str {
    text.split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("{marker:?} is missing"))
}

/// Lines starting with `# ` are hidden by rustdoc: the README shows the rest.
fn visible(block: &str) -> Vec<String> {
    block
        .lines()
        .filter(|line| !line.starts_with("# "))
        .map(str::to_owned)
        .collect()
}

fn first_code_block(text: &str) -> String {
    let start = text.find("```").expect("a code block");
    let body = &text[start..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("```").expect("a closing fence")]
        .trim_end()
        .to_owned()
}
