//! The texts that passed the JSON5 syntax check lately, remembered by length and a keyed hash.
//! msclaw checks a config on every read and before every edit, and on a config of megabytes (a
//! large provider catalogue) the check takes a hundred milliseconds or more each time, while
//! hashing it takes a few. The check is a pure function of the text: one that passed once passes
//! again. The text msclaw's own edit writes (a checked text with checked values spliced in, see
//! `model_edit::edit_text`) is remembered as passing too, so the read that follows a switch does
//! not check it again.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// How many texts are remembered: the config and its `$include`d files, before and after an edit.
const REMEMBERED: usize = 8;

struct Memo {
    /// Random keys, fixed for the memo's life: a text cannot be made to collide with another.
    keys: RandomState,
    passed: Mutex<VecDeque<Fingerprint>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    len: usize,
    hash: u64,
}

impl Memo {
    fn new() -> Memo {
        Memo {
            keys: RandomState::new(),
            passed: Mutex::new(VecDeque::with_capacity(REMEMBERED)),
        }
    }

    /// The fingerprint of the text that `pieces` make one after the other (the same as of the
    /// whole text: the hasher takes bytes as a stream).
    fn fingerprint(&self, pieces: &[&[u8]]) -> Fingerprint {
        let mut hasher = self.keys.build_hasher();
        for piece in pieces {
            hasher.write(piece);
        }
        Fingerprint {
            len: pieces.iter().map(|p| p.len()).sum(),
            hash: hasher.finish(),
        }
    }

    fn remembered(&self) -> MutexGuard<'_, VecDeque<Fingerprint>> {
        // A panic elsewhere while the lock was held leaves a list that is still a list.
        self.passed.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn passed(&self, text: &str) -> bool {
        let print = self.fingerprint(&[text.as_bytes()]);
        self.remembered().contains(&print)
    }

    fn remember(&self, pieces: &[&[u8]]) {
        let print = self.fingerprint(pieces);
        let mut passed = self.remembered();
        if passed.contains(&print) {
            return;
        }
        if passed.len() == REMEMBERED {
            passed.pop_front();
        }
        passed.push_back(print);
    }
}

/// The process's memo.
fn memo() -> &'static Memo {
    static MEMO: OnceLock<Memo> = OnceLock::new();
    MEMO.get_or_init(Memo::new)
}

/// Whether `text` passed the check lately.
pub(crate) fn passed(text: &str) -> bool {
    memo().passed(text)
}

/// Remembers that the text `pieces` make passes the check.
pub(crate) fn remember(pieces: &[&[u8]]) {
    memo().remember(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_remembered_whole_or_in_pieces_and_nothing_else_is() {
        let memo = Memo::new();
        let text = "{ a: 1, /* a comment */ b: 'two' }";
        assert!(!memo.passed(text));
        let (head, tail) = text.as_bytes().split_at(7);
        memo.remember(&[head, tail]);
        assert!(memo.passed(text));
        assert!(!memo.passed("{ a: 1, /* a comment */ b: 'two' } "));
        assert!(!memo.passed("{ a: 2, /* a comment */ b: 'two' }"));
        assert!(!Memo::new().passed(text), "another memo's keys");
    }

    #[test]
    fn only_the_latest_texts_are_kept() {
        let memo = Memo::new();
        let texts: Vec<String> = (0..=REMEMBERED).map(|i| format!("{{ n: {i} }}")).collect();
        for t in &texts {
            memo.remember(&[t.as_bytes()]);
        }
        assert!(!memo.passed(&texts[0]), "the oldest one went");
        assert!(texts[1..].iter().all(|t| memo.passed(t)));
    }
}
