//! Reading whole frames off a stream while holding no buffer between them.
//!
//! A base holds tens of thousands of connections that are quiet most of the time. A reader
//! that keeps a buffer for the life of its connection (tokio-util's `FramedRead` starts at
//! 8 KiB and keeps the largest frame's size) costs that much per connection for nothing, and
//! a frame handed on shares, and so pins, the whole buffer. [`FrameReader`] instead:
//!
//! * between frames holds no allocation: a read that starts a frame goes into a buffer on the
//!   stack and only the bytes that came are copied to the heap;
//! * gives each frame an allocation of its own size once its length prefix has arrived, so a
//!   frame kept by whoever reads it (a record's parameters) pins nothing more (small frames
//!   that came in one read share that read's allocation, no larger than what came);
//! * grows a frame's buffer as its bytes arrive, never beyond the frame's size and each time by
//!   at most half of what has arrived (at least [`GROWTH_AHEAD`], 16 KiB): a peer announcing a
//!   large frame and stopping costs at most 1.5 times what it sent plus 16 KiB, and as the
//!   buffer ends where the frame does, a read never brings the next frame's bytes into it;
//! * refuses a frame over the maximum from its length prefix alone ([`crate::frame`]).

use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, ReadBuf};

use crate::frame::{FrameCheck, FrameDecodeError, announced_len, check};

/// The stack buffer a read that starts a frame goes into.
const FIRST_READ: usize = 4096;
/// The least a frame's buffer is grown by (one TLS record), unless the frame needs less.
const GROWTH_AHEAD: usize = 16 * 1024;

/// Whole frames from `stream`, no longer than `max_len` bytes each.
pub struct FrameReader<R> {
    stream: R,
    /// Bytes of the frames being received (a frame and the start of the next, when a read
    /// brought both); empty, with no allocation, between frames.
    pending: BytesMut,
    max_len: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader of frames of at most `max_len` bytes from `stream`.
    pub fn new(stream: R, max_len: usize) -> Self {
        FrameReader { stream, pending: BytesMut::new(), max_len }
    }

    /// The next frame; `None` when the stream ends between frames, an error when it ends
    /// inside one, fails, or brings bytes that are no frame. Cancel-safe: bytes read are kept
    /// for the next call.
    pub async fn next_frame(&mut self) -> Option<Result<Bytes, FrameDecodeError>> {
        poll_fn(|cx| self.poll_frame(cx)).await
    }

    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, FrameDecodeError>>> {
        loop {
            match check(&self.pending, self.max_len) {
                Err(error) => return Poll::Ready(Some(Err(error.into()))),
                Ok(FrameCheck::Complete(len)) => {
                    let frame = self.pending.split_to(len).freeze();
                    if self.pending.is_empty() {
                        // Let the frame own its allocation; read the next one afresh.
                        self.pending = BytesMut::new();
                    }
                    return Poll::Ready(Some(Ok(frame)));
                }
                Ok(FrameCheck::Incomplete) => {}
            }
            let read = if self.pending.is_empty() { self.poll_first_read(cx) } else { self.poll_more(cx) };
            match ready!(read) {
                Ok(0) if self.pending.is_empty() => return Poll::Ready(None),
                Ok(0) => {
                    let ended =
                        io::Error::new(io::ErrorKind::UnexpectedEof, "the stream ended inside a frame");
                    return Poll::Ready(Some(Err(ended.into())));
                }
                Ok(_) => {}
                Err(error) => return Poll::Ready(Some(Err(error.into()))),
            }
        }
    }

