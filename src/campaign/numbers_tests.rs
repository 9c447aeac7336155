use super::*;
use proptest::prelude::*;

fn uk() -> NumberRules {
    NumberRules {
        default_country_code: Some("44".into()),
        ..NumberRules::default()
    }
}

#[test]
fn national_numbers_take_the_default_country_code_and_lose_the_trunk_zero() {
    assert_eq!(
        normalize_number("020 7183 8750", &uk()).unwrap(),
        "+442071838750"
    );
    assert_eq!(
        normalize_number("2071838750", &uk()).unwrap(),
        "+442071838750"
    );
    assert_eq!(
        normalize_number("0044-20-7183-8750", &uk()).unwrap(),
        "+442071838750"
    );
    assert!(matches!(
        normalize_number("020 7183 8750", &NumberRules::default()),
        Err(NumberError::NoCountryCode { .. })
    ));
}

#[test]
fn length_and_country_code_limits_follow_e164() {
    let r = NumberRules::default();
    assert_eq!(normalize_number("+2906123", &r).unwrap(), "+2906123"); // 7 digits
    assert!(matches!(
        normalize_number("+290612", &r),
        Err(NumberError::TooShort { digits: 6, .. })
    ));
    assert_eq!(
        normalize_number("+123456789012345", &r).unwrap(),
        "+123456789012345"
    );
    assert!(matches!(
        normalize_number("+1234567890123456", &r),
        Err(NumberError::TooLong { digits: 16, .. })
    ));
    assert!(matches!(
        normalize_number("+0441234567", &r),
        Err(NumberError::ZeroCountryCode { .. })
    ));
    assert!(matches!(
        normalize_number("   ", &r),
        Err(NumberError::Empty)
    ));
}

#[test]
fn letters_and_a_plus_inside_are_refused_with_their_position() {
    let e = normalize_number("+1 415 555 O100", &NumberRules::default()).unwrap_err();
    assert_eq!(
        e,
        NumberError::BadCharacter {
            entry: "+1 415 555 O100".into(),
            ch: 'O',
            at: 12
        }
    );
    assert!(matches!(
        normalize_number("1+4155550100", &uk()),
        Err(NumberError::BadCharacter { ch: '+', at: 2, .. })
    ));
    // A non-ASCII digit is not a digit here.
    assert!(matches!(
        normalize_number("+٤١٥٥٥٥٠١٠٠", &NumberRules::default()),
        Err(NumberError::BadCharacter { at: 2, .. })
    ));
}

#[test]
fn allowed_prefixes_catch_a_wrong_prefix_before_dialing() {
    let rules = NumberRules {
        default_country_code: Some("1".into()),
        allowed_prefixes: vec!["+1415".into(), "1650".into()],
    };
    assert_eq!(
        normalize_number("415 555 0100", &rules).unwrap(),
        "+14155550100"
    );
    assert_eq!(
        normalize_number("+1 650 555 0100", &rules).unwrap(),
        "+16505550100"
    );
    let e = normalize_number("+44 20 7183 8750", &rules).unwrap_err();
    assert_eq!(
        e.to_string(),
        "\"+442071838750\" is outside the allowed prefixes +1415, 1650"
    );
}

#[test]
fn a_bad_rule_refuses_every_entry_with_its_reason() {
    for (rules, setting) in [
        (
            NumberRules {
                default_country_code: Some("0044".into()),
                ..NumberRules::default()
            },
            "default_country_code",
        ),
        (
            NumberRules {
                allowed_prefixes: vec!["+1-415".into()],
                ..NumberRules::default()
            },
            "allowed_prefixes",
        ),
    ] {
        let r = validate_numbers(&["+14155550100", "+14155550101"], &rules);
        assert!(r.valid.is_empty());
        assert_eq!(r.rejected.len(), 2);
        assert!(r.rejected.iter().all(
            |x| matches!(&x.reason, NumberError::BadRule { setting: s, .. } if *s == setting)
        ));
    }
}

#[test]
fn sip_uris_pass_as_given_and_malformed_ones_are_refused() {
    let r = NumberRules::default();
    assert_eq!(
        normalize_number("sips:+14155550100@carrier.example;user=phone", &r).unwrap(),
        "sips:+14155550100@carrier.example;user=phone"
    );
    for bad in [
        "sip:@host",
        "sip:bob@",
        "sip:bob",
        "sip:bob@ho st",
        "SIP:bob@;x",
    ] {
        assert!(
            matches!(normalize_number(bad, &r), Err(NumberError::BadUri { .. })),
            "{bad}"
        );
    }
}

#[test]
fn duplicates_are_found_after_normalising_and_name_the_first_line() {
    let r = validate_numbers(
        &[
            "+44 20 7183 8750",
            "+14155550100",
            "020 7183 8750",
            "+1 415 555 0100",
        ],
        &uk(),
    );
    assert_eq!(r.valid, ["+442071838750", "+14155550100"]);
    let lines: Vec<_> = r
        .rejected
        .iter()
        .map(|x| match x.reason {
            NumberError::Duplicate { first_line, .. } => (x.line, first_line),
            _ => (x.line, 0),
        })
        .collect();
    assert_eq!(lines, [(3, 1), (4, 2)]);
    let json = serde_json::to_value(&r.rejected[0]).unwrap();
    assert_eq!(json["reason"]["kind"], "duplicate");
    assert_eq!(json["value"], "020 7183 8750");
}

proptest! {
    /// Any E.164 number, written with separators, `00` or `+`, comes back as itself.
    #[test]
    fn an_e164_number_survives_any_separators(
        first in 1u8..=9,
        rest in proptest::collection::vec(0u8..=9, (MIN_E164_DIGITS - 1)..MAX_E164_DIGITS),
        seps in proptest::collection::vec(prop_oneof![Just(""), Just(" "), Just("-"), Just("."), Just("("), Just(")")], MAX_E164_DIGITS),
        double_zero in any::<bool>(),
    ) {
        let digits: Vec<u8> = std::iter::once(first).chain(rest).collect();
        let expected: String = std::iter::once('+').chain(digits.iter().map(|d| char::from(b'0' + d))).collect();
        let mut written = String::from(if double_zero { "00" } else { "+" });
        for (d, s) in digits.iter().zip(&seps) {
            written.push(char::from(b'0' + d));
            written.push_str(s);
        }
        prop_assert_eq!(normalize_number(&written, &NumberRules::default()).unwrap(), expected);
    }

    /// Whatever the entry, the result is either an E.164 number or the URI given, never a
    /// panic.
    #[test]
    fn any_entry_is_e164_a_uri_or_an_error(entry in "\\PC{0,24}", cc in proptest::option::of("[1-9][0-9]{0,2}")) {
        let rules = NumberRules { default_country_code: cc, ..NumberRules::default() };
        if let Ok(n) = normalize_number(&entry, &rules) {
            if let Some(digits) = n.strip_prefix('+') {
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!((MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len()));
                prop_assert!(!digits.starts_with('0'));
            } else {
                prop_assert_eq!(n.as_str(), entry.trim());
                prop_assert!(n.to_ascii_lowercase().starts_with("sip"));
            }
        }
    }
}
