//! The words of the human output: one time format, and what a switch's outcome means. JSON output
//! keeps the daemon's RFC 3339 instants and outcome values; only what people read goes through here.

use std::time::Duration;

use jiff::Timestamp;
use jiff::tz::TimeZone;

/// "2026-12-04 00:00 CST (in 7h40m)": local time and zone, and how far off when it is ahead.
pub fn when(rfc3339: &str, now: Timestamp) -> String {
    let Ok(at) = rfc3339.parse::<Timestamp>() else {
        return rfc3339.to_owned();
    };
    let clock = local(at, "%Y-%m-%d %H:%M %Z");
    match until(at, now) {
        Some(until) => format!("{clock} ({until})"),
        None => clock,
    }
}

/// "2026-12-03 16:00:05 CST": for `watch`, where events seconds apart must tell apart.
pub fn precise(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(at) => local(at, "%Y-%m-%d %H:%M:%S %Z"),
        Err(_) => rfc3339.to_owned(),
    }
}

/// "16:00": a time of day, where a heading already says which day.
pub fn time_of_day(rfc3339: &str) -> String {
    match rfc3339.parse::<Timestamp>() {
        Ok(at) => local(at, "%H:%M"),
        Err(_) => rfc3339.to_owned(),
    }
}

fn local(at: Timestamp, format: &str) -> String {
    at.to_zoned_datetime(TimeZone::system())
        .strftime(format)
        .to_string()
}

/// "in 3h12m" until a future instant; `None` for one that has passed.
fn until(at: Timestamp, now: Timestamp) -> Option<String> {
    let secs = at.duration_since(now).as_secs();
    if secs <= 0 {
        return None;
    }
    let (h, m) = (secs / 3600, (secs % 3600) / 60);
    Some(match (h, m) {
        (0, 0) => format!("in {secs}s"),
        (0, m) => format!("in {m}m"),
        (h, m) => format!("in {h}h{m:02}m"),
    })
}

/// The daemon's sentences name instants in RFC 3339; people read them in [`when`]'s format.
pub fn humanize(text: &str, now: Timestamp) -> String {
    text.split(' ')
        .map(|word| {
            let bare = word.trim_end_matches([';', ',', '.', ')', ':']);
            match bare.parse::<Timestamp>() {
                Ok(_) => format!("{}{}", when(bare, now), &word[bare.len()..]),
                Err(_) => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What became of a switch (`LastSwitch::outcome`, `ReloadApplied::outcome` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome<'a> {
    Pending,
    Applied,
    Restarted,
    Unconfirmed,
    NotNeeded,
    Failed(&'a str),
    /// A value a newer daemon sends that this msclawctl does not know.
    Other(&'a str),
}

impl<'a> Outcome<'a> {
    pub fn parse(outcome: &'a str) -> Self {
        match outcome {
            "pending" => Self::Pending,
            "applied" => Self::Applied,
            "restarted" => Self::Restarted,
            "unconfirmed" => Self::Unconfirmed,
            "not_needed" => Self::NotNeeded,
            other => match other.strip_prefix("failed: ") {
                Some(why) => Self::Failed(why),
                None => Self::Other(other),
            },
        }
    }

    /// A whole sentence, after a switch; `took` is how long the gateway needed, when known.
    pub fn sentence(self, took: Option<Duration>) -> String {
        match self {
            Self::Pending => "the gateway has not applied it yet".into(),
            Self::Applied => match took {
                Some(t) => format!("the gateway applied it in {:.1} s", t.as_secs_f64()),
                None => "the gateway applied it".into(),
            },
            Self::Restarted => "the gateway did not hot-apply it, so msclawd restarted it".into(),
            Self::Unconfirmed => {
                "the gateway stopped before confirming it; OpenClaw reads the change on its next turn"
                    .into()
            }
            Self::NotNeeded => "no gateway running; OpenClaw reads the change on its next turn".into(),
            Self::Failed(why) => format!("the gateway could not apply it: {why}"),
            Self::Other(other) => format!("gateway: {other}"),
        }
    }

    /// A few words, for lines that list many switches.
    pub fn short(self) -> String {
        match self {
            Self::Pending => "not applied yet".into(),
            Self::Applied => "gateway applied it".into(),
            Self::Restarted => "gateway restarted".into(),
            Self::Unconfirmed => "gateway did not confirm".into(),
            Self::NotNeeded => "no gateway running".into(),
            Self::Failed(why) => format!("failed: {why}"),
            Self::Other(other) => other.to_owned(),
        }
    }
}

/// "1 model", "4 models".
pub fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_sentences_become_local_times() {
        let now: Timestamp = "2026-12-03T08:00:00Z".parse().unwrap();
        let text = humanize(
            "pinned m until 2026-12-04T00:00:00+08:00 (or msclawctl auto)",
            now,
        );
        assert!(text.starts_with("pinned m until 2026-12-0"), "{text}");
        assert!(text.contains("(in 8h00m) (or msclawctl auto)"), "{text}");
        assert!(!text.contains("T00:00:00"), "{text}");
    }

    #[test]
    fn outcomes_read_as_words() {
        assert_eq!(
            Outcome::parse("applied").sentence(Some(Duration::from_millis(930))),
            "the gateway applied it in 0.9 s"
        );
        assert_eq!(Outcome::parse("failed: boom"), Outcome::Failed("boom"));
        assert_eq!(count(1, "model", "models"), "1 model");
    }
}
