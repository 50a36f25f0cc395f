//! The dashboard's chart, drawn here as SVG: no chart library, no script, nothing loaded from
//! elsewhere. It holds only numbers and fixed words (never a name typed by someone), so it can
//! be placed in the page as it is. Each line has its own dash pattern as well as its colour.

use std::fmt::Write as _;

use tessera_admin::dashboard::Series;

const WIDTH: f64 = 860.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 34.0;

/// The three lines: what they count, their colour and dash pattern.
const LINES: [(&str, &str, &str); 3] =
    [("Sign-ins", "#1a7f37", ""), ("Failures", "#b35900", "6 3"), ("Refusals", "#b3261e", "2 3")];

/// An SVG line chart of `series`, one point per hour from `first_hour_ms`.
pub fn hourly(series: &Series, first_hour_ms: i64) -> String {
    let lines = [&series.signed_in, &series.failed, &series.refused];
    let hours = series.signed_in.len().max(1);
    let top = lines.iter().flat_map(|l| l.iter()).copied().max().unwrap_or(0).max(1);
    let x = |hour: usize| LEFT + (WIDTH - LEFT - RIGHT) * hour as f64 / (hours.saturating_sub(1).max(1)) as f64;
    let y = |count: i64| TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - count as f64 / top as f64);
    let totals: Vec<i64> = lines.iter().map(|l| l.iter().sum()).collect();
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" class="chart">"#
    );
    let _ = write!(
        svg,
        r#"<title id="chart-title">Sign-in events per hour</title><desc id="chart-desc">{} sign-ins, {} failures and {} refusals over {} hours; the busiest hour had {}.</desc>"#,
        totals[0], totals[1], totals[2], hours, top
    );
    // The axes and a scale at zero, half and the top.
    for count in [0, top / 2, top] {
        let at = y(count);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{at:.1}" x2="{:.1}" y2="{at:.1}" stroke="#d0d0d0" stroke-width="1"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end" fill="#333">{count}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            at + 4.0
        );
    }
    // A mark at each midnight (UTC), with its date.
    for hour in 0..hours {
        let at_ms = first_hour_ms + hour as i64 * 3_600_000;
        if at_ms.rem_euclid(86_400_000) != 0 {
            continue;
        }
        let date: String = tessera_core::format_millis(at_ms).chars().skip(5).take(5).collect();
        let at = x(hour);
        let _ = write!(
            svg,
            r##"<line x1="{at:.1}" y1="{TOP}" x2="{at:.1}" y2="{:.1}" stroke="#ececec" stroke-width="1"/><text x="{at:.1}" y="{:.1}" font-size="11" text-anchor="middle" fill="#333">{date}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0
        );
    }
    for (line, (_, colour, dash)) in lines.iter().zip(LINES) {
        let points: Vec<String> =
            line.iter().enumerate().map(|(hour, count)| format!("{:.1},{:.1}", x(hour), y(*count))).collect();
        let dash = if dash.is_empty() { String::new() } else { format!(r#" stroke-dasharray="{dash}""#) };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2"{dash} points="{}"/>"#,
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A small chart of one application's sign-ins and refusals per hour, beside its totals in a
/// table row (which say the same in words: this picture is hidden from screen readers).
pub fn sparkline(series: &Series) -> String {
    const W: f64 = 168.0;
    const H: f64 = 28.0;
    let hours = series.signed_in.len().max(2);
    let top = series.signed_in.iter().chain(series.refused.iter()).copied().max().unwrap_or(0).max(1);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" aria-hidden="true" class="sparkline">"#
    );
    for (line, (_, colour, dash)) in [(&series.signed_in, LINES[0]), (&series.refused, LINES[2])] {
        let points: Vec<String> = line
            .iter()
            .enumerate()
            .map(|(hour, count)| {
                let x = W * hour as f64 / (hours - 1) as f64;
                let y = 2.0 + (H - 4.0) * (1.0 - *count as f64 / top as f64);
                format!("{x:.1},{y:.1}")
            })
            .collect();
        let dash = if dash.is_empty() { String::new() } else { format!(r#" stroke-dasharray="{dash}""#) };
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5"{dash} points="{}"/>"#,
            points.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The legend: each line's name with its colour and dash pattern, as small SVG samples.
pub fn legend() -> Vec<(&'static str, String)> {
    LINES
        .iter()
        .map(|(name, colour, dash)| {
            let dash = if dash.is_empty() { String::new() } else { format!(r#" stroke-dasharray="{dash}""#) };
            let sample = format!(
                r#"<svg xmlns="http://www.w3.org/2000/svg" width="28" height="10" aria-hidden="true"><line x1="0" y1="5" x2="28" y2="5" stroke="{colour}" stroke-width="2"{dash}/></svg>"#
            );
            (*name, sample)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_is_well_formed_svg_with_a_line_per_series() {
        let series = Series { signed_in: vec![0, 3, 1, 0], failed: vec![1, 0, 0, 0], refused: vec![0, 0, 2, 0] };
        let svg = hourly(&series, 1_796_083_200_000 - 3_600_000);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("4 sign-ins, 1 failures and 2 refusals over 4 hours"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        let empty = hourly(&Series::default(), 0);
        assert!(empty.contains("0 sign-ins"), "no data draws an empty chart: {empty}");
        let small = sparkline(&series);
        assert_eq!(small.matches("<polyline").count(), 2);
        assert!(small.contains("aria-hidden=\"true\"") && !small.contains("NaN"), "{small}");
        assert!(!sparkline(&Series::default()).contains("NaN"));
    }
}
