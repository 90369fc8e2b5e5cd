//! The tokens of InfluxDB line protocol (DESIGN §4): escaped measurement names, tag keys and
//! values, quoted string fields, and numbers. Every line firegrid writes, readings and incident
//! annotations alike, is assembled from these.

/// Appends `s` escaped as a measurement name (commas and spaces).
pub(crate) fn escape_measurement(out: &mut String, s: &str) {
    escape_with(out, s, |c| matches!(c, ',' | ' ' | '\n' | '\\'));
}

/// Appends `s` escaped as a tag key, tag value or field key (commas, equals signs, spaces).
pub(crate) fn escape_tag(out: &mut String, s: &str) {
    escape_with(out, s, |c| matches!(c, ',' | '=' | ' ' | '\n' | '\\'));
}

/// Appends `s` as a double-quoted string field value (quotes and backslashes escaped).
pub fn quote_field(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            // A raw newline ends the line in line protocol; keep multi-line text on one line.
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
}

fn escape_with(out: &mut String, s: &str, special: impl Fn(char) -> bool) {
    if !s.chars().any(&special) {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        if c == '\n' {
            // Newlines cannot be escaped in keys or tags; a space keeps the line intact.
            out.push_str("\\ ");
            continue;
        }
        if special(c) {
            out.push('\\');
        }
        out.push(c);
    }
}

/// Appends `,key=value` with the value escaped, or nothing for an empty value
/// (line protocol has no empty tag values).
pub fn push_tag(out: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    out.push(',');
    out.push_str(key);
    out.push('=');
    escape_tag(out, value);
}

/// Appends a finite float in its shortest round-trip form (the decoder only lets finite values in).
pub fn push_float(out: &mut String, v: f64) {
    let mut buf = ryu::Buffer::new();
    out.push_str(buf.format_finite(v));
}

/// Appends a decimal integer.
pub fn push_int(out: &mut String, v: i64) {
    let mut buf = itoa::Buffer::new();
    out.push_str(buf.format(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    type Escaper = fn(&mut String, &str);

    fn esc(f: Escaper, s: &str) -> String {
        let mut out = String::new();
        f(&mut out, s);
        out
    }

    #[test]
    fn escaping_follows_line_protocol_rules_for_every_special_character() {
        let cases: &[(Escaper, &str, &str)] = &[
            (escape_measurement, "smoke", "smoke"),
            (escape_measurement, "a b,c=d", "a\\ b\\,c=d"),
            (escape_tag, "a b,c=d", "a\\ b\\,c\\=d"),
            (escape_tag, "渝北区双龙湖街道", "渝北区双龙湖街道"),
            (escape_tag, "3栋 2单元,502室", "3栋\\ 2单元\\,502室"),
            (escape_tag, "back\\slash", "back\\\\slash"),
            (escape_tag, "line\nbreak", "line\\ break"),
            (escape_tag, "\"quoted\"", "\"quoted\""),
            (quote_field, "say \"hi\"", "\"say \\\"hi\\\"\""),
            (quote_field, "a\\b", "\"a\\\\b\""),
            (quote_field, "两只烟感报警, 疑似火灾", "\"两只烟感报警, 疑似火灾\""),
            (quote_field, "x\ny", "\"x\\ny\""),
        ];
        for (f, input, want) in cases {
            assert_eq!(esc(*f, input), *want, "{input:?}");
        }
    }
}
