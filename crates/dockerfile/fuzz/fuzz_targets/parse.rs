//! Feeds arbitrary UTF-8 to the parser and the expander: neither may panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let _ = berth_dockerfile::parse("Dockerfile", src);
    let _ = berth_dockerfile::parse_instruction(src);
    let lookup = |name: &str| (!name.is_empty()).then(|| name.to_string());
    let _ = berth_dockerfile::expand(src, '\\', &lookup);
    let _ = berth_dockerfile::expand_words(src, '`', &lookup);
});
