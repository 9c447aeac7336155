//! The RTP bench inputs must parse, to the same fields, with both parsers the bench times.

use freya_benches::{freya_rtp_parse, rtp_inputs, webrtc_rtp_unmarshal};

#[test]
fn both_parsers_agree_on_every_input() {
    let inputs = rtp_inputs();
    assert_eq!(inputs.len(), 3);
    for input in inputs {
        let ours = freya_rtp_parse(input.bytes.clone())
            .unwrap_or_else(|e| panic!("{}: freya refused it: {e}", input.name));
        let theirs = webrtc_rtp_unmarshal(input.bytes.clone())
            .unwrap_or_else(|e| panic!("{}: webrtc-rs refused it: {e}", input.name));
        let h = &theirs.header;
        assert_eq!(ours.marker(), h.marker, "{}", input.name);
        assert_eq!(ours.payload_type(), h.payload_type, "{}", input.name);
        assert_eq!(ours.sequence(), h.sequence_number, "{}", input.name);
        assert_eq!(ours.timestamp(), h.timestamp, "{}", input.name);
        assert_eq!(ours.ssrc(), h.ssrc, "{}", input.name);
        assert_eq!(ours.csrcs().collect::<Vec<_>>(), h.csrc, "{}", input.name);
        assert_eq!(ours.payload(), &theirs.payload, "{}", input.name);
        assert_eq!(ours.extension().is_some(), h.extension, "{}", input.name);
        assert_eq!(ours.has_padding(), h.padding, "{}", input.name);
    }
}

#[test]
fn the_inputs_are_what_their_names_say() {
    let inputs = rtp_inputs();
    let get = |name| {
        let input = inputs.iter().find(|i| i.name == name).unwrap();
        freya_rtp_parse(input.bytes.clone()).unwrap()
    };
    let pcmu = get("pcmu_20ms");
    assert_eq!((pcmu.payload_type(), pcmu.payload().len()), (0, 160));
    let opus = get("opus_ext");
    assert_eq!(
        opus.extension().map(|e| (e.profile, e.data.len())),
        Some((0xBEDE, 8))
    );
    assert_eq!((opus.payload_type(), opus.payload().len()), (111, 108));
    let mixed = get("csrc_padding");
    assert_eq!(
        (
            mixed.csrc_count(),
            mixed.padding_len(),
            mixed.payload().len()
        ),
        (2, 12, 160)
    );
}
