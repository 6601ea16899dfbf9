//! Line framing for the handshake (reference §3.1).
//!
//! ConMan's server reads the greeting and the request one byte at a time up to and
//! including `\n`, or at most [`MAX_LINE_LEN`] bytes (`MAX_SOCK_LINE - 1`). Bytes
//! after that `\n` stay in the socket: a client may pipeline greeting, request and
//! the first session bytes in one packet. [`take_line`] reproduces this on a
//! [`BytesMut`] read buffer: it splits one line off the front and leaves everything
//! after it in place, so the caller hands the remainder to the session phase.
//! A longer line is cut at [`MAX_LINE_LEN`]; its tail becomes the next line (or
//! session data), as in ConMan.

use bytes::BytesMut;

/// Longest handshake line in bytes, `\n` included (`MAX_SOCK_LINE` 131072 − 1).
pub const MAX_LINE_LEN: usize = 131_071;

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
    fn final_line_returns_partial_data_at_eof() {
        let mut buf = BytesMut::from(&b"QUERY\nOK"[..]);
        assert_eq!(&take_final_line(&mut buf).unwrap()[..], b"QUERY\n");
        assert_eq!(&take_final_line(&mut buf).unwrap()[..], b"OK");
        assert_eq!(take_final_line(&mut buf), None);
    }
}
