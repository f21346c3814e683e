//! The expression lexer: splits expression text into tokens with their byte spans, and words AWS's
//! `Syntax error; token: "…", near: "…"` message for a token. Pure text processing; performs no I/O.
//!
//! Tokens follow DynamoDB's expression syntax
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.Attributes.html>): an
//! attribute name starts with a letter and continues with letters, digits and `_`; `#name` and `:value`
//! placeholders are `#`/`:` followed by one or more letters, digits or `_`; digits alone are a number
//! (only valid as a list index). Any other character is a token of its own, which the parser then refuses,
//! as DynamoDB does (`_x = :v` fails at token `_`).

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// A bare word: an attribute name, a keyword or a function name.
    Ident,
    /// `#name`, an expression attribute name placeholder.
    Name,
    /// `:name`, an expression attribute value placeholder.
    Value,
    /// Digits, a list index.
    Number,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Plus,
    Minus,
    /// A character no rule accepts.
    Unknown,
}

/// One token: its kind and its byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    /// The token's text.
    pub fn text<'a>(&self, source: &'a str) -> &'a str {
        source.get(self.start..self.end).unwrap_or("")
    }
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Consumes word characters; returns the end of the word.
fn word_end(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, mut end: usize) -> usize {
    while let Some(&(i, d)) = chars.peek() {
        if !is_word(d) {
            break;
        }
        end = i + d.len_utf8();
        chars.next();
    }
    end
}

/// Splits `text` into tokens, skipping whitespace. Never fails: unknown characters become `Unknown` tokens.
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        if is_space(c) {
            continue;
        }
        let mut end = start + c.len_utf8();
        let kind = match c {
            'a'..='z' | 'A'..='Z' => {
                end = word_end(&mut chars, end);
                Tok::Ident
            }
            '0'..='9' => {
                while let Some(&(i, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    end = i + 1;
                    chars.next();
                }
                Tok::Number
            }
            '#' | ':' => {
                let before = end;
                end = word_end(&mut chars, end);
                if end == before {
                    Tok::Unknown
                } else if c == '#' {
                    Tok::Name
                } else {
                    Tok::Value
                }
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '=' => Tok::Eq,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '<' => match chars.peek() {
                Some(&(_, '>')) => {
                    chars.next();
                    end += 1;
                    Tok::Ne
                }
                Some(&(_, '=')) => {
                    chars.next();
                    end += 1;
                    Tok::Le
                }
                _ => Tok::Lt,
            },
            '>' => match chars.peek() {
                Some(&(_, '=')) => {
                    chars.next();
                    end += 1;
                    Tok::Ge
                }
                _ => Tok::Gt,
            },
            _ => Tok::Unknown,
        };
        out.push(Token { kind, start, end });
    }
    out
}

/// AWS's syntax error detail for the token at `index` (`tokens.len()` for the end of the text):
/// `token: "x", near: "…"`. "near" runs from the start of the previous token (or of the text, when
/// there is none) to the end of the next token (or of the text), whitespace included, as DynamoDB prints it
/// (for example `SET a = 3` fails with `token: "3", near: "= 3"`).
pub(crate) fn syntax_detail(text: &str, tokens: &[Token], index: usize) -> String {
    let (token, near_start, near_end) = match tokens.get(index) {
        Some(t) => {
            let start = index
                .checked_sub(1)
                .and_then(|i| tokens.get(i))
                .map_or(0, |p| p.start);
            let end = tokens.get(index + 1).map_or(text.len(), |n| n.end);
            (t.text(text), start, end)
        }
        None => {
            let start = tokens.last().map_or(0, |p| p.start);
            ("<EOF>", start, text.len())
        }
    };
    let near = text.get(near_start..near_end).unwrap_or("");
    format!("Syntax error; token: \"{token}\", near: \"{near}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detail(text: &str, index: usize) -> String {
        syntax_detail(text, &tokenize(text), index)
    }

    #[test]
    fn words_placeholders_and_operators_are_tokens() {
        let text = "#a.b[12] <> :v_1 AND x<=y";
        let kinds: Vec<Tok> = tokenize(text).iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                Tok::Name,
                Tok::Dot,
                Tok::Ident,
                Tok::LBracket,
                Tok::Number,
                Tok::RBracket,
                Tok::Ne,
                Tok::Value,
                Tok::Ident,
                Tok::Ident,
                Tok::Le,
                Tok::Ident
            ]
        );
    }

    #[test]
    fn near_matches_what_dynamodb_prints() {
        // Examples from DynamoDB error messages (see moto's tests of the same wording).
        assert_eq!(
            detail("SET a = 3", 3),
            "Syntax error; token: \"3\", near: \"= 3\""
        );
        assert_eq!(
            detail("SET MyStr[ 3 ", 4),
            "Syntax error; token: \"<EOF>\", near: \"3 \""
        );
        assert_eq!(
            detail("SET a = b c", 4),
            "Syntax error; token: \"c\", near: \"b c\""
        );
        assert_eq!(
            detail("  RESET x y", 0),
            "Syntax error; token: \"RESET\", near: \"  RESET x\""
        );
        assert_eq!(
            detail("SET a = _idid", 3),
            "Syntax error; token: \"_\", near: \"= _idid\""
        );
    }

    #[test]
    fn a_lone_sign_is_an_unknown_token() {
        let kinds: Vec<Tok> = tokenize("# : ü").iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [Tok::Unknown, Tok::Unknown, Tok::Unknown]);
    }
}
