//! The languages the user pages speak, which one a request gets (the user's own choice, kept in
//! a cookie, then the browser's `Accept-Language`, then English), and dates and numbers written
//! as each language writes them.

/// A language with a complete catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Language {
    #[default]
    English,
    German,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::English, Language::German];

    /// The BCP 47 tag (`<html lang>`, the cookie, the catalogs' file names).
    pub fn code(self) -> &'static str {
        match self {
            Language::English => "en",
            Language::German => "de",
        }
    }

    /// The language's name in itself, as the switch shows it.
    pub fn native_name(self) -> &'static str {
        match self {
            Language::English => "English",
            Language::German => "Deutsch",
        }
    }

    /// The language a tag names by its primary subtag (`de-AT` is German), if we speak it.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next().unwrap_or("");
        Language::ALL.into_iter().find(|language| primary.eq_ignore_ascii_case(language.code()))
    }

    /// The user's choice (the language cookie) if we speak it, else the first language of the
    /// browser's `Accept-Language` (by quality) that we speak, else English.
    pub fn negotiate(chosen: Option<&str>, accept_language: Option<&str>) -> Language {
        if let Some(language) = chosen.and_then(Language::from_tag) {
            return language;
        }
        let Some(header) = accept_language else { return Language::English };
        let mut ranges: Vec<(f32, usize, &str)> = header
            .split(',')
            .take(32)
            .enumerate()
            .filter_map(|(at, range)| {
                let mut parts = range.split(';');
                let tag = parts.next()?.trim();
                let quality =
                    parts
                        .find_map(|p| p.trim().strip_prefix("q=").or_else(|| p.trim().strip_prefix("Q=")))
                        .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok().filter(|q| (0.0..=1.0).contains(q)))?;
                (quality > 0.0 && !tag.is_empty()).then_some((quality, at, tag))
            })
            .collect();
        // Highest quality first; the header's own order among equals.
        ranges.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        ranges.into_iter().find_map(|(_, _, tag)| Language::from_tag(tag)).unwrap_or_default()
    }

    /// An integer with the language's digit grouping (1,234 / 1.234).
    pub fn number(self, value: i64) -> String {
        let separator = match self {
            Language::English => ',',
            Language::German => '.',
        };
        let digits = value.unsigned_abs().to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3 + 1);
        if value < 0 {
            grouped.push('-');
        }
        for (at, digit) in digits.chars().enumerate() {
            if at > 0 && (digits.len() - at).is_multiple_of(3) {
                grouped.push(separator);
            }
            grouped.push(digit);
        }
        grouped
    }

    /// A moment as the language writes a date and time ("5 December 2026, 07:10 UTC" /
    /// "5. Dezember 2026, 07:10 UTC"). Times are in UTC: the server does not know the user's
    /// time zone, and says which zone it means.
    pub fn date_time(self, millis: i64) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)) else {
            return millis.to_string();
        };
        let month = self.month_name(u8::from(at.month()));
        let (day, year, hour, minute) = (at.day(), at.year(), at.hour(), at.minute());
        match self {
            Language::English => format!("{day} {month} {year}, {hour:02}:{minute:02} UTC"),
            Language::German => format!("{day}. {month} {year}, {hour:02}:{minute:02} UTC"),
        }
    }

    /// A date only ("5 December 2026" / "5. Dezember 2026").
    pub fn date(self, millis: i64) -> String {
        let Ok(at) = time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000)) else {
            return millis.to_string();
        };
        let month = self.month_name(u8::from(at.month()));
        match self {
            Language::English => format!("{} {month} {}", at.day(), at.year()),
            Language::German => format!("{}. {month} {}", at.day(), at.year()),
        }
    }

    fn month_name(self, month: u8) -> &'static str {
        const ENGLISH: [&str; 12] = [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ];
        const GERMAN: [&str; 12] = [
            "Januar",
            "Februar",
            "März",
            "April",
            "Mai",
            "Juni",
            "Juli",
            "August",
            "September",
            "Oktober",
            "November",
            "Dezember",
        ];
        let names = match self {
            Language::English => &ENGLISH,
            Language::German => &GERMAN,
        };
        names[usize::from(month.clamp(1, 12) - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_users_choice_then_the_browsers_then_english() {
        assert_eq!(Language::negotiate(Some("de"), Some("en-GB,en;q=0.9")), Language::German);
        assert_eq!(Language::negotiate(Some("xx"), Some("de-CH, en;q=0.5")), Language::German);
        assert_eq!(Language::negotiate(None, Some("fr-FR, de;q=0.7, en;q=0.8")), Language::English);
        assert_eq!(Language::negotiate(None, Some("fr-FR, de;q=0.9, en;q=0.8")), Language::German);
        assert_eq!(Language::negotiate(None, Some("de;q=0, en")), Language::English);
        assert_eq!(Language::negotiate(None, Some("fr, it")), Language::English);
        assert_eq!(Language::negotiate(None, Some("de;q=2, en;q=abc, ;;;,")), Language::English);
        assert_eq!(Language::negotiate(None, Some("*")), Language::English);
        assert_eq!(Language::negotiate(None, None), Language::English);
    }

    #[test]
    fn numbers_and_dates_are_written_per_language() {
        assert_eq!(Language::English.number(1_234_567), "1,234,567");
        assert_eq!(Language::German.number(1_234_567), "1.234.567");
        assert_eq!(Language::German.number(-999), "-999");
        assert_eq!(Language::English.number(1000), "1,000");
        // 2026-03-05T07:10:00Z
        let at = 1_772_694_600_000;
        assert_eq!(Language::English.date_time(at), "5 March 2026, 07:10 UTC");
        assert_eq!(Language::German.date_time(at), "5. März 2026, 07:10 UTC");
        assert_eq!(Language::German.date(at), "5. März 2026");
    }
}
