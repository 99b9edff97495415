//! Fuzz target for what a connection does with the bytes a peer sends: cut them into frames
//! (with a small frame limit), decode each and read it as an RPC message. Nothing may panic;
//! a frame that reads as a message must survive being written and read again.
#![no_main]

use bytes::BytesMut;
use kraken_codec::{decode, encode};
use kraken_rpc::frame::FrameCodec;
use kraken_rpc::message::Message;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::new(64 * 1024);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        if let Ok(message) = Message::from_value(frame) {
            let bytes = encode(&message.clone().into_value());
            let again = Message::from_value(decode(&bytes).expect("our frame decodes")).expect("our frame reads");
            assert_eq!(again.id, message.id);
            assert_eq!(again.session, message.session);
            assert_eq!(again.kind(), message.kind());
        }
    }
});
