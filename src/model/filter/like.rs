//! SQL `LIKE` in memory, in time linear in the text, for realtime subscriptions and `when`
//! clauses.
//!
//! Why not the obvious recursive matcher: each `%` tried every split of the rest of the text,
//! so `%a%a%a%a%a%a%a%a%a%b` against a 38-character title took seconds, and a pattern of
//! 60,000 `%` overflowed the stack and aborted the server (issue 15). Here the pattern is a
//! small automaton (one state per literal or `_`, a self-loop where a `%` stands) simulated
//! with a bit set over the text: every text character costs one pass over
//! `pattern length / 64` words, whatever the pattern holds. No recursion, no backtracking.

use std::collections::HashMap;

/// A compiled `LIKE` pattern.
pub struct LikePattern {
    /// For each character the pattern names, the states whose step it can take (with `_`'s
    /// states, which take any character).
    literal: HashMap<char, Vec<u64>>,
    /// The states of `_`: any character steps on.
    any: Vec<u64>,
    /// The states with a `%` self-loop.
    star: Vec<u64>,
    /// The accepting state: after the last step.
    last: usize,
    /// Whether to compare ASCII letters without case.
    fold: bool,
}

enum Token {
    Char(char),
    Any,
}

impl LikePattern {
    /// Compiles `pattern`: `%` any run, `_` one character, `\` escapes the next one (a
    /// trailing `\` stands for itself, as in SQL with `ESCAPE '\'`).
    pub fn new(pattern: &str, fold: bool) -> Self {
        let mut tokens = Vec::new();
        let mut stars = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            match c {
                '%' => stars.push(tokens.len()),
                '_' => tokens.push(Token::Any),
                '\\' => tokens.push(Token::Char(chars.next().unwrap_or('\\'))),
                c => tokens.push(Token::Char(c)),
            }
        }
        let words = tokens.len() / 64 + 1;
        let mut any = vec![0u64; words];
        let mut literal: HashMap<char, Vec<u64>> = HashMap::new();
        for (state, token) in tokens.iter().enumerate() {
            match token {
                Token::Any => set(&mut any, state),
                Token::Char(c) => {
                    let c = fold_char(*c, fold);
                    set(literal.entry(c).or_insert_with(|| vec![0; words]), state);
                }
            }
        }
        for bits in literal.values_mut() {
            for (word, any) in bits.iter_mut().zip(&any) {
                *word |= any;
            }
        }
        let mut star = vec![0u64; words];
        for state in stars {
            set(&mut star, state);
        }
        Self {
            literal,
            any,
            star,
            last: tokens.len(),
            fold,
        }
    }

    /// Whether `text` matches the whole pattern.
    pub fn matches(&self, text: &str) -> bool {
        let words = self.any.len();
        let mut states = vec![0u64; words];
        set(&mut states, 0);
        let mut next = vec![0u64; words];
        for c in text.chars() {
            let step = self
                .literal
                .get(&fold_char(c, self.fold))
                .unwrap_or(&self.any);
            let mut carry = 0u64;
            let mut alive = 0u64;
            for i in 0..words {
                let moved = states[i] & step[i];
                next[i] = (moved << 1) | carry | (states[i] & self.star[i]);
                carry = moved >> 63;
                alive |= next[i];
            }
            if alive == 0 {
                return false;
            }
            std::mem::swap(&mut states, &mut next);
        }
        states[self.last / 64] & (1 << (self.last % 64)) != 0
    }
}

fn set(bits: &mut [u64], state: usize) {
    bits[state / 64] |= 1 << (state % 64);
}

fn fold_char(c: char, fold: bool) -> char {
    if fold {
        c.to_ascii_lowercase()
    } else {
        c
    }
}

/// Whether `text` matches `pattern` (SQL `LIKE`, `ESCAPE '\'`; `fold`: `ILIKE` on ASCII).
pub fn like(text: &str, pattern: &str, fold: bool) -> bool {
    LikePattern::new(pattern, fold).matches(text)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn wildcards_escapes_and_case() {
        assert!(like("Ann Lee", "Ann%", false));
        assert!(!like("Ann Lee", "ann%", false));
        assert!(like("Ann Lee", "ann_lee", true));
        assert!(like("Ann Lee", "Ann\\ Lee", false));
        assert!(like("50%", "50\\%", false));
        assert!(!like("50x", "50\\%", false));
        assert!(like("a_b", "a\\_b", false));
        assert!(!like("axb", "a\\_b", false));
        assert!(like("", "", false));
        assert!(like("", "%", false));
        assert!(!like("", "_", false));
        assert!(like("é", "_", false), "`_` is one character, not one byte");
        assert!(like("xéy", "x_y", false));
        assert!(like("abc", "%%%", false));
        assert!(like("abcabd", "%abd", false));
        assert!(like("mississippi", "%iss%ppi", false));
        assert!(!like("mississippi", "%iss%ppx", false));
        assert!(like("trailing\\", "trailing\\", false));
    }

    #[test]
    fn long_patterns_cross_word_boundaries() {
        let text = "ab".repeat(100);
        assert!(like(&text, &"ab".repeat(100), false));
        assert!(like(&text, &format!("{}%", "a_".repeat(70)), false));
        assert!(!like(&text, &format!("{}%c", "a_".repeat(70)), false));
        assert!(like(&text, &format!("%{}", "_b".repeat(99)), false));
    }

    #[test]
    fn pathological_patterns_cost_no_more_than_plain_ones() {
        let title = "a".repeat(38);
        assert!(!like(&title, "%a%a%a%a%a%a%a%a%a%b", false));
        let many = "%".repeat(60_000);
        assert!(like(&"x".repeat(100_000), &many, false));
        assert!(!like(
            &"a".repeat(100_000),
            &format!("{}b", "%a".repeat(500)),
            false
        ));
    }

    /// The automaton against the plain definition, on every short pattern and text.
    #[test]
    fn agrees_with_a_naive_matcher() {
        fn naive(t: &[char], p: &[char]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some(('%', rest)) => (0..=t.len()).any(|i| naive(&t[i..], rest)),
                Some(('_', rest)) => !t.is_empty() && naive(&t[1..], rest),
                Some((c, rest)) => t.first() == Some(c) && naive(&t[1..], rest),
            }
        }
        let alphabet = ['a', 'b', '%', '_'];
        let words = |n: usize, letters: &[char]| -> Vec<String> {
            let mut all = vec![String::new()];
            for _ in 0..n {
                let more: Vec<String> = all
                    .iter()
                    .flat_map(|w| letters.iter().map(move |c| format!("{w}{c}")))
                    .collect();
                all.extend(more);
                all.sort();
                all.dedup();
            }
            all
        };
        for pattern in words(4, &alphabet) {
            for text in words(4, &['a', 'b']) {
                let (t, p): (Vec<char>, Vec<char>) =
                    (text.chars().collect(), pattern.chars().collect());
                assert_eq!(
                    like(&text, &pattern, false),
                    naive(&t, &p),
                    "{text:?} LIKE {pattern:?}"
                );
            }
        }
    }
}
