//! The README's "library in 15 lines" is the crate README's example, which
//! `cargo test --doc` compiles: they must not drift apart.

#[test]
fn readme_library_example_matches_the_compiled_crate_example() {
    let root =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let crate_readme = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bullmq-rs/README.md"
    ))
    .unwrap();
    let compiled = first_code_block(&crate_readme);
    let shown = first_code_block(
        root.split("## The library in 15 lines")
            .nth(1)
            .expect("the section exists"),
    );
    // Lines starting with `# ` are hidden by rustdoc: the README shows the rest.
    let visible: Vec<&str> = compiled
        .lines()
        .filter(|line| !line.starts_with("# "))
        .collect();
    assert_eq!(shown.lines().collect::<Vec<_>>(), visible);
    assert!(visible.len() <= 15, "{} lines", visible.len());
}

fn first_code_block(text: &str) -> String {
    let start = text.find("```").expect("a code block");
    let body = &text[start..];
    let body = &body[body.find('\n').expect("a fence line") + 1..];
    body[..body.find("```").expect("a closing fence")]
        .trim_end()
        .to_owned()
}
