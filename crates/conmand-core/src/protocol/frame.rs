//! Line framing for the handshake (reference §3.1).
//!
//! ConMan's server reads the greeting and the request one byte at a time up to and
//! including `\n`, or at most [`MAX_LINE_LEN`] bytes (`MAX_SOCK_LINE - 1`). Bytes
//! after that `\n` stay in the socket: a client may pipeline greeting, request and
//! the first session bytes in one packet. [`take_line`] reproduces this on a
//! [`BytesMut`] read buffer: it splits one line off the front and leaves everything
//! after it in place, so the caller hands the remainder to the session phase.
//! A longer line is cut at [`MAX_LINE_LEN`]; its tail becomes the next line (or
//! session data), as in ConMan. conmand frames the *greeting* this way.
//!
//! The *request* and the *response* lines of conman-rs's own client and daemon may be
//! up to [`MAX_WIRE_LINE`] bytes, enough for 100,000 console names
//! ([`take_line_within`]); a longer one is an error on both sides, never cut. The
//! stock client keeps ConMan's 131,071-byte buffer for what it reads and sends.

use bytes::BytesMut;

/// Longest handshake line in bytes, `\n` included (`MAX_SOCK_LINE` 131072 − 1).
pub const MAX_LINE_LEN: usize = 131_071;

/// Longest request or response line (`\n` included) conman-rs's client and daemon
/// exchange: 8 MiB, which holds 100,000 console names of up to 72 bytes each (a
/// `CONSOLE='…'` pair costs the name plus 11 bytes) while bounding what one
/// connection in its handshake can make the daemon buffer.
pub const MAX_WIRE_LINE: usize = 8 * 1024 * 1024;

/// A line longer than the bound it was read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("line exceeds {max}-byte maximum")]
pub struct LineTooLong {
    /// The bound, `\n` included.
    pub max: usize,
}

/// Takes one complete line (up to and including `\n`) off the front of `buf`, of at
/// most `max` bytes; `Ok(None)` when more input is needed.
///
/// `scanned` is how many bytes at the front of `buf` are already known to hold no
/// `\n` (start at 0; it is updated), so reading a long line in many pieces costs
/// time linear in its length.
///
/// # Errors
/// [`LineTooLong`] as soon as `max` bytes without `\n` are buffered; `buf` is
/// left as it is.
pub fn take_line_within(
    buf: &mut BytesMut,
    scanned: &mut usize,
    max: usize,
) -> Result<Option<BytesMut>, LineTooLong> {
    let from = (*scanned).min(buf.len());
    let window = &buf[from..buf.len().min(max)];
    if let Some(i) = window.iter().position(|&b| b == b'\n') {
        *scanned = 0;
        return Ok(Some(buf.split_to(from + i + 1)));
    }
    *scanned = from + window.len();
    if buf.len() >= max {
        return Err(LineTooLong { max });
    }
    Ok(None)
}

/// Takes one complete line off the front of `buf`.
///
/// Returns the bytes up to and including the first `\n`, or the first
/// [`MAX_LINE_LEN`] bytes if no `\n` occurs in them. Returns `None` when more input
/// is needed; `buf` is then left untouched. Later bytes stay in `buf`.
pub fn take_line(buf: &mut BytesMut) -> Option<BytesMut> {
    let window = &buf[..buf.len().min(MAX_LINE_LEN)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => Some(buf.split_to(i + 1)),
        None if window.len() == MAX_LINE_LEN => Some(buf.split_to(MAX_LINE_LEN)),
        None => None,
    }
}