    /// Reads the start of a frame into the stack and copies what came into a buffer sized for
    /// the frame (or for what came, when that is more than one frame).
    fn poll_first_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut scratch = [MaybeUninit::<u8>::uninit(); FIRST_READ];
        let mut buf = ReadBuf::uninit(&mut scratch);
        ready!(Pin::new(&mut self.stream).poll_read(cx, &mut buf))?;
        let came = buf.filled();
        if !came.is_empty() {
            // A bad prefix is reported by the caller's check; size for what came meanwhile.
            let frame_len = announced_len(came, self.max_len).ok().flatten().unwrap_or(0);
            let capacity = came.len().max(frame_len.min(came.len() + GROWTH_AHEAD));
            self.pending = BytesMut::with_capacity(capacity);
            self.pending.extend_from_slice(came);
        }
        Poll::Ready(Ok(came.len()))
    }

    /// Reads more of a frame straight into its buffer.
    fn poll_more(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let have = self.pending.len();
        if self.pending.capacity() == have {
            let missing = match announced_len(&self.pending, self.max_len) {
                Ok(Some(total)) => total.saturating_sub(have),
                // The prefix is still arriving (or bad, which the caller's check reports).
                _ => 16,
            };
            // Grown here, to a size of our choosing: `BytesMut::reserve` doubles, past the frame.
            let grown = have + missing.clamp(1, GROWTH_AHEAD.max(have / 2));
            let mut buffer = BytesMut::with_capacity(grown);
            buffer.extend_from_slice(&self.pending);
            self.pending = buffer;
        }
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::frame::{DEFAULT_MAX_FRAME_LEN, FrameError};

    /// A frame whose content (NULLs) is `content_len` bytes: 0a, the length, the content.
    fn frame(content_len: usize) -> Vec<u8> {
        let mut prefix = vec![(content_len & 0x7F) as u8];
        let mut rest = content_len >> 7;
        while rest > 0 {
            prefix.insert(0, (rest & 0x7F) as u8 | 0x80);
            rest >>= 7;
        }
        let mut bytes = vec![0x0a];
        bytes.extend(prefix);
        bytes.resize(bytes.len() + content_len, 0x00);
        assert_eq!(announced_len(&bytes, usize::MAX), Ok(Some(bytes.len())), "the helper's own frame");
        bytes
    }

    #[tokio::test]
    async fn frames_come_whole_however_the_bytes_are_cut() {
        let sizes = [0, 130, 4_093, 4_097, 70_000, 3, 300_000];
        let stream: Vec<u8> = sizes.iter().flat_map(|&len| frame(len)).collect();
        for cut in [1, 7, 4_096, 65_536, usize::MAX] {
            let (mut writer, reader) = tokio::io::duplex(1 << 20);
            let bytes = stream.clone();
            let feeder = tokio::spawn(async move {
                for piece in bytes.chunks(cut.min(bytes.len())) {
                    writer.write_all(piece).await.unwrap();
                }
            });
            let mut frames = FrameReader::new(reader, DEFAULT_MAX_FRAME_LEN);
            for &len in &sizes {
                let got = frames.next_frame().await.expect("a frame").expect("a good frame");
                assert_eq!(&got[..], &frame(len)[..], "cut {cut}");
            }
            feeder.await.unwrap();
            assert!(frames.next_frame().await.is_none(), "cut {cut}: the stream ended between frames");
        }
    }

    #[tokio::test]
    async fn nothing_is_held_between_frames_and_a_frame_owns_its_bytes() {
        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        writer.write_all(&frame(1_000)).await.unwrap(); // 1,003 bytes
        let mut frames = FrameReader::new(reader, DEFAULT_MAX_FRAME_LEN);
        let got = frames.next_frame().await.unwrap().unwrap();
        assert_eq!(got.len(), 1_003);
        assert_eq!(frames.pending.capacity(), 0, "no buffer kept while the peer is quiet");
        // The frame's allocation is its own: converting it back to a buffer does not copy.
        let owned = BytesMut::from(got);
        assert!(owned.capacity() < 2_000, "capacity {}", owned.capacity());
    }

    #[tokio::test]
    async fn a_large_announced_frame_grows_with_what_arrives() {
        let (mut writer, reader) = tokio::io::duplex(4 << 20);
        let big = frame(5_000_000);
        let mut frames = FrameReader::new(reader, DEFAULT_MAX_FRAME_LEN);
        for sent in [10, 3_000_000] {
            writer.write_all(&big[frames.pending.len()..sent]).await.unwrap();
            let waiting =
                tokio::time::timeout(std::time::Duration::from_millis(50), frames.next_frame()).await;
            assert!(waiting.is_err(), "the frame is not complete");
            assert_eq!(frames.pending.len(), sent);
            let capacity = frames.pending.capacity();
            assert!(capacity <= sent + (sent / 2).max(GROWTH_AHEAD), "{sent} bytes in, capacity {capacity}");
        }
        let rest = big[3_000_000..].to_vec();
        let feeder = tokio::spawn(async move {
            writer.write_all(&rest).await.unwrap();
            writer.write_all(&frame(3)).await.unwrap();
        });
        let got = frames.next_frame().await.unwrap().unwrap();
        assert_eq!(got.len(), 5_000_005);
        // The buffer ended where the frame does: nothing of the next frame shares it.
        assert_eq!(BytesMut::from(got).capacity(), 5_000_005);
        assert_eq!(&frames.next_frame().await.unwrap().unwrap()[..], &frame(3)[..]);
        feeder.await.unwrap();
    }

    #[tokio::test]
    async fn an_end_inside_a_frame_and_a_bad_or_huge_prefix_are_errors() {
        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        writer.write_all(&frame(100)[..50]).await.unwrap();
        drop(writer);
        let mut frames = FrameReader::new(reader, DEFAULT_MAX_FRAME_LEN);
        let ended = frames.next_frame().await.unwrap().unwrap_err();
        assert!(matches!(ended, FrameDecodeError::Io(ref e) if e.kind() == io::ErrorKind::UnexpectedEof));

        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        writer.write_all(&[0x09, 0x00]).await.unwrap();
        let mut frames = FrameReader::new(reader, DEFAULT_MAX_FRAME_LEN);
        let bad = frames.next_frame().await.unwrap().unwrap_err();
        assert!(matches!(bad, FrameDecodeError::Frame(FrameError::NotAnArray(0x09))));

        let (mut writer, reader) = tokio::io::duplex(1 << 16);
        writer.write_all(&frame(2_000)[..3]).await.unwrap();
        let mut frames = FrameReader::new(reader, 1_000);
        let huge = frames.next_frame().await.unwrap().unwrap_err();
        assert!(matches!(huge, FrameDecodeError::Frame(FrameError::TooLarge { length: 2_003, max: 1_000 })));
    }
}
