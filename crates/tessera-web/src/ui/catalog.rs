//! The message catalogs (Fluent, one file per language under `locales/`), built once into the
//! binary. A message the chosen language lacks comes from English; one no catalog has is shown
//! as its key, and a test keeps that from happening.

use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

use super::language::Language;

/// What a message's variable is given.
#[derive(Debug, Clone, Copy)]
pub enum Arg<'a> {
    Text(&'a str),
    /// A count: plural forms select on it, and it is written with the language's grouping.
    Number(i64),
}

/// Each language's catalog source.
pub fn source(language: Language) -> &'static str {
    match language {
        Language::English => include_str!("../../locales/en.ftl"),
        Language::German => include_str!("../../locales/de.ftl"),
    }
}

struct Catalogs {
    bundles: Vec<(Language, FluentBundle<FluentResource>)>,
}

static CATALOGS: LazyLock<Catalogs> = LazyLock::new(|| Catalogs::new(source));

impl Catalogs {
    fn new(source: impl Fn(Language) -> &'static str) -> Catalogs {
        Catalogs {
            bundles: Language::ALL.into_iter().map(|language| (language, bundle(language, source(language)))).collect(),
        }
    }

    /// The message `key` in `language` (or English), its variables filled in.
    fn text(&self, language: Language, key: &str, args: &[(&str, Arg<'_>)]) -> String {
        let find = |wanted: Language| {
            self.bundles
                .iter()
                .find(|(language, _)| *language == wanted)
                .and_then(|(_, bundle)| Some((bundle, bundle.get_message(key)?.value()?)))
        };
        let Some((bundle, pattern)) = find(language).or_else(|| find(Language::English)) else {
            tracing::warn!(key, "no catalog has this message");
            return key.to_string();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            match value {
                Arg::Text(text) => fluent_args.set(*name, FluentValue::from(*text)),
                Arg::Number(number) => fluent_args.set(*name, FluentValue::from(*number)),
            }
        }
        let mut errors = Vec::new();
        let text = bundle.format_pattern(pattern, Some(&fluent_args), &mut errors);
        if !errors.is_empty() {
            tracing::warn!(key, ?errors, "message formatted with errors");
        }
        text.into_owned()
    }
}

fn bundle(language: Language, source: &str) -> FluentBundle<FluentResource> {
    // A catalog with a syntax error keeps every message it could read (a test fails on any
    // error, so none ships).
    let resource = FluentResource::try_new(source.to_string()).unwrap_or_else(|(partial, errors)| {
        tracing::error!(language = language.code(), ?errors, "message catalog has errors");
        partial
    });
    let tag = language.code().parse().unwrap_or_default();
    let mut bundle = FluentBundle::new_concurrent(vec![tag]);
    // Pages are HTML in one direction; Unicode isolation marks would only get in the way of
    // matching and copying text.
    bundle.set_use_isolating(false);
    bundle.set_formatter(Some(match language {
        Language::English => format_english,
        Language::German => format_german,
    }));
    if let Err(errors) = bundle.add_resource(resource) {
        tracing::error!(language = language.code(), ?errors, "message catalog could not be loaded whole");
    }
    bundle
}

fn format_english<M>(value: &FluentValue, _: &M) -> Option<String> {
    format_number(Language::English, value)
}

fn format_german<M>(value: &FluentValue, _: &M) -> Option<String> {
    format_number(Language::German, value)
}

fn format_number(language: Language, value: &FluentValue) -> Option<String> {
    match value {
        FluentValue::Number(number) if number.value.fract() == 0.0 && number.value.abs() < 1e15 => {
            Some(language.number(number.value as i64))
        }
        _ => None,
    }
}

/// The message `key` in `language` (or English), its variables filled in.
pub fn text(language: Language, key: &str, args: &[(&str, Arg<'_>)]) -> String {
    CATALOGS.text(language, key, args)
}

/// Whether `key` is in some catalog.
pub fn has(key: &str) -> bool {
    CATALOGS.bundles.iter().any(|(_, bundle)| bundle.has_message(key))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The message ids of a catalog: lines that start an entry (`id =`), comments and terms
    /// (`-term`) aside.
    fn keys(language: Language) -> BTreeSet<String> {
        if let Err((_, errors)) = FluentResource::try_new(source(language).to_string()) {
            panic!("the {} catalog does not parse: {errors:?}", language.code());
        }
        source(language)
            .lines()
            .filter_map(|line| line.split_once(" =").map(|(id, _)| id))
            .filter(|id| id.starts_with(|c: char| c.is_ascii_lowercase()) && !id.contains(' '))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_catalog_parses_and_has_every_key_another_has() {
        let all: Vec<(Language, BTreeSet<String>)> = Language::ALL.into_iter().map(|l| (l, keys(l))).collect();
        assert!(all[0].1.len() > 50, "the English catalog is read");
        for (language, keys) in &all {
            for (other, other_keys) in &all {
                let missing: Vec<&String> = other_keys.difference(keys).collect();
                assert!(
                    missing.is_empty(),
                    "the {} catalog lacks keys the {} catalog has: {missing:?}",
                    language.code(),
                    other.code()
                );
            }
        }
    }

    #[test]
    fn messages_fill_in_plurals_and_numbers() {
        let one = text(Language::English, "account-codes-left", &[("count", Arg::Number(1))]);
        let many = text(Language::German, "account-codes-left", &[("count", Arg::Number(1234))]);
        assert!(one.contains("1 recovery code") && !one.contains("codes"), "{one}");
        assert!(many.contains("1.234"), "{many}");
        assert_ne!(text(Language::German, "login-submit", &[]), text(Language::English, "login-submit", &[]));
        assert_eq!(text(Language::German, "no-such-message", &[]), "no-such-message");
    }

    #[test]
    fn a_message_missing_from_a_language_comes_from_english() {
        let half_translated = Catalogs::new(|language| match language {
            Language::German => "login-title = Anmelden",
            other => source(other),
        });
        assert_eq!(half_translated.text(Language::German, "login-title", &[]), "Anmelden");
        assert_eq!(
            half_translated.text(Language::German, "login-submit", &[]),
            text(Language::English, "login-submit", &[])
        );
    }
}