/// Like [`take_line`], for when the peer has closed its side: a partial last
/// line (no `\n`) is returned as it is, as ConMan's `read_line` does at EOF.
/// Returns `None` only when `buf` is empty.
pub fn take_final_line(buf: &mut BytesMut) -> Option<BytesMut> {
    if let Some(line) = take_line(buf) {
        return Some(line);
    }
    if buf.is_empty() {
        None
    } else {
        Some(buf.split())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_lines_leave_the_rest_in_the_buffer() {
        let mut buf = BytesMut::from(&b"HELLO USER='a'\nCONNECT CONSOLE='x'\n\xff\x42data"[..]);
        assert_eq!(&take_line(&mut buf).unwrap()[..], b"HELLO USER='a'\n");
        assert_eq!(&take_line(&mut buf).unwrap()[..], b"CONNECT CONSOLE='x'\n");
        assert_eq!(&buf[..], b"\xff\x42data");
        assert_eq!(take_line(&mut buf), None);
        assert_eq!(&buf[..], b"\xff\x42data", "a miss must not consume bytes");
    }

    #[test]
    fn incomplete_line_needs_more_input() {
        let mut buf = BytesMut::from(&b"HELLO USER="[..]);
        assert_eq!(take_line(&mut buf), None);
        buf.extend_from_slice(b"'a'\nQ");
        assert_eq!(&take_line(&mut buf).unwrap()[..], b"HELLO USER='a'\n");
        assert_eq!(&buf[..], b"Q");
    }

    #[test]
    fn long_line_is_cut_and_its_tail_is_the_next_line() {
        let mut data = vec![b'a'; MAX_LINE_LEN + 10];
        data.push(b'\n');
        data.extend_from_slice(b"rest");
        let mut buf = BytesMut::from(&data[..]);
        let first = take_line(&mut buf).unwrap();
        assert_eq!(first.len(), MAX_LINE_LEN);
        assert!(first.iter().all(|&b| b == b'a'));
        let second = take_line(&mut buf).unwrap();
        assert_eq!(&second[..], b"aaaaaaaaaa\n");
        assert_eq!(&buf[..], b"rest");
    }

    #[test]
    fn newline_exactly_at_the_limit_is_kept() {
        let mut data = vec![b'a'; MAX_LINE_LEN - 1];
        data.push(b'\n');
        data.push(b'z');
        let mut buf = BytesMut::from(&data[..]);
        let line = take_line(&mut buf).unwrap();
        assert_eq!(line.len(), MAX_LINE_LEN);
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(&buf[..], b"z");
    }

    #[test]
    fn bounded_lines_are_whole_or_an_error() {
        let mut scanned = 0;
        let mut buf = BytesMut::from(&b"CONNECT CONSOLE='a'"[..]);
        assert_eq!(take_line_within(&mut buf, &mut scanned, 64), Ok(None));
        assert_eq!(scanned, buf.len());
        buf.extend_from_slice(b" CONSOLE='b'\nrest");
        let line = take_line_within(&mut buf, &mut scanned, 64)
            .unwrap()
            .unwrap();
        assert_eq!(&line[..], b"CONNECT CONSOLE='a' CONSOLE='b'\n");
        assert_eq!((&buf[..], scanned), (&b"rest"[..], 0));
        // Far past ConMan's 131,071 bytes, nothing is cut.
        let long = vec![b'x'; MAX_LINE_LEN * 3];
        let mut buf = BytesMut::new();
        let mut scanned = 0;
        for piece in long.chunks(4096) {
            buf.extend_from_slice(piece);
            assert_eq!(
                take_line_within(&mut buf, &mut scanned, MAX_WIRE_LINE),
                Ok(None)
            );
        }
        buf.extend_from_slice(b"\n");
        let line = take_line_within(&mut buf, &mut scanned, MAX_WIRE_LINE)
            .unwrap()
            .unwrap();
        assert_eq!(line.len(), MAX_LINE_LEN * 3 + 1);
        // At the bound without a newline: an error, and nothing is consumed.
        let mut buf = BytesMut::from(&vec![b'y'; 64][..]);
        let mut scanned = 0;
        assert_eq!(
            take_line_within(&mut buf, &mut scanned, 64),
            Err(LineTooLong { max: 64 })
        );
        assert_eq!(buf.len(), 64);
        // A newline as the last allowed byte is fine.
        let mut buf = BytesMut::from(&[vec![b'z'; 63], b"\nq".to_vec()].concat()[..]);
        let mut scanned = 0;
        assert_eq!(
            take_line_within(&mut buf, &mut scanned, 64)
                .unwrap()
                .unwrap()
                .len(),
            64
        );
    }

    #[test]
    fn final_line_returns_partial_data_at_eof() {
        let mut buf = BytesMut::from(&b"QUERY\nOK"[..]);
        assert_eq!(&take_final_line(&mut buf).unwrap()[..], b"QUERY\n");
        assert_eq!(&take_final_line(&mut buf).unwrap()[..], b"OK");
        assert_eq!(take_final_line(&mut buf), None);
    }
}
