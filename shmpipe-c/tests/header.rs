//! `include/shmpipe.h` is written by hand. This test keeps it honest: it declares exactly the
//! `extern "C"` functions of `src/ffi.rs` (each `#[no_mangle]`), with the same parameter and
//! return types, and exactly the status codes of `src/code.rs`, with the same values.

use std::collections::BTreeMap;

const HEADER: &str = include_str!("../include/shmpipe.h");
const FFI: &str = include_str!("../src/ffi.rs");

/// A C type with its whitespace normalised: `const char *`, `shmpipe_ring **`.
fn normalise(c: &str) -> String {
    let words: Vec<&str> = c.split_whitespace().collect();
    let joined = words.join(" ");
    let stars = joined.chars().filter(|&ch| ch == '*').count();
    let base = joined.replace('*', "");
    let base = base.split_whitespace().collect::<Vec<_>>().join(" ");
    if stars == 0 {
        base
    } else {
        format!("{base} {}", "*".repeat(stars))
    }
}

/// The C spelling of a Rust FFI type.
fn c_type(rust: &str) -> String {
    let rust = rust.trim();
    if let Some(inner) = rust.strip_prefix("*mut ") {
        let inner = c_type(inner);
        return normalise(&format!("{inner} *"));
    }
    if let Some(inner) = rust.strip_prefix("*const ") {
        let inner = c_type(inner);
        assert!(!inner.contains('*'), "a const pointer to a pointer: {rust}");
        return normalise(&format!("const {inner} *"));
    }
    match rust {
        "c_int" => "int",
        "c_char" => "char",
        "c_void" => "void",
        "u64" => "uint64_t",
        "i64" => "int64_t",
        "usize" => "size_t",
        "ShmpipeRing" => "shmpipe_ring",
        "ShmpipeWriter" => "shmpipe_writer",
        "ShmpipeReader" => "shmpipe_reader",
        other => panic!("no C spelling for the Rust type {other}"),
    }
    .to_string()
}

/// Text with `/* ... */` comments removed.
fn strip_comments(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("an unterminated comment") + start + 2;
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

type Signature = (String, Vec<String>);

/// `shmpipe_*` prototypes of the header: name -> (return type, parameter types).
fn header_functions() -> BTreeMap<String, Signature> {
    let text = strip_comments(HEADER);
    let mut out = BTreeMap::new();
    for decl in text.split(';') {
        let decl = decl.trim();
        let Some(open) = decl.find("(") else { continue };
        let head = &decl[..open];
        let Some(at) = head.rfind("shmpipe_") else {
            continue;
        };
        if decl.contains("typedef") {
            continue;
        }
        let name = head[at..].trim().to_string();
        let ret = normalise(&head[..at]);
        let close = decl.rfind(')').expect("a closing parenthesis");
        let params = decl[open + 1..close].trim();
        let params = if params == "void" {
            Vec::new()
        } else {
            params
                .split(',')
                .map(|p| {
                    let p = p.trim();
                    let name_start = p
                        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .expect("a parameter with a name")
                        + 1;
                    normalise(&p[..name_start])
                })
                .collect()
        };
        assert!(
            out.insert(name.clone(), (ret, params)).is_none(),
            "{name} is declared twice"
        );
    }
    out
}

/// `extern "C"` functions of `src/ffi.rs`: name -> (return type, parameter types).
fn exported_functions() -> BTreeMap<String, Signature> {
    let mut out = BTreeMap::new();
    let pieces: Vec<&str> = FFI.split("extern \"C\" fn ").collect();
    for (before, piece) in pieces.iter().zip(pieces.iter().skip(1)) {
        let attrs = before.rsplit("///").next().unwrap_or("");
        assert!(
            attrs.contains("#[no_mangle]"),
            "an extern \"C\" fn without #[no_mangle]: {}",
            &piece[..40.min(piece.len())]
        );
        let open = piece.find('(').unwrap();
        let name = piece[..open].trim().to_string();
        let close = piece.find(')').unwrap();
        let params = piece[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| c_type(p.split_once(':').expect("name: type").1))
            .collect();
        let after = piece[close + 1..].trim_start();
        let ret = match after.strip_prefix("->") {
            Some(r) => c_type(r[..r.find('{').unwrap()].trim()),
            None => "void".to_string(),
        };
        out.insert(name, (ret, params));
    }
    out
}

#[test]
fn the_header_declares_every_exported_function_with_its_types() {
    let header = header_functions();
    let exported = exported_functions();
    assert!(
        exported.len() >= 25,
        "found only {} exports",
        exported.len()
    );
    for (name, sig) in &exported {
        assert_eq!(header.get(name), Some(sig), "{name}: header vs src/ffi.rs");
    }
    for name in header.keys() {
        assert!(
            exported.contains_key(name),
            "{name} is declared but not exported"
        );
    }
}

#[test]
fn the_header_defines_every_status_code_with_its_value() {
    let text = strip_comments(HEADER);
    let body = &text[text.find("enum shmpipe_status").unwrap()..];
    let body = &body[body.find('{').unwrap() + 1..body.find('}').unwrap()];
    let header: Vec<(String, i32)> = body
        .split(',')
        .map(|entry| {
            let (name, value) = entry.split_once('=').expect("NAME = VALUE");
            (name.trim().to_string(), value.trim().parse().unwrap())
        })
        .collect();
    let rust: Vec<(String, i32)> = shmpipe_c::code::CODES
        .iter()
        .map(|(code, name, _)| (name.to_string(), *code))
        .collect();
    assert_eq!(header, rust);
}

#[test]
fn the_type_mapping_is_what_c_spells() {
    assert_eq!(c_type("*mut *const c_void"), "const void **");
    assert_eq!(c_type("*const ShmpipeRing"), "const shmpipe_ring *");
    assert_eq!(c_type("*mut *mut ShmpipeWriter"), "shmpipe_writer **");
    assert_eq!(normalise("const  char*"), "const char *");
}
